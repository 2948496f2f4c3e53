//! Conversion throughput against a plain typed `serde_json` parse of the same bytes, measured in
//! the same run. Target (issue #2): conversion ≥ 0.5× the baseline's throughput.
//!
//! `cargo bench -p regsync-convert --bench convert` prints, per payload, MB/s and instances/s of
//! both, and the ratio. Set `BENCH_INSTANCES` to change the size (default 10,000).

use std::collections::HashMap;

use std::hint::black_box;
use std::time::{Duration, Instant};

use regsync_convert::input::{RawDefaults, events_from_bytes};
use regsync_convert::{ConvertConfig, apply};
use regsync_model::Snapshot;
use serde::Deserialize;

/// The baseline: only the fields regsync reads, typed, as a hand-written client would parse them.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Apps {
    applications: Applications,
}
#[derive(Deserialize)]
#[allow(dead_code)]
struct Applications {
    application: Vec<App>,
}
#[derive(Deserialize)]
#[allow(dead_code)]
struct App {
    name: String,
    instance: Vec<Inst>,
}
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
struct Inst {
    instance_id: String,
    host_name: String,
    app: String,
    ip_addr: String,
    status: String,
    overridden_status: String,
    port: Port,
    secure_port: Port,
    metadata: HashMap<String, String>,
    last_updated_timestamp: String,
    last_dirty_timestamp: String,
}
#[derive(Deserialize)]
#[allow(dead_code)]
struct Port {
    #[serde(rename = "$")]
    number: u16,
    #[serde(rename = "@enabled")]
    enabled: String,
}

/// A Spring Cloud (Jackson codec) `/eureka/apps` document with `n` instances, 20 per app.
fn eureka_apps(n: usize) -> Vec<u8> {
    let per_app = 20;
    let mut apps = Vec::new();
    for a in 0..n.div_ceil(per_app) {
        let mut instances = Vec::new();
        for i in 0..per_app.min(n - a * per_app) {
            let ip = format!("10.{}.{}.{}", a / 250, a % 250, i + 1);
            instances.push(serde_json::json!({
                "instanceId": format!("{ip}:service-{a}:8080"), "hostName": ip, "app": format!("SERVICE-{a}"),
                "ipAddr": ip, "status": "UP", "overriddenStatus": "UNKNOWN",
                "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": 8443, "@enabled": "false"},
                "countryId": 1,
                "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
                "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90, "registrationTimestamp": 1700000000000u64 + i as u64,
                               "lastRenewalTimestamp": 1700000030000u64, "evictionTimestamp": 0, "serviceUpTimestamp": 1700000000000u64},
                "metadata": {"management.port": "8080", "zone": "us-east-1a", "version": "v1"},
                "homePageUrl": format!("http://{ip}:8080/"), "statusPageUrl": format!("http://{ip}:8080/actuator/info"),
                "healthCheckUrl": format!("http://{ip}:8080/actuator/health"), "vipAddress": format!("service-{a}"),
                "secureVipAddress": format!("service-{a}"), "isCoordinatingDiscoveryServer": "false",
                "lastUpdatedTimestamp": (1700000000000u64 + i as u64).to_string(), "lastDirtyTimestamp": "1700000000000",
                "actionType": "ADDED"
            }));
        }
        apps.push(serde_json::json!({"name": format!("SERVICE-{a}"), "instance": instances}));
    }
    serde_json::to_vec(&serde_json::json!({"applications": {"versions__delta": "1", "apps__hashcode": format!("UP_{n}_"), "application": apps}}))
        .expect("serialize")
}

