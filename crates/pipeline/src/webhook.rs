//! The webhook contract, shared by the `ingest-webhook` Lambda function and `regsync webhook`:
//! an HTTP request in, a JSON response out, and nothing written on any error.
//!
//! Signing (v2): `X-Regsync-Timestamp` holds Unix seconds and `X-Regsync-Signature` holds `v2=` +
//! hex HMAC-SHA256(secret, [`canonical_v2`]): the timestamp as sent, the method, the path, the
//! content type, every `X-Regsync-*` and `ce-*` header, and the body, so nothing that decides
//! what the body means can be changed on a captured request. A timestamp more than
//! [`MAX_AGE_SECONDS`] away from now is refused, so a captured request cannot be replayed later.
//! v1 (`sha256=` over timestamp and body only) is refused unless [`ACCEPT_V1`] is set.
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
//! 401 for a missing or bad signature or an expired timestamp; 403 for a registry the webhook
//! does not take ([`REGISTRIES`]); 405 for a method other than POST; 413 for a body over the
//! limit; 503 (with `Retry-After`) when the store could not take it.

use hmac::{Hmac, Mac};
use regsync_model::eureka::EurekaDocument;
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
/// Header with `v2=<hex HMAC-SHA256(secret, canonical request)>` (see [`canonical_v2`]).
pub const SIGNATURE_HEADER: &str = "x-regsync-signature";
/// Prefix of a v2 signature value.
pub const SIGNATURE_PREFIX: &str = "v2=";
/// Prefix of a v1 signature value: HMAC over timestamp and body only, refused by default.
pub const SIGNATURE_V1_PREFIX: &str = "sha256=";
/// First line of the v2 canonical request.
const CANONICAL_V2_TAG: &str = "regsync-webhook-v2";
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
/// `true` accepts v1 signatures (timestamp and body only) while senders move to v2.
pub const ACCEPT_V1: &str = "REGSYNC_WEBHOOK_ACCEPT_V1";
/// Comma-separated registries the webhook takes events of (`*`: any). Unset: the registries
/// named in the conversion rules' `namespaces`, or any when that is empty.
pub const REGISTRIES: &str = "REGSYNC_WEBHOOK_REGISTRIES";

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

/// Which registries the webhook takes events of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Registries {
    /// Those named in the conversion rules' `namespaces`; any when it names none.
    #[default]
    FromConfig,
    /// Any registry (`*`).
    Any,
    /// Exactly these.
    Only(std::collections::BTreeSet<String>),
}

impl Registries {
    /// Parses [`REGISTRIES`]: `*`, or registry names separated by commas.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.trim() == "*" {
            return Ok(Registries::Any);
        }
        let names: std::collections::BTreeSet<String> = value
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = names.iter().find(|n| !is_registry_name(n)) {
            return Err(format!(
                "{bad:?} is not a registry name (a DNS label: lowercase letters, digits, '-')"
            ));
        }
        if names.is_empty() {
            return Err("names no registry; use * for any".into());
        }
        Ok(Registries::Only(names))
    }

    /// Whether events of `registry` are taken, with `config`'s namespaces as the default.
    fn allows(&self, registry: &str, config: &regsync_convert::ConvertConfig) -> bool {
        match self {
            Registries::Any => true,
            Registries::Only(names) => names.contains(registry),
            Registries::FromConfig => {
                config.namespaces.is_empty() || config.namespaces.contains_key(registry)
            }
        }
    }

    /// The allowed names, for an error message.
    fn describe(&self, config: &regsync_convert::ConvertConfig) -> String {
        let names: Vec<&str> = match self {
            Registries::Any => return "any".into(),
            Registries::Only(names) => names.iter().map(String::as_str).collect(),
            Registries::FromConfig => config.namespaces.keys().map(String::as_str).collect(),
        };
        names.join(", ")
    }
}

