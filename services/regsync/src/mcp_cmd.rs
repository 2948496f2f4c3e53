//! `regsync mcp serve` and `regsync mcp release`: glue over `regsync-mcp-server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use regsync_mcp_server::{Config, GuardConfig, Limits, TlsFiles, WatchConfig};

use crate::cli::StoreArgs;
use crate::snapshot_cmd::parse_duration;

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve the latest good snapshot to istiod over MCP-over-xDS (gRPC ADS).
    ///
    /// Point istiod at it with meshConfig.configSources (keep `k8s://` too, or istiod stops
    /// reading Istio CRDs from the cluster):
    ///   configSources:
    ///   - address: xds://regsync-mcp.istio-mcp.svc:15010
    ///   - address: k8s://
    ///
    /// istiod stays not-ready until every type it asks for is answered, and ServiceEntries are
    /// answered once the first good generation is loaded: /readyz and the gRPC health service
    /// report it. A generation whose objects fail their checksum, or holding an entry istiod
    /// would drop, is never served; the last good one stays (see /status and the
    /// regsync_mcp_snapshot_load_failures metric). A generation removing more than
    /// --guard-max-loss percent of one registry's endpoints (counted from the most it had within
    /// --guard-window, so a loss in steps counts whole) is held until the loss has lasted
    /// --guard-window, or until `regsync mcp release`.
    ///
    /// The gRPC port defends itself against careless and hostile clients: a connection must
    /// send the HTTP/2 preface (after TLS) within --handshake-timeout, at most --max-connections
    /// are open at once (later ones wait until one closes), a request above --max-request-bytes
    /// ends its stream with RESOURCE_EXHAUSTED and a warning naming the peer, and running out of
    /// file descriptors backs off instead of spinning.
    ///
    /// Examples:
    ///   regsync mcp serve --store file://.regsync/store
    ///   regsync mcp serve --store s3://mesh-snapshots/prod --listen 0.0.0.0:15010 --admin-listen 0.0.0.0:15014
    ///   regsync mcp serve --store s3://mesh-snapshots/prod --listen 0.0.0.0:15012 --tls-cert tls.crt --tls-key tls.key
    #[command(verbatim_doc_comment)]
    Serve(Box<ServeArgs>),
    /// Serve a generation the mass-deregistration guard holds back, on every replica.
    ///
    /// Writes mcp/release.json in the store; each `regsync mcp serve` reads it while it holds a
    /// generation and serves held generations up to --generation. Check what is held first:
    ///   curl -s http://regsync-mcp:15014/status | jq .snapshot.held
    ///   regsync snapshot diff --store s3://mesh-snapshots/prod 41 42
    ///   regsync mcp release --store s3://mesh-snapshots/prod --generation 42 --admin regsync-mcp:15014
    ///
    /// It asks the servers named by --admin (by default one on 127.0.0.1:15014, as `regsync up`
    /// runs it, when it serves this store) what they hold: when none holds a generation up to
    /// --generation, it writes nothing, says so and exits 1. Without a server to ask, it writes
    /// the request and says that it was requested, not that anything was released.
    #[command(verbatim_doc_comment)]
    Release {
        #[command(flatten)]
        store: StoreArgs,
        /// Release held generations up to this one (the latest generation by default).
        #[arg(long, short = 'g')]
        generation: Option<u64>,
        /// Operations address of a `regsync mcp serve` to ask what it holds (host:port or
        /// http://host:port; repeat for several replicas). A server named here that cannot be
        /// asked, or serves another store, is an error.
        #[arg(long, env = "REGSYNC_MCP_ADMIN", value_delimiter = ',')]
        admin: Vec<String>,
    },
}

