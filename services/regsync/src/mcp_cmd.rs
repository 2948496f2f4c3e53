//! `regsync mcp serve` and `regsync mcp release`: glue over `regsync-mcp-server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use regsync_mcp_server::{Config, GuardConfig, TlsFiles, WatchConfig};

use crate::cli::StoreArgs;
use crate::snapshot_cmd::parse_duration;

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve the latest good snapshot to istiod over MCP-over-xDS (gRPC ADS).
    ///
    /// Point istiod at it with meshConfig.configSources (keep `k8s://` too, or istiod stops
    /// reading Istio CRDs from the cluster):
    ///   configSources:
    ///   - address: xds://regsync-mcp.regsync.svc:15010
    ///   - address: k8s://
    ///
    /// istiod stays not-ready until every type it asks for is answered, and ServiceEntries are
    /// answered once the first good generation is loaded: /readyz and the gRPC health service
    /// report it. A generation whose objects fail their checksum, or holding an entry istiod
    /// would drop, is never served; the last good one stays (see /status and the
    /// regsync_mcp_snapshot_load_failures metric). A generation removing more than
    /// --guard-max-loss percent of one registry's endpoints at once is held until the loss has
    /// lasted --guard-window, or until `regsync mcp release`.
    ///
    /// Examples:
    ///   regsync mcp serve --store file://.regsync/store
    ///   regsync mcp serve --store s3://mesh-snapshots/prod --listen 0.0.0.0:15010 --admin-listen 0.0.0.0:15014
    ///   regsync mcp serve --store s3://mesh-snapshots/prod --listen 0.0.0.0:15012 --tls-cert tls.crt --tls-key tls.key
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Serve a generation the mass-deregistration guard holds back, on every replica.
    ///
    /// Writes mcp/release.json in the store; each `regsync mcp serve` reads it while it holds a
    /// generation and serves held generations up to --generation. Check what is held first:
    ///   curl -s http://regsync-mcp:15014/status | jq .snapshot.held
    ///   regsync snapshot diff --store s3://mesh-snapshots/prod 41 42
    ///   regsync mcp release --store s3://mesh-snapshots/prod --generation 42
    #[command(verbatim_doc_comment)]
    Release {
        #[command(flatten)]
        store: StoreArgs,
        /// Release held generations up to this one (the latest generation by default).
        #[arg(long, short = 'g')]
        generation: Option<u64>,
    },
}

/// Arguments of `regsync mcp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
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
    /// Hold a generation removing more than this percentage of one registry's endpoints at once
    /// (100 turns the guard off).
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
    #[arg(long, default_value_t = regsync_mcp_server::DEFAULT_MAX_CONCURRENT_STREAMS)]
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive ping interval.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub keepalive_interval: Duration,
    /// Close a connection whose keepalive ping is not answered within this time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub keepalive_timeout: Duration,
    /// Largest gRPC message sent or received, in bytes. A full push is about 100 bytes per
    /// endpoint, so gRPC's usual 4 MiB is too small for large meshes; istiod accepts 2 GiB.
    /// A response above it ends the stream with RESOURCE_EXHAUSTED and an error log.
    #[arg(long, env = "REGSYNC_MCP_MAX_MESSAGE_BYTES", default_value_t = regsync_mcp_server::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
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
            max_message_bytes: self.max_message_bytes,
            ..Config::new(&self.store.store)
        }
    }
}

/// Runs `regsync mcp ...`.
pub fn run(command: McpCommand) -> anyhow::Result<ExitCode> {
    match command {
        McpCommand::Serve(args) => crate::serve::block_on(serve(args)),
        McpCommand::Release { store, generation } => {
            crate::serve::block_on(release(store.store, generation))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config();
    let running = regsync_mcp_server::start(config.clone()).await?;
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
    running.stop().await?;
    Ok(ExitCode::SUCCESS)
}

async fn release(url: String, generation: Option<u64>) -> anyhow::Result<ExitCode> {
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
    let by = format!(
        "{}@{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    );
    let request = regsync_mcp_server::guard::request_release(&store, generation, &by).await?;
    println!(
        "released held generations up to {} in {url}; every `regsync mcp serve` on this store serves it within its poll interval",
        request.generation
    );
    Ok(ExitCode::SUCCESS)
}
