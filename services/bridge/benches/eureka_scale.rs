//! `regsync bridge eureka` at scale against a real Eureka server (Spring Cloud Netflix,
//! `tests/peers/eureka`), started by `scripts/bench-eureka.sh` on 127.0.0.1 with the test
//! settings (read-only response cache off, so the server adds no cache delay of its own).
//!
//! 1. Registers `BENCH_INSTANCES` instances (default 20,000) in `BENCH_APPS` applications
//!    (default 1,000) through the REST API, with an hour's lease.
//! 2. Baseline: the server's own `GET /eureka/apps` (JSON) response time and size.
//! 3. The bridge's full fetch: from start to every application published to a file sink, and
//!    the process's RSS before and after (the bridge's copy of the registry is the growth).
//! 4. Steady deltas: `BENCH_RATE` metadata changes per second (default 50) for `BENCH_SECONDS`
//!    (default 20) on random instances; each change's latency from the REST call to the event
//!    with the new value in the sink (p50/p99), the bridge's delta poll time (fetch, apply,
//!    reconcile, publish), and the server's own `/eureka/apps/delta` response time under that
//!    load as the baseline. The bridge polls every `BENCH_INTERVAL_MS` (default 1000).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Seek};
use std::sync::Arc;
use std::time::{Duration, Instant};

use regsync_bridge::eureka::{EurekaBridge, EurekaConfig};
use regsync_bridge::metrics::Metrics;
use regsync_bridge::sink::{Sink, SinkOptions};
use serde_json::json;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64, usize) {
    samples.sort_unstable();
    let n = samples.len().max(1);
    let at = |q: usize| {
        samples
            .get((n * q / 100).min(n - 1))
            .map_or(0.0, |d| ms(*d))
    };
    (
        at(50),
        at(99),
        samples.last().map_or(0.0, |d| ms(*d)),
        samples.len(),
    )
}

/// This process's resident set and its peak, in MiB (/proc/self/status).
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Changes sent and not yet seen in an event.
#[derive(Default)]
struct Pending {
    /// Marker → (when sent, instance).
    sent: HashMap<String, (Instant, u64)>,
    /// Instance → its latest marker.
    latest: HashMap<u64, String>,
    superseded: usize,
}

impl Pending {
    fn insert(&mut self, instance: u64, marker: String) {
        if let Some(old) = self.latest.insert(instance, marker.clone())
            && self.sent.remove(&old).is_some()
        {
            self.superseded += 1;
        }
        self.sent.insert(marker, (Instant::now(), instance));
    }
}

fn app_name(i: u64) -> String {
    format!("BENCH-APP-{i:04}")
}

fn instance(app: &str, i: u64) -> serde_json::Value {
    let ip = format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256);
    json!({"instance": {
        "instanceId": format!("{app}-{i}"), "hostName": ip, "app": app, "ipAddr": ip,
        "status": "UP", "port": {"$": 8080, "@enabled": "true"},
        "securePort": {"$": 443, "@enabled": "false"},
        "dataCenterInfo": {
            "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"
        },
        "leaseInfo": {"durationInSecs": 3600, "renewalIntervalInSecs": 30},
        "metadata": {"version": "v1", "seq": "0"},
        "vipAddress": app.to_lowercase(), "secureVipAddress": app.to_lowercase(),
    }})
}

async fn timed_get(http: &reqwest::Client, url: &str) -> (Duration, usize) {
    let start = Instant::now();
    let body = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    (start.elapsed(), body.len())
}