/// Median time of `f` over enough runs to fill ~2 s (at least 5).
fn measure(mut f: impl FnMut()) -> Duration {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < Duration::from_secs(2) && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 200 } else { 10_000 });
    let bytes = eureka_apps(n);
    let config = ConvertConfig::default();
    let mb = bytes.len() as f64 / 1e6;

    // One run of one side, for instruction counting (`valgrind --tool=callgrind`), which is
    // repeatable where wall-clock time on a shared machine is not.
    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("baseline") => {
            let apps: Apps = serde_json::from_slice(black_box(&bytes)).expect("baseline parses");
            black_box(apps);
            return;
        }
        Ok("generate") => return,
        Ok("convert") => {
            let events = events_from_bytes("bench", 1, &bytes, &RawDefaults::default(), usize::MAX)
                .expect("payload parses");
            black_box(apply(&Snapshot::empty(), &events, &config));
            return;
        }
        _ => {}
    }
    if std::env::var("BENCH_PROFILE_CONVERT").is_ok() {
        // For `perf record`: spend the run converting.
        for _ in 0..60 {
            let events = events_from_bytes("bench", 1, &bytes, &RawDefaults::default(), usize::MAX)
                .expect("payload parses");
            black_box(apply(&Snapshot::empty(), &events, &config));
        }
        return;
    }
    if std::env::var("BENCH_PROFILE_RENDER").is_ok() {
        // For `perf record`: spend the run in render only.
        let events = events_from_bytes("bench", 1, &bytes, &RawDefaults::default(), usize::MAX)
            .expect("payload parses");
        let folded = apply(&Snapshot::empty(), &events, &config).snapshot.state;
        for _ in 0..100 {
            black_box(regsync_convert::render::render(&folded, &config));
        }
        return;
    }
    // Baseline and conversion run alternately and the ratio is taken pair by pair, so a
    // machine whose speed drifts (shared cores) moves both sides of each ratio together.
    let mut entries = 0;
    let run_baseline = || {
        let t = Instant::now();
        let apps: Apps = serde_json::from_slice(black_box(&bytes)).expect("baseline parses");
        black_box(apps);
        t.elapsed()
    };
    let mut run_convert = || {
        let t = Instant::now();
        let events = events_from_bytes(
            "bench",
            1,
            black_box(&bytes),
            &RawDefaults::default(),
            usize::MAX,
        )
        .expect("payload parses");
        let applied = apply(&Snapshot::empty(), &events, &config);
        entries = applied.snapshot.entries.len();
        black_box(applied);
        t.elapsed()
    };
    let (mut baselines, mut converts, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let start = Instant::now();
    while ratios.len() < 9 || (start.elapsed() < Duration::from_secs(4) && ratios.len() < 200) {
        let (b, c) = (run_baseline(), run_convert());
        baselines.push(b);
        converts.push(c);
        ratios.push(b.as_secs_f64() / c.as_secs_f64());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (baseline, convert) = (median(&mut baselines), median(&mut converts));
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let (ratio_low, ratio_high) = (ratios[ratios.len() / 10], ratios[ratios.len() * 9 / 10]);
    // Where the time goes, stage by stage.
    let events = events_from_bytes("bench", 1, &bytes, &RawDefaults::default(), usize::MAX)
        .expect("payload parses");
    let parse = measure(|| {
        black_box(
            events_from_bytes(
                "bench",
                1,
                black_box(&bytes),
                &RawDefaults::default(),
                usize::MAX,
            )
            .expect("parses"),
        );
    });
    let eureka_parse = measure(|| {
        black_box(regsync_eureka::parse_json(black_box(&bytes)).expect("parses"));
    });
    let mut folded = regsync_model::RegistryState::default();
    let fold = measure(|| {
        let mut state = regsync_model::RegistryState::default();
        for e in &events {
            regsync_convert::fold::apply_event(&mut state, e);
        }
        folded = state;
    });
    let render = measure(|| {
        black_box(regsync_convert::render::render(&folded, &config));
    });
    let rate = |d: Duration| (mb / d.as_secs_f64(), n as f64 / d.as_secs_f64());
    let (b_mb, b_i) = rate(baseline);
    let (c_mb, c_i) = rate(convert);
    println!(
        "eureka /eureka/apps: {n} instances, {entries} entries, {:.2} MB",
        mb
    );
    println!(
        "  baseline  serde_json typed parse : {:>8.1} MB/s {:>10.0} instances/s ({:?})",
        b_mb, b_i, baseline
    );
    println!(
        "  regsync   parse+fold+render      : {:>8.1} MB/s {:>10.0} instances/s ({:?})",
        c_mb, c_i, convert
    );
    println!(
        "    of which: envelope {parse:?}, fold {fold:?} (Eureka parse {eureka_parse:?}), render {render:?}"
    );
    println!(
        "  ratio regsync/baseline           : {ratio:.2}x median of {} alternating pairs, p10-p90 {ratio_low:.2}-{ratio_high:.2}x (target >= 0.50x)",
        ratios.len()
    );
}
