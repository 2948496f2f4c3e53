//! The webhook contract, shared by the `ingest-webhook` Lambda function and `regsync webhook`:
//! an HTTP request in, a JSON response out, and nothing written on any error.
//!
//! Signing: `X-Regsync-Timestamp` holds Unix seconds and `X-Regsync-Signature` holds
//! `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body). A timestamp more than
//! [`MAX_AGE_SECONDS`] away from now is refused, so a captured request cannot be replayed later.
//!
//! Bodies (at most the configured size):
//! - `Content-Type: application/cloudevents+json`: one structured-mode CloudEvent;
//! - `application/cloudevents-batch+json`: a JSON array of them;
//! - binary mode: `ce-specversion` and the other attributes as `ce-` headers, the data as body;
//! - a raw registry payload (`application/json`, or `application/xml` for Eureka) with its
//!   source declared in `X-Regsync-Type` (an event type), and optionally `X-Regsync-Registry`,
//!   `X-Regsync-Source-Version` (else taken from the payload: ZooKeeper `pzxid`/`mzxid`, Eureka
//!   `lastUpdatedTimestamp`) and `X-Regsync-Subject`.
//!
//! Responses: 202 with the accepted event ids and each one's outcome; 400 naming the bad field;
//! 401 for a missing or bad signature or an expired timestamp; 405 for a method other than POST;
//! 413 for a body over the limit; 503 (with `Retry-After`) when the store could not take it.

use hmac::{Hmac, Mac};
use regsync_model::event::{
    EXT_REGISTRY, EXT_SOURCE_VERSION, JSON_CONTENT_TYPE, SPEC_VERSION, STRUCTURED_CONTENT_TYPE,
    is_registry_name,
};
use regsync_model::{EventType, RegistryEvent};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::batch::{publish, validate};
use crate::config::Reader;
use crate::record::Rejection;
use crate::{ConfigError, Pipeline};

/// Header with the request's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "x-regsync-timestamp";
/// Header with `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub const SIGNATURE_HEADER: &str = "x-regsync-signature";
/// Prefix of the signature value.
pub const SIGNATURE_PREFIX: &str = "sha256=";
/// Raw payloads: the event type of the body.
pub const TYPE_HEADER: &str = "x-regsync-type";
/// Raw payloads: the registry instance name.
pub const REGISTRY_HEADER: &str = "x-regsync-registry";
/// Raw payloads: the source version.
pub const SOURCE_VERSION_HEADER: &str = "x-regsync-source-version";
/// Raw payloads: the subject (service name).
pub const SUBJECT_HEADER: &str = "x-regsync-subject";
/// Content type of a JSON array of structured-mode CloudEvents.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";
/// Requests older (or newer) than this are refused.
pub const MAX_AGE_SECONDS: u64 = 300;
/// Default body limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The shared secret, as text in the environment.
pub const SECRET: &str = "REGSYNC_WEBHOOK_SECRET";
/// A Secrets Manager secret (ARN or name) holding the shared secret, read at cold start.
pub const SECRET_ARN: &str = "REGSYNC_WEBHOOK_SECRET_ARN";
/// Largest accepted body in bytes.
pub const MAX_BODY_BYTES: &str = "REGSYNC_WEBHOOK_MAX_BODY_BYTES";

/// Where the shared secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value itself.
    Value(Vec<u8>),
    /// A Secrets Manager secret id, resolved by the adapter at start.
    SecretsManager(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(<redacted>)"),
            SecretSource::SecretsManager(id) => write!(f, "SecretsManager({id})"),
        }
    }
}

/// The webhook's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where the secret comes from.
    pub secret: SecretSource,
    /// Largest accepted body.
    pub max_body_bytes: usize,
}

impl WebhookSettings {
    /// Reads [`SECRET`] or [`SECRET_ARN`] (exactly one) and [`MAX_BODY_BYTES`].
    pub fn read(r: &mut Reader<'_>) -> Self {
        let secret = match (r.optional(SECRET), r.optional(SECRET_ARN)) {
            (Some(value), None) => SecretSource::Value(value.into_bytes()),
            (None, Some(arn)) => SecretSource::SecretsManager(arn),
            (Some(_), Some(_)) => {
                r.problem(format!("set only one of {SECRET} and {SECRET_ARN}"));
                SecretSource::Value(Vec::new())
            }
            (None, None) => {
                r.problem(format!(
                    "neither {SECRET} nor {SECRET_ARN} is set; the webhook refuses unsigned requests, so give it the shared secret (e.g. {SECRET_ARN}=arn:aws:secretsmanager:...)"
                ));
                SecretSource::Value(Vec::new())
            }
        };
        let max_body_bytes = r.number(MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES);
        WebhookSettings {
            secret,
            max_body_bytes,
        }
    }

