//! The function's own cost: one invocation of the ingest-kafka handler on a `KafkaEvent` of 100
//! and 10,000 records (the Kafka event source mapping's maximum batch), on a memory:// store so
//! no store I/O is timed, on one thread; and the cold-start initialisation. Printed beside a
//! baseline measured in the same run: the pure one-shot conversion of the same events
//! (`regsync_convert::apply`, no decoding, no store), the least any batch path can cost.
//!
//! Run: scripts/bench-functions.sh (pins to one core), or
//! `cargo bench -p ingest-kafka --bench batch`. BENCH_RUNS sets the samples (default 15).
//! With AWS_ENDPOINT_URL and keys in the environment, REGSYNC_BENCH_S3_STORE=s3://bucket/prefix
//! also times the cold start on S3.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use common::{median, runs, stores};
use std::time::Instant;

use aws_lambda_events::event::kafka::KafkaEvent;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ingest_kafka::{Context, handle, records};
use lambda_runtime::LambdaEvent;
use regsync_model::RegistryEvent;
use regsync_snapshots::testkit::{instance_event, ip};
use serde_json::json;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TARGET_10K_MS: f64 = 50.0;
const TARGET_INIT_MS: f64 = 20.0;

/// `n` instance events over 4 partitions: 100 instances per application.
fn kafka_event(n: usize) -> (KafkaEvent, Vec<RegistryEvent>) {
    let mut events = Vec::with_capacity(n);
    let mut partitions: Vec<Vec<serde_json::Value>> = vec![Vec::new(); 4];
    for k in 0..n {
        let (app, i) = (k / 100, k % 100);
        let e = instance_event(app, &ip(app, i), 1);
        let value = serde_json::to_vec(&e.to_json()).unwrap();
        let p = app % 4;
        let offset = partitions[p].len();
        partitions[p].push(json!({
            "topic": "registry-events", "partition": p, "offset": offset,
            "timestamp": 1_763_800_000_000u64, "timestampType": "CREATE_TIME",
            "key": STANDARD.encode(e.service_key().to_string()),
            "value": STANDARD.encode(&value),
            "headers": [{"content-type": b"application/cloudevents+json".iter().map(|&b| b as i8).collect::<Vec<_>>()}],
        }));
        events.push(e);
    }
    let records: serde_json::Map<String, serde_json::Value> = partitions
        .into_iter()
        .enumerate()
        .map(|(p, r)| (format!("registry-events-{p}"), json!(r)))
        .collect();
    let event = serde_json::from_value(json!({
        "eventSource": "aws:kafka", "bootstrapServers": "b-1:9092", "records": records
    }))
    .unwrap();
    (event, events)
}

async fn context(url: &str) -> Context {
    let url = url.to_owned();
    Context::from_lookup(move |k| (k == regsync_pipeline::config::STORE_URL).then(|| url.clone()))
        .await
        .unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs = runs();
    println!("ingest-kafka handler, one thread, memory:// store, median of {runs}");
    println!(
        "{:>8} {:>12} {:>14} {:>12} {:>8}",
        "records", "handler ms", "baseline ms", "per record", "ratio"
    );
    for n in [100usize, 10_000] {
        let (event, events) = kafka_event(n);
        assert_eq!(records(&event).len(), n);
        let mut handler = Vec::new();
        let mut baseline = Vec::new();
        for _ in 0..runs {
            // A fresh store each run, so every run applies every record.
            let ctx = rt.block_on(context("memory://"));
            let payload = LambdaEvent::new(event.clone(), lambda_runtime::Context::default());
            let t = Instant::now();
            let summary = rt.block_on(handle(&ctx, payload)).unwrap();
            handler.push(t.elapsed());
            assert_eq!(summary.applied, n);
            let t = Instant::now();
            let out = regsync_convert::apply(&Default::default(), &events, &Default::default());
            baseline.push(t.elapsed());
            assert!(!out.snapshot.entries.is_empty());
        }
        // Where the handler's time goes, on the same input; the core is `apply_batch` on the
        // decoded records (group, fold, convert, render, publish), the figure the target is on.
        let mut phases = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        let mut core = Vec::new();
        for _ in 0..runs {
            let ctx = rt.block_on(context("memory://"));
            let t = Instant::now();
            let recs = records(&event);
            phases[0].push(t.elapsed());
            let t = Instant::now();
            let inputs: Vec<_> = recs.iter().map(|(r, _)| r.decode(usize::MAX)).collect();
            phases[1].push(t.elapsed());
            let again = inputs.clone();
            let fresh = rt.block_on(context("memory://"));
            let t = Instant::now();
            let report = rt
                .block_on(regsync_pipeline::batch::apply_batch(&fresh.pipeline, again))
                .unwrap();
            core.push(t.elapsed());
            assert_eq!(report.count("applied"), n);
            let t = Instant::now();
            let valid = regsync_pipeline::batch::prepare(inputs);
            phases[2].push(t.elapsed());
            let t = Instant::now();
            rt.block_on(regsync_pipeline::batch::publish(&ctx.pipeline, valid))
                .unwrap();
            phases[3].push(t.elapsed());
        }
        let [p0, p1, p2, p3] = phases.map(median);
        println!(
            "{:>8} phases: base64 {p0:.2} ms, decode {p1:.2} ms, group {p2:.2} ms, fold+render+write {p3:.2} ms",
            ""
        );
        let (h, b, c) = (median(handler), median(baseline), median(core));
        println!(
            "{n:>8} {h:>12.2} {b:>14.2} {:>9.1} µs {:>7.2}x",
            h * 1000.0 / n as f64,
            h / b
        );
        println!(
            "{n:>8} core (apply_batch on decoded records) {c:.2} ms, {:.2}x the baseline",
            c / b
        );
        if n == 10_000 {
            println!(
                "target: core on 10,000 records <= {TARGET_10K_MS} ms -> {} (whole handler incl. base64 and JSON decode: {h:.2} ms)",
                if c <= TARGET_10K_MS { "met" } else { "NOT met" }
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in stores(dir.path()) {
        let mut init = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let ctx = rt.block_on(context(&url));
            init.push(t.elapsed());
            drop(ctx);
        }
        let ms = median(init);
        println!(
            "cold init (config + store open) on {name:<10} {ms:>7.2} ms (target <= {TARGET_INIT_MS} ms: {})",
            if ms <= TARGET_INIT_MS {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}
