//! Command-line definition. Doc comments are the `--help` text.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};

/// Widest line of `--help` prose. clap's own wrapping (to the terminal) is off there: it broke
/// the example command lines, which must stay whole to be copied. [`command`] reflows the prose
/// to this width instead and leaves indented lines (examples) as written.
const HELP_WIDTH: usize = 100;
/// An argument's help in `--help` is indented by 10 columns.
const ARG_HELP_WIDTH: usize = HELP_WIDTH - 10;

/// regsync brings services registered in Eureka (Spring Cloud) and ZooKeeper (Apache Dubbo)
/// into the Istio service mesh as ServiceEntries, without touching their code.
///
/// Start with `regsync convert` on a registry payload to see the ServiceEntries it becomes:
///
///   curl -s -H 'Accept: application/json' http://eureka:8761/eureka/apps > apps.json
///   regsync convert apps.json | kubectl apply -f -
#[derive(Debug, Parser)]
#[command(
    name = "regsync",
    version,
    about,
    long_about,
    propagate_version = true,
    verbatim_doc_comment
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything locally in one process: the quickest way to see regsync work.
    ///
    /// A file:// snapshot store under --data-dir, the signed webhook (the ingest function's
    /// contract), the function core, and the MCP server istiod connects to; with --zookeeper or
    /// --eureka also the bridges, which deliver to the webhook. On first start with no bridge the
    /// demo recording (events/recordings/demo.jsonl, built in) is replayed, so ServiceEntries
    /// are there at once. It prints where everything listens; Ctrl-C stops it, and the data stays
    /// for the next start.
    ///
    /// Examples:
    ///   regsync up
    ///   regsync snapshot get --store file:///home/me/.regsync/store   # in another terminal: the store `up` printed
    ///   regsync up --zookeeper 127.0.0.1:2181 --data-dir /var/lib/regsync
    ///   regsync up --eureka http://127.0.0.1:8761/eureka --mcp-listen 0.0.0.0:15010
    #[command(verbatim_doc_comment)]
    Up(crate::up_cmd::UpArgs),
    /// Print the store's ServiceEntries as Kubernetes objects, ready for `kubectl apply -f -`.
    ///
    /// Each is a `networking.istio.io/v1` `ServiceEntry` with the label
    /// app.kubernetes.io/managed-by=regsync and its content version in the annotation
    /// regsync.io/version. For clusters whose istiod cannot take regsync as an MCP config
    /// source (managed meshes), or to review what MCP serves.
    ///
    /// Examples:
    ///   regsync export --store s3://my-bucket/regsync -o yaml | kubectl apply -f -
    ///   regsync export --store file:///var/lib/regsync/store -g 41 -o json
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
    /// Write the store's ServiceEntries to a cluster by server-side apply, and prune the ones
    /// regsync applied before that the snapshot no longer has.
    ///
    /// For meshes whose istiod cannot take regsync as an MCP config source (managed meshes).
    /// Field manager `regsync`, with force: regsync owns these objects. Only objects labelled
    /// app.kubernetes.io/managed-by=regsync are pruned, in the namespaces of the snapshot's
    /// entries and those given with --namespace. Running it again converges; a CronJob does
    /// that in infra/k8s/apply. The service account needs get, list, patch and delete on
    /// serviceentries.networking.istio.io in those namespaces.
    ///
    /// Examples:
    ///   regsync apply --store s3://my-bucket/regsync --kubeconfig ~/.kube/config --dry-run
    ///   regsync apply --store s3://my-bucket/regsync -n istio-mcp
    #[command(verbatim_doc_comment)]
    Apply(crate::apply_cmd::ApplyArgs),
    /// Convert registry events or raw registry payloads into Istio ServiceEntries.
    ///
    /// Each FILE may hold: CloudEvents (one JSON object, a JSON array, or JSON Lines) of the
    /// io.regsync.* types; a raw Eureka response (`/eureka/apps`, `/eureka/apps/{APP}`, an
    /// instance, as JSON or XML); Dubbo provider URLs, one per line, as ZooKeeper znode names
    /// or decoded; or a Dubbo 3 application-level instance (Curator JSON). `-` reads stdin.
    ///
    /// Files are applied as one batch. Events carry their own versions, so their order never
    /// changes the output; a raw payload without one is versioned by its position in FILE...
    /// (later is newer). Invalid input is reported with the file, the field and its position, and
    /// nothing is printed unless `--keep-going` is given. Entries istiod would reject are left
    /// out and listed on stderr with the reason.
    ///
    /// Examples:
    ///   regsync convert apps.json | kubectl apply -f -
    ///   regsync convert -o json --config regsync.yaml providers.txt
    ///   regsync convert -o snapshot events/recordings/dubbo-zk/scale-down/*.json
    #[command(verbatim_doc_comment)]
    Convert(ConvertArgs),
    /// Work with event files.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Read, apply to, compare and clean up the snapshot in object storage.
    ///
    /// The store is `file://DIR` (the embedded default, also a bare path), `s3://bucket/prefix`
    /// (standard AWS configuration: AWS_REGION, AWS_PROFILE or keys; AWS_ENDPOINT_URL for
    /// S3-compatible servers such as MinIO or moto, with path-style addressing) or `memory://`.
    /// docs/store-layout.md describes every object so a bucket can be read by hand.
    ///
    /// Examples:
    ///   regsync snapshot apply --store file:///var/lib/regsync events/recordings/eureka-events/single-app/*.json
    ///   regsync snapshot ls --store s3://mesh-snapshots/prod
    ///   regsync snapshot get --store s3://mesh-snapshots/prod | kubectl apply -f -
    ///   regsync snapshot diff --store s3://mesh-snapshots/prod 41 42
    ///   regsync snapshot gc --store s3://mesh-snapshots/prod --retain 10 --grace 1h
    #[command(subcommand, verbatim_doc_comment)]
    Snapshot(SnapshotCommand),
    /// Apply registry events from a Kafka topic with a consumer group: the ingest-kafka Lambda's
    /// core behind librdkafka.
    ///
    /// Records are applied in batches, one snapshot publish each; offsets are committed only
    /// after the batch is stored. Records that can never apply go to the dead-letter topic
    /// (<topic>.dlq) with headers regsync_reason, regsync_reason_kind, regsync_reason_field and
    /// regsync_origin_topic/partition/offset. Store outages are retried with backoff, never
    /// skipped. SIGTERM finishes the batch in hand, commits and exits. Consumer lag per
    /// partition is the metric regsync_consumer_lag_records on --metrics-listen.
    ///
    /// Examples:
    ///   regsync consume --brokers 127.0.0.1:9092 --topic registry-events --group regsync --store file://.regsync/store
    ///   regsync consume --brokers b-1.msk:9096 --store s3://mesh-snapshots/prod \
    ///       -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=regsync -X sasl.password=...
    #[command(verbatim_doc_comment)]
    Consume(crate::consume_cmd::ConsumeArgs),
    /// Serve the signed webhook on a local HTTP server: the ingest-webhook Lambda's contract.
    ///
    /// POST one CloudEvent (Content-Type application/cloudevents+json), a batch
    /// (application/cloudevents-batch+json), a binary-mode event (ce-* headers), or a raw
    /// registry payload with X-Regsync-Type. Sign every request (v2):
    ///   X-Regsync-Timestamp: Unix seconds (refused when more than 5 minutes off)
    ///   X-Regsync-Signature: v2=<hex HMAC-SHA256(secret, canonical request)>
    /// The canonical request is these lines, each ending in a newline, then the body:
    ///   regsync-webhook-v2, the timestamp as sent, the method, the path and query, the
    ///   Content-Type as sent, one "name:value" line per X-Regsync-* and ce-* header (names in
    ///   lower case, sorted; not the timestamp or signature), and an empty line.
    /// Responses are JSON: 202 with the accepted ids, 400 naming the bad field, 401 for a bad
    /// signature, 403 for a registry not in --registries, 408 for a body slower than
    /// --body-timeout, 413 over --max-body-bytes, 503 (Retry-After) when the store is unavailable.
    ///
    /// Example:
    ///   export REGSYNC_WEBHOOK_SECRET=change-me
    ///   regsync webhook --listen 127.0.0.1:8787 --store file://.regsync/store &
    ///   ts=$(date +%s)
    ///   sig=$({ printf 'regsync-webhook-v2\n%s\nPOST\n/\napplication/cloudevents+json\n\n' "$ts"; cat event.json; } | openssl dgst -sha256 -hmac "$REGSYNC_WEBHOOK_SECRET" -r | cut -d' ' -f1)
    ///   curl -H 'Content-Type: application/cloudevents+json' -H "X-Regsync-Timestamp: $ts" \
    ///        -H "X-Regsync-Signature: v2=$sig" --data-binary @event.json http://127.0.0.1:8787/
    #[command(verbatim_doc_comment)]
    Webhook(crate::webhook_cmd::WebhookArgs),
    /// Serve the snapshot to istiod over MCP-over-xDS, and operate its guard.
    #[command(subcommand)]
    Mcp(crate::mcp_cmd::McpCommand),
    /// Publish registry changes as events: watch ZooKeeper (Dubbo) or poll Eureka.
    ///
    /// A bridge turns a live registry into the event stream the functions consume, on a Kafka
    /// topic, a signed webhook or a JSON-lines file. It publishes whole states (an interface's
    /// provider list, an application's instances), so a repeated or replayed event is harmless.
    #[command(subcommand)]
    Bridge(crate::bridge_cmd::BridgeCommand),
    /// Record a Kafka topic's registry events into a JSON-lines file, for replay or audit.
    ///
    /// Reads every partition from the start given in --from up to where it ended when the
    /// recording began, decodes each record as `regsync consume` does (structured or ce_
    /// binary mode) and writes one structured CloudEvent per line, by partition then offset.
    /// No consumer group is used and nothing is committed. Records that are not events are
    /// listed on stderr with their position and reason (exit code 2); the rest are recorded.
    ///
    /// Examples:
    ///   regsync record --from kafka://127.0.0.1:9092/registry-events --to events.jsonl
    ///   regsync record --from kafka://b-1.msk:9092/registry-events@2026-11-23T08:00:00Z --to morning.jsonl
    ///   regsync record --from kafka://127.0.0.1:9092/registry-events@1200 --to - | head -1
    #[command(verbatim_doc_comment)]
    Record(crate::record_cmd::RecordArgs),
    /// Replay recorded events into a store through the function core: rebuild, resume, audit.
    ///
    /// Events are folded exactly as the functions fold them, --batch events per published
    /// generation. The fold keeps the newest state whatever the order, so the same recording
    /// always gives the same final snapshot, named by the `snapshot sha256:...` line printed at
    /// the end (equal lines: byte-identical snapshots). After each batch a checkpoint is saved in
    /// the store (replay/<digest>.json): an interrupted replay (Ctrl-C, a crash, a store outage)
    /// resumes where it stopped when the same command runs again. Records that are not valid
    /// events are listed on stderr with where they are and why (exit code 2); Ctrl-C stops after
    /// the batch in hand (exit code 130).
    ///
    /// Examples:
    ///   regsync replay events.jsonl --store file:///tmp/rebuilt
    ///   regsync replay events.jsonl --store s3://mesh-snapshots/prod --dry-run --diff
    ///   regsync replay kafka://127.0.0.1:9092/registry-events@2026-11-23T08:00:00Z --store file:///tmp/morning \
    ///       --until 2026-11-23T09:00:00Z
    ///   regsync replay s3://mesh-snapshots/prod/dead-letter --store s3://mesh-snapshots/prod
    #[command(verbatim_doc_comment)]
    Replay(crate::replay_cmd::ReplayArgs),
}

