//! `regsync webhook`: the signed webhook on a local axum server, with exactly the contract of
//! the `ingest-webhook` Lambda function (both call `regsync_pipeline::webhook::handle`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::get;
use regsync_pipeline::Pipeline;
use regsync_pipeline::webhook::{self, Request, Webhook};
use tracing::info;

use crate::cli::StoreArgs;
use crate::snapshot_cmd::parse_duration;

/// Arguments of `regsync webhook`.
#[derive(Debug, clap::Args)]
pub struct WebhookArgs {
    /// Address to listen on; port 0 picks a free port. The address is printed on the first line.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub archive: crate::serve::ArchiveArgs,
    /// The shared HMAC secret. Prefer the environment variable (flags show in `ps`).
    #[arg(long, env = "REGSYNC_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// A file holding the shared secret (one trailing newline is ignored).
    #[arg(long, conflicts_with = "secret")]
    pub secret_file: Option<PathBuf>,
    #[command(flatten)]
    pub options: WebhookOptions,
    /// Conversion rules (YAML); see the README's "Conversion rules".
    #[arg(long, short = 'c', env = "REGSYNC_CONVERT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// What the webhook accepts and how long it waits; `regsync webhook` and `regsync up` share
/// them.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookOptions {
    /// Largest accepted body, in bytes; larger requests get 413.
    #[arg(long, env = "REGSYNC_WEBHOOK_MAX_BODY_BYTES", default_value_t = webhook::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Also accept v1 signatures (`sha256=`, over the timestamp and body only) while senders
    /// move to v2. Off by default: v1 leaves the headers that say what the body means unsigned.
    #[arg(long, env = "REGSYNC_WEBHOOK_ACCEPT_V1")]
    pub accept_v1_signatures: bool,
    /// Registries whose events are taken, comma-separated, or `*` for any; others get 403.
    /// Default: the registries named in the conversion rules' `namespaces`, or any when it
    /// names none.
    #[arg(long, env = "REGSYNC_WEBHOOK_REGISTRIES", value_name = "NAMES", value_parser = webhook::Registries::parse)]
    pub registries: Option<webhook::Registries>,
    /// Time a client has to send a request's headers, from its first byte.
    #[arg(long, env = "REGSYNC_WEBHOOK_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time a client has to send a request's whole body; slower ones get 408.
    #[arg(long, env = "REGSYNC_WEBHOOK_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// A connection on which no byte moves for this long is closed (idle keep-alive
    /// connections, stalled clients).
    #[arg(long, env = "REGSYNC_WEBHOOK_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Open connections at most; further clients wait until one closes. Keep it below the
    /// process's descriptor limit (`ulimit -n`).
    #[arg(long, env = "REGSYNC_WEBHOOK_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
    /// On SIGTERM, how long requests in flight may take before their connections are closed.
    #[arg(long, env = "REGSYNC_WEBHOOK_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

impl WebhookOptions {
    /// The listener's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            body_timeout: self.body_timeout,
            connection: crate::listener::Limits {
                header_timeout: self.header_timeout,
                idle_timeout: self.idle_timeout,
                max_connections: self.max_connections,
                shutdown_grace: self.shutdown_grace,
            },
        }
    }

    /// The webhook these arguments describe, checking signatures with `secret`.
    pub fn webhook(&self, secret: Vec<u8>) -> Webhook {
        let mut hook = Webhook::new(secret, self.max_body_bytes);
        hook.accept_v1 = self.accept_v1_signatures;
        if let Some(registries) = &self.registries {
            hook.registries = registries.clone();
        }
        hook
    }
}

/// How long a request's events may wait out other processes winning the snapshot swap before
/// the request gets 503.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

struct App {
    pipeline: Pipeline,
    webhook: Webhook,
    body_timeout: Duration,
}

/// The webhook server's limits: its connections', and the time a body may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// See [`WebhookOptions::body_timeout`].
    pub body_timeout: Duration,
    /// The listener's.
    pub connection: crate::listener::Limits,
}

fn secret(args: &WebhookArgs) -> anyhow::Result<Vec<u8>> {
    let secret = match (&args.secret, &args.secret_file) {
        (Some(s), _) => s.clone().into_bytes(),
        (None, Some(path)) => {
            let mut bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the secret file {}", path.display()))?;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            bytes
        }
        (None, None) => anyhow::bail!(
            "no webhook secret: set REGSYNC_WEBHOOK_SECRET or pass --secret-file FILE (requests are refused unless signed)"
        ),
    };
    anyhow::ensure!(!secret.is_empty(), "the webhook secret is empty");
    Ok(secret)
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn run(args: WebhookArgs) -> anyhow::Result<ExitCode> {
    crate::serve::block_on(serve(args))
}

async fn serve(args: WebhookArgs) -> anyhow::Result<ExitCode> {
    let secret = secret(&args)?;
    let mut pipeline = crate::serve::pipeline(&args.store.store, args.config.as_deref()).await?;
    args.archive.attach(&mut pipeline).await?;
    let listener = bind(args.listen).await?;
    let addr = listener.local_addr()?;
    println!("regsync webhook listening on http://{addr}/ (POST signed events; GET /healthz)");
    println!("store: {}", args.store.store);
    serve_on(
        listener,
        pipeline,
        args.options.webhook(secret),
        args.options.limits(),
        crate::signals::terminated(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Binds the webhook's address, saying which when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the webhook"))
}

/// Serves the webhook on `listener` within `limits` until `shutdown` resolves; requests in
/// flight then get the shutdown grace to finish.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    pipeline: Pipeline,
    webhook: Webhook,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Concurrent requests queue into one writer, which merges them into one publish: writers
    // in this process never race each other on the swap.
    let app = Arc::new(App {
        pipeline: pipeline.with_writer(WRITE_DEADLINE),
        webhook,
        body_timeout: limits.body_timeout,
    });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(events)
        .with_state(app);
    crate::listener::serve(listener, router, limits.connection, shutdown).await;
    info!("webhook server stopped");
    Ok(())
}

async fn events(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let limit = app.webhook.max_body_bytes;
    let read = tokio::time::timeout(app.body_timeout, axum::body::to_bytes(body, limit)).await;
    let response = match read {
        Err(_) => webhook::too_slow(app.body_timeout),
        Ok(Err(_)) => {
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok());
            webhook::too_large(declared, limit)
        }
        Ok(Ok(bytes)) => {
            let request = Request {
                method: parts.method.as_str().to_owned(),
                path: parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: bytes.to_vec(),
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            webhook::handle(&app.pipeline, &app.webhook, &request, now).await
        }
    };
    let mut out = axum::response::Response::new(Body::from(response.body.to_string()));
    *out.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = response.retry_after {
        out.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    out
}
