//! What both benches share: sample count, median, and the stores they start on.

use std::time::Duration;

/// BENCH_RUNS, default 15.
pub fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
}

/// The median, in milliseconds.
pub fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// `(name, url)` of the stores to start on: memory, a directory under `dir`, and
/// REGSYNC_BENCH_S3_STORE when set.
pub fn stores(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut stores = vec![
        ("memory://", "memory://".to_owned()),
        ("file://", format!("file://{}", dir.display())),
    ];
    if let Ok(s3) = std::env::var("REGSYNC_BENCH_S3_STORE") {
        stores.push(("s3://", s3));
    }
    stores
}
