//! `regsync up`: the embedded default. One process runs a `file://` store under a data
//! directory, the signed webhook, the function core, the MCP server and, when asked, the
//! ZooKeeper and Eureka bridges (which deliver to the webhook, as they would to a Lambda
//! function URL).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use regsync_bridge::eureka::{EurekaBridge, EurekaConfig};
use regsync_bridge::metrics::Metrics;
use regsync_bridge::sink::{Sink, SinkOptions, SinkSpec};
use regsync_bridge::zookeeper::{ZkBridge, ZkConfig};
use regsync_model::event::DEFAULT_MAX_PAYLOAD;
use regsync_pipeline::Pipeline;
use regsync_pipeline::replay::{self, Options};
use regsync_pipeline::webhook;
use tokio::sync::watch;

use crate::snapshot_cmd::parse_duration;

/// The demo recording loaded on first start.
const DEMO: &[u8] = include_bytes!("../../../events/recordings/demo.jsonl");
/// Where the demo comes from, for people.
const DEMO_NAME: &str = "events/recordings/demo.jsonl";
/// File of the generated webhook secret in the data directory.
const SECRET_FILE: &str = "webhook-secret";

/// Arguments of `regsync up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Where everything is kept: the snapshot store (DIR/store), the webhook secret, the
    /// bridges' state and dead letters. Created when missing.
    #[arg(long, env = "REGSYNC_DATA_DIR", default_value = ".regsync")]
    pub data_dir: PathBuf,
    /// Address of the signed webhook (POST events here).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub webhook_listen: SocketAddr,
    /// gRPC address istiod connects to (meshConfig.configSources `xds://`).
    #[arg(long, env = "REGSYNC_MCP_LISTEN", default_value = regsync_mcp_server::DEFAULT_LISTEN)]
    pub mcp_listen: SocketAddr,
    /// Address of /status, /healthz, /readyz and /metrics.
    #[arg(long, env = "REGSYNC_MCP_ADMIN_LISTEN", default_value = regsync_mcp_server::DEFAULT_ADMIN_LISTEN)]
    pub admin_listen: SocketAddr,
    /// Also watch the Dubbo registry in this ZooKeeper (host:port[,host:port...][/chroot]).
    #[arg(long, value_name = "HOSTS")]
    pub zookeeper: Option<String>,
    /// Dubbo's registry root in ZooKeeper.
    #[arg(long, default_value = "/dubbo")]
    pub zookeeper_root: String,
    /// Also poll this Eureka server (its service URL, e.g. http://127.0.0.1:8761/eureka);
    /// several, comma-separated, fail over in order.
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    pub eureka: Vec<String>,
    /// Time between two Eureka delta fetches.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub eureka_interval: Duration,
    /// Do not load the demo recording into an empty store (it is never loaded when a bridge is
    /// given: the registry's own services are what you want to see then).
    #[arg(long)]
    pub no_demo: bool,
    /// Hold a generation removing more than this percentage of one registry's endpoints, as
    /// `regsync mcp serve` does (50 there). Off (100) here: a local registry is small, and
    /// stopping its last provider must show at once.
    #[arg(long, default_value_t = 100.0, value_parser = crate::mcp_cmd::parse_percent)]
    pub guard_max_loss: f64,
    #[command(flatten)]
    pub webhook: crate::webhook_cmd::WebhookOptions,
    #[command(flatten)]
    pub gc: crate::gc_task::GcArgs,
    /// Conversion rules (YAML); see the README's "Conversion rules".
    #[arg(long, short = 'c', env = "REGSYNC_CONVERT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Runs `regsync up` until SIGTERM or Ctrl-C.
pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    crate::serve::block_on(up(args))
}

/// The webhook secret: REGSYNC_WEBHOOK_SECRET, else the data directory's own, made on first
/// start (readable by the owner only).
fn secret(data_dir: &Path) -> anyhow::Result<(Vec<u8>, String)> {
    if let Some(s) = std::env::var(webhook::SECRET)
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok((s.into_bytes(), format!("${}", webhook::SECRET)));
    }
    let path = data_dir.join(SECRET_FILE);
    if !path.exists() {
        let mut random = [0u8; 24];
        std::io::Read::read_exact(
            &mut std::fs::File::open("/dev/urandom").context("cannot read /dev/urandom")?,
            &mut random,
        )?;
        let text = hex::encode(random);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((text.trim().as_bytes().to_vec(), path.display().to_string()))
}

