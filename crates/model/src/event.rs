//! The envelope every transport carries: a CloudEvents 1.0 event whose `data` is the
//! registry's own payload, unchanged.
//!
//! Structured mode is a JSON object with the attributes beside `data`. Binary mode puts the
//! attributes in transport headers (`ce-` over HTTP, `ce_` over Kafka) and `data` in the body.
//! regsync adds two extension attributes: `registry` (which registry instance the event comes
//! from; one namespace each) and `sourceversion` (a monotonic version from the registry itself,
//! a decimal string because CloudEvents integers are only 32 bits wide).

use std::fmt;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{Error, Position, Result};

/// CloudEvents `specversion` regsync reads and writes.
pub const SPEC_VERSION: &str = "1.0";
/// Extension attribute naming the registry instance.
pub const EXT_REGISTRY: &str = "registry";
/// Extension attribute holding the monotonic source version.
pub const EXT_SOURCE_VERSION: &str = "sourceversion";
/// Content type of JSON data.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// Content type of a structured-mode CloudEvent.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Default upper bound on one event or payload, in bytes.
pub const DEFAULT_MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Which registry technology an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    /// Netflix Eureka (Spring Cloud).
    Eureka,
    /// Apache ZooKeeper as used by Apache Dubbo.
    Zookeeper,
}

/// The largest `sourceversion` of a ZooKeeper event: a zxid is a Java `long` (epoch << 32 |
/// counter) and never negative.
pub const MAX_ZOOKEEPER_VERSION: u64 = i64::MAX as u64;
/// The largest `sourceversion` of a Eureka event: a Java millisecond timestamp no later than
/// 9999-12-31T23:59:59.999Z, where RFC 3339 and protobuf's Timestamp end.
pub const MAX_EUREKA_VERSION: u64 = 253_402_300_799_999;

impl SourceKind {
    /// The largest source version the registry can produce, and why, for error messages.
    pub fn max_source_version(self) -> (u64, &'static str) {
        match self {
            SourceKind::Eureka => (
                MAX_EUREKA_VERSION,
                "a Eureka version is a millisecond timestamp, at the latest 9999-12-31T23:59:59.999Z",
            ),
            SourceKind::Zookeeper => (
                MAX_ZOOKEEPER_VERSION,
                "a ZooKeeper zxid is a non-negative Java long",
            ),
        }
    }

    /// Registry name used when an event carries no `registry` attribute.
    pub fn default_registry(self) -> &'static str {
        match self {
            SourceKind::Eureka => "eureka",
            SourceKind::Zookeeper => "dubbo",
        }
    }
}

macro_rules! event_types {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $source:ident, $whole:literal; )*) => {
        /// The regsync CloudEvents `type`s. Each names what `data` holds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum EventType { $( $(#[$doc])* $variant, )* }

        impl EventType {
            /// Every type, in declaration order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            /// The wire string.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $wire,)* }
            }

            /// Parses the wire string.
            pub fn parse(s: &str) -> Result<Self> {
                match s {
                    $($wire => Ok(EventType::$variant),)*
                    other => Err(Error::UnknownType {
                        got: crate::error::shorten(other, 120),
                        expected: [$($wire),*].join(", "),
                    }),
                }
            }

            /// The registry technology.
            pub fn source(self) -> SourceKind {
                match self { $(EventType::$variant => SourceKind::$source,)* }
            }

            /// Whether one event of this type covers the whole registry rather than one service.
            pub fn is_registry_wide(self) -> bool {
                match self { $(EventType::$variant => $whole,)* }
            }
        }
    };
}

