//! `regsync mcp serve`: watches the snapshot store ([`watch`]), guards against mass
//! deregistration ([`guard`]), and serves the latest good generation to istiod over
//! MCP-over-xDS (the ADS service of `regsync-mcp`), with the gRPC health service, TLS,
//! keepalive, connection, handshake, stream and message limits ([`listen`]), and an HTTP
//! operations endpoint ([`http`]).
//!
//! It reads the store and never writes it, except `regsync mcp release`'s request. It must not
//! depend on Kafka or Kubernetes crates.

pub mod guard;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use regsync_mcp::{Ads, AdsServer, Snapshot};
use regsync_store::Store;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch as channel;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tonic::transport::Server;
use tracing::{info, warn};

pub use guard::GuardConfig;
pub use listen::Limits;
pub use metrics::Metrics;
pub use regsync_mcp::service::DEFAULT_MAX_REQUEST_BYTES;
pub use watch::{DEFAULT_DEBOUNCE, DEFAULT_POLL_INTERVAL, WatchConfig};

/// Default gRPC address: istiod's own plaintext xDS port number.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:15010";
/// Default operations address (`/healthz`, `/readyz`, `/metrics`, `/status`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:15014";
/// Default limit of concurrent streams per connection (istiod opens one).
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Default HTTP/2 keepalive ping interval; istiod's gRPC client pings every 30 s itself.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// Default time to wait for a keepalive ping's answer before closing the connection.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest response. gRPC's usual 4 MiB holds about 4,000 endpoints; istiod accepts up
/// to 2 GiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Default limit of gRPC connections open at once: istiod opens one per replica and revision.
/// Keep it below the file descriptor limit (`ulimit -n`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default time a new connection has to send the HTTP/2 preface (TLS handshake included).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stop waits for streams to close.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A certificate and key in PEM files, for istiod's `tlsSettings: {mode: SIMPLE}`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Everything `regsync mcp serve` is told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Store URL (`file://DIR`, `s3://bucket/prefix`, `memory://`).
    pub store: String,
    /// gRPC address.
    pub listen: SocketAddr,
    /// Operations address.
    pub admin_listen: SocketAddr,
    /// Polling, debounce and guard.
    pub watch: WatchConfig,
    /// TLS, when istiod connects with `tlsSettings: {mode: SIMPLE}`.
    pub tls: Option<TlsFiles>,
    /// Concurrent streams per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive ping interval.
    pub keepalive_interval: Duration,
    /// HTTP/2 keepalive ping timeout.
    pub keepalive_timeout: Duration,
    /// Largest response sent.
    pub max_response_bytes: usize,
    /// Largest request received.
    pub max_request_bytes: usize,
    /// Connections open at once, and the handshake timeout.
    pub limits: Limits,
}

impl Config {
    /// The defaults for `store`.
    pub fn new(store: &str) -> Self {
        Self {
            store: store.to_owned(),
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("valid default address"),
            watch: WatchConfig {
                poll_interval: DEFAULT_POLL_INTERVAL,
                debounce: DEFAULT_DEBOUNCE,
                guard: GuardConfig::default(),
            },
            tls: None,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            limits: Limits {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            },
        }
    }
}

/// A running server.
pub struct Running {
    /// The gRPC address bound.
    pub grpc: SocketAddr,
    /// The operations address bound.
    pub admin: SocketAddr,
    /// The ADS service (its clients, for tests and tools).
    pub ads: Ads,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    stop: channel::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Stops watching, ends every stream and waits for the servers to close.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            match tokio::time::timeout(STOP_GRACE, task).await {
                Ok(Ok(result)) => result?,
                Ok(Err(join)) => anyhow::bail!("a server task failed: {join}"),
                Err(_) => warn!("a server task did not stop within {STOP_GRACE:?}"),
            }
        }
        Ok(())
    }
}

/// Selects rustls's process-wide crypto provider (aws-lc-rs) for TLS servers and clients; both
/// providers are linked into one binary with the AWS SDK, and rustls will not choose by itself.
pub fn install_crypto_provider() {
    // Already installed (by an earlier call or by the embedding program) is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The TLS side of the gRPC port, offering HTTP/2 by ALPN (gRPC clients, istiod's included,
/// insist on it). [`listen`] runs the handshake, within the handshake timeout.
fn tls(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    install_crypto_provider();
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("cannot read the TLS certificate {}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("cannot read the TLS key {}", files.key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("invalid TLS certificate or key")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn stopped(mut stop: channel::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Opens the store, binds both addresses and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = Store::open(&config.store)
        .await
        .with_context(|| format!("cannot open store {}", config.store))?;
    start_on(store, config).await
}

/// Binds both addresses and starts serving `store` (opened by the caller; `config.store` only
/// names it).
pub async fn start_on(store: Store, config: Config) -> anyhow::Result<Running> {
    let tls = config.tls.as_ref().map(tls).transpose()?;
    let grpc_listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--admin-listen)", config.admin_listen))?;
    let grpc = grpc_listener.local_addr()?;
    let admin = admin_listener.local_addr()?;

    let metrics = Arc::new(Metrics::default());
    let (snapshot_tx, snapshot_rx) = channel::channel::<Snapshot>(None);
    let (stop, stop_rx) = channel::channel(false);
    let status = Arc::new(Mutex::new(watch::SnapshotStatus {
        store: config.store.clone(),
        ..watch::SnapshotStatus::default()
    }));
    let ads = Ads::new(snapshot_rx.clone(), metrics.streams.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_not_serving::<AdsServer>().await;
    let mut ready = snapshot_rx;
    let health_task = tokio::spawn(async move {
        if ready.wait_for(Option::is_some).await.is_ok() {
            health.set_serving::<AdsServer>().await;
        }
        Ok(())
    });

    let service = AdsServer::with_limits(
        ads.clone(),
        config.max_request_bytes,
        config.max_response_bytes,
    );
    // TLS, TCP_NODELAY, the handshake timeout and the connection cap are applied by
    // `listen::incoming`, before tonic sees a connection.
    let router = Server::builder()
        .max_concurrent_streams(Some(config.max_concurrent_streams))
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .add_service(health_service)
        .add_service(service);
    let incoming = listen::incoming(
        grpc_listener,
        tls,
        config.limits,
        metrics.clone(),
        stop_rx.clone(),
    );
    let grpc_stop = stopped(stop_rx.clone());
    let grpc_task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, grpc_stop)
            .await
            .context("the gRPC server failed")
    });

    let ops = http::Ops {
        status: status.clone(),
        ads: ads.clone(),
        metrics: metrics.clone(),
    };
    let admin_stop = stopped(stop_rx.clone());
    let admin_task = tokio::spawn(async move {
        axum::serve(admin_listener, http::router(ops))
            .with_graceful_shutdown(admin_stop)
            .await
            .context("the operations server failed")
    });

    let watcher = watch::Watcher::new(store, config.watch, snapshot_tx, status, metrics.clone());
    let watch_task = tokio::spawn(async move {
        watcher.run(stop_rx).await;
        Ok(())
    });
    info!(%grpc, %admin, store = config.store, tls = config.tls.is_some(), "MCP server started");
    Ok(Running {
        grpc,
        admin,
        ads,
        metrics,
        stop,
        // The watcher first: dropping the snapshot channel ends the streams, which lets the
        // gRPC server's graceful shutdown finish.
        tasks: vec![watch_task, health_task, grpc_task, admin_task],
    })
}

/// Serves until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let running = start(config).await?;
    shutdown.await;
    info!("stopping the MCP server");
    running.stop().await
}