/// Arguments of `regsync mcp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub gc: crate::gc_task::GcArgs,
    /// gRPC address istiod connects to (its `xds://` config source); port 0 picks a free port.
    #[arg(long, env = "REGSYNC_MCP_LISTEN", default_value = regsync_mcp_server::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Address of /healthz, /readyz, /metrics and /status.
    #[arg(long, env = "REGSYNC_MCP_ADMIN_LISTEN", default_value = regsync_mcp_server::DEFAULT_ADMIN_LISTEN)]
    pub admin_listen: SocketAddr,
    /// Time between two checks of the store's `latest` (one HEAD each), e.g. 500ms, 2s.
    #[arg(long, env = "REGSYNC_MCP_POLL_INTERVAL", default_value = "500ms", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Wait after a change before reading it, so a burst of publishes is pushed once.
    #[arg(long, env = "REGSYNC_MCP_DEBOUNCE", default_value = "100ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// Hold a generation removing more than this percentage of one registry's endpoints, counted
    /// from the most it had within --guard-window (100 turns the guard off).
    #[arg(long, env = "REGSYNC_MCP_GUARD_MAX_LOSS", default_value_t = regsync_mcp_server::guard::DEFAULT_MAX_LOSS_PERCENT,
          value_parser = parse_percent)]
    pub guard_max_loss: f64,
    /// Serve a held generation anyway once its loss has lasted this long.
    #[arg(long, env = "REGSYNC_MCP_GUARD_WINDOW", default_value = "10m", value_parser = parse_duration)]
    pub guard_window: Duration,
    /// Server certificate (PEM) for istiod's `tlsSettings: {mode: SIMPLE}`; needs --tls-key.
    #[arg(long, env = "REGSYNC_MCP_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "REGSYNC_MCP_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Concurrent streams per HTTP/2 connection.
    #[arg(long, env = "REGSYNC_MCP_MAX_CONCURRENT_STREAMS", default_value_t = regsync_mcp_server::DEFAULT_MAX_CONCURRENT_STREAMS)]
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive ping interval.
    #[arg(long, env = "REGSYNC_MCP_KEEPALIVE_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub keepalive_interval: Duration,
    /// Close a connection whose keepalive ping is not answered within this time.
    #[arg(long, env = "REGSYNC_MCP_KEEPALIVE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub keepalive_timeout: Duration,
    /// Largest gRPC response sent, in bytes. A full push is about 100 bytes per endpoint, so
    /// gRPC's usual 4 MiB is too small for large meshes; istiod accepts 2 GiB. A response above
    /// it ends the stream with RESOURCE_EXHAUSTED and an error log.
    #[arg(long, env = "REGSYNC_MCP_MAX_MESSAGE_BYTES", default_value_t = regsync_mcp_server::DEFAULT_MAX_RESPONSE_BYTES)]
    pub max_message_bytes: usize,
    /// Largest gRPC request received, in bytes. istiod's requests (subscriptions, ACKs, NACKs)
    /// take a few KiB; a larger one is refused from its length prefix, before it is buffered:
    /// its stream ends with RESOURCE_EXHAUSTED and a warning names the peer.
    #[arg(long, env = "REGSYNC_MCP_MAX_REQUEST_BYTES", default_value_t = regsync_mcp_server::DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,
    /// gRPC connections open at once; more wait in the listen backlog until one closes. Keep it
    /// below the file descriptor limit (ulimit -n) with room for the store and the operations
    /// endpoint.
    #[arg(long, env = "REGSYNC_MCP_MAX_CONNECTIONS", default_value_t = regsync_mcp_server::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Close a connection that has not sent the HTTP/2 preface (TLS handshake included) within
    /// this time after it was accepted.
    #[arg(long, env = "REGSYNC_MCP_HANDSHAKE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
}

pub fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage (e.g. 50)"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{text} is not between 0 and 100"));
    }
    Ok(value)
}

impl ServeArgs {
    fn config(self) -> Config {
        Config {
            listen: self.listen,
            admin_listen: self.admin_listen,
            watch: WatchConfig {
                poll_interval: self.poll_interval,
                debounce: self.debounce,
                guard: GuardConfig {
                    max_loss_percent: self.guard_max_loss,
                    window: self.guard_window,
                },
            },
            tls: self
                .tls_cert
                .zip(self.tls_key)
                .map(|(cert, key)| TlsFiles { cert, key }),
            max_concurrent_streams: self.max_concurrent_streams,
            keepalive_interval: self.keepalive_interval,
            keepalive_timeout: self.keepalive_timeout,
            max_response_bytes: self.max_message_bytes,
            max_request_bytes: self.max_request_bytes,
            limits: Limits {
                max_connections: self.max_connections,
                handshake_timeout: self.handshake_timeout,
            },
            ..Config::new(&self.store.store)
        }
    }
}