/// Loads the demo recording into an empty store; returns what to print.
async fn load_demo(pipeline: &Pipeline) -> anyhow::Result<String> {
    let items = replay::items_from_bytes(DEMO_NAME, DEMO, DEFAULT_MAX_PAYLOAD);
    let report = replay::replay(
        pipeline,
        items,
        &Options {
            source: DEMO_NAME.into(),
            ..Options::default()
        },
        &mut |_| {},
        &|| false,
    )
    .await
    .context("cannot load the demo recording")?;
    let generation = pipeline.store.latest().await?;
    let view = regsync_snapshots::read(&pipeline.store, &generation).await?;
    Ok(format!(
        "loaded {} events from {DEMO_NAME}: {} ServiceEntries in generation {}",
        report.applied + report.stale,
        view.entries.len(),
        generation.number
    ))
}

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let store_url = format!("file://{}", data_dir.join("store").display());
    let pipeline = crate::serve::pipeline(&store_url, args.config.as_deref()).await?;
    let (secret, secret_from) = secret(&data_dir)?;
    let bridges = args.zookeeper.is_some() || !args.eureka.is_empty();

    let demo = if args.no_demo || bridges || pipeline.store.latest().await?.number > 0 {
        None
    } else {
        Some(load_demo(&pipeline).await?)
    };
    if bridges {
        // An empty registry is a state istiod should see (and be ready on), not a wait for the
        // first service to register.
        pipeline.store.start_empty().await?;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let listener = crate::webhook_cmd::bind(args.webhook_listen).await?;
    let webhook_addr = listener.local_addr()?;
    let webhook_task = tokio::spawn(crate::webhook_cmd::serve_on(
        listener,
        pipeline.clone(),
        args.webhook.webhook(secret.clone()),
        args.webhook.limits(),
        stopped(),
    ));

    let gc_task = args.gc.spawn(pipeline.store.clone());

    let mut mcp_config = regsync_mcp_server::Config::new(&store_url);
    mcp_config.listen = args.mcp_listen;
    mcp_config.admin_listen = args.admin_listen;
    mcp_config.watch.guard.max_loss_percent = args.guard_max_loss;
    let mcp = regsync_mcp_server::start(mcp_config).await?;

    let mut lines = vec![
        format!("regsync up: data in {}", data_dir.display()),
        format!("  store      {store_url}"),
        format!(
            "  webhook    http://{webhook_addr}/  (POST signed CloudEvents; secret in {secret_from})"
        ),
        format!(
            "  MCP (xDS)  {}  (istiod: meshConfig.configSources address xds://{})",
            mcp.grpc, mcp.grpc
        ),
        format!(
            "  status     http://{}/status  (/healthz /readyz /metrics)",
            mcp.admin
        ),
    ];

    let mut bridge_tasks = Vec::new();
    if bridges {
        let metrics = Arc::new(Metrics::default());
        let sink_spec: SinkSpec = format!("http://{webhook_addr}/")
            .parse()
            .map_err(anyhow::Error::msg)?;
        let open_sink = || {
            let mut options = SinkOptions::new(metrics.clone());
            options.webhook_secret = Some(secret.clone());
            options.dead_letter = data_dir.join("bridge-dead-letters.jsonl");
            Sink::open(&sink_spec, options)
        };
        if let Some(connect) = &args.zookeeper {
            let mut config = ZkConfig::new(connect);
            config.root = args.zookeeper_root.clone();
            config.state = Some(data_dir.join("zookeeper-bridge.state"));
            lines.push(format!("  bridge     {} -> webhook", config.source()));
            let bridge = ZkBridge::new(config, open_sink().await?, metrics.clone());
            bridge_tasks.push(tokio::spawn(bridge.run(stopped())));
        }
        if !args.eureka.is_empty() {
            let mut config = EurekaConfig::new(args.eureka.clone());
            config.interval = args.eureka_interval;
            config.state = Some(data_dir.join("eureka-bridge.state"));
            lines.push(format!(
                "  bridge     {} every {:?} -> webhook",
                config.urls.join(", "),
                config.interval
            ));
            let bridge = EurekaBridge::new(config, open_sink().await?, metrics.clone())?;
            bridge_tasks.push(tokio::spawn(bridge.run(stopped())));
        }
        let addr = regsync_bridge::metrics::serve(metrics, "127.0.0.1:0".parse()?).await?;
        lines.push(format!("  bridges    http://{addr}/metrics"));
    }
    if let Some(demo) = demo {
        lines.push(format!("  demo       {demo}"));
    }
    // Absolute, so it also works pasted in a terminal in another directory.
    lines.push(format!(
        "try: regsync snapshot get --store {store_url}   |   curl -s http://{}/status   |   open http://{}/status?format=html",
        mcp.admin, mcp.admin
    ));
    println!("{}", lines.join("\n"));

    crate::signals::terminated().await;
    eprintln!("regsync up: stopping");
    if let Some(task) = gc_task {
        task.abort();
    }
    let _ = stop_tx.send(true);
    for task in bridge_tasks {
        if let Err(e) = task.await? {
            eprintln!("a bridge stopped with an error: {e:#}");
        }
    }
    webhook_task.await??;
    mcp.stop().await?;
    Ok(ExitCode::SUCCESS)
}
