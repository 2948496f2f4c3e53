//! Store growth under `regsync up`: what one change writes, next to the size of the changed
//! unit, and the store's size over many single-event webhook changes with scheduled GC off
//! (the baseline, measured in the same run) and on.
//!
//! Counts bytes and files, not time, so a debug build gives the same figures as an optimized
//! one. `scripts/bench-gc.sh` runs it; `BENCH_CHANGES` (default 10000) and `BENCH_SERVICES`
//! (default 200, the services the changes rotate over) size it.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regsync_pipeline::webhook::{Request, sign_request};

struct Up {
    child: Child,
    webhook: String,
    secret: Vec<u8>,
    store: PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, gc_interval: &str) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .arg("up")
        .arg("--data-dir")
        .arg(data)
        .args(["--no-demo", "--webhook-listen", "127.0.0.1:0"])
        .args([
            "--mcp-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--gc-interval",
            gc_interval,
            "--gc-grace",
            "2s",
            "--gc-retain",
            "10",
        ])
        .env_remove("REGSYNC_WEBHOOK_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut webhook = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "regsync up ended early"
        );
        if let Some(rest) = line.trim().strip_prefix("webhook") {
            webhook = rest
                .split_whitespace()
                .find_map(|w| w.strip_prefix("http://"))
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
        }
        if line.starts_with("try:") {
            break;
        }
    }
    Up {
        child,
        webhook,
        secret: std::fs::read(data.join("webhook-secret")).unwrap(),
        store: data.join("store"),
    }
}

/// One change: service `i % services` gets a provider list that differs from its last one.
fn change(i: usize, services: usize) -> Vec<u8> {
    let iface = format!("com.example.bench.Service{}", i % services);
    let round = i / services;
    let url = format!(
        "dubbo%3A%2F%2F10.2.{}.{}%3A20880%2F{iface}%3Finterface%3D{iface}%26side%3Dprovider",
        round % 250,
        (round / 250) % 250 + 1
    );
    let version = 4_294_967_296 + i as u64;
    serde_json::json!({
        "specversion": "1.0", "id": format!("bench-{i}"), "source": "bench",
        "type": "io.regsync.zookeeper.providers.v1", "subject": iface, "registry": "dubbo",
        "sourceversion": version.to_string(),
        "data": {"path": format!("/dubbo/{iface}/providers"), "pzxid": version, "children": [url]}
    })
    .to_string()
    .into_bytes()
}

async fn post(client: &reqwest::Client, up: &Up, body: Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut req = Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![("content-type".into(), "application/cloudevents+json".into())],
        body,
    };
    sign_request(&up.secret, now, &mut req);
    let mut builder = client.post(format!("http://{}/", up.webhook));
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let status = builder.body(req.body).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 202);
}

/// Every file of the store (temporary files included) with its size.
fn files(dir: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(meta) = entry.metadata() {
                out.insert(path, meta.len());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

fn kind(store: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(store).unwrap_or(path).to_string_lossy();
    match rel.split('/').next().unwrap_or("") {
        "objects" => {
            let bytes = std::fs::read(path).unwrap_or_default();
            // The first bytes say what the object is (root, trie node, unit); keep it short.
            let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .collect();
            format!("object ({head}...)")
        }
        other => other.to_owned(),
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let changes = env_number("BENCH_CHANGES", 10_000);
    let services = env_number("BENCH_SERVICES", 200);
    let client = reqwest::Client::new();
    println!(
        "store growth under regsync up: {changes} single-event webhook changes over {services} services"
    );

    // What one change writes, once every service exists.
    let dir = tempfile::tempdir().unwrap();
    let up = start(&dir.path().join("one"), "0s");
    for i in 0..services {
        post(&client, &up, change(i, services)).await;
    }
    let before = files(&up.store);
    post(&client, &up, change(services, services)).await;
    let after = files(&up.store);
    let unit = change(services, services).len();
    let mut written = 0;
    println!("\none change (service 0 of {services}) writes:");
    for (path, size) in &after {
        if before.get(path) != Some(size) {
            written += size;
            println!("  {size:>8} bytes  {}", kind(&up.store, path));
        }
    }
    println!(
        "  {written:>8} bytes in all; the changed unit (the event) is {unit} bytes: {:.1}x",
        written as f64 / unit as f64
    );
    drop(up);

    // Growth over many changes: without GC (baseline), then with GC every second.
    let checkpoints = 10;
    let mut table: Vec<(usize, [(usize, u64); 2])> = (1..=checkpoints)
        .map(|k| (changes * k / checkpoints, [(0, 0); 2]))
        .collect();
    for (mode, interval) in [(0, "0s"), (1, "1s")] {
        let data = dir.path().join(format!("mode{mode}"));
        let up = start(&data, interval);
        let started = Instant::now();
        let mut next = 0;
        for i in 0..changes {
            post(&client, &up, change(i, services)).await;
            if next < table.len() && i + 1 == table[next].0 {
                if mode == 1 {
                    // Let the grace period pass and one GC run, as a steady stream would.
                    tokio::time::sleep(Duration::from_millis(3500)).await;
                }
                let f = files(&up.store);
                table[next].1[mode] = (f.len(), f.values().sum());
                next += 1;
            }
        }
        eprintln!(
            "{} changes with GC {} in {:.1} s",
            changes,
            if mode == 0 { "off" } else { "every 1s" },
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "\nchanges    GC off: files      bytes    GC on (every 1s, keep 10): files      bytes"
    );
    for (n, [(f0, b0), (f1, b1)]) in &table {
        println!("{n:>7}    {f0:>13} {b0:>10}    {f1:>32} {b1:>10}");
    }
    let (last_off, last_on) = (table[table.len() - 1].1[0], table[table.len() - 1].1[1]);
    let first_on = table[0].1[1];
    println!(
        "\nper change without GC: {:.1} files, {:.0} bytes (baseline)",
        last_off.0 as f64 / changes as f64,
        last_off.1 as f64 / changes as f64
    );
    println!(
        "with GC: the store holds {} bytes after {} changes and {} bytes after {changes} ({:.2}x)",
        first_on.1,
        table[0].0,
        last_on.1,
        last_on.1 as f64 / first_on.1.max(1) as f64
    );
}