/// The webhook's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where the secret comes from.
    pub secret: SecretSource,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// [`ACCEPT_V1`].
    pub accept_v1: bool,
    /// [`REGISTRIES`].
    pub registries: Registries,
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
        let accept_v1 = r.flag(ACCEPT_V1);
        let registries = match r.optional(REGISTRIES) {
            None => Registries::FromConfig,
            Some(v) => Registries::parse(&v).unwrap_or_else(|e| {
                r.problem(format!("{REGISTRIES}={v:?}: {e}"));
                Registries::FromConfig
            }),
        };
        WebhookSettings {
            secret,
            max_body_bytes,
            accept_v1,
            registries,
        }
    }

    /// The webhook these settings describe, with the resolved `secret`.
    pub fn webhook(&self, secret: Vec<u8>) -> Webhook {
        Webhook {
            secret,
            max_body_bytes: self.max_body_bytes,
            accept_v1: self.accept_v1,
            registries: self.registries.clone(),
        }
    }

    /// Reads the settings alone through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(&get);
        let s = Self::read(&mut r);
        r.finish(s)
    }
}

/// The webhook, ready to serve: the resolved secret, the body limit and what it accepts.
#[derive(Clone)]
pub struct Webhook {
    secret: Vec<u8>,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Whether v1 signatures are accepted.
    pub accept_v1: bool,
    /// The registries it takes events of.
    pub registries: Registries,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("accept_v1", &self.accept_v1)
            .field("registries", &self.registries)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A webhook checking v2 signatures with `secret`, taking the registries of the
    /// conversion rules.
    pub fn new(secret: impl Into<Vec<u8>>, max_body_bytes: usize) -> Self {
        Webhook {
            secret: secret.into(),
            max_body_bytes,
            accept_v1: false,
            registries: Registries::FromConfig,
        }
    }
}

/// An HTTP request as the contract sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `POST`, …
    pub method: String,
    /// The path and query as the client sent them (`/events`, `/?a=b`).
    pub path: String,
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

/// Whether `name` is a header the v2 signature covers: `X-Regsync-*` (but the timestamp and
/// signature, which have places of their own) and `ce-*`.
fn is_signed_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    (name.starts_with("x-regsync-") && name != SIGNATURE_HEADER && name != TIMESTAMP_HEADER)
        || name.starts_with("ce-")
}

/// The bytes a v2 signature covers, each part ending in a newline, then the body:
///
/// ```text
/// regsync-webhook-v2
/// <X-Regsync-Timestamp as sent>
/// <method, upper case>
/// <path and query as sent>
/// <Content-Type as sent, or nothing>
/// <name>:<value>        one line per signed header, names in lower case, sorted
/// <an empty line>
/// <body>
/// ```
///
/// A header sent more than once counts as its values joined with `,` in the order sent, as
/// HTTP combines them (and as API Gateway hands them to Lambda); the webhook then refuses it.
pub fn canonical_v2(req: &Request, timestamp: &str) -> Vec<u8> {
    let mut headers: std::collections::BTreeMap<String, String> = Default::default();
    for (k, v) in &req.headers {
        let name = k.to_ascii_lowercase();
        if is_signed_header(&name) || name == "content-type" {
            headers
                .entry(name)
                .and_modify(|joined| {
                    joined.push(',');
                    joined.push_str(v);
                })
                .or_insert_with(|| v.clone());
        }
    }
    let content_type = headers.remove("content-type").unwrap_or_default();
    let mut out = Vec::with_capacity(256 + req.body.len());
    for line in [
        CANONICAL_V2_TAG,
        timestamp,
        &req.method.to_ascii_uppercase(),
        &req.path,
        &content_type,
    ] {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(&req.body);
    out
}

fn hmac(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Signs `req` as it stands for Unix time `timestamp` (v2): sets [`TIMESTAMP_HEADER`] and
/// [`SIGNATURE_HEADER`], replacing earlier ones. Add every other header first.
pub fn sign_request(secret: &[u8], timestamp: u64, req: &mut Request) {
    req.headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case(TIMESTAMP_HEADER) && !k.eq_ignore_ascii_case(SIGNATURE_HEADER)
    });
    let ts = timestamp.to_string();
    let tag = hmac(secret, &[&canonical_v2(req, &ts)])
        .finalize()
        .into_bytes();
    req.headers.push((TIMESTAMP_HEADER.to_owned(), ts));
    req.headers.push((
        SIGNATURE_HEADER.to_owned(),
        format!("{SIGNATURE_PREFIX}{}", hex::encode(tag)),
    ));
}

