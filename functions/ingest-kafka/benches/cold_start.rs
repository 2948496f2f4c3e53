//! Cold start as Lambda counts it: from exec of the real `ingest-kafka` binary until it asks a
//! Lambda Runtime API for its first invocation (`GET /2018-06-01/runtime/invocation/next`). The
//! Runtime API here is a local socket that answers nothing and records when the request arrives.
//! Everything the function does at cold start is timed: process start, the tokio runtime,
//! configuration, opening the store (and for S3 the SDK's credential and region setup).
//! Printed beside a baseline measured in the same run: exec of `/bin/true` until it exits, the
//! least any process start costs here. Also prints the resident memory at that moment.
//!
//! Run: scripts/bench-functions.sh, or `cargo bench -p ingest-kafka --bench cold_start`.
//! BENCH_RUNS sets the samples (default 15); REGSYNC_BENCH_S3_STORE=s3://bucket/prefix with
//! AWS_ENDPOINT_URL and keys in the environment adds an S3 store.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use common::{median, runs, stores};
use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET_INIT_MS: f64 = 20.0;

/// Resident memory of `pid` in MiB, from /proc.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// One cold start: spawns the function and returns the time until its first `next` request,
/// and its resident memory then.
fn cold_start(listener: &TcpListener, store: &str) -> (Duration, Option<f64>) {
    let api = listener.local_addr().unwrap().to_string();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingest-kafka"))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "regsync-ingest-kafka")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/regsync-ingest-kafka",
        )
        .env("REGSYNC_STORE", store)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    // The request line arrives in one segment; read until it is complete.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the function closed the connection before asking");
        head.extend_from_slice(&buf[..n]);
    }
    let elapsed = start.elapsed();
    let line = String::from_utf8_lossy(&head);
    assert!(
        line.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "unexpected first request: {line}"
    );
    let rss = rss_mib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    (elapsed, rss)
}

fn main() {
    let runs = runs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut baseline = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        Command::new("/bin/true").status().unwrap();
        baseline.push(t.elapsed());
    }
    let baseline = median(baseline);
    println!(
        "ingest-kafka cold start (exec -> first GET /runtime/invocation/next), median of {runs}"
    );
    println!("baseline: exec of /bin/true until exit {baseline:.2} ms");
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in stores(dir.path()) {
        let mut times = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..runs {
            let (t, r) = cold_start(&listener, &url);
            times.push(t);
            rss.extend(r);
        }
        let ms = median(times);
        rss.sort_by(f64::total_cmp);
        let rss = rss.get(rss.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "cold start on {name:<10} {ms:>7.2} ms ({:.1}x baseline), RSS {rss:.1} MiB (target <= {TARGET_INIT_MS} ms: {})",
            ms / baseline,
            if ms <= TARGET_INIT_MS {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}
