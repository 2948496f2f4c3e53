//! The MCP push bench (issue #5): a snapshot of 100k endpoints (1,000 entries of 100) served
//! over real gRPC on 127.0.0.1, with the same numbers measured for a raw tonic server in the
//! same run as the baseline.
//!
//! - full push to 1, 16 and 64 State-of-the-World clients: time from the new generation to the
//!   last client's ACK, bytes sent, and throughput against a raw tonic server streaming the same
//!   `DiscoveryResponse` (target: ≥ 0.8× the raw baseline);
//! - a one-entry change reaching all 64 clients, p50/p99 (target: p99 ≤ 50 ms), for istiod's
//!   State-of-the-World streams (the whole collection every time, as istiod requires) and for
//!   delta streams (only the changed entry);
//! - memory per idle client: the server runs as a child process, clients connect in waves and
//!   idle, and its RSS growth is divided by their number (target: ≤ 64 KB), beside the same
//!   figure for the raw tonic server.
//!
//! The clients decode only version, type and nonce of each response (prost skips the resources)
//! so that the two cores measure the server, not 64 decoders.
//!
//! Run: `scripts/bench-mcp.sh`, or `cargo bench -p regsync-mcp --bench push`.
//! `BENCH_CHANGES` (default 40) sets the number of one-entry changes, `BENCH_IDLE` (default 64)
//! the idle clients. `BENCH_ONLY=full|change|delta|idle` runs one part.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use prost::Message;
use regsync_convert::ConvertConfig;
use regsync_mcp::render::Rendered;
use regsync_mcp::testkit::{node, serve};
use regsync_mcp::types::{ISTIOD_1_30_TYPES, MESH_CONFIG, SERVICE_ENTRY_V1};
use regsync_model::{Entry, Snapshot};
use regsync_snapshots::testkit::{instance_event, ip, registry};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

const ENTRIES: usize = 1_000;
const PER_ENTRY: usize = 100;
const SOTW: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const DELTA: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";
const CHILD_ENV: &str = "REGSYNC_MCP_BENCH_CHILD";

/// The fields of a (Delta)DiscoveryResponse a client needs to ACK: both messages put their
/// version at 1, type URL at 4 and nonce at 5. Resources are skipped, not decoded.
#[derive(Clone, PartialEq, prost::Message)]
struct Light {
    #[prost(string, tag = "1")]
    version: String,
    #[prost(string, tag = "4")]
    type_url: String,
    #[prost(string, tag = "5")]
    nonce: String,
}

/// The two snapshots the bench alternates: the same 100k endpoints, one entry different.
struct Data {
    a: Rendered,
    b: Rendered,
    /// The entries of `a` and `b`.
    entries: [Vec<Entry>; 2],
    /// Time to render one generation from nothing.
    render: Duration,
}

fn data() -> Data {
    let config = ConvertConfig::default();
    let base = regsync_convert::apply(
        &Snapshot::default(),
        &[registry(ENTRIES, PER_ENTRY)],
        &config,
    )
    .snapshot;
    let variant = |n: u64| {
        let s = regsync_convert::apply(&base, &[instance_event(0, &ip(0, 0), n)], &config);
        let t = Instant::now();
        let r = Rendered::new(0, &s.snapshot.entries).expect("valid entries");
        (r, t.elapsed(), s.snapshot.entries)
    };
    let (a, render, entries_a) = variant(1);
    let (b, _, entries_b) = variant(2);
    Data {
        a,
        b,
        entries: [entries_a, entries_b],
        render,
    }
}

fn at(base: &Rendered, generation: u64) -> Arc<Rendered> {
    Arc::new(Rendered {
        generation,
        version: generation.to_string(),
        ..base.clone()
    })
}