event_types! {
    /// One Eureka InstanceInfo (`{"instance":{...}}` or the bare object) with its `actionType`.
    EurekaInstance = "io.regsync.eureka.instance.v1", Eureka, false;
    /// One Eureka application (`GET /eureka/apps/{APP}`): the complete instance list of that app.
    EurekaApplication = "io.regsync.eureka.application.v1", Eureka, false;
    /// A full `GET /eureka/apps` document: the complete registry.
    EurekaApplications = "io.regsync.eureka.applications.v1", Eureka, true;
    /// A `GET /eureka/apps/delta` document: recent instance changes, each with an `actionType`.
    EurekaDelta = "io.regsync.eureka.delta.v1", Eureka, true;
    /// The complete child list of `<root>/<interface>/providers`, versioned by the parent's pzxid.
    ZookeeperProviders = "io.regsync.zookeeper.providers.v1", Zookeeper, false;
    /// The complete child list of `<root>/<interface>/configurators` (override URLs).
    ZookeeperConfigurators = "io.regsync.zookeeper.configurators.v1", Zookeeper, false;
    /// Dubbo 3 application-level instances: children of `/services/<app>` with their Curator JSON.
    ZookeeperInstances = "io.regsync.zookeeper.instances.v1", Zookeeper, false;
    /// Dubbo 3 interface-to-application mapping: the content of `<root>/mapping/<interface>`.
    ZookeeperMapping = "io.regsync.zookeeper.mapping.v1", Zookeeper, false;
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies the service an event is about: Kafka partition key and unit of ordering.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Registry instance name (the `registry` attribute).
    pub registry: String,
    /// Eureka app name, Dubbo interface or Dubbo 3 application, or `*` for registry-wide events.
    pub name: String,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// `data` of an event: JSON kept as the exact text it arrived in, or text whose
/// `datacontenttype` says how to read it (Eureka XML; or a JSON payload read from a file, left
/// for its parser to validate). Keeping the raw text means an event is parsed once, by the stage
/// that needs its payload, and forwarded byte for byte.
#[derive(Debug, Clone)]
pub enum EventData {
    /// JSON data, verbatim.
    Json(Box<RawValue>),
    /// Data as text, read according to `datacontenttype`.
    Text(String),
}

impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (EventData::Json(a), EventData::Json(b)) => a.get() == b.get(),
            (EventData::Text(a), EventData::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl EventData {
    /// JSON data from a value (re-serialized).
    pub fn from_value(v: &Value) -> Self {
        EventData::Json(serde_json::value::to_raw_value(v).expect("a JSON value always serializes"))
    }

    /// The data as a JSON value (text data becomes a JSON string).
    pub fn to_value(&self) -> Value {
        match self {
            EventData::Json(raw) => {
                serde_json::from_str(raw.get()).expect("raw JSON was validated on the way in")
            }
            EventData::Text(t) => Value::String(t.clone()),
        }
    }
}

/// One registry change, as every transport carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryEvent {
    /// CloudEvents `id`: unique per `source`.
    pub id: String,
    /// CloudEvents `source`: a URI reference naming the producer (e.g. `zookeeper://10.0.0.5:2181/dubbo`).
    pub source: String,
    /// CloudEvents `type`.
    pub event_type: EventType,
    /// CloudEvents `subject`: the service name (app, interface or Dubbo 3 application).
    pub subject: Option<String>,
    /// CloudEvents `time` (RFC 3339), as given.
    pub time: Option<String>,
    /// CloudEvents `datacontenttype`.
    pub data_content_type: String,
    /// Registry instance (extension `registry`).
    pub registry: String,
    /// Monotonic version from the registry (extension `sourceversion`).
    pub source_version: u64,
    /// The registry's own payload.
    pub data: EventData,
}

/// The structured-mode wire form. Every attribute is optional here so that a missing one is
/// reported by name; unknown extension attributes are ignored, as CloudEvents requires.
#[derive(Deserialize)]
struct Wire {
    specversion: Option<String>,
    id: Option<String>,
    source: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    subject: Option<String>,
    time: Option<String>,
    datacontenttype: Option<String>,
    registry: Option<String>,
    sourceversion: Option<StringOrNumber>,
    data: Option<Box<RawValue>>,
    data_base64: Option<String>,
}

/// `sourceversion` as a string (the CloudEvents form) or, leniently, a JSON number.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

impl RegistryEvent {
    /// The service key: `registry/subject`, or `registry/*` for registry-wide events.
    pub fn service_key(&self) -> ServiceKey {
        ServiceKey {
            registry: self.registry.clone(),
            name: self.service_name().to_owned(),
        }
    }

    /// The name part of the service key: the subject, or `*` for registry-wide events.
    fn service_name(&self) -> &str {
        match (&self.subject, self.event_type.is_registry_wide()) {
            (Some(s), false) => s,
            _ => "*",
        }
    }

    /// Whether this event is about `key`: `service_key() == *key`, without building the key.
    pub fn is_about(&self, key: &ServiceKey) -> bool {
        self.registry == key.registry && self.service_name() == key.name
    }

    /// Whether `datacontenttype` is JSON (`application/json`, `*+json`, `text/json`).
    pub fn is_json(&self) -> bool {
        is_json(&self.data_content_type)
    }

    /// Parses a structured-mode event from bytes, refusing input over `max_bytes`.
    pub fn from_slice(bytes: &[u8], max_bytes: usize) -> Result<Self> {
        if bytes.len() > max_bytes {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: max_bytes,
            });
        }
        // The plain parse is the fast path; only a failure is parsed again to name the field.
        if let Ok(wire) = serde_json::from_slice::<Wire>(bytes) {
            return Self::from_wire(wire);
        }
        // serde would read an array as the struct's fields in order, and name `[0]`.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(Error::invalid(
                "",
                "",
                "a structured-mode CloudEvent must be a JSON object, not an array (a webhook takes several as Content-Type application/cloudevents-batch+json)",
                "an array",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let wire: Wire = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || path == "." {
                return Error::json(&inner);
            }
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            Error::Invalid {
                field: path.clone(),
                position: Position::at(format!("/{path}")),
                message,
                got: String::new(),
            }
        })?;
        Self::from_wire(wire)
    }

    /// Parses a structured-mode event from a JSON value.
    pub fn from_value(value: Value) -> Result<Self> {
        if !value.is_object() {
            return Err(Error::invalid(
                "",
                "",
                "a CloudEvent must be a JSON object",
                type_name(&value),
            ));
        }
        let bytes = serde_json::to_vec(&value).expect("a JSON value always serializes");
        Self::from_slice(&bytes, usize::MAX)
    }

    fn from_wire(wire: Wire) -> Result<Self> {
        let need = |v: Option<String>, field: &str| v.ok_or_else(|| Error::missing(field, ""));
        let specversion = need(wire.specversion, "specversion")?;
        if specversion != SPEC_VERSION {
            return Err(Error::invalid(
                "specversion",
                "/specversion",
                "only CloudEvents 1.0 is supported",
                specversion,
            ));
        }
        let content_type = wire
            .datacontenttype
            .unwrap_or_else(|| JSON_CONTENT_TYPE.to_owned());
        check_content_type(&content_type, "datacontenttype", "/datacontenttype")?;
        let data = match (wire.data, wire.data_base64) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "data_base64",
                    "/data_base64",
                    "`data` and `data_base64` are mutually exclusive",
                    "both",
                ));
            }
            (Some(raw), None) => data_from_raw(raw, &content_type)?,
            (None, Some(b64)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| {
                        Error::invalid(
                            "data_base64",
                            "/data_base64",
                            format!("not base64: {e}"),
                            &b64,
                        )
                    })?;
                data_from_bytes(&bytes, &content_type, "/data_base64")?
            }
            (None, None) => return Err(Error::missing("data", "")),
        };
        let attrs = Attributes {
            id: need(wire.id, "id")?,
            source: need(wire.source, "source")?,
            event_type: need(wire.event_type, "type")?,
            subject: wire.subject,
            time: wire.time,
            registry: wire.registry,
            source_version: wire.sourceversion.map(|v| match v {
                StringOrNumber::String(s) => s,
                StringOrNumber::Number(n) => n.to_string(),
            }),
            content_type,
        };
        attrs.build(data, "/")
    }

    /// Parses a binary-mode event: attributes from headers named `{prefix}{attribute}`
    /// (`ce-` for HTTP, `ce_` for Kafka), `content_type` from the transport, `data` from the body.
    pub fn from_binary(
        header: impl Fn(&str) -> Option<String>,
        prefix: &str,
        content_type: Option<&str>,
        body: &[u8],
        max_bytes: usize,
    ) -> Result<Self> {
        if body.len() > max_bytes {
            return Err(Error::TooLarge {
                size: body.len(),
                limit: max_bytes,
            });
        }
        let get = |attr: &str| header(&format!("{prefix}{attr}"));
        let need = |attr: &str| {
            get(attr).ok_or_else(|| Error::missing(format!("{prefix}{attr}"), "headers"))
        };
        let specversion = need("specversion")?;
        if specversion != SPEC_VERSION {
            return Err(Error::invalid(
                format!("{prefix}specversion"),
                "headers",
                "only CloudEvents 1.0 is supported",
                specversion,
            ));
        }
        let content_type = content_type
            .map(str::to_owned)
            .unwrap_or_else(|| JSON_CONTENT_TYPE.to_owned());
        check_content_type(&content_type, "content-type", "headers")?;
        let data = data_from_bytes(body, &content_type, "body")?;
        let attrs = Attributes {
            id: need("id")?,
            source: need("source")?,
            event_type: need("type")?,
            subject: get("subject"),
            time: get("time"),
            registry: get(EXT_REGISTRY),
            source_version: get(EXT_SOURCE_VERSION),
            content_type,
        };
        attrs.build(data, prefix)
    }

    /// Structured-mode JSON, attributes in a fixed order.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("specversion".into(), SPEC_VERSION.into());
        obj.insert("id".into(), self.id.clone().into());
        obj.insert("source".into(), self.source.clone().into());
        obj.insert("type".into(), self.event_type.as_str().into());
        if let Some(s) = &self.subject {
            obj.insert("subject".into(), s.clone().into());
        }
        if let Some(t) = &self.time {
            obj.insert("time".into(), t.clone().into());
        }
        obj.insert(
            "datacontenttype".into(),
            self.data_content_type.clone().into(),
        );
        obj.insert(EXT_REGISTRY.into(), self.registry.clone().into());
        obj.insert(
            EXT_SOURCE_VERSION.into(),
            self.source_version.to_string().into(),
        );
        let data = match &self.data {
            EventData::Text(t) if self.is_json() => {
                serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone()))
            }
            other => other.to_value(),
        };
        obj.insert("data".into(), data);
        Value::Object(obj)
    }

    /// The binary-mode headers (without prefix) for this event, for producers.
    pub fn binary_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("specversion", SPEC_VERSION.to_owned()),
            ("id", self.id.clone()),
            ("source", self.source.clone()),
            ("type", self.event_type.as_str().to_owned()),
        ];
        if let Some(s) = &self.subject {
            h.push(("subject", s.clone()));
        }
        if let Some(t) = &self.time {
            h.push(("time", t.clone()));
        }
        h.push((EXT_REGISTRY, self.registry.clone()));
        h.push((EXT_SOURCE_VERSION, self.source_version.to_string()));
        h
    }
}