/// The v1 signature value, `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body), for
/// receivers that still set [`ACCEPT_V1`].
pub fn sign_v1(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let tag = hmac(secret, &[timestamp.to_string().as_bytes(), b".", body])
        .finalize()
        .into_bytes();
    format!("{SIGNATURE_V1_PREFIX}{}", hex::encode(tag))
}

/// A 400 for a header that decides what the body means but is given more than once.
fn repeated_header(req: &Request) -> Option<Response> {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| {
            is_signed_header(k)
                || k == "content-type"
                || k == TIMESTAMP_HEADER
                || k == SIGNATURE_HEADER
        })
        .collect();
    names.sort();
    let repeated = names.windows(2).find(|w| w[0] == w[1])?;
    Some(Response::error(
        400,
        format!(
            "header {} is given more than once; send it once",
            repeated[0]
        ),
        Some(&repeated[0]),
    ))
}

impl Webhook {
    /// Checks `req`'s timestamp (Unix seconds, `now` ± [`MAX_AGE_SECONDS`]) and signature: the
    /// 400 or 401 response when they fail.
    pub fn authenticate(&self, req: &Request, now: u64) -> Result<(), Response> {
        if let Some(refused) = repeated_header(req) {
            return Err(refused);
        }
        check_signature(self, req, now)
    }
}

fn check_signature(webhook: &Webhook, req: &Request, now: u64) -> Result<(), Response> {
    let unauthorized = |m: String, field: &str| Response::error(401, m, Some(field));
    let ts_text = req.header(TIMESTAMP_HEADER).ok_or_else(|| {
        unauthorized(
            format!("missing header {TIMESTAMP_HEADER}: sign requests as the README's \"Webhook\" section says"),
            TIMESTAMP_HEADER,
        )
    })?;
    // Only the plain decimal form: the text is what v2 signs, and a v1 signature must not pass
    // for `0<ts>` or `+<ts>` either.
    let ts = ts_text
        .parse::<u64>()
        .ok()
        .filter(|ts| ts.to_string() == ts_text)
        .ok_or_else(|| {
            unauthorized(
                format!("header {TIMESTAMP_HEADER} must be Unix seconds in plain decimal digits (got {ts_text:?})"),
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
            format!("missing header {SIGNATURE_HEADER}: {SIGNATURE_PREFIX}<hex HMAC-SHA256(secret, canonical request)>, see the README's \"Webhook\" section"),
            SIGNATURE_HEADER,
        )
    })?;
    let tag = |hex_text: &str| hex::decode(hex_text).ok();
    let (tag, mac) = if let Some(h) = given.strip_prefix(SIGNATURE_PREFIX) {
        (
            tag(h),
            hmac(&webhook.secret, &[&canonical_v2(req, ts_text)]),
        )
    } else if let Some(h) = given.strip_prefix(SIGNATURE_V1_PREFIX) {
        if !webhook.accept_v1 {
            return Err(unauthorized(
                format!(
                    "v1 signatures ({SIGNATURE_V1_PREFIX}...) cover only the timestamp and body, so a captured request's headers could be changed; sign with {SIGNATURE_PREFIX} (the README's \"Webhook\" section), or set {ACCEPT_V1}=true on the receiver while senders move"
                ),
                SIGNATURE_HEADER,
            ));
        }
        (
            tag(h),
            hmac(&webhook.secret, &[ts_text.as_bytes(), b".", &req.body]),
        )
    } else {
        (None, hmac(&webhook.secret, &[]))
    };
    let bad = || {
        unauthorized(
            format!(
                "header {SIGNATURE_HEADER} does not match: expected {SIGNATURE_PREFIX}<hex HMAC-SHA256(secret, canonical request)> over the timestamp, method, path, content type, X-Regsync-* and ce-* headers and body exactly as sent (the README's \"Webhook\" section)"
            ),
            SIGNATURE_HEADER,
        )
    };
    // Constant-time comparison.
    mac.verify_slice(&tag.ok_or_else(bad)?).map_err(|_| bad())
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
    let is_xml = regsync_model::event::is_xml(req.header("content-type").unwrap_or(""));
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
        None => payload_subject(event_type, &event["data"], &req.body),
    };
    if let Some(subject) = subject {
        event["subject"] = json!(subject);
    }
    RegistryEvent::from_value(event).map_err(|e| {
        let mut r = Rejection::from(e);
        if r.field.as_deref() == Some(EXT_SOURCE_VERSION) {
            r.field = Some(SOURCE_VERSION_HEADER.to_owned());
            r.reason = format!("header {SOURCE_VERSION_HEADER}: {}", r.reason);
        } else if r.field.as_deref() == Some("subject") {
            r.field = Some(SUBJECT_HEADER.to_owned());
            r.reason = format!(
                "this payload does not name its service: set header {SUBJECT_HEADER} (the Eureka app, Dubbo interface or application)"
            );
        }
        r
    })
}