/// Runs `regsync mcp ...`.
pub fn run(command: McpCommand) -> anyhow::Result<ExitCode> {
    match command {
        McpCommand::Serve(args) => crate::serve::block_on(serve(*args)),
        McpCommand::Release {
            store,
            generation,
            admin,
        } => crate::serve::block_on(release(store.store, generation, admin)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let gc = args.gc.clone();
    let config = args.config();
    let running = regsync_mcp_server::start(config.clone()).await?;
    // Replicas share the store: the one holding its GC lease collects.
    let gc_task = gc.spawn(regsync_store::Store::open(&config.store).await?);
    let scheme = if config.tls.is_some() {
        "TLS"
    } else {
        "plaintext"
    };
    println!(
        "regsync MCP server: xDS on {} ({scheme}); /healthz /readyz /metrics /status on http://{}/",
        running.grpc, running.admin
    );
    println!("store: {}", config.store);
    crate::signals::terminated().await;
    if let Some(task) = gc_task {
        task.abort();
    }
    running.stop().await?;
    Ok(ExitCode::SUCCESS)
}

async fn release(
    url: String,
    generation: Option<u64>,
    admin: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let store = regsync_store::Store::open(&url)
        .await
        .with_context(|| format!("cannot open store {url}"))?;
    let generation = match generation {
        Some(g) => g,
        None => store.latest().await?.number,
    };
    anyhow::ensure!(
        generation > 0,
        "nothing is published in {url}; there is nothing to release"
    );
    let asked = held_on_servers(&url, &admin).await?;
    let releasing: Vec<&Held> = asked
        .iter()
        .filter(|h| h.held.is_some_and(|g| g <= generation))
        .collect();
    if !asked.is_empty() && releasing.is_empty() {
        let what: Vec<String> = asked.iter().map(Held::describe).collect();
        anyhow::bail!(
            "nothing to release up to generation {generation}: {}; no release request written",
            what.join(", ")
        );
    }
    let by = format!(
        "{}@{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    );
    let request = regsync_mcp_server::guard::request_release(&store, generation, &by).await?;
    if releasing.is_empty() {
        println!(
            "release of held generations up to {} requested in {url}; a `regsync mcp serve` on this store that holds one serves it within its poll interval, one that holds none ignores it (no server was asked what it holds: see --admin)",
            request.generation
        );
    } else {
        let what: Vec<String> = releasing.iter().map(|h| h.describe()).collect();
        println!(
            "released held generations up to {} in {url} ({}); every `regsync mcp serve` on this store serves it within its poll interval",
            request.generation,
            what.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What one server said it holds back.
struct Held {
    admin: String,
    serving: Option<u64>,
    held: Option<u64>,
}

impl Held {
    fn describe(&self) -> String {
        let serving = self
            .serving
            .map_or_else(|| "nothing yet".to_owned(), |g| format!("generation {g}"));
        match self.held {
            Some(held) => format!(
                "{} holds generation {held} back, serving {serving}",
                self.admin
            ),
            None => format!("{} holds nothing back, serving {serving}", self.admin),
        }
    }
}

/// Asks each server in `admin` (or, when none is named, one on the default operations address)
/// what it holds. A server named that cannot be asked or watches another store is an error; the
/// default one is skipped then, and the answer may be empty.
async fn held_on_servers(url: &str, admin: &[String]) -> anyhow::Result<Vec<Held>> {
    let named = !admin.is_empty();
    let default = [regsync_mcp_server::DEFAULT_ADMIN_LISTEN.to_owned()];
    let mut out = Vec::new();
    for addr in if named { admin } else { &default[..] } {
        let addr = addr.trim_start_matches("http://").trim_end_matches('/');
        let status = match get_status(addr).await {
            Ok(status) => status,
            Err(e) if named => {
                return Err(e.context(format!(
                    "cannot ask {addr} what it holds (leave out --admin to request the release without asking)"
                )));
            }
            Err(_) => continue,
        };
        let snapshot = &status["snapshot"];
        if snapshot["store"].as_str() != Some(url) {
            anyhow::ensure!(
                !named,
                "{addr} serves store {}, not {url}",
                snapshot["store"]
            );
            continue;
        }
        out.push(Held {
            admin: addr.to_owned(),
            serving: snapshot["generation"].as_u64(),
            held: snapshot["held"]["generation"].as_u64(),
        });
    }
    Ok(out)
}

/// `GET /status` of a server's operations endpoint at `addr` (host:port), over plain HTTP/1.0
/// so that the answer is the body up to the end of the connection.
async fn get_status(addr: &str) -> anyhow::Result<serde_json::Value> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!("GET /status HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .context("no answer within 5s")??;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("not an HTTP response")?;
    let status_line = head.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status_line.split_whitespace().nth(1) == Some("200"),
        "GET /status answered {status_line:?}"
    );
    serde_json::from_str(body).context("GET /status did not answer regsync's JSON")
}
