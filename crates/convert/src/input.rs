//! Recognizing what a file holds: CloudEvents (one, a JSON array, or JSON Lines), or a raw
//! registry payload (Eureka JSON or XML, Dubbo provider URLs one per line, a Dubbo 3 instance
//! JSON), turned into events.
//!
//! Raw payloads carry no envelope, so regsync fills it in: the registry is the source's default
//! (`eureka`, `dubbo`) unless given, and the source version comes from the payload where it has
//! one (Eureka `lastUpdatedTimestamp`) or from the input's position otherwise, so a later file
//! is a newer observation.

use std::collections::BTreeMap;

use regsync_model::eureka::EurekaDocument;
use regsync_model::event::{EventData, JSON_CONTENT_TYPE};

/// Content type of Eureka XML payloads.
pub const XML_CONTENT_TYPE: &str = "application/xml";
use regsync_model::{Error, EventType, RegistryEvent, Result};
use serde_json::{Value, json};

/// How to fill in the envelope of raw payloads.
#[derive(Debug, Clone, Default)]
pub struct RawDefaults {
    /// Registry name for raw Eureka payloads (default `eureka`).
    pub eureka_registry: Option<String>,
    /// Registry name for raw Dubbo payloads (default `dubbo`).
    pub dubbo_registry: Option<String>,
    /// ZooKeeper root of raw Dubbo URLs (default `/dubbo`).
    pub dubbo_root: Option<String>,
}

/// Reads every event in `bytes`, which came from input `name` at position `position` (1-based).
pub fn events_from_bytes(
    name: &str,
    position: u64,
    bytes: &[u8],
    defaults: &RawDefaults,
    max_bytes: usize,
) -> Result<Vec<RegistryEvent>> {
    if bytes.len() > max_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::invalid("", "", "input must be UTF-8 text", e))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        // Parsed here to tell the document kind and to fail early with a position.
        let ty = match regsync_eureka::parse_xml(text)? {
            EurekaDocument::Instance(_) => EventType::EurekaInstance,
            EurekaDocument::Application(_) => EventType::EurekaApplication,
            EurekaDocument::Applications { .. } => EventType::EurekaApplications,
        };
        let data = (XML_CONTENT_TYPE, EventData::Text(text.to_owned()));
        return Ok(vec![eureka_event(name, position, ty, None, data, defaults)]);
    }
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return dubbo_lines(name, position, text, defaults);
    }
    // Raw Eureka documents are large: recognize them by their root key and leave the one real
    // parse (which validates too) to the fold. Everything else is small enough to look at as a
    // value.
    let eureka_type = match first_key(trimmed) {
        Some("applications") => Some(EventType::EurekaApplications),
        Some("application") => Some(EventType::EurekaApplication),
        Some("instance") => Some(EventType::EurekaInstance),
        _ => None,
    };
    if let Some(ty) = eureka_type {
        let data = (JSON_CONTENT_TYPE, EventData::Text(text.to_owned()));
        return Ok(vec![eureka_event(name, position, ty, None, data, defaults)]);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => from_json(name, position, v, defaults),
        // Several JSON objects, one per line: JSON Lines (only if the first line is one).
        Err(e) if e.line() > 1 && first_line_is_json(text) => json_lines(text),
        Err(e) => Err(Error::json(&e)),
    }
}

/// The first key of a JSON object, when it has no escapes (enough to recognize a root key).
fn first_key(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('{')?.trim_start().strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    rest[end..].starts_with('"').then(|| &rest[..end])
}

/// Places an error on line `i` (0-based) of a line-oriented input.
fn on_line(e: Error, i: usize) -> Error {
    match e {
        Error::Syntax {
            format,
            mut position,
            message,
        } => {
            position.line = u32::try_from(i + 1).ok();
            Error::Syntax {
                format,
                position,
                message,
            }
        }
        other => other.nested_in(&format!("line {}: ", i + 1)),
    }
}

fn first_line_is_json(text: &str) -> bool {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str::<Value>(first).is_ok_and(|v| v.is_object())
}

fn json_lines(text: &str) -> Result<Vec<RegistryEvent>> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |e: Error| on_line(e, i);
        out.push(RegistryEvent::from_slice(line.as_bytes(), usize::MAX).map_err(at)?);
    }
    Ok(out)
}