/// The service a raw payload is about, when it names it: a Eureka application's `name` or an
/// instance's `app` (JSON or XML), a ZooKeeper path's service segment.
fn payload_subject(event_type: EventType, data: &Value, body: &[u8]) -> Option<String> {
    match event_type {
        EventType::EurekaApplication | EventType::EurekaInstance => {
            match regsync_eureka::parse(body).ok()? {
                EurekaDocument::Application(app) => Some(app.name),
                EurekaDocument::Instance(instance) => Some(instance.app),
                EurekaDocument::Applications { .. } => None,
            }
        }
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
    if let Err(denied) = webhook.authenticate(req, now) {
        warn!(reason = %denied.body["error"], "webhook request refused");
        return denied;
    }
    let events = match decode(req, pipeline.max_record_bytes) {
        Ok(events) => events,
        Err(why) => return bad_request(&why, None),
    };
    if let Some((i, e)) = events
        .iter()
        .enumerate()
        .find(|(_, e)| !webhook.registries.allows(&e.registry, &pipeline.convert))
    {
        let mut r = Response::error(
            403,
            format!(
                "registry {:?} is not one this webhook takes events of (allowed: {}); add it to {REGISTRIES} or to the conversion rules' `namespaces`",
                e.registry,
                webhook.registries.describe(&pipeline.convert)
            ),
            Some(EXT_REGISTRY),
        );
        r.body["event"] = json!(i);
        warn!(registry = %e.registry, "webhook request refused: registry not allowed");
        return r;
    }
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
    let published = match &pipeline.writer {
        Some(writer) => writer.publish(batch.into_events()).await,
        None => publish(pipeline, batch).await.map_err(std::sync::Arc::new),
    };
    match published {
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
pub fn unavailable(e: &crate::Error) -> Response {
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

/// The 408 response, for a body that did not arrive within `limit`.
pub fn too_slow(limit: std::time::Duration) -> Response {
    Response::error(
        408,
        format!(
            "the body did not arrive within {} s; send it at once, or raise the receiver's body timeout",
            limit.as_secs_f64()
        ),
        Some("body"),
    )
}

fn bad_request(why: &Rejection, event: Option<usize>) -> Response {
    let mut r = Response::error(
        400,
        why.reason.clone(),
        Some(
            why.field
                .as_deref()
                .filter(|f| !f.is_empty())
                .unwrap_or("body"),
        ),
    );
    r.body["kind"] = json!(why.kind);
    if let Some(i) = event {
        r.body["event"] = json!(i);
    }
    r
}