/// The full ServiceEntry response of `r`, as regsync sends it.
fn full_response(r: &Rendered) -> DiscoveryResponse {
    DiscoveryResponse {
        version_info: r.version.clone(),
        resources: r.select(&Default::default()),
        type_url: SERVICE_ENTRY_V1.to_owned(),
        nonce: "n".into(),
        ..DiscoveryResponse::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The raw tonic baseline: a stream that sends whatever response it is handed, nothing else.

#[derive(Clone)]
struct Raw {
    payload: watch::Receiver<Option<Arc<DiscoveryResponse>>>,
}

type Out<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Raw {
    type StreamAggregatedResourcesStream = Out<DiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let mut requests = request.into_inner();
        let mut payload = self.payload.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            payload.mark_changed();
            loop {
                tokio::select! {
                    r = requests.message() => if !matches!(r, Ok(Some(_))) { break },
                    c = payload.changed() => {
                        if c.is_err() {
                            break;
                        }
                        let p = payload.borrow_and_update().clone();
                        if let Some(p) = p
                            && tx.send(Ok((*p).clone())).await.is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type DeltaAggregatedResourcesStream = Out<DeltaDiscoveryResponse>;

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented("raw baseline"))
    }
}

async fn serve_raw(
    first: Option<Arc<DiscoveryResponse>>,
) -> (SocketAddr, watch::Sender<Option<Arc<DiscoveryResponse>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, payload) = watch::channel(first);
    let svc = AggregatedDiscoveryServiceServer::new(Raw { payload })
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);
    tokio::spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(svc)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (addr, tx)
}

// ---------------------------------------------------------------------------------------------
// Clients.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// istiod: State-of-the-World, its 16 initial requests.
    Sotw,
    /// An incremental client: MeshConfig and ServiceEntry, wildcard.
    Delta,
}

/// Client `id` received the ServiceEntry response of `version` at `at`.
type Seen = (usize, u64, Instant);

async fn channel(addr: SocketAddr) -> Channel {
    // grpc-go (istiod) sizes its receive windows from the bandwidth-delay product; so does this.
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .tcp_nodelay(true)
        .http2_adaptive_window(true)
        .connect()
        .await
        .unwrap()
}

async fn open<Req: Message + Default + Send + Sync + 'static>(
    channel: Channel,
    path: &'static str,
    first: Vec<Req>,
) -> (mpsc::Sender<Req>, Streaming<Light>) {
    let (tx, rx) = mpsc::channel(64);
    for r in first {
        tx.send(r).await.unwrap();
    }
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(usize::MAX);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Req, Light>::default();
    let stream = grpc
        .streaming(
            Request::new(ReceiverStream::new(rx)),
            PathAndQuery::from_static(path),
            codec,
        )
        .await
        .unwrap()
        .into_inner();
    (tx, stream)
}

/// Connects one client that ACKs everything and reports each ServiceEntry version it gets.
async fn client(addr: SocketAddr, kind: Kind, id: usize, seen: mpsc::UnboundedSender<Seen>) {
    let channel = channel(addr).await;
    match kind {
        Kind::Sotw => {
            let first = ISTIOD_1_30_TYPES
                .iter()
                .enumerate()
                .map(|(i, t)| DiscoveryRequest {
                    node: (i == 0).then(|| node("default")),
                    type_url: (*t).to_owned(),
                    response_nonce: format!("init-{i}"),
                    ..DiscoveryRequest::default()
                })
                .collect();
            let (tx, rx) = open(channel, SOTW, first).await;
            let ack = |l: &Light| DiscoveryRequest {
                type_url: l.type_url.clone(),
                version_info: l.version.clone(),
                response_nonce: l.nonce.clone(),
                ..DiscoveryRequest::default()
            };
            tokio::spawn(run(rx, tx, ack, id, seen));
        }
        Kind::Delta => {
            let first = [MESH_CONFIG, SERVICE_ENTRY_V1]
                .iter()
                .enumerate()
                .map(|(i, t)| DeltaDiscoveryRequest {
                    node: (i == 0).then(|| node("default")),
                    type_url: (*t).to_owned(),
                    ..DeltaDiscoveryRequest::default()
                })
                .collect();
            let (tx, rx) = open(channel, DELTA, first).await;
            let ack = |l: &Light| DeltaDiscoveryRequest {
                type_url: l.type_url.clone(),
                response_nonce: l.nonce.clone(),
                ..DeltaDiscoveryRequest::default()
            };
            tokio::spawn(run(rx, tx, ack, id, seen));
        }
    }
}

async fn run<Req: Send + 'static>(
    mut rx: Streaming<Light>,
    tx: mpsc::Sender<Req>,
    ack: impl Fn(&Light) -> Req + Send + 'static,
    id: usize,
    seen: mpsc::UnboundedSender<Seen>,
) {
    while let Ok(Some(l)) = rx.message().await {
        let at = Instant::now();
        if tx.send(ack(&l)).await.is_err() {
            return;
        }
        if l.type_url == SERVICE_ENTRY_V1
            && let Ok(v) = l.version.parse()
        {
            let _ = seen.send((id, v, at));
        }
    }
}