struct Attributes {
    id: String,
    source: String,
    event_type: String,
    subject: Option<String>,
    time: Option<String>,
    registry: Option<String>,
    source_version: Option<String>,
    content_type: String,
}

impl Attributes {
    fn build(self, data: EventData, prefix: &str) -> Result<RegistryEvent> {
        let field = |name: &str| {
            if prefix == "/" {
                name.to_owned()
            } else {
                format!("{prefix}{name}")
            }
        };
        let ptr = |name: &str| {
            if prefix == "/" {
                format!("/{name}")
            } else {
                "headers".to_owned()
            }
        };
        if self.id.is_empty() {
            return Err(Error::invalid(
                field("id"),
                ptr("id"),
                "must not be empty",
                "\"\"",
            ));
        }
        if self.source.is_empty() {
            return Err(Error::invalid(
                field("source"),
                ptr("source"),
                "must not be empty",
                "\"\"",
            ));
        }
        let event_type = EventType::parse(&self.event_type)?;
        let registry = match self.registry {
            Some(r) => {
                if !is_registry_name(&r) {
                    return Err(Error::invalid(
                        field(EXT_REGISTRY),
                        ptr(EXT_REGISTRY),
                        "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)",
                        r,
                    ));
                }
                r
            }
            None => event_type.source().default_registry().to_owned(),
        };
        let sv = self.source_version.ok_or_else(|| {
            Error::missing(
                field(EXT_SOURCE_VERSION),
                if prefix == "/" { "" } else { "headers" },
            )
        })?;
        let source_version = sv.parse::<u64>().map_err(|_| {
            Error::invalid(
                field(EXT_SOURCE_VERSION),
                ptr(EXT_SOURCE_VERSION),
                "must be an unsigned 64-bit decimal integer",
                &sv,
            )
        })?;
        // A version above what the registry can produce would outrank every genuine event of
        // the service from then on, freezing it.
        let (limit, why) = event_type.source().max_source_version();
        if source_version > limit {
            return Err(Error::invalid(
                field(EXT_SOURCE_VERSION),
                ptr(EXT_SOURCE_VERSION),
                format!("must be at most {limit}: {why}"),
                &sv,
            ));
        }
        if let Some(time) = &self.time
            && !is_rfc3339(time)
        {
            return Err(Error::invalid(
                field("time"),
                ptr("time"),
                "must be an RFC 3339 timestamp, e.g. 2026-12-07T10:00:00Z or 2026-12-07T10:00:00.123+01:00",
                time,
            ));
        }
        if !event_type.is_registry_wide() && self.subject.as_deref().is_none_or(str::is_empty) {
            return Err(Error::missing(
                field("subject"),
                if prefix == "/" { "" } else { "headers" },
            ));
        }
        Ok(RegistryEvent {
            id: self.id,
            source: self.source,
            event_type,
            subject: self.subject,
            time: self.time,
            data_content_type: self.content_type,
            registry,
            source_version,
            data,
        })
    }
}