    /// Reads the settings alone through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(&get);
        let s = Self::read(&mut r);
        r.finish(s)
    }
}

/// The webhook, ready to serve: the resolved secret and the body limit.
#[derive(Clone)]
pub struct Webhook {
    secret: Vec<u8>,
    /// Largest accepted body.
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A webhook checking signatures with `secret`.
    pub fn new(secret: impl Into<Vec<u8>>, max_body_bytes: usize) -> Self {
        Webhook {
            secret: secret.into(),
            max_body_bytes,
        }
    }
}

/// An HTTP request as the contract sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `POST`, …
    pub method: String,
    /// Headers; names compare case-insensitively.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The response: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// Seconds for a `Retry-After` header (503 only).
    pub retry_after: Option<u32>,
}

impl Response {
    fn error(status: u16, message: impl Into<String>, field: Option<&str>) -> Self {
        let mut body = json!({ "error": message.into() });
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        Response {
            status,
            body,
            retry_after: None,
        }
    }
}

/// `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body): the signature header value.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The headers that sign `body` at `timestamp`: `[(timestamp header, ..), (signature header, ..)]`.
pub fn signature_headers(secret: &[u8], timestamp: u64, body: &[u8]) -> [(String, String); 2] {
    [
        (TIMESTAMP_HEADER.to_owned(), timestamp.to_string()),
        (SIGNATURE_HEADER.to_owned(), sign(secret, timestamp, body)),
    ]
}

fn check_signature(webhook: &Webhook, req: &Request, now: u64) -> Result<(), Response> {
    let unauthorized = |m: String, field: &str| Response::error(401, m, Some(field));
    let ts_text = req.header(TIMESTAMP_HEADER).ok_or_else(|| {
        unauthorized(
            format!("missing header {TIMESTAMP_HEADER}: sign requests as the README's \"Webhook\" section says"),
            TIMESTAMP_HEADER,
        )
    })?;
    let ts: u64 = ts_text.trim().parse().map_err(|_| {
        unauthorized(
            format!("header {TIMESTAMP_HEADER} must be Unix seconds (got {ts_text:?})"),
            TIMESTAMP_HEADER,
        )
    })?;
    if now.abs_diff(ts) > MAX_AGE_SECONDS {
        return Err(unauthorized(
            format!(
                "header {TIMESTAMP_HEADER} is {} seconds from the server's clock (limit {MAX_AGE_SECONDS}): a replayed request, or a clock to fix",
                now.abs_diff(ts)
            ),
            TIMESTAMP_HEADER,
        ));
    }
    let given = req.header(SIGNATURE_HEADER).ok_or_else(|| {
        unauthorized(
            format!("missing header {SIGNATURE_HEADER}"),
            SIGNATURE_HEADER,
        )
    })?;
    let bad = || {
        unauthorized(
            format!(
                "header {SIGNATURE_HEADER} does not match: expected {SIGNATURE_PREFIX}<hex HMAC-SHA256(secret, timestamp + \".\" + body)>"
            ),
            SIGNATURE_HEADER,
        )
    };
    let tag = given
        .trim()
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(bad)?;
    // Constant-time comparison.
    mac(&webhook.secret, ts, &req.body)
        .verify_slice(&tag)
        .map_err(|_| bad())
}

fn media_type(req: &Request) -> String {
    req.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Turns the body into events, or names the field at fault.
pub fn decode(req: &Request, max_bytes: usize) -> Result<Vec<RegistryEvent>, Rejection> {
    if req.header("ce-specversion").is_some() {
        let content_type = req.header("content-type");
        return RegistryEvent::from_binary(
            |k| req.header(k).map(str::to_owned),
            "ce-",
            content_type,
            &req.body,
            max_bytes,
        )
        .map(|e| vec![e])
        .map_err(Rejection::from);
    }
    match media_type(req).as_str() {
        STRUCTURED_CONTENT_TYPE => RegistryEvent::from_slice(&req.body, max_bytes)
            .map(|e| vec![e])
            .map_err(Rejection::from),
        BATCH_CONTENT_TYPE => {
            let values: Vec<Value> = serde_json::from_slice(&req.body)
                .map_err(|e| Rejection::from(regsync_model::Error::json(&e)))?;
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    RegistryEvent::from_value(v)
                        .map_err(|e| Rejection::from(e.nested_in(&format!("/{i}"))))
                })
                .collect()
        }
        _ => raw(req).map(|e| vec![e]),
    }
}