/// Waits until each of `n` clients has `version`; returns when the last one got it.
async fn all_at(seen: &mut mpsc::UnboundedReceiver<Seen>, n: usize, version: u64) -> Instant {
    let mut got = vec![false; n];
    let mut left = n;
    let mut last = Instant::now();
    while left > 0 {
        let (id, v, at) = tokio::time::timeout(Duration::from_secs(120), seen.recv())
            .await
            .expect("clients keep up")
            .expect("clients alive");
        if v == version && !got[id] {
            got[id] = true;
            left -= 1;
            last = last.max(at);
        }
    }
    last
}

async fn connect_all(addr: SocketAddr, kind: Kind, n: usize) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    for id in 0..n {
        client(addr, kind, id, tx.clone()).await;
    }
    rx
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// Figures.

/// Full push of `big` to `n` clients: regsync then raw, median of `reps`.
async fn full_push(data: &Data, n: usize, reps: u64) -> (Duration, Duration) {
    let small = Rendered::new(1, &[]).unwrap();
    let server = serve(Some(Arc::new(small))).await;
    let mut seen = connect_all(server.addr, Kind::Sotw, n).await;
    all_at(&mut seen, n, 1).await;
    let mut regsync = Vec::new();
    for g in 2..2 + reps {
        let next = at(if g % 2 == 0 { &data.a } else { &data.b }, g);
        let t0 = Instant::now();
        server.snapshots.send(Some(next)).unwrap();
        regsync.push(all_at(&mut seen, n, g).await - t0);
    }
    server.stop();

    let mut empty = full_response(&data.a);
    empty.resources.clear();
    empty.version_info = "1".into();
    let (addr, payload) = serve_raw(Some(Arc::new(empty))).await;
    let mut seen = connect_all(addr, Kind::Sotw, n).await;
    all_at(&mut seen, n, 1).await;
    let mut raw = Vec::new();
    for g in 2..2 + reps {
        let mut resp = full_response(if g % 2 == 0 { &data.a } else { &data.b });
        resp.version_info = g.to_string();
        let resp = Arc::new(resp);
        let t0 = Instant::now();
        payload.send(Some(resp)).unwrap();
        raw.push(all_at(&mut seen, n, g).await - t0);
    }
    regsync.sort();
    raw.sort();
    (regsync[regsync.len() / 2], raw[raw.len() / 2])
}