/// Whether `s` is an RFC 3339 `date-time` (section 5.6), as CloudEvents requires of `time`:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with each field in its range.
pub fn is_rfc3339(s: &str) -> bool {
    fn num(b: &[u8], from: usize, len: usize) -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    let b = s.as_bytes();
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        num(b, 0, 4),
        num(b, 5, 2),
        num(b, 8, 2),
        num(b, 11, 2),
        num(b, 14, 2),
        num(b, 17, 2),
    ) else {
        return false;
    };
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut i = 19;
    if sep(i, b".") {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        i += 1 + digits;
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && sep(i + 3, b":")
                && num(b, i + 1, 2).is_some_and(|h| h <= 23)
                && num(b, i + 4, 2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

/// Whether `s` is usable as a registry name (and so as a Kubernetes namespace): a DNS-1123 label.
pub fn is_registry_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `datacontenttype` is XML (`application/xml`, `text/xml`, `*+xml`): Eureka's other
/// format.
pub fn is_xml(content_type: &str) -> bool {
    let base = media_type(content_type);
    base == "application/xml" || base == "text/xml" || base.ends_with("+xml")
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Registry payloads are JSON, or XML from Eureka: any other data content type is refused by
/// name, rather than failing later as a payload of the wrong format.
fn check_content_type(content_type: &str, field: &str, pointer: &str) -> Result<()> {
    if is_json(content_type) || is_xml(content_type) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        pointer,
        "must be JSON (application/json or *+json) or, for Eureka payloads, XML (application/xml or text/xml)",
        content_type,
    ))
}

fn is_json(content_type: &str) -> bool {
    let base = media_type(content_type);
    base == "application/json" || base.ends_with("+json") || base == "text/json"
}

fn data_from_raw(raw: Box<RawValue>, content_type: &str) -> Result<EventData> {
    if !is_json(content_type) && raw.get().starts_with('"') {
        let text: String =
            serde_json::from_str(raw.get()).map_err(|e| Error::json(&e).nested_in("/data"))?;
        return Ok(EventData::Text(text));
    }
    representable(&raw, "/data")?;
    Ok(EventData::Json(raw))
}

/// Checks that JSON data, already valid JSON text, is also a JSON value every later stage can
/// hold. `RawValue` checks syntax only, while `serde_json::Value` (which forwarding, recording
/// and the archive build from an event) refuses numbers beyond a 64-bit float's range such as
/// `1E606976861357`, a fuzz-found input that made `to_json` panic. Walks the text without
/// building anything.
fn representable(raw: &RawValue, pointer: &str) -> Result<()> {
    serde_json::from_str::<Representable>(raw.get())
        .map(|_| ())
        .map_err(|e| {
            Error::invalid(
                "data",
                pointer,
                "JSON numbers must fit a 64-bit float (at most about 1.8e308)",
                e,
            )
        })
}

/// Any JSON value, read the way `serde_json::Value` reads it (numbers range-checked) and
/// dropped.
struct Representable;

impl<'de> Deserialize<'de> for Representable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(Representable)
    }
}

