//! `regsync bridge zookeeper` and `regsync bridge eureka`: glue over `regsync-bridge`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use regsync_bridge::eureka::{EurekaBridge, EurekaConfig};
use regsync_bridge::metrics::Metrics;
use regsync_bridge::sink::{Sink, SinkOptions, SinkSpec};
use regsync_bridge::zookeeper::{ZkBridge, ZkConfig};

use crate::snapshot_cmd::parse_duration;

#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Watch a Dubbo registry in ZooKeeper and publish each changed interface's complete state.
    ///
    /// Watches <root>/*/providers and configurators, <root>/mapping/* and the Dubbo 3
    /// application-level /services/* with two persistent recursive watches (ZooKeeper 3.6+),
    /// so new interfaces are picked up by themselves. Every change publishes the complete
    /// current child list of that interface (io.regsync.zookeeper.providers.v1, versioned by
    /// the parent's pzxid) once the burst settles (--debounce). At start, after a reconnect and
    /// after an expired session it reads everything again and publishes only real differences:
    /// losing the session never announces that providers died.
    ///
    /// Examples:
    ///   regsync bridge zookeeper --connect 127.0.0.1:2181 --sink file://events.jsonl
    ///   regsync bridge zookeeper --connect zk-1:2181,zk-2:2181,zk-3:2181 --root /dubbo \
    ///       --sink kafka://b-1.msk:9092,b-2.msk:9092/registry-events
    ///   REGSYNC_WEBHOOK_SECRET=... regsync bridge zookeeper --connect zk:2181 --chroot /prod \
    ///       --auth digest:regsync:secret --sink https://abc.lambda-url.eu-west-1.on.aws/
    #[command(verbatim_doc_comment)]
    Zookeeper(ZookeeperArgs),
    /// Poll a Eureka server like the Eureka client and publish each changed application.
    ///
    /// GET /eureka/apps at start, then /eureka/apps/delta every --interval, applied to a local
    /// copy and checked against apps__hashcode exactly as DiscoveryClient does; a mismatch
    /// fetches the full registry again. Each application whose instances changed is published
    /// whole (io.regsync.eureka.application.v1); one that disappeared is published empty.
    /// Several --url values (or one comma-separated) fail over in order.
    ///
    /// Examples:
    ///   regsync bridge eureka --url http://127.0.0.1:8761/eureka --sink file://events.jsonl
    ///   regsync bridge eureka --url http://eureka-1:8761/eureka,http://eureka-2:8761/eureka \
    ///       --interval 30s --basic-auth regsync:secret --sink kafka://127.0.0.1:9092/registry-events
    #[command(verbatim_doc_comment)]
    Eureka(EurekaArgs),
}

/// Where events go, shared by both bridges.
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// kafka://BROKER[,BROKER...]/TOPIC, https://HOST/PATH (signed webhook; needs
    /// REGSYNC_WEBHOOK_SECRET) or file://PATH (JSON lines, replayable).
    #[arg(long, env = "REGSYNC_SINK", value_parser = clap::value_parser!(SinkSpec))]
    pub sink: SinkSpec,
    /// Events a receiver refuses for good (too large, invalid) are appended here with the reason.
    #[arg(
        long,
        env = "REGSYNC_DEAD_LETTER",
        default_value = "dead-letters.jsonl"
    )]
    pub dead_letter: PathBuf,
    /// How a kafka:// sink connects.
    #[command(flatten)]
    pub kafka: crate::cli::KafkaArgs,
    /// Longest wait between two delivery attempts while the sink fails.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub max_backoff: Duration,
    /// Keep what was published in this file, so that a service that vanishes entirely while
    /// the bridge is stopped is announced gone after the restart (one file per bridge).
    #[arg(long, env = "REGSYNC_BRIDGE_STATE")]
    pub state: Option<PathBuf>,
    /// Registry instance name: the events' `registry`, which becomes the Kubernetes namespace.
    #[arg(long)]
    pub registry: Option<String>,
    /// Where to serve Prometheus /metrics and /healthz; port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:9465")]
    pub metrics_listen: SocketAddr,
    /// On SIGTERM, how long to keep trying to deliver what is in hand before exiting anyway
    /// (the next start reads the registry again and publishes it).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// Arguments of `regsync bridge zookeeper`.
#[derive(Debug, Args)]
pub struct ZookeeperArgs {
    /// ZooKeeper connect string: host:port[,host:port...][/chroot].
    #[arg(long, env = "REGSYNC_ZK_CONNECT")]
    pub connect: String,
    /// Dubbo's registry root (its registry `group`).
    #[arg(long, default_value = "/dubbo")]
    pub root: String,
    /// Root of Curator service discovery instances: Dubbo 3 application-level registration and
    /// Spring Cloud Zookeeper applications (spring.cloud.zookeeper.discovery.root).
    #[arg(long, default_value = "/services")]
    pub services_root: String,
    /// Do not watch application-level instances.
    #[arg(long)]
    pub no_services: bool,
    /// Chroot of the connection, appended to the connect string.
    #[arg(long)]
    pub chroot: Option<String>,
    /// Authentication as SCHEME:CREDENTIALS, e.g. digest:user:password.
    #[arg(long, env = "REGSYNC_ZK_AUTH")]
    pub auth: Option<String>,
    /// Session timeout to negotiate.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub session_timeout: Duration,
    /// How long a burst of changes settles before the changed state is read and published.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    pub debounce: Duration,
    #[command(flatten)]
    pub sink: SinkArgs,
}