fn main() {
    let url = std::env::var("REGSYNC_BENCH_EUREKA_URL").unwrap_or_else(|_| {
        eprintln!("REGSYNC_BENCH_EUREKA_URL is not set: run scripts/bench-eureka.sh");
        std::process::exit(2)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(url));
}

async fn run(url: String) {
    let instances = env_or("BENCH_INSTANCES", 20_000);
    let apps = env_or("BENCH_APPS", 1_000).max(1);
    let rate = env_or("BENCH_RATE", 50).max(1);
    let seconds = env_or("BENCH_SECONDS", 20);
    let interval = Duration::from_millis(env_or("BENCH_INTERVAL_MS", 1000));
    let http = reqwest::Client::new();

    // 1. Registration through REST, 16 at a time.
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let http = http.clone();
        let url = url.clone();
        workers.spawn(async move {
            for i in (w..instances).step_by(16) {
                let app = app_name(i % apps);
                let r = http
                    .post(format!("{url}/apps/{app}"))
                    .header("content-type", "application/json")
                    .body(instance(&app, i).to_string())
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "register: {}", r.status());
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let took = started.elapsed();
    println!(
        "registered {instances} instances in {apps} applications through REST in {:.1} s ({:.0}/s)",
        took.as_secs_f64(),
        instances as f64 / took.as_secs_f64()
    );

    // 2. The server's own full registry response.
    let mut full = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let (d, n) = timed_get(&http, &format!("{url}/apps/")).await;
        full.push(d);
        size = n;
    }
    let (p50, _, max, _) = percentiles(full);
    println!(
        "baseline: the server's GET /eureka/apps                  median {p50:>7.1} ms  max {max:>7.1} ms  ({:.1} MiB JSON)",
        size as f64 / 1048576.0
    );

    // 3. The bridge's full fetch into a file sink.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let metrics = Arc::new(Metrics::default());
    let mut options = SinkOptions::new(metrics.clone());
    options.dead_letter = dir.path().join("dead.jsonl");
    let sink = Sink::open(
        &format!("file://{}", events.display()).parse().unwrap(),
        options,
    )
    .await
    .unwrap();
    let mut config = EurekaConfig::new(vec![url.clone()]);
    config.interval = interval;
    let bridge = EurekaBridge::new(config, sink, metrics).unwrap();
    let mut status = bridge.status();
    let (rss_before, _) = rss();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let start = Instant::now();
    let task = tokio::spawn(bridge.run(async {
        let _ = stopped.await;
    }));
    status
        .wait_for(|s| s.full_fetches >= 1 && s.delivered >= apps && !s.last_poll.is_zero())
        .await
        .unwrap();
    let fetched = start.elapsed();
    let first_poll = status.borrow().last_poll;
    let (rss_after, hwm) = rss();
    println!(
        "bridge: full fetch of {instances} instances to {apps} events   {:>7.1} ms  (poll {:.1} ms)",
        ms(fetched),
        ms(first_poll)
    );
    println!(
        "bridge: RSS {rss_after:.1} MiB (growth {:.1} MiB over the bench process before it; peak {hwm:.1} MiB)",
        rss_after - rss_before
    );

    // 4. Steady deltas.
    let mut file = std::fs::File::open(&events).unwrap();
    file.seek(std::io::SeekFrom::End(0)).unwrap();
    let mut reader = BufReader::new(file);
    // Marker in the event → when it was sent; a later change to the same instance supersedes
    // the earlier one (the event then carries only the later value).
    let pending: Arc<std::sync::Mutex<Pending>> = Arc::default();
    let changes = rate * seconds;
    let producer = {
        let http = http.clone();
        let url = url.clone();
        let pending = pending.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
            let mut delta_times = Vec::new();
            for n in 1..=changes {
                tick.tick().await;
                // A spread-out instance: multiplicative hashing of n.
                let i = n.wrapping_mul(2_654_435_761) % instances;
                let app = app_name(i % apps);
                let marker = format!("s{n}");
                pending
                    .lock()
                    .unwrap()
                    .insert(i, format!("\"seq\":\"{marker}\""));
                let r = http
                    .put(format!("{url}/apps/{app}/{app}-{i}/metadata?seq={marker}"))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "metadata: {}", r.status());
                if n % rate == 0 {
                    delta_times.push(timed_get(&http, &format!("{url}/apps/delta")).await);
                }
            }
            delta_times
        })
    };
    let mut latencies = Vec::new();
    let mut polls = Vec::new();
    let mut last_deltas = status.borrow().deltas;
    let deadline = Instant::now() + Duration::from_secs(seconds) + Duration::from_secs(30);
    let all_arrived = |latencies: &Vec<Duration>| {
        let p = pending.lock().unwrap();
        latencies.len() + p.superseded >= changes as usize
    };
    while !all_arrived(&latencies) && Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || !line.ends_with('\n') {
            if !line.is_empty() {
                // A partial line: read it again from its start next time.
                reader
                    .seek(std::io::SeekFrom::Current(-(line.len() as i64)))
                    .unwrap();
            }
            {
                let s = status.borrow();
                if s.deltas != last_deltas {
                    last_deltas = s.deltas;
                    polls.push(s.last_poll);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let now = Instant::now();
        let mut pending = pending.lock().unwrap();
        let arrived: Vec<String> = pending
            .sent
            .keys()
            .filter(|k| line.contains(k.as_str()))
            .cloned()
            .collect();
        for key in arrived {
            let (sent, _) = pending.sent.remove(&key).unwrap();
            latencies.push(now - sent);
        }
    }
    let delta_times = producer.await.unwrap();
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    let (p50, p99, max, n) = percentiles(latencies);
    println!(
        "bridge: change -> event, {rate}/s for {seconds} s, polls every {:?}   n={n} p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  max {max:>7.1} ms",
        interval
    );
    let (p50, p99, max, n) = percentiles(polls);
    println!(
        "bridge: delta poll (fetch, apply, reconcile, publish)    n={n} p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  max {max:>7.1} ms"
    );
    let sizes: Vec<usize> = delta_times.iter().map(|(_, n)| *n).collect();
    let (p50, p99, max, n) = percentiles(delta_times.into_iter().map(|(d, _)| d).collect());
    println!(
        "baseline: the server's GET /eureka/apps/delta meanwhile  n={n} p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  max {max:>7.1} ms  (up to {:.1} MiB: the queue keeps 3 min of changes)",
        sizes.iter().max().copied().unwrap_or(0) as f64 / 1048576.0
    );
    println!(
        "server cache delay: 0 (use-read-only-response-cache=false); with the default cache add up to response-cache-update-interval-ms (30 s) to each change"
    );
    let p = pending.lock().unwrap();
    println!(
        "lost: {} of {changes} changes never arrived ({} superseded by a later change to the same instance before a poll)",
        p.sent.len(),
        p.superseded
    );
}
