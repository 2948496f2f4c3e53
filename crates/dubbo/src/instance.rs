//! Dubbo 3 application-level registration: the Curator `ServiceInstance` JSON Dubbo writes to
//! `/services/<app>/<ip:port>`, and the interface → application mapping in
//! `<root>/mapping/<interface>`.
//!
//! Dubbo reads an instance as `CuratorFrameworkUtils.build` does: `name` (application),
//! `address`, `port` (an `int`, so it must be present) and `payload.metadata` (a string map).
//! Protocol ports come from the metadata entry `dubbo.endpoints`, a JSON array written into a
//! string (`[{"port":20880,"protocol":"dubbo"}]`).

use std::collections::BTreeMap;

use regsync_model::{Error, Result};
use serde_json::{Map, Value};

/// Metadata key holding the JSON-in-a-string list of `{port, protocol}` endpoints.
pub const ENDPOINTS_KEY: &str = "dubbo.endpoints";
/// The protocol assumed for the instance port when there is no `dubbo.endpoints`.
pub const DEFAULT_PROTOCOL: &str = "dubbo";

/// One application instance registered by Dubbo 3 service discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInstance {
    /// Application name (Curator `name`).
    pub app: String,
    /// Instance id (Curator `id`, usually `ip:port`); the znode name when absent.
    pub id: String,
    /// Address (Curator `address`).
    pub address: String,
    /// Instance port (Curator `port`).
    pub port: u16,
    /// TLS port (Curator `sslPort`), when set.
    pub ssl_port: Option<u16>,
    /// Curator `enabled` (absent in older Curator versions, which means enabled).
    pub enabled: bool,
    /// `(port, protocol)` per protocol the instance serves, from `dubbo.endpoints`; one
    /// `(port, "dubbo")` endpoint when that entry is absent.
    pub endpoints: Vec<(u16, String)>,
    /// Whether `dubbo.endpoints` was present (a Dubbo 3 instance rather than another Curator
    /// service discovery client such as Spring Cloud Zookeeper).
    pub declares_endpoints: bool,
    /// `payload.metadata`, string values as is (numbers and booleans printed, nulls dropped).
    pub metadata: BTreeMap<String, String>,
    /// `registrationTimeUTC`, ms since the epoch, when present.
    pub registration_time_ms: Option<u64>,
}

impl AppInstance {
    /// Parses the data `data` of znode `/services/<app>/<name>`.
    ///
    /// Errors name the field: `name`, `address`, `port`, `payload.metadata`,
    /// `payload.metadata.dubbo.endpoints[0].port`, ...
    pub fn parse(name: &str, data: &str) -> Result<AppInstance> {
        let root: Value = serde_json::from_str(data).map_err(|e| Error::json(&e))?;
        let Value::Object(root) = root else {
            return Err(Error::invalid(
                "instance",
                "",
                format!("expected a Curator ServiceInstance JSON object in znode {name:?}"),
                type_name(&root),
            ));
        };

        let app = required_string(&root, "name")?;
        let address = required_string(&root, "address")?;
        let port = match root.get("port") {
            None | Some(Value::Null) => return Err(Error::missing("port", "")),
            Some(v) => port_value(v, "port", "/port")?,
        };
        let id = match root.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            None | Some(Value::Null) | Some(Value::String(_)) => name.to_owned(),
            Some(other) => {
                return Err(Error::invalid("id", "/id", "expected a string", other));
            }
        };
        let registration_time_ms = match root.get("registrationTimeUTC") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                Error::invalid(
                    "registrationTimeUTC",
                    "/registrationTimeUTC",
                    "expected milliseconds since the epoch",
                    v,
                )
            })?),
        };

        let ssl_port = match root.get("sslPort") {
            None | Some(Value::Null) => None,
            Some(v) => Some(port_value(v, "sslPort", "/sslPort")?),
        };
        let enabled = match root.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(Error::invalid(
                    "enabled",
                    "/enabled",
                    "expected true or false",
                    other,
                ));
            }
        };

        let metadata = metadata(&root)?;
        let (endpoints, declares_endpoints) = match metadata.get(ENDPOINTS_KEY) {
            Some(raw) => (endpoints(raw)?, true),
            None => (vec![(port, DEFAULT_PROTOCOL.to_owned())], false),
        };

        Ok(AppInstance {
            app,
            id,
            address,
            port,
            ssl_port,
            enabled,
            endpoints,
            declares_endpoints,
            metadata,
            registration_time_ms,
        })
    }
}

