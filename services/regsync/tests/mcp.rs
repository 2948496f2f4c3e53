//! `regsync mcp serve` and `regsync mcp release` run as an operator runs them: a separate
//! process with TLS (as istiod's `tlsSettings: {mode: SIMPLE}` with `caCertificates` connects),
//! an istiod-like client (`regsync_mcp::testkit`; istiod cannot run here), and SIGTERM.

#![allow(clippy::unwrap_used)] // a failed step in a helper is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Proc, sigterm};
use regsync_convert::ConvertConfig;
use regsync_mcp::testkit::{Istiod, WAIT};
use regsync_mcp::types::ISTIOD_1_30_TYPES;
use regsync_snapshots::testkit::{registry, registry_at};
use regsync_store::Store;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const SE: &str = "networking.istio.io/v1/ServiceEntry";

struct Server {
    child: Proc,
    grpc: String,
    admin: String,
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
        "subjectAltName=DNS:regsync-mcp.regsync.svc,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
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

fn serve(store: &str, tls: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["mcp", "serve", "--store", store])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--poll-interval", "20ms", "--debounce", "10ms"])
        .arg("--tls-cert")
        .arg(tls.join("tls.crt"))
        .arg("--tls-key")
        .arg(tls.join("tls.key"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    // "regsync MCP server: xDS on ADDR (TLS); /healthz ... on http://ADDR/"
    let words: Vec<&str> = first.split_whitespace().collect();
    let grpc = words[words.iter().position(|w| *w == "on").unwrap() + 1].to_owned();
    let admin = words
        .iter()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    assert!(first.contains("(TLS)"), "{first}");
    Server {
        child: Proc(child),
        grpc,
        admin,
    }
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
    let url = format!("file://{}", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    publish(&store, registry(5, 4)).await;
    let server = serve(&url, tls.path());

    regsync_mcp_server::install_crypto_provider();
    let ca = Certificate::from_pem(std::fs::read(tls.path().join("ca.crt")).unwrap());
    let channel = Endpoint::from_shared(format!("https://{}", server.grpc))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(ca)
                .domain_name("regsync-mcp.regsync.svc"),
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
        .args(["mcp", "release", "--store", &url])
        .output()
        .unwrap();
    assert!(release.status.success(), "{release:?}");
    let said = String::from_utf8_lossy(&release.stdout);
    assert!(
        said.contains(&format!("released held generations up to {dropped}")),
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