/// One-entry changes reaching `n` clients of `kind`: every latency, sorted.
async fn one_entry_changes(data: &Data, kind: Kind, n: usize, changes: u64) -> Vec<Duration> {
    let mut previous = at(&data.a, 1);
    let server = serve(Some(previous.clone())).await;
    let mut seen = connect_all(server.addr, kind, n).await;
    all_at(&mut seen, n, 1).await;
    let mut times = Vec::new();
    for g in 2..2 + changes {
        let entries = &data.entries[(g % 2 == 0) as usize];
        // From the new generation's entries: its rendering (only the changed entry is
        // rendered again) is part of the time.
        let t0 = Instant::now();
        let next = Arc::new(Rendered::next(Some(&previous), g, entries).unwrap());
        previous = next.clone();
        server.snapshots.send(Some(next)).unwrap();
        times.push(all_at(&mut seen, n, g).await - t0);
    }
    server.stop();
    times.sort();
    times
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Server RSS growth per idle client, the server (`mode`) in a child process.
async fn idle_memory(mode: &str, idle: usize) -> f64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line.trim().parse().unwrap();
    let wave = 8;
    // A first wave sizes the allocator for a wave's transient push buffers.
    let (tx, mut seen) = mpsc::unbounded_channel();
    let mut version = None;
    for id in 0..wave {
        client(addr, Kind::Sotw, id, tx.clone()).await;
    }
    let mut wait_wave = async |seen: &mut mpsc::UnboundedReceiver<Seen>, from: usize| {
        let mut left: std::collections::BTreeSet<usize> = (from..from + wave).collect();
        while !left.is_empty() {
            let (id, v, _) = seen.recv().await.unwrap();
            version.get_or_insert(v);
            left.remove(&id);
        }
    };
    wait_wave(&mut seen, 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(child.id());
    for start in (wave..wave + idle).step_by(wave) {
        for id in start..start + wave {
            client(addr, Kind::Sotw, id, tx.clone()).await;
        }
        wait_wave(&mut seen, start).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = rss_kib(child.id());
    drop(child.stdin.take());
    let _ = child.wait();
    (after.saturating_sub(before)) as f64 / (idle - idle % wave) as f64
}

/// The child process: serves the big snapshot until its stdin closes.
async fn child(mode: &str) {
    let data = data();
    let addr = if mode == "raw" {
        let (addr, payload) = serve_raw(Some(Arc::new(full_response(&data.a)))).await;
        std::mem::forget(payload);
        addr
    } else {
        let server = serve(Some(at(&data.a, 1))).await;
        let addr = server.addr;
        std::mem::forget(server);
        addr
    };
    drop(data);
    println!("{addr}");
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await
    .unwrap();
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        runtime.block_on(child(&mode));
        return;
    }
    runtime.block_on(bench());
}

async fn bench() {
    let changes = env_or("BENCH_CHANGES", 40);
    let idle = env_or("BENCH_IDLE", 64) as usize;
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    let t = Instant::now();
    let data = data();
    let bytes = full_response(&data.a).encoded_len();
    println!(
        "snapshot: {} entries, {} endpoints, full ServiceEntry response {:.1} MiB (built in {:.1} s)",
        data.a.resources.len(),
        data.a.endpoints(),
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    println!(
        "render one generation from nothing (once, shared by every stream): {:.1} ms",
        ms(data.render)
    );
    let t = Instant::now();
    let reps = 20;
    for g in 0..reps {
        let from = if g % 2 == 0 { &data.a } else { &data.b };
        std::hint::black_box(
            Rendered::next(Some(from), g, &data.entries[(g % 2 == 0) as usize]).unwrap(),
        );
    }
    println!(
        "render the next generation after a one-entry change (the rest reused): {:.1} ms",
        ms(t.elapsed()) / reps as f64
    );

    if part("full") {
        println!("\nfull push, State-of-the-World (istiod), time to the last ACK, median of 3:");
        println!(
            "{:>8} {:>10} {:>12} {:>12} {:>12} {:>12} {:>8}",
            "clients", "MiB", "regsync ms", "raw ms", "regsync MB/s", "raw MB/s", "ratio"
        );
    }
    let mut worst_ratio = f64::MAX;
    for n in [1usize, 16, 64].into_iter().filter(|_| part("full")) {
        let (ours, raw) = full_push(&data, n, 3).await;
        let total = (bytes * n) as f64;
        let ratio = raw.as_secs_f64() / ours.as_secs_f64();
        worst_ratio = worst_ratio.min(ratio);
        println!(
            "{:>8} {:>10.1} {:>12.1} {:>12.1} {:>12.0} {:>12.0} {:>7.2}x",
            n,
            total / 1048576.0,
            ms(ours),
            ms(raw),
            total / 1e6 / ours.as_secs_f64(),
            total / 1e6 / raw.as_secs_f64(),
            ratio
        );
    }

    if part("change") || only == "delta" {
        println!(
            "\none-entry change, from the new generation's entries (rendering included) to the last client's ACK, {changes} changes:"
        );
    }
    let mut worst_p99 = Duration::ZERO;
    for (kind, n, label) in [
        (
            Kind::Sotw,
            64,
            "64 State-of-the-World (istiod: whole collection)",
        ),
        (Kind::Delta, 64, "64 delta (changed entry only)"),
        (Kind::Sotw, 3, "3 State-of-the-World (an HA istiod)"),
        (Kind::Sotw, 1, "1 State-of-the-World"),
    ]
    .into_iter()
    .filter(|(kind, _, _)| part("change") || (only == "delta" && *kind == Kind::Delta))
    {
        let times = one_entry_changes(&data, kind, n, changes).await;
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        if kind == Kind::Sotw && n == 64 {
            worst_p99 = p99;
        }
        println!(
            "  {label:<50} p50 {:>7.1} ms  p99 {:>7.1} ms",
            ms(p50),
            ms(p99)
        );
    }

    let mut per_client = None;
    if part("idle") {
        println!(
            "\nmemory per idle client ({idle} State-of-the-World clients, server in a child process, RSS growth):"
        );
        let ours = idle_memory("regsync", idle).await;
        let raw = idle_memory("raw", idle).await;
        println!("  regsync {ours:>8.1} KiB   raw tonic {raw:>8.1} KiB");
        per_client = Some(ours);
    }

    println!("\ntargets:");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    if part("full") {
        println!(
            "  full push >= 0.8x raw tonic: worst {:.2}x, {}",
            worst_ratio,
            verdict(worst_ratio >= 0.8)
        );
    }
    if part("change") {
        println!(
            "  one-entry change p99 <= 50 ms (State-of-the-World, 64 clients): {:.1} ms, {}",
            ms(worst_p99),
            verdict(ms(worst_p99) <= 50.0)
        );
    }
    if let Some(ours) = per_client {
        println!(
            "  <= 64 KB per idle client: {:.1} KiB, {}",
            ours,
            verdict(ours * 1024.0 <= 64_000.0)
        );
    }
}