impl<'de> serde::de::Visitor<'de> for Representable {
    type Value = Representable;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self, A::Error> {
        while seq.next_element::<Representable>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self, A::Error> {
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value::<Representable>()?;
        }
        Ok(self)
    }
}

fn data_from_bytes(bytes: &[u8], content_type: &str, pointer: &str) -> Result<EventData> {
    if is_json(content_type) {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Error::invalid("data", pointer, "JSON data must be UTF-8", e))?;
        let raw = serde_json::from_str::<Box<RawValue>>(text)
            .map_err(|e| Error::json(&e).nested_in(pointer))?;
        representable(&raw, pointer)?;
        Ok(EventData::Json(raw))
    } else {
        String::from_utf8(bytes.to_vec())
            .map(EventData::Text)
            .map_err(|e| Error::invalid("data", pointer, "non-JSON data must be UTF-8 text", e))
    }
}

/// A short description of a JSON value's type, for error messages.
pub fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {:?}", crate::error::shorten(s, 60)),
        Value::Array(a) => format!("array of {}", a.len()),
        Value::Object(_) => "object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "specversion": "1.0", "id": "1", "source": "zookeeper://127.0.0.1:2181/dubbo",
            "type": "io.regsync.zookeeper.providers.v1", "subject": "org.example.Demo",
            "registry": "dubbo-prod", "sourceversion": "42",
            "data": {"path": "/dubbo/org.example.Demo/providers", "pzxid": 42, "children": []}
        })
    }

    #[test]
    fn a_structured_event_round_trips() {
        let ev = RegistryEvent::from_value(sample()).unwrap();
        assert_eq!(ev.service_key().to_string(), "dubbo-prod/org.example.Demo");
        assert_eq!(ev.source_version, 42);
        let again = RegistryEvent::from_value(ev.to_json()).unwrap();
        assert_eq!(ev, again);
    }

    /// Found by the cloudevent_structured fuzz target: `1E606976861357` is valid JSON text, so
    /// the raw data was kept, and `to_json` (forwarding, `record`, the archive) then panicked.
    #[test]
    fn a_number_beyond_a_float_in_the_data_is_refused_naming_the_field() {
        let structured = br#"{"specversion": "1.0", "id": "1", "source": "s",
            "type": "io.regsync.zookeeper.providers.v1", "subject": "org.example.Demo",
            "registry": "dubbo-prod", "sourceversion": "42",
            "data": {"path": "/dubbo/org.example.Demo/providers", "pzxid": 1E606976861357, "children": []}}"#;
        let err = RegistryEvent::from_slice(structured, usize::MAX)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data") && err.contains("64-bit float"),
            "{err}"
        );
        assert!(err.contains("number out of range"), "{err}");

        let headers = [
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
            ("ce-type", "io.regsync.zookeeper.providers.v1"),
            ("ce-subject", "org.example.Demo"),
            ("ce-registry", "dubbo-prod"),
            ("ce-sourceversion", "42"),
        ];
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let body =
            br#"{"path": "/dubbo/org.example.Demo/providers", "pzxid": -1e400, "children": []}"#;
        let err = RegistryEvent::from_binary(header, "ce-", Some("application/json"), body, 4096)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data") && err.contains("64-bit float"),
            "{err}"
        );

        // At the edge of the range the event is kept, and forwards unchanged.
        let edge = String::from_utf8_lossy(structured).replace("1E606976861357", "1.7e308");
        let ev = RegistryEvent::from_slice(edge.as_bytes(), usize::MAX).unwrap();
        let json = ev.to_json();
        assert_eq!(
            RegistryEvent::from_value(json.clone()).unwrap().to_json(),
            json
        );
    }

    #[test]
    fn a_source_version_no_registry_can_produce_is_refused_naming_the_field() {
        let zk_limit = MAX_ZOOKEEPER_VERSION.to_string();
        let mut at_limit = sample();
        at_limit["sourceversion"] = zk_limit.as_str().into();
        at_limit["data"]["pzxid"] = MAX_ZOOKEEPER_VERSION.into();
        assert!(RegistryEvent::from_value(at_limit).is_ok());
        let mut above = sample();
        above["sourceversion"] = "9223372036854775808".into();
        let err = RegistryEvent::from_value(above).unwrap_err().to_string();
        assert!(
            err.contains("sourceversion") && err.contains(&zk_limit),
            "{err}"
        );
        let mut eureka = json!({
            "specversion": "1.0", "id": "1", "source": "eureka", "subject": "APP",
            "type": "io.regsync.eureka.application.v1", "sourceversion": "253402300800000",
            "data": {"application": {"name": "APP", "instance": []}}
        });
        let err = RegistryEvent::from_value(eureka.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("9999-12-31"), "{err}");
        eureka["sourceversion"] = "253402300799999".into();
        assert!(RegistryEvent::from_value(eureka).is_ok());
        // Binary mode says it with its header name.
        let headers = |name: &str| match name {
            "ce-specversion" => Some("1.0".to_owned()),
            "ce-id" => Some("1".to_owned()),
            "ce-source" => Some("s".to_owned()),
            "ce-type" => Some("io.regsync.zookeeper.providers.v1".to_owned()),
            "ce-subject" => Some("org.example.Demo".to_owned()),
            "ce-sourceversion" => Some(u64::MAX.to_string()),
            _ => None,
        };
        let err = RegistryEvent::from_binary(headers, "ce-", None, b"{}", 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ce-sourceversion"), "{err}");
    }

    #[test]
    fn time_must_be_rfc3339() {
        for good in [
            "2026-12-07T10:00:00Z",
            "2026-12-07t10:00:00.123456789z",
            "2024-02-29T23:59:60+01:00",
            "2026-12-07T10:00:00.5-05:30",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "",
            "t",
            "22/Nov/2025:08:26:40 +0000",
            "2026-12-07",
            "2026-12-07T10:00:00",
            "2025-02-29T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T10:00:00.Z",
            "2026-12-07T10:00:00+0100",
            "2026-12-07T10:00:00Z ",
            "2026-12-07T10:00:00+24:00",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
        let mut ev = sample();
        ev["time"] = "yesterday".into();
        let err = RegistryEvent::from_value(ev).unwrap_err().to_string();
        assert!(err.contains("time") && err.contains("yesterday"), "{err}");
    }

    #[test]
    fn is_about_agrees_with_the_service_key() {
        let ev = RegistryEvent::from_value(sample()).unwrap();
        assert!(ev.is_about(&ev.service_key()));
        let mut other = sample();
        other["subject"] = "org.example.Other".into();
        let other = RegistryEvent::from_value(other).unwrap();
        assert!(!ev.is_about(&other.service_key()));
        let mut elsewhere = sample();
        elsewhere["registry"] = "dubbo-test".into();
        let elsewhere = RegistryEvent::from_value(elsewhere).unwrap();
        assert!(!ev.is_about(&elsewhere.service_key()));
        // A registry-wide event is about `registry/*`, whatever its subject.
        let wide = serde_json::json!({
            "specversion": "1.0", "id": "2", "source": "http://eureka:8761/eureka",
            "type": "io.regsync.eureka.applications.v1", "subject": "ignored",
            "registry": "eureka", "sourceversion": "7",
            "data": {"applications": {"application": []}}
        });
        let wide_ev = RegistryEvent::from_value(wide).unwrap();
        assert_eq!(wide_ev.service_key().to_string(), "eureka/*");
        assert!(wide_ev.is_about(&wide_ev.service_key()));
        assert!(!wide_ev.is_about(&ev.service_key()));
    }

    #[test]
    fn an_unknown_type_lists_the_known_ones() {
        let mut v = sample();
        v["type"] = "io.regsync.nacos.v1".into();
        let err = RegistryEvent::from_value(v).unwrap_err().to_string();
        assert!(
            err.contains("io.regsync.nacos.v1") && err.contains("io.regsync.eureka.delta.v1"),
            "{err}"
        );
    }

    #[test]
    fn a_wrongly_typed_attribute_names_the_field() {
        let mut v = sample();
        v["id"] = json!(7);
        let err = RegistryEvent::from_value(v).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid field `id` at /id: invalid type: integer `7`, expected a string"
        );
        let mut v = sample();
        v["sourceversion"] = "v3".into();
        let err = RegistryEvent::from_value(v).unwrap_err().to_string();
        assert!(
            err.contains("`sourceversion`") && err.contains("v3"),
            "{err}"
        );
    }

    #[test]
    fn binary_mode_reads_attributes_from_headers() {
        let ev = RegistryEvent::from_value(sample()).unwrap();
        let headers: Vec<(String, String)> = ev
            .binary_headers()
            .into_iter()
            .map(|(k, v)| (format!("ce_{k}"), v))
            .collect();
        let body = serde_json::to_vec(&sample()["data"]).unwrap();
        let lookup = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        let back = RegistryEvent::from_binary(
            lookup,
            "ce_",
            Some("application/json"),
            &body,
            DEFAULT_MAX_PAYLOAD,
        )
        .unwrap();
        assert_eq!(back, ev);
        let missing = RegistryEvent::from_binary(|_| None, "ce-", None, &body, DEFAULT_MAX_PAYLOAD)
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "missing field `ce-specversion` at headers"
        );
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let err = RegistryEvent::from_slice(&vec![b' '; 2048], 1024).unwrap_err();
        assert_eq!(err.kind(), "too_large");
    }
}