/// A raw registry payload whose source is declared in headers.
fn raw(req: &Request) -> Result<RegistryEvent, Rejection> {
    let declared = req.header(TYPE_HEADER).ok_or_else(|| {
        Rejection::new(
            "missing_field",
            Some(TYPE_HEADER),
            format!(
                "missing header {TYPE_HEADER}: send a CloudEvent (Content-Type {STRUCTURED_CONTENT_TYPE}, or ce- headers), or declare a raw payload's type, one of: {}",
                EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let event_type = EventType::parse(declared.trim()).map_err(|e| {
        let mut r = Rejection::from(e);
        r.field = Some(TYPE_HEADER.to_owned());
        r.reason = format!("header {TYPE_HEADER}: {}", r.reason);
        r
    })?;
    let registry = match req.header(REGISTRY_HEADER) {
        None => event_type.source().default_registry().to_owned(),
        Some(r) if is_registry_name(r) => r.to_owned(),
        Some(r) => {
            return Err(Rejection::new(
                "invalid_field",
                Some(REGISTRY_HEADER),
                format!(
                    "header {REGISTRY_HEADER} must be a DNS label (lowercase letters, digits, '-'; got {r:?})"
                ),
            ));
        }
    };
    let media = media_type(req);
    let is_xml = media == "application/xml" || media == "text/xml";
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| Rejection::new("syntax", Some("body"), "the body must be UTF-8 text"))?;
    let data: Value = if is_xml {
        Value::String(text.to_owned())
    } else {
        serde_json::from_str(text).map_err(|e| {
            let mut r = Rejection::from(regsync_model::Error::json(&e));
            r.field = Some("body".into());
            r
        })?
    };
    let version = match req.header(SOURCE_VERSION_HEADER) {
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            Rejection::new(
                "invalid_field",
                Some(SOURCE_VERSION_HEADER),
                format!("header {SOURCE_VERSION_HEADER} must be a whole number (got {v:?})"),
            )
        })?,
        None => payload_version(event_type, &data)?,
    };
    let digest = hex::encode(&Sha256::digest(&req.body)[..12]);
    let mut event = json!({
        "specversion": SPEC_VERSION,
        "id": format!("webhook-{digest}"),
        "source": "webhook",
        "type": event_type.as_str(),
        "datacontenttype": if is_xml { regsync_convert::input::XML_CONTENT_TYPE } else { JSON_CONTENT_TYPE },
        EXT_REGISTRY: registry,
        EXT_SOURCE_VERSION: version.to_string(),
        "data": data,
    });
    let subject = match req.header(SUBJECT_HEADER) {
        Some(s) => Some(s.to_owned()),
        None => payload_subject(event_type, &event["data"]),
    };
    if let Some(subject) = subject {
        event["subject"] = json!(subject);
    }
    RegistryEvent::from_value(event).map_err(|e| {
        let mut r = Rejection::from(e);
        if r.field.as_deref() == Some("subject") {
            r.field = Some(SUBJECT_HEADER.to_owned());
            r.reason = format!(
                "this payload does not name its service: set header {SUBJECT_HEADER} (the Eureka app, Dubbo interface or application)"
            );
        }
        r
    })
}

/// The service a raw payload is about, when it names it: a Eureka application's `name` or an
/// instance's `app` (JSON), a ZooKeeper path's service segment.
fn payload_subject(event_type: EventType, data: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    match event_type {
        EventType::EurekaApplication => text(&data["application"]["name"]),
        EventType::EurekaInstance => text(&data["instance"]["app"]).or_else(|| text(&data["app"])),
        EventType::ZookeeperProviders
        | EventType::ZookeeperConfigurators
        | EventType::ZookeeperInstances
        | EventType::ZookeeperMapping => {
            let path = data["path"].as_str()?;
            let mut parts = path.trim_end_matches('/').rsplit('/');
            match event_type {
                EventType::ZookeeperProviders | EventType::ZookeeperConfigurators => {
                    parts.nth(1).map(str::to_owned)
                }
                _ => parts.next().map(str::to_owned),
            }
        }
        EventType::EurekaApplications | EventType::EurekaDelta => None,
    }
}

/// The version a raw payload carries itself: ZooKeeper's `pzxid` (`mzxid` for a mapping); for
/// Eureka, 0, which the fold raises to the newest `lastUpdatedTimestamp` in the document.
fn payload_version(event_type: EventType, data: &Value) -> Result<u64, Rejection> {
    let field = match event_type {
        EventType::ZookeeperMapping => "mzxid",
        t if t.source() == regsync_model::event::SourceKind::Zookeeper => "pzxid",
        _ => return Ok(0),
    };
    data.get(field).and_then(Value::as_u64).ok_or_else(|| {
        Rejection::new(
            "missing_field",
            Some(SOURCE_VERSION_HEADER),
            format!(
                "a raw ZooKeeper payload needs its version: set header {SOURCE_VERSION_HEADER} or `{field}` in the body"
            ),
        )
    })
}

/// Serves one request. `now` is Unix seconds. Nothing is written unless every event is valid.
pub async fn handle(pipeline: &Pipeline, webhook: &Webhook, req: &Request, now: u64) -> Response {
    if !req.method.eq_ignore_ascii_case("POST") {
        return Response::error(
            405,
            format!("method {} is not allowed; POST events here", req.method),
            None,
        );
    }
    if req.body.len() > webhook.max_body_bytes {
        return too_large(Some(req.body.len() as u64), webhook.max_body_bytes);
    }
    if let Err(denied) = check_signature(webhook, req, now) {
        warn!(reason = %denied.body["error"], "webhook request refused");
        return denied;
    }
    let events = match decode(req, pipeline.max_record_bytes) {
        Ok(events) => events,
        Err(why) => return bad_request(&why, None),
    };
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let kept = pipeline.archive.as_ref().map(|_| events.clone());
    let batch = validate(events.into_iter().map(Ok).collect());
    if let Some((i, why)) = batch.rejections().next() {
        return bad_request(why, Some(i));
    }
    // Accepted requests are kept whole before they are applied.
    if let (Some(archive), Some(events)) = (&pipeline.archive, kept)
        && let Err(e) = archive.webhook(&events, now).await
    {
        return unavailable(&e);
    }
    match publish(pipeline, batch).await {
        Ok(report) => {
            info!(
                events = ids.len(),
                applied = report.count("applied"),
                stale = report.count("stale"),
                generation = report.generation,
                "webhook events accepted"
            );
            let outcomes: Vec<Value> = report
                .records
                .iter()
                .map(|r| json!({"id": r.id, "service": r.service, "outcome": r.outcome.label()}))
                .collect();
            Response {
                status: 202,
                body: json!({
                    "accepted": ids,
                    "outcomes": outcomes,
                    "generation": report.generation,
                    "published": report.published,
                }),
                retry_after: None,
            }
        }
        Err(e) => unavailable(&e),
    }
}

/// The 503 for a batch that could not be kept or stored: the sender retries.
fn unavailable(e: &crate::Error) -> Response {
    warn!(error = %crate::error::chain(e), kind = e.kind(), "webhook batch not stored");
    let mut r = Response::error(
        503,
        format!("{}; retry later ({})", crate::error::chain(e), e.advice()),
        None,
    );
    r.body["kind"] = json!(e.kind());
    r.retry_after = Some(1);
    r
}

/// The 413 response, for servers that stop reading a body at the limit (`size` from
/// `Content-Length` when known).
pub fn too_large(size: Option<u64>, limit: usize) -> Response {
    let size = size.map_or_else(|| "the body".to_owned(), |n| format!("body of {n} bytes"));
    Response::error(
        413,
        format!(
            "{size} exceeds the limit of {limit} bytes; split the batch, or raise {MAX_BODY_BYTES}"
        ),
        Some("body"),
    )
}

fn bad_request(why: &Rejection, event: Option<usize>) -> Response {
    let mut r = Response::error(
        400,
        why.reason.clone(),
        Some(why.field.as_deref().unwrap_or("body")),
    );
    r.body["kind"] = json!(why.kind);
    if let Some(i) = event {
        r.body["event"] = json!(i);
    }
    r
}
