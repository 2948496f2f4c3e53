//! `ingest-webhook`: the Lambda function behind a Function URL or an API Gateway HTTP API (payload
//! format 2.0). It adapts the request to [`regsync_pipeline::webhook`], which owns the contract
//! (HMAC signature, 5-minute window, body limit, CloudEvents or declared raw payloads, JSON
//! responses), so `regsync webhook` serves exactly the same contract.
//!
//! The shared secret comes from `REGSYNC_WEBHOOK_SECRET`, or from the Secrets Manager secret
//! named by `REGSYNC_WEBHOOK_SECRET_ARN`, read once at cold start.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lambda_runtime::LambdaEvent;
use regsync_pipeline::config::Reader;
use regsync_pipeline::webhook::{self, Request, Response, SecretSource, Webhook, WebhookSettings};
use regsync_pipeline::{InitError, Pipeline, PipelineConfig};

/// What every invocation uses, built once at cold start.
#[derive(Debug)]
pub struct Context {
    /// The function core.
    pub pipeline: Pipeline,
    /// The webhook with its resolved secret.
    pub webhook: Webhook,
}

impl Context {
    /// Reads the configuration through `get`, opens the stores and resolves the secret.
    pub async fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let mut r = Reader::new(&get);
        let config = PipelineConfig::read(&mut r);
        let settings = WebhookSettings::read(&mut r);
        let (config, settings) = r.finish((config, settings))?;
        let pipeline = Pipeline::open(&config).await?;
        let secret = match &settings.secret {
            SecretSource::Value(v) => v.clone(),
            SecretSource::SecretsManager(id) => {
                let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                secret_from_secrets_manager(&aws, id).await?
            }
        };
        Ok(Context {
            pipeline,
            webhook: settings.webhook(secret),
        })
    }
}

pub use regsync_pipeline::secrets::read as secret_from_secrets_manager;

/// The contract's request from an HTTP payload 2.0 event; a body whose base64 does not decode
/// is passed on verbatim, so the signature check refuses it.
pub fn request(event: &ApiGatewayV2httpRequest) -> Request {
    let headers = event
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = event.body.clone().unwrap_or_default();
    let body = if event.is_base64_encoded {
        STANDARD.decode(&text).unwrap_or_else(|_| text.into_bytes())
    } else {
        text.into_bytes()
    };
    // The path and query as the client sent them: what a v2 signature covers.
    let raw_path = event.raw_path.as_deref().unwrap_or("/");
    let path = match event.raw_query_string.as_deref() {
        Some(q) if !q.is_empty() => format!("{raw_path}?{q}"),
        _ => raw_path.to_owned(),
    };
    Request {
        method: event.request_context.http.method.as_str().to_owned(),
        path,
        headers,
        body,
    }
}

/// The HTTP payload 2.0 response for a contract response.
pub fn response(r: Response) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(seconds) = r.retry_after {
        headers.insert("retry-after", HeaderValue::from(seconds));
    }
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(r.status);
    out.headers = headers;
    out.body = Some(Body::Text(r.body.to_string()));
    out.is_base64_encoded = false;
    out
}

/// Handles one request. Never fails: every problem is an HTTP status.
pub async fn handle(
    ctx: &Context,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Result<ApiGatewayV2httpResponse, std::convert::Infallible> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let req = request(&event.payload);
    // Bounded by the invocation's deadline: a store that hangs gets the sender the contract's
    // 503 with Retry-After, not Lambda's timeout error.
    let answer = regsync_pipeline::error::by_deadline(event.context.deadline, async {
        Ok(webhook::handle(&ctx.pipeline, &ctx.webhook, &req, now).await)
    })
    .await
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, kind = e.kind(), "request not done before the deadline; answered 503");
        webhook::unavailable(&e)
    });
    Ok(response(answer))
}