/// Arguments of `regsync bridge eureka`.
#[derive(Debug, Args)]
pub struct EurekaArgs {
    /// Eureka service URL (as in eureka.client.serviceUrl.defaultZone); repeat or separate by
    /// commas for failover, in order.
    #[arg(
        long = "url",
        env = "REGSYNC_EUREKA_URL",
        value_delimiter = ',',
        required = true
    )]
    pub urls: Vec<String>,
    /// Time between two delta fetches (the client's registryFetchIntervalSeconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub interval: Duration,
    /// USER:PASSWORD for every URL (credentials inside a URL are used for that URL).
    #[arg(long, env = "REGSYNC_EUREKA_BASIC_AUTH")]
    pub basic_auth: Option<String>,
    /// Timeout of one request.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// What to ask the server for: json (Accept: application/json, what Spring Cloud's client
    /// asks) or xml (application/xml, Eureka's own default codec).
    #[arg(long, default_value = "json", value_parser = ["json", "xml"])]
    pub accept: String,
    /// Fetch the full registry instead of a delta when the last successful poll is older than
    /// this: the server keeps changes in its delta queue for 3 min (its
    /// retention-time-in-m-s-in-delta-queue) and may serve them 30 s late (its read-only cache).
    /// Keep it below the retention minus that delay.
    #[arg(long, default_value = "150s", value_parser = parse_duration)]
    pub max_delta_gap: Duration,
    #[command(flatten)]
    pub sink: SinkArgs,
}

/// Runs a bridge until SIGTERM or Ctrl-C.
pub fn run(cmd: BridgeCommand) -> anyhow::Result<ExitCode> {
    crate::serve::block_on(bridge(cmd))
}

async fn open_sink(args: &SinkArgs, metrics: &Arc<Metrics>) -> anyhow::Result<Sink> {
    let mut options = SinkOptions::new(metrics.clone());
    options.kafka = args.kafka.config();
    options.webhook_secret = std::env::var(regsync_pipeline::webhook::SECRET)
        .ok()
        .filter(|s| !s.is_empty())
        .map(String::into_bytes);
    options.dead_letter = args.dead_letter.clone();
    options.max_backoff = args.max_backoff;
    let sink = Sink::open(&args.sink, options).await?;
    let addr = regsync_bridge::metrics::serve(metrics.clone(), args.metrics_listen).await?;
    println!("metrics on http://{addr}/metrics");
    Ok(sink)
}

/// Runs `bridge` (which stops by itself between deliveries on SIGTERM); if a delivery keeps it
/// busy longer than `grace` after the signal, gives up on it.
async fn until_stopped(
    bridge: impl std::future::Future<Output = anyhow::Result<()>>,
    grace: Duration,
) -> anyhow::Result<()> {
    tokio::select! {
        done = bridge => done,
        () = async {
            crate::signals::terminated().await;
            tokio::time::sleep(grace).await;
        } => {
            eprintln!(
                "regsync bridge: still delivering {grace:?} after the stop signal; exiting anyway \
                 (the next start reads the registry again and publishes what was not delivered)"
            );
            Ok(())
        }
    }
}

async fn bridge(cmd: BridgeCommand) -> anyhow::Result<ExitCode> {
    let metrics = Arc::new(Metrics::default());
    match cmd {
        BridgeCommand::Zookeeper(args) => {
            let sink = open_sink(&args.sink, &metrics).await?;
            let mut config = ZkConfig::new(&args.connect);
            config.root = args.root;
            config.services_root = (!args.no_services).then_some(args.services_root);
            config.chroot = args.chroot;
            config.auth = args.auth;
            config.session_timeout = args.session_timeout;
            config.debounce = args.debounce;
            config.state = args.sink.state.clone();
            if let Some(registry) = args.sink.registry {
                config.registry = registry;
            }
            println!(
                "regsync bridge zookeeper: {} -> {}",
                config.source(),
                args.sink.sink
            );
            let grace = args.sink.shutdown_grace;
            until_stopped(
                ZkBridge::new(config, sink, metrics).run(crate::signals::terminated()),
                grace,
            )
            .await?;
        }
        BridgeCommand::Eureka(args) => {
            let sink = open_sink(&args.sink, &metrics).await?;
            let mut config = EurekaConfig::new(args.urls);
            config.interval = args.interval;
            config.basic_auth = args.basic_auth;
            config.timeout = args.timeout;
            config.xml = args.accept == "xml";
            config.max_delta_gap = args.max_delta_gap;
            config.state = args.sink.state.clone();
            if let Some(registry) = args.sink.registry {
                config.registry = registry;
            }
            println!(
                "regsync bridge eureka: {} every {:?} -> {}",
                config.urls.join(", "),
                config.interval,
                args.sink.sink
            );
            let grace = args.sink.shutdown_grace;
            until_stopped(
                EurekaBridge::new(config, sink, metrics)?.run(crate::signals::terminated()),
                grace,
            )
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