/// How a Kafka client connects: shared by consume, record, replay and the bridge's sink.
#[derive(Debug, Args)]
#[command(next_help_heading = "Kafka client (security: SASL_SSL/SCRAM, TLS)")]
pub struct KafkaArgs {
    /// A Kafka client properties file: librdkafka names (security.protocol, sasl.mechanism,
    /// sasl.username, sasl.password, ssl.ca.location, ...) or a Java client's
    /// client.properties (its sasl.jaas.config login is read; a .jks trust store is not: give
    /// ssl.ca.location as PEM). The environment variables REGSYNC_KAFKA_SECURITY_PROTOCOL,
    /// REGSYNC_KAFKA_SASL_MECHANISM, REGSYNC_KAFKA_SASL_USERNAME, REGSYNC_KAFKA_SASL_PASSWORD
    /// and REGSYNC_KAFKA_SSL_CA_LOCATION override the file; -X overrides both.
    #[arg(long, env = "REGSYNC_KAFKA_CONFIG", value_name = "FILE")]
    pub kafka_config: Option<PathBuf>,
    /// Kafka client property, repeatable, e.g. for MSK's SCRAM listener:
    /// -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 (and the password in
    /// REGSYNC_KAFKA_SASL_PASSWORD rather than on the command line)
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_property)]
    pub property: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The settings' sources, with this process's environment.
    pub fn config(&self) -> regsync_kafka::Config {
        regsync_kafka::Config::new(self.kafka_config.clone(), self.property.clone())
    }
}

