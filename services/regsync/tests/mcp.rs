//! `regsync mcp serve` and `regsync mcp release` run as an operator runs them: a separate
//! process with TLS (as istiod's `tlsSettings: {mode: SIMPLE}` with `caCertificates` connects),
//! an istiod-like client (`regsync_mcp::testkit`; istiod cannot run here), and SIGTERM.
//!
//! And the process against careless and hostile clients (issue 22), driven from outside as an
//! attacker would: an oversized request, sockets that never finish the HTTP/2 handshake, more
//! connections than the cap, and a process out of file descriptors (run under
//! `prlimit --nofile`). Each time a well-behaved istiod-like client must still be served.

#![allow(clippy::unwrap_used)] // a failed step in a helper is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Proc, sigterm};
use regsync_convert::ConvertConfig;
use regsync_mcp::testkit::{Istiod, WAIT};
use regsync_mcp::types::ISTIOD_1_30_TYPES;
use regsync_snapshots::testkit::{registry, registry_at};
use regsync_store::Store;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const SE: &str = "networking.istio.io/v1/ServiceEntry";

/// A running `regsync mcp serve` and what it has logged so far.
struct Server {
    child: Proc,
    grpc: SocketAddr,
    admin: String,
    /// The first line printed, with both addresses and the transport.
    banner: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `regsync mcp serve` on `store` with `extra` flags.
    fn start(store: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(["mcp", "serve", "--store", store])
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--poll-interval", "20ms", "--debounce", "10ms"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("server: {line}");
                lines.lock().unwrap().push(line);
            }
        });
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        let (grpc, admin) = common::mcp_banner_addresses(&first);
        Server {
            child: Proc(child),
            grpc,
            admin,
            banner: first,
            log,
        }
    }

    /// The first line logged that contains `text`, waiting up to `wait` for it.
    async fn logged(&self, text: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "nothing logged with {text:?} within {wait:?}: {:#?}",
                self.log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Polls `/metrics` until it contains `line`.
    async fn until_metric(&self, line: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let metrics = self.metrics().await;
            if metrics.contains(line) {
                return;
            }
            assert!(Instant::now() < deadline, "no {line:?} in {metrics}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// User plus system CPU time the process has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name, which is in parentheses: state is the first, utime
        // the 12th and stime the 13th (proc(5) fields 14 and 15).
        let after = &stat[stat.rfind(')').unwrap() + 1..];
        let fields: Vec<u64> = after
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().unwrap())
            .collect();
        let ticks = fields[0] + fields[1];
        Duration::from_millis(ticks * 1000 / clock_ticks())
    }

    /// Lowers the process's file descriptor limit to `n` with `prlimit` (util-linux): the
    /// workspace forbids the unsafe code a `setrlimit` in the child would take.
    fn limit_open_files(&self, n: u32) {
        let out = Command::new("prlimit")
            .arg(format!("--pid={}", self.child.id()))
            .arg(format!("--nofile={n}:{n}"))
            .output()
            .unwrap_or_else(|e| panic!("prlimit (util-linux) is needed: {e}"));
        assert!(out.status.success(), "{out:?}");
    }

    /// Descriptors the process has open.
    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }
}

/// Clock ticks per second, the unit of /proc/<pid>/stat's CPU times.
fn clock_ticks() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 and the in-cluster name, signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=regsync test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=regsync-mcp",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:regsync-mcp.istio-mcp.svc,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "tls.crt",
        ],
    );
}

/// `regsync mcp serve` over TLS with the certificates in `tls`.
fn serve(store: &str, tls: &Path) -> Server {
    let (cert, key) = (tls.join("tls.crt"), tls.join("tls.key"));
    let server = Server::start(
        store,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.banner.contains("(TLS)"), "{}", server.banner);
    server
}

async fn file_store(dir: &Path) -> (String, Store) {
    let url = format!("file://{}", dir.display());
    let store = Store::open(&url).await.unwrap();
    (url, store)
}

async fn publish(store: &Store, event: regsync_model::RegistryEvent) -> u64 {
    regsync_snapshots::apply(store, &[event], &ConvertConfig::default(), 16)
        .await
        .unwrap()
        .generation
        .number
}

