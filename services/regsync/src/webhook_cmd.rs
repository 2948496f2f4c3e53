//! `regsync webhook`: the signed webhook on a local axum server, with exactly the contract of
//! the `ingest-webhook` Lambda function (both call `regsync_pipeline::webhook::handle`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Largest accepted body, in bytes; larger requests get 413.
    #[arg(long, env = "REGSYNC_WEBHOOK_MAX_BODY_BYTES", default_value_t = webhook::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Conversion rules (YAML); see the README's "Conversion rules".
    #[arg(long, short = 'c', env = "REGSYNC_CONVERT_CONFIG")]
    pub config: Option<PathBuf>,
}

struct App {
    pipeline: Pipeline,
    webhook: Webhook,
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
        Webhook::new(secret, args.max_body_bytes),
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

/// Serves the webhook on `listener` until `shutdown` resolves.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    pipeline: Pipeline,
    webhook: Webhook,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Arc::new(App { pipeline, webhook });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(events)
        .with_state(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the webhook server failed")?;
    info!("webhook server stopped");
    Ok(())
}

async fn events(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let limit = app.webhook.max_body_bytes;
    let response = match axum::body::to_bytes(body, limit).await {
        Err(_) => {
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok());
            webhook::too_large(declared, limit)
        }
        Ok(bytes) => {
            let request = Request {
                method: parts.method.as_str().to_owned(),
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