/// `-X KEY=VALUE`.
pub fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!(
            "{text:?} is not KEY=VALUE (a Kafka client property)"
        )),
    }
}

/// Where the snapshot lives.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Store URL: file://DIR, s3://bucket/prefix or memory://. A relative DIR is in the current
    /// directory (`regsync up` prints the absolute URL of its store).
    #[arg(
        long,
        env = "REGSYNC_STORE",
        default_value = "file://.regsync/store",
        value_parser = absolute_store_url
    )]
    pub store: String,
}

/// A `file://` URL (or bare path) of a relative directory made absolute, so that every URL
/// regsync prints works when pasted in another directory; other URLs unchanged.
fn absolute_store_url(url: &str) -> Result<String, String> {
    let dir = match url.strip_prefix("file://") {
        Some(dir) => dir,
        None if url.contains("://") || url == "memory:" => return Ok(url.to_owned()),
        None => url,
    };
    if dir.is_empty() || Path::new(dir).is_absolute() {
        return Ok(url.to_owned());
    }
    std::path::absolute(dir)
        .map(|abs| format!("file://{}", abs.display()))
        .map_err(|e| format!("cannot resolve the directory {dir}: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Apply event files to the latest generation as one batch and publish a new generation.
    ///
    /// Inputs are read as by `regsync convert`. Invalid inputs or events are reported with the
    /// field and nothing is applied. Concurrent writers are safe: a conflicting write reloads and
    /// reapplies, and after --attempts conflicts exits 75 (EX_TEMPFAIL) so the caller retries.
    Apply {
        #[command(flatten)]
        store: StoreArgs,
        /// Conversion config file; every writer of a store must use the same one.
        #[arg(long, short = 'c', env = "REGSYNC_CONVERT_CONFIG")]
        config: Option<PathBuf>,
        /// Attempts before giving up on conflicts with other writers.
        #[arg(long, default_value_t = regsync_snapshots::DEFAULT_ATTEMPTS)]
        attempts: u32,
        /// Event files (`-` for stdin).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the generations still retained, newest first.
    Ls {
        #[command(flatten)]
        store: StoreArgs,
        /// Most generations to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Print the ServiceEntries of a generation (the latest by default).
    Get {
        #[command(flatten)]
        store: StoreArgs,
        /// Generation number.
        #[arg(long, short = 'g')]
        generation: Option<u64>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = KubeOutput::Yaml)]
        output: KubeOutput,
    },
    /// Print a generation's digest: `snapshot sha256:<hex> (generation N)`.
    ///
    /// The digest covers every service and the content of its entries, not the generation
    /// number: two stores with the same digest serve byte-identical ServiceEntries. `regsync
    /// replay` prints the same digest for what it rebuilt, so a replay audits a live store.
    Digest {
        #[command(flatten)]
        store: StoreArgs,
        /// Generation number (the latest by default).
        #[arg(long, short = 'g')]
        generation: Option<u64>,
    },
    /// Show entries and endpoints added, removed and changed between two generations.
    ///
    /// Reads only the objects that differ. Exit code 0 when nothing differs, 1 when something
    /// does (like `diff`).
    Diff {
        #[command(flatten)]
        store: StoreArgs,
        /// Older generation.
        from: u64,
        /// Newer generation (the latest by default).
        to: Option<u64>,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Keep the newest --retain generations and delete objects none of them needs.
    ///
    /// Objects younger than --grace are never deleted: a writer may have uploaded them and not
    /// published its generation yet. Keep --grace longer than any writer's attempt (Lambda: its
    /// timeout).
    Gc {
        #[command(flatten)]
        store: StoreArgs,
        /// Generations to keep (at least 1).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        retain: u64,
        /// Minimum age of a deleted object, e.g. 30s, 15m, 1h, 2d.
        #[arg(long, default_value = "1h", value_parser = crate::snapshot_cmd::parse_duration)]
        grace: std::time::Duration,
        /// Only report what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Check event files against the JSON Schemas in events/schemas/ and the event model.
    ///
    /// Accepts a JSON event, a JSON array of events, or JSON Lines. Prints one line per
    /// problem (`path:line: pointer: message`) and a summary; exits 1 if any file is invalid.
    Validate {
        /// Files to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// Output formats of `convert`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// Multi-document YAML for `kubectl apply -f -`.
    Yaml,
    /// A Kubernetes `List` as JSON, also for `kubectl apply -f -`.
    Json,
    /// The whole regsync snapshot (state, entries, rejections) as JSON.
    Snapshot,
}

/// Output formats of `snapshot get` and `export`: Kubernetes objects only, as the store keeps
/// no whole-snapshot document (`regsync convert -o snapshot` prints one).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KubeOutput {
    /// Multi-document YAML for `kubectl apply -f -`.
    Yaml,
    /// A Kubernetes `List` as JSON, also for `kubectl apply -f -`.
    Json,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Generation number (the latest by default).
    #[arg(long, short = 'g')]
    pub generation: Option<u64>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = KubeOutput::Yaml)]
    pub output: KubeOutput,
}

/// Arguments of `convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input files (`-` for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Conversion config file (YAML or JSON); see the README for every key and default.
    #[arg(long, short = 'c', env = "REGSYNC_CONVERT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Yaml)]
    pub output: Output,
    /// Registry name for raw Eureka payloads (becomes the namespace unless mapped in the config).
    #[arg(long, default_value = "eureka")]
    pub eureka_registry: String,
    /// Registry name for raw Dubbo payloads.
    #[arg(long, default_value = "dubbo")]
    pub dubbo_registry: String,
    /// ZooKeeper root of raw Dubbo URLs.
    #[arg(long, default_value = "/dubbo")]
    pub dubbo_root: String,
    /// Largest input file accepted, in bytes.
    #[arg(long, default_value_t = regsync_model::event::DEFAULT_MAX_PAYLOAD)]
    pub max_bytes: usize,
    /// Print the entries of the valid inputs even when some inputs are invalid (exit code 2).
    #[arg(long)]
    pub keep_going: bool,
}

/// The command line, its help laid out for reading and copying (see [`HELP_WIDTH`]). `-h` shows
/// summaries, never an example: that help is left to clap, which fits it to the terminal.
fn command(short_help: bool) -> clap::Command {
    if short_help {
        Cli::command()
    } else {
        reflow_help(Cli::command().term_width(0), HELP_WIDTH)
    }
}

/// Parses the process's arguments; exits on `-h`, `--help` or a usage error.
pub fn parse() -> Cli {
    let short_help = std::env::args_os().any(|arg| arg == "-h");
    let mut matches = command(short_help).get_matches();
    Cli::from_arg_matches_mut(&mut matches)
        .unwrap_or_else(|e| e.format(&mut command(short_help)).exit())
}

/// Reflows the help prose of `cmd`, its arguments and its subcommands; its summary to
/// `about_width`, as it follows its name in its parent's list of commands.
fn reflow_help(cmd: clap::Command, about_width: usize) -> clap::Command {
    let cmd = cmd.mut_args(|arg| {
        // `--help` shows an argument's long help, else its short one.
        match arg.get_long_help().or(arg.get_help()) {
            Some(help) => {
                let text = reflow(&help.to_string(), ARG_HELP_WIDTH);
                arg.long_help(text)
            }
            None => arg,
        }
    });
    let about = cmd.get_about().map(|t| reflow(&t.to_string(), about_width));
    let long_about = cmd
        .get_long_about()
        .map(|t| reflow(&t.to_string(), HELP_WIDTH));
    // The list: two spaces, the names padded to the longest one (or `help`), two spaces.
    let names = cmd.get_subcommands().map(|sub| sub.get_name().len());
    let column = 4 + names.chain(["help".len()]).max().unwrap_or_default();
    let mut cmd = cmd.mut_subcommands(|sub| reflow_help(sub, HELP_WIDTH - column));
    if let Some(text) = about {
        cmd = cmd.about(text);
    }
    if let Some(text) = long_about {
        cmd = cmd.long_about(text);
    }
    cmd
}

/// Rewraps each paragraph of prose (a run of lines starting with no space) at `width` columns.
/// Blank and indented lines (examples, headers, YAML) stay exactly as written.
fn reflow(text: &str, width: usize) -> String {
    let mut lines = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with(char::is_whitespace) {
            wrap_words(&paragraph, width, &mut lines);
            paragraph.clear();
            lines.push(line.to_owned());
        } else {
            paragraph.extend(line.split_whitespace());
        }
    }
    wrap_words(&paragraph, width, &mut lines);
    lines.join("\n")
}

/// Appends `words` to `lines`, as many to a line as fit in `width` columns.
fn wrap_words(words: &[&str], width: usize, lines: &mut Vec<String>) {
    let mut line = String::new();
    for word in words {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Up(args) => crate::up_cmd::run(args),
            Command::Export(args) => crate::snapshot_cmd::export(args),
            Command::Apply(args) => crate::apply_cmd::run(args),
            Command::Convert(args) => crate::convert_cmd::run(&args),
            Command::Snapshot(cmd) => crate::snapshot_cmd::run(cmd),
            Command::Webhook(args) => crate::webhook_cmd::run(args),
            Command::Consume(args) => crate::consume_cmd::run(args),
            Command::Mcp(cmd) => crate::mcp_cmd::run(cmd),
            Command::Bridge(cmd) => crate::bridge_cmd::run(cmd),
            Command::Record(args) => crate::record_cmd::run(args),
            Command::Replay(args) => crate::replay_cmd::run(args),
            Command::Events(EventsCommand::Validate { paths }) => {
                let report = regsync_events::validate_paths(&paths);
                print!("{report}");
                Ok(if report.is_ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
        }
    }
}