fn endpoints(istiod: &Istiod) -> usize {
    istiod
        .stores
        .get(SE)
        .map_or(0, |s| s.values().map(|(_, se)| se.endpoints.len()).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_serves_over_tls_releases_a_held_drop_and_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let tls = tempfile::tempdir().unwrap();
    certificates(tls.path());
    let (url, store) = file_store(dir.path()).await;
    publish(&store, registry(5, 4)).await;
    let server = serve(&url, tls.path());

    regsync_mcp_server::install_crypto_provider();
    let ca = Certificate::from_pem(std::fs::read(tls.path().join("ca.crt")).unwrap());
    let channel = Endpoint::from_shared(format!("https://{}", server.grpc))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(ca)
                .domain_name("regsync-mcp.istio-mcp.svc"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut istiod = Istiod::on_channel(channel, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    assert_eq!(endpoints(&istiod), 20);
    let ready = reqwest::get(format!("{}readyz", server.admin))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    // 15 of 20 endpoints vanish at once: held by the default 50% guard.
    let dropped = publish(&store, registry_at(5, 1, 1)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status: serde_json::Value = serde_json::from_str(
            &reqwest::get(format!("{}status", server.admin))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        if status["snapshot"]["held"]["generation"] == dropped {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not held: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(istiod.step(Duration::from_millis(200)).await.is_none());
    assert_eq!(endpoints(&istiod), 20);

    let release = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["mcp", "release", "--store", &url, "--admin", &server.admin])
        .output()
        .unwrap();
    assert!(release.status.success(), "{release:?}");
    let said = String::from_utf8_lossy(&release.stdout);
    assert!(
        said.contains(&format!("released held generations up to {dropped}")),
        "{said}"
    );
    assert!(
        said.contains(&format!("holds generation {dropped} back")),
        "{said}"
    );
    while endpoints(&istiod) != 5 {
        istiod.step(WAIT).await.expect("the released generation");
    }

    // SIGTERM: the stream ends and the process exits 0.
    let mut server = server;
    sigterm(&server.child);
    let end = tokio::time::timeout(WAIT, istiod.rx.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_with_nothing_held_says_so_writes_nothing_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path()).await;
    let generation = publish(&store, registry(2, 2)).await;
    let server = Server::start(&url, &[]);
    // Wait until the server serves the generation: then it holds nothing.
    let deadline = tokio::time::Instant::now() + WAIT;
    while reqwest::get(format!("{}readyz", server.admin))
        .await
        .unwrap()
        .status()
        .as_u16()
        != 200
    {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["mcp", "release", "--store", &url, "--admin", &server.admin])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to release"), "{err}");
    assert!(
        err.contains(&format!(
            "holds nothing back, serving generation {generation}"
        )),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    assert!(
        store.get("mcp/release.json").await.unwrap().is_none(),
        "no release request is written"
    );

    // With no server to ask (none named, none on the default address for this store), the
    // request is written and said to be requested, not released.
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["mcp", "release", "--store", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "release of held generations up to {generation} requested"
        )),
        "{said}"
    );
    assert!(!said.contains("released"), "{said}");
    assert!(store.get("mcp/release.json").await.unwrap().is_some());
}

#[test]
fn release_on_an_empty_store_says_there_is_nothing_to_release() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["mcp", "release", "--store"])
        .arg(format!("file://{}", dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to release"), "{err}");
}

#[test]
fn a_bad_guard_percentage_is_refused_with_the_flag_and_the_value() {
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["mcp", "serve", "--guard-max-loss", "150"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--guard-max-loss") && err.contains("150"),
        "{err}"
    );
}

/// Handles responses until istiod holds `expected` endpoints.
async fn until_endpoints(istiod: &mut Istiod, expected: usize) {
    let deadline = Instant::now() + WAIT;
    while endpoints(istiod) != expected {
        assert!(
            Instant::now() < deadline,
            "istiod holds {} endpoints, expected {expected}",
            endpoints(istiod)
        );
        istiod.step(WAIT).await.expect("a push");
    }
}

/// Whether the server closed `socket` within `wait`: it reads the end of the stream (or a
/// reset) rather than waiting.
async fn closed_within(socket: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A server may write before it closes (its HTTP/2 SETTINGS); keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

/// Connects an istiod-like client and waits until it is synced, for at most `wait`: behind
/// stalled connections, connecting itself waits until the server accepts.
async fn served_within(grpc: SocketAddr, wait: Duration) -> Istiod {
    tokio::time::timeout(wait, async {
        let mut istiod = Istiod::connect(grpc, &ISTIOD_1_30_TYPES, "default").await;
        istiod.sync_within(wait).await;
        istiod
    })
    .await
    .unwrap_or_else(|_| panic!("istiod was not served within {wait:?}"))
}

/// Connects `n` sockets that never send anything.
async fn silent_sockets(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(TcpStream::connect(addr).await.unwrap());
    }
    sockets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_ends_its_stream_with_resource_exhausted_and_a_warning_while_istiod_is_served()
 {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path()).await;
    publish(&store, registry(3, 2)).await;
    // The default request limit, 4 MiB.
    let server = Server::start(&url, &[]);
    let mut istiod = Istiod::connect(server.grpc, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    assert_eq!(endpoints(&istiod), 6);

    // Another client subscribes, then sends a 5 MiB request on its own connection.
    let mut careless = Istiod::connect(server.grpc, &[SE], "default").await;
    // No ACKs: its request stream is cut when its stream ends.
    careless.ack = false;
    careless.send_names(SE, vec!["x".repeat(5 << 20)]).await;
    let status = loop {
        match careless.try_step(WAIT).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream neither answered nor ended within {WAIT:?}"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
    assert!(
        status.message().contains("--max-request-bytes"),
        "says which setting: {status}"
    );
    let line = server
        .logged("request above the size limit", Duration::from_secs(5))
        .await;
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "names the peer: {line}");
    assert!(line.contains("limit=4194304"), "names the limit: {line}");

    // The well-behaved client is still served.
    publish(&store, registry_at(3, 3, 2)).await;
    until_endpoints(&mut istiod, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_and_half_a_preface_are_closed_within_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path()).await;
    publish(&store, registry(2, 2)).await;
    let server = Server::start(&url, &["--handshake-timeout", "1s"]);
    let mut silent = TcpStream::connect(server.grpc).await.unwrap();
    let mut half = TcpStream::connect(server.grpc).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "a socket that sends nothing stays open"
    );
    assert!(
        closed_within(&mut half, Duration::from_secs(5)).await,
        "a socket that sends half a preface stays open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    server
        .until_metric("regsync_mcp_connections_refused_total{reason=\"timeout\"} 2")
        .await;
    // A client that speaks HTTP/2 at once is served.
    let mut istiod = Istiod::connect(server.grpc, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    assert_eq!(endpoints(&istiod), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_istiod_waits_and_is_served_once_stalled_sockets_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path()).await;
    publish(&store, registry(2, 3)).await;
    let server = Server::start(
        &url,
        &["--max-connections", "3", "--handshake-timeout", "2s"],
    );
    let mut stalled = silent_sockets(server.grpc, 6).await;
    server
        .logged("MCP connection limit reached", Duration::from_secs(5))
        .await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("regsync_mcp_connections 3\n"),
        "at most 3 connections open: {metrics}"
    );
    // istiod connects behind the stalled sockets; they time out in two rounds of 3, then it is
    // accepted and served.
    let started = Instant::now();
    let istiod = served_within(server.grpc, Duration::from_secs(20)).await;
    assert_eq!(endpoints(&istiod), 6);
    for socket in &mut stalled {
        assert!(closed_within(socket, Duration::from_secs(1)).await);
    }
    eprintln!("istiod served after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_backs_off_instead_of_spinning_and_serves_istiod_later()
{
    const NOFILE: u32 = 64;
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path()).await;
    publish(&store, registry(2, 2)).await;
    // The default connection cap (256) is above the descriptor limit: accept fails with EMFILE.
    let server = Server::start(&url, &["--handshake-timeout", "4s"]);
    server.limit_open_files(NOFILE);
    let baseline = server.open_files();
    assert!(baseline < 40, "{baseline} descriptors open at start");
    let stalled = silent_sockets(server.grpc, NOFILE as usize + 16).await;
    let line = server
        .logged("cannot accept MCP connections", Duration::from_secs(5))
        .await;
    assert!(line.contains("Too many open files"), "{line}");

    // Out of descriptors, with every accepted socket stalled: no busy loop.
    let (cpu, wall) = (server.cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu, wall) = (server.cpu_time() - cpu, wall.elapsed());
    eprintln!("{cpu:?} of CPU in {wall:?} out of descriptors ({baseline} open at start)");
    assert!(
        cpu < wall / 5,
        "{cpu:?} of CPU in {wall:?} while out of file descriptors"
    );

    // istiod waits behind the stalled sockets; they are closed by the handshake timeout, and it
    // is served. The attacker never lets go of its end.
    let istiod = served_within(server.grpc, Duration::from_secs(30)).await;
    assert_eq!(endpoints(&istiod), 4);
    let metrics = server.metrics().await;
    assert!(
        !metrics.contains("regsync_mcp_accept_errors_total 0\n"),
        "{metrics}"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_generation_that_cannot_be_served_is_logged_as_nothing_served_yet() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path()).await;
    publish(&store, registry(2, 2)).await;
    // Every object damaged: generation 1 cannot be read, and nothing was ever served.
    for object in walk(&dir.path().join("objects")) {
        let mut bytes = std::fs::read(&object).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        std::fs::write(&object, bytes).unwrap();
    }
    let server = Server::start(&url, &[]);
    let line = server
        .logged("generation not served", Duration::from_secs(10))
        .await;
    assert!(line.contains("nothing is served yet"), "{line}");
    assert!(!line.contains("stays served"), "{line}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("the last good one, if any, stays served"),
        "{metrics}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
