//! One service change applied to snapshots of 1k, 10k and 100k endpoints: time, bytes written
//! and S3 requests per change. Target (issue #3): 100k/1k ≤ 2× in time and bytes.
//!
//! `scripts/bench-store.sh` starts SeaweedFS and runs this; by hand:
//!   cargo bench -p regsync-snapshots --bench one_change
//! measures `file://` (a temporary directory) always, and S3 when `REGSYNC_BENCH_S3_ENDPOINT`
//! names an S3-compatible server (requests and body bytes counted by the SDK interceptor).
//! `BENCH_SIZES=1000,10000` and `BENCH_CHANGES=15` change the run. The sizes are populated
//! first, then changed in turn, round after round, so drift in the machine's speed hits every
//! size alike. The baseline of each ratio is the 1k figure measured in the same run; the full-snapshot size shows what rewriting one
//! object per change would cost instead.

use std::time::{Duration, Instant};

use regsync_convert::ConvertConfig;
use regsync_model::RegistryEvent;
use regsync_snapshots::testkit;
use regsync_store::{RequestCounter, Store, testsuite};

const PER_APP: usize = 10;

/// One instance of one application changes its metadata.
fn change(app: usize, n: u64) -> RegistryEvent {
    testkit::instance_event(app, &testkit::ip(app, 0), n)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.metadata() {
            Ok(m) if m.is_dir() => total += dir_bytes(&path),
            Ok(m) => total += m.len(),
            Err(_) => {}
        }
    }
    total
}

/// Per-change figures, medians over the changes.
struct Figures {
    time: Duration,
    bytes: u64,
    requests: Option<u64>,
    full_snapshot: usize,
}

enum Backend {
    File(tempfile::TempDir),
    S3(RequestCounter),
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

/// A populated store of one size and what its changes measured.
struct Setup {
    endpoints: usize,
    store: Store,
    backend: Backend,
    full_snapshot: usize,
    times: Vec<Duration>,
    bytes: Vec<u64>,
    requests: Vec<u64>,
}

async fn populate(store: Store, backend: Backend, endpoints: usize) -> Setup {
    let started = Instant::now();
    regsync_snapshots::apply(
        &store,
        &[testkit::registry(endpoints / PER_APP, PER_APP)],
        &ConvertConfig::default(),
        1,
    )
    .await
    .expect("populate");
    let latest = store.latest().await.expect("latest");
    let full_snapshot = serde_json::to_vec(
        &regsync_snapshots::read(&store, &latest)
            .await
            .expect("read")
            .entries,
    )
    .expect("serialize")
    .len();
    eprintln!(
        "  populated {endpoints} endpoints in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Setup {
        endpoints,
        store,
        backend,
        full_snapshot,
        times: Vec::new(),
        bytes: Vec::new(),
        requests: Vec::new(),
    }
}

/// Applies change `n` to `setup` and records its time, bytes and requests.
async fn one_change(setup: &mut Setup, n: usize) {
    let apps = setup.endpoints / PER_APP;
    let ev = change((n * 7919) % apps, n as u64);
    let (bytes_before, requests_before) = match &setup.backend {
        Backend::File(d) => (dir_bytes(d.path()), 0),
        Backend::S3(c) => (c.body_bytes(), c.get()),
    };
    let t = Instant::now();
    let applied = regsync_snapshots::apply(&setup.store, &[ev], &ConvertConfig::default(), 1)
        .await
        .expect("apply one change");
    setup.times.push(t.elapsed());
    assert_eq!(applied.plan.moved.len(), 1, "one unit moves");
    match &setup.backend {
        Backend::File(d) => setup.bytes.push(dir_bytes(d.path()) - bytes_before),
        Backend::S3(c) => {
            setup.bytes.push(c.body_bytes() - bytes_before);
            setup.requests.push(c.get() - requests_before);
        }
    }
}

/// Changes every size in turn, `changes` rounds, so that drift in the machine's speed hits
/// every size alike; returns the medians.
async fn measure(mut setups: Vec<Setup>, changes: usize) -> Vec<(usize, Figures)> {
    for n in 1..=changes {
        for s in &mut setups {
            one_change(s, n).await;
        }
    }
    setups
        .into_iter()
        .map(|s| {
            let figures = Figures {
                time: median(s.times),
                bytes: median(s.bytes),
                requests: (!s.requests.is_empty()).then(|| median(s.requests)),
                full_snapshot: s.full_snapshot,
            };
            (s.endpoints, figures)
        })
        .collect()
}

fn print_table(name: &str, rows: &[(usize, Figures)]) {
    println!("\n{name}: one service change (median)");
    println!(
        "{:>10} {:>10} {:>12} {:>14} {:>10} {:>16}",
        "endpoints", "services", "time", "bytes written", "requests", "full snapshot"
    );
    for (n, f) in rows {
        println!(
            "{:>10} {:>10} {:>10.2}ms {:>14} {:>10} {:>16}",
            n,
            n / PER_APP,
            f.time.as_secs_f64() * 1e3,
            f.bytes,
            f.requests.map_or("-".into(), |r| r.to_string()),
            f.full_snapshot
        );
    }
    if let (Some((n0, base)), Some((n1, top))) = (rows.first(), rows.last()) {
        let t = top.time.as_secs_f64() / base.time.as_secs_f64();
        let b = top.bytes as f64 / base.bytes.max(1) as f64;
        let verdict = |x: f64| if x <= 2.0 { "ok" } else { "OVER TARGET" };
        println!(
            "ratio {n1}/{n0}: time {t:.2}x ({}), bytes {b:.2}x ({}); target <= 2x",
            verdict(t),
            verdict(b)
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let changes: usize = std::env::var("BENCH_CHANGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let mut setups = Vec::new();
    for &n in &sizes {
        eprintln!("file:// at {n} endpoints");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().to_str().expect("utf8"))
            .await
            .expect("file store");
        setups.push(populate(store, Backend::File(dir), n).await);
    }
    let file_rows = measure(setups, changes).await;
    print_table("file:// (bytes = growth of the directory)", &file_rows);
    let Ok(endpoint) = std::env::var("REGSYNC_BENCH_S3_ENDPOINT") else {
        println!(
            "\nS3 skipped: set REGSYNC_BENCH_S3_ENDPOINT (scripts/bench-store.sh starts SeaweedFS and does)"
        );
        return;
    };
    let mut setups = Vec::new();
    for &n in &sizes {
        eprintln!("s3 at {n} endpoints");
        let counter = RequestCounter::default();
        let bucket = format!("bench-{n}-{}", std::process::id());
        let store = testsuite::s3_store(&endpoint, &bucket, "regsync", counter.clone()).await;
        setups.push(populate(store, Backend::S3(counter), n).await);
    }
    let s3_rows = measure(setups, changes).await;
    print_table(
        "s3 (SeaweedFS; bytes = request bodies, requests counted by the SDK interceptor)",
        &s3_rows,
    );
}