fn required_string(obj: &Map<String, Value>, field: &str) -> Result<String> {
    let pointer = format!("/{field}");
    match obj.get(field) {
        None | Some(Value::Null) => Err(Error::missing(field, "")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(Error::invalid(field, pointer, "must not be empty", "\"\"")),
        Some(other) => Err(Error::invalid(field, pointer, "expected a string", other)),
    }
}

fn port_value(v: &Value, field: &str, pointer: &str) -> Result<u16> {
    v.as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| Error::invalid(field, pointer, "expected a number in 0..=65535", v))
}

fn metadata(root: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    let payload = match root.get("payload") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(Error::invalid(
                "payload",
                "/payload",
                "expected an object",
                other,
            ));
        }
    };
    let entries = match payload.get("metadata") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Error::invalid(
                "payload.metadata",
                "/payload/metadata",
                "expected an object of strings",
                other,
            ));
        }
    };
    let mut out = BTreeMap::new();
    for (key, value) in entries {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(Error::invalid(
                    format!("payload.metadata.{key}"),
                    format!("/payload/metadata/{}", escape_pointer(key)),
                    "expected a string",
                    value,
                ));
            }
        };
        out.insert(key.clone(), text);
    }
    Ok(out)
}

/// Parses the JSON-in-a-string `dubbo.endpoints` list.
fn endpoints(raw: &str) -> Result<Vec<(u16, String)>> {
    let field = format!("payload.metadata.{ENDPOINTS_KEY}");
    let pointer = format!("/payload/metadata/{ENDPOINTS_KEY}");
    let parsed: Value = serde_json::from_str(raw).map_err(|e| {
        Error::invalid(
            &field,
            &pointer,
            format!("expected a JSON array in a string: {e}"),
            raw,
        )
    })?;
    let Value::Array(items) = parsed else {
        return Err(Error::invalid(
            &field,
            &pointer,
            "expected a JSON array in a string",
            raw,
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Value::Object(item) = item else {
            return Err(Error::invalid(
                &at,
                &pointer,
                "expected an object {port, protocol}",
                item,
            ));
        };
        let port = match item.get("port") {
            None | Some(Value::Null) => return Err(Error::missing(format!("{at}.port"), &pointer)),
            Some(v) => port_value(v, &format!("{at}.port"), &pointer)?,
        };
        let protocol = match item.get("protocol") {
            Some(Value::String(p)) if !p.is_empty() => p.clone(),
            None | Some(Value::Null) => {
                return Err(Error::missing(format!("{at}.protocol"), &pointer));
            }
            Some(other) => {
                return Err(Error::invalid(
                    format!("{at}.protocol"),
                    &pointer,
                    "expected a non-empty string",
                    other,
                ));
            }
        };
        out.push((port, protocol));
    }
    Ok(out)
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads `<root>/mapping/<interface>`: comma-separated application names, trimmed, without
/// empty ones, sorted and without duplicates.
pub fn parse_mapping(content: &str) -> Vec<String> {
    let mut apps: Vec<String> = content
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    apps.sort();
    apps.dedup();
    apps
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"name":"app","address":"10.0.0.1","port":20880}"#;

    #[test]
    fn an_instance_without_endpoints_serves_dubbo_on_its_port() {
        let i = AppInstance::parse("10.0.0.1:20880", MINIMAL).unwrap();
        assert_eq!(i.app, "app");
        assert_eq!(i.id, "10.0.0.1:20880");
        assert_eq!(i.endpoints, vec![(20880, "dubbo".to_owned())]);
        assert!(i.metadata.is_empty());
        assert_eq!(i.registration_time_ms, None);
    }

    #[test]
    fn several_endpoints_are_kept_in_order() {
        let data = r#"{"name":"a","address":"h","port":1,"payload":{"metadata":{"dubbo.endpoints":"[{\"port\":50051,\"protocol\":\"tri\"},{\"port\":20880,\"protocol\":\"dubbo\"}]","n":7,"b":true,"gone":null}}}"#;
        let i = AppInstance::parse("h:1", data).unwrap();
        assert_eq!(
            i.endpoints,
            vec![(50051, "tri".to_owned()), (20880, "dubbo".to_owned())]
        );
        assert_eq!(i.metadata.get("n").map(String::as_str), Some("7"));
        assert_eq!(i.metadata.get("b").map(String::as_str), Some("true"));
        assert!(!i.metadata.contains_key("gone"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"address":"h","port":1}"#, "`name`"),
            (r#"{"name":"a","port":1}"#, "`address`"),
            (r#"{"name":"a","address":"h"}"#, "`port`"),
            (r#"{"name":"a","address":"h","port":70000}"#, "`port`"),
            (r#"{"name":"a","address":"h","port":"1"}"#, "`port`"),
            (
                r#"{"name":"a","address":"h","port":1,"registrationTimeUTC":-1}"#,
                "`registrationTimeUTC`",
            ),
            (
                r#"{"name":"a","address":"h","port":1,"payload":{"metadata":[]}}"#,
                "`payload.metadata`",
            ),
            (
                r#"{"name":"a","address":"h","port":1,"payload":{"metadata":{"x":{}}}}"#,
                "`payload.metadata.x`",
            ),
            (
                r#"{"name":"a","address":"h","port":1,"payload":{"metadata":{"dubbo.endpoints":"[{"}}}"#,
                "`payload.metadata.dubbo.endpoints`",
            ),
            (
                r#"{"name":"a","address":"h","port":1,"payload":{"metadata":{"dubbo.endpoints":"{}"}}}"#,
                "`payload.metadata.dubbo.endpoints`",
            ),
            (
                r#"{"name":"a","address":"h","port":1,"payload":{"metadata":{"dubbo.endpoints":"[{\"port\":99999,\"protocol\":\"dubbo\"}]"}}}"#,
                "`payload.metadata.dubbo.endpoints[0].port`",
            ),
            (
                r#"{"name":"a","address":"h","port":1,"payload":{"metadata":{"dubbo.endpoints":"[{\"port\":1,\"protocol\":\"tri\"},{\"port\":2}]"}}}"#,
                "`payload.metadata.dubbo.endpoints[1].protocol`",
            ),
            (
                r#"{"name":"a","address":"h","port":1,"payload":{"metadata":{"dubbo.endpoints":"[3]"}}}"#,
                "`payload.metadata.dubbo.endpoints[0]`",
            ),
        ];
        for (data, field) in cases {
            let err = AppInstance::parse("h:1", data).unwrap_err();
            assert!(err.to_string().contains(field), "{data}: {err}");
        }
    }

    #[test]
    fn data_that_is_not_a_json_object_is_rejected() {
        assert_eq!(
            AppInstance::parse("h:1", "not json").unwrap_err().kind(),
            "syntax"
        );
        assert_eq!(
            AppInstance::parse("h:1", "[]").unwrap_err().kind(),
            "invalid_field"
        );
        assert_eq!(AppInstance::parse("h:1", "").unwrap_err().kind(), "syntax");
    }

    #[test]
    fn a_mapping_is_trimmed_sorted_and_deduplicated() {
        assert_eq!(
            parse_mapping(" b, a,,b ,\n"),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(parse_mapping("").is_empty());
    }
}