fn from_json(
    name: &str,
    position: u64,
    v: Value,
    defaults: &RawDefaults,
) -> Result<Vec<RegistryEvent>> {
    match &v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                RegistryEvent::from_value(item.clone()).map_err(|e| e.nested_in(&format!("/{i}")))
            })
            .collect(),
        Value::Object(o) if o.contains_key("specversion") => {
            Ok(vec![RegistryEvent::from_value(v)?])
        }
        Value::Object(o) if o.contains_key("payload") && o.contains_key("address") => {
            dubbo3_instance(name, position, o, defaults)
        }
        Value::Object(o) => {
            // A bare InstanceInfo: check it now so the error names this input.
            let doc = regsync_eureka::parse_json_value(&v)?;
            let subject = match doc {
                EurekaDocument::Instance(i) => Some(i.app),
                _ => o.get("app").and_then(Value::as_str).map(str::to_owned),
            };
            let data = (JSON_CONTENT_TYPE, EventData::from_value(&v));
            Ok(vec![eureka_event(
                name,
                position,
                EventType::EurekaInstance,
                subject,
                data,
                defaults,
            )])
        }
        other => Err(Error::invalid(
            "",
            "",
            "expected a CloudEvent, an array of them, or a registry payload",
            regsync_model::event::type_name(other),
        )),
    }
}

/// Where a raw payload came from: the input's name and the payload's index within it.
type Origin<'a> = (&'a str, usize);

fn envelope(
    (name, n): Origin<'_>,
    ty: EventType,
    subject: Option<String>,
    registry: String,
    version: u64,
    (content_type, data): (&str, EventData),
) -> RegistryEvent {
    RegistryEvent {
        id: format!("{name}#{n}"),
        source: format!("file:{name}"),
        event_type: ty,
        subject,
        time: None,
        data_content_type: content_type.to_owned(),
        registry,
        source_version: version,
        data,
    }
}

fn eureka_event(
    name: &str,
    position: u64,
    ty: EventType,
    subject: Option<String>,
    content: (&str, EventData),
    d: &RawDefaults,
) -> RegistryEvent {
    // The fold raises a whole document's version to its newest lastUpdatedTimestamp.
    let registry = d.eureka_registry.clone().unwrap_or_else(|| "eureka".into());
    envelope((name, 0), ty, subject, registry, position, content)
}

fn dubbo3_instance(
    name: &str,
    position: u64,
    o: &serde_json::Map<String, Value>,
    d: &RawDefaults,
) -> Result<Vec<RegistryEvent>> {
    let data = Value::Object(o.clone()).to_string();
    let child = match (o.get("address"), o.get("port")) {
        (Some(Value::String(a)), Some(Value::Number(p))) => format!("{a}:{p}"),
        _ => o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("instance")
            .to_owned(),
    };
    let inst = regsync_dubbo::AppInstance::parse(&child, &data)?;
    let payload = json!({"path": format!("/services/{}", inst.app), "pzxid": position, "children": [{"name": child, "data": o}]});
    let registry = d.dubbo_registry.clone().unwrap_or_else(|| "dubbo".into());
    Ok(vec![envelope(
        (name, 0),
        EventType::ZookeeperInstances,
        Some(inst.app),
        registry,
        position,
        (JSON_CONTENT_TYPE, EventData::from_value(&payload)),
    )])
}

/// Dubbo URLs, one per line, either as znode names (URL-encoded) or decoded.
fn dubbo_lines(
    name: &str,
    position: u64,
    text: &str,
    d: &RawDefaults,
) -> Result<Vec<RegistryEvent>> {
    let root = d.dubbo_root.clone().unwrap_or_else(|| "/dubbo".into());
    let registry = d.dubbo_registry.clone().unwrap_or_else(|| "dubbo".into());
    // (interface, category) → znode names
    let mut groups: BTreeMap<(String, &'static str), Vec<String>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at_line = |e: Error| on_line(e, i);
        let url = if line.contains("://") {
            regsync_dubbo::DubboUrl::parse(line).map_err(at_line)?
        } else {
            regsync_dubbo::DubboUrl::from_znode(line).map_err(at_line)?
        };
        let category = match url.protocol.as_str() {
            "override" => "configurators",
            "consumer" | "route" | "empty" => continue,
            _ => "providers",
        };
        groups
            .entry((url.interface().to_owned(), category))
            .or_default()
            .push(url.to_znode());
    }
    if groups.is_empty() {
        return Err(Error::invalid(
            "",
            "",
            "no CloudEvent, Eureka payload or Dubbo URL found",
            regsync_model::error::shorten(text, 60),
        ));
    }
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(n, ((interface, category), children))| {
            let ty = if category == "providers" { EventType::ZookeeperProviders } else { EventType::ZookeeperConfigurators };
            let data = json!({"path": format!("{root}/{interface}/{category}"), "pzxid": position, "children": children});
            envelope(
                (name, n),
                ty,
                Some(interface),
                registry.clone(),
                position,
                (JSON_CONTENT_TYPE, EventData::from_value(&data)),
            )
        })
        .collect())
}
