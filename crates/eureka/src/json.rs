//! A Eureka document as a JSON tree (or an XML tree read into the same shape) to the model.
//!
//! Every function takes the JSON pointer of the value it reads, so an error names exactly where
//! the bad value sits. Nothing here recurses into input-defined depth: the walk follows the fixed
//! Eureka structure (applications, application, instance, a few nested objects).

use std::collections::BTreeMap;

use regsync_model::eureka::{
    ActionType, EurekaApplication, EurekaDocument, EurekaInstance, InstanceStatus,
};
use regsync_model::event::type_name;
use regsync_model::{Error, Result};
use serde_json::{Map, Value};

use crate::merge;

type Object = Map<String, Value>;

const STATUSES: &str = "UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN";
const ACTION_TYPES: &str = "ADDED, MODIFIED, DELETED";
/// Spring Cloud Netflix puts an instance's zone in its metadata under this key.
pub(crate) const SPRING_ZONE_KEY: &str = "zone";
/// AmazonInfo metadata keys.
const AWS_ZONE_KEY: &str = "availability-zone";
const AWS_INSTANCE_ID_KEY: &str = "instance-id";

/// Recognizes the document's shape by its root key and normalizes it.
pub(crate) fn document(v: &Value) -> Result<EurekaDocument> {
    let Value::Object(root) = v else {
        return Err(Error::invalid(
            "",
            "",
            "a Eureka document must be a JSON object",
            type_name(v),
        ));
    };
    if let Some(apps) = root.get("applications") {
        return applications(apps, "/applications");
    }
    if let Some(app) = root.get("application") {
        return application(app, "/application").map(EurekaDocument::Application);
    }
    if let Some(inst) = root.get("instance") {
        return instance(inst, "/instance", None).map(EurekaDocument::Instance);
    }
    if root.contains_key("app")
        && (root.contains_key("instanceId") || root.contains_key("hostName"))
    {
        return instance(v, "", None).map(EurekaDocument::Instance);
    }
    let keys: Vec<&str> = root.keys().take(8).map(String::as_str).collect();
    Err(Error::invalid(
        "",
        "",
        "expected `applications`, `application`, `instance` or a bare InstanceInfo \
         (`app` with `instanceId` or `hostName`)",
        format!("object with keys [{}]", keys.join(", ")),
    ))
}

fn applications(v: &Value, ptr: &str) -> Result<EurekaDocument> {
    let obj = object(v, "applications", ptr)?;
    let versions_delta = match present(obj, "versions__delta") {
        None => None,
        Some(d) => Some(integer_i64(
            d,
            "versions__delta",
            &child(ptr, "versions__delta"),
        )?),
    };
    let apps_hashcode = optional_string(obj, "apps__hashcode", ptr)?;
    let mut apps = Vec::new();
    for (item, item_ptr) in one_or_many(obj, "application", ptr)? {
        apps.push(application(item, &item_ptr)?);
    }
    Ok(EurekaDocument::Applications {
        versions_delta,
        apps_hashcode,
        applications: merge::applications(apps),
    })
}

fn application(v: &Value, ptr: &str) -> Result<EurekaApplication> {
    let obj = object(v, "application", ptr)?;
    let name = optional_string(obj, "name", ptr)?.ok_or_else(|| Error::missing("name", ptr))?;
    let mut instances = Vec::new();
    for (item, item_ptr) in one_or_many(obj, "instance", ptr)? {
        instances.push(instance(item, &item_ptr, Some(&name))?);
    }
    Ok(EurekaApplication {
        name,
        instances: merge::instances(instances),
    })
}

/// One InstanceInfo. `app_name` is the enclosing application's name, used when the instance
/// itself names none.
fn instance(v: &Value, ptr: &str, app_name: Option<&str>) -> Result<EurekaInstance> {
    let obj = object(v, "instance", ptr)?;
    let app = match (optional_string(obj, "app", ptr)?, app_name) {
        (Some(app), _) => app,
        (None, Some(name)) => name.to_owned(),
        (None, None) => return Err(Error::missing("app", ptr)),
    };
    let host_name = optional_string(obj, "hostName", ptr)?.unwrap_or_default();
    let ip_addr = optional_string(obj, "ipAddr", ptr)?.unwrap_or_default();
    let status = parse_status(obj, "status", ptr)?.ok_or_else(|| Error::missing("status", ptr))?;
    // Jackson writes `overriddenStatus`; XStream and servers before the fix of Netflix/eureka
    // #1051 write `overriddenstatus`. Prefer the current spelling when both are present.
    let overridden_status = match parse_status(obj, "overriddenStatus", ptr)? {
        Some(s) => s,
        None => parse_status(obj, "overriddenstatus", ptr)?.unwrap_or(InstanceStatus::Unknown),
    };
    // Eureka's defaults when `@enabled` is absent: the plain port on, the secure port off.
    let port = parse_port(obj, "port", ptr, true)?;
    let secure_port = parse_port(obj, "securePort", ptr, false)?;
    let metadata = parse_metadata(present(obj, "metadata"), &child(ptr, "metadata"))?;

    let data_center = optional_object(obj, "dataCenterInfo", ptr)?;
    let dc_ptr = child(ptr, "dataCenterInfo");
    let dc_metadata = match data_center {
        Some(dc) => optional_object(dc, "metadata", &dc_ptr)?,
        None => None,
    };
    let availability_zone = dc_metadata
        .and_then(|m| m.get(AWS_ZONE_KEY))
        .and_then(scalar_string)
        .filter(|z| !z.is_empty())
        .or_else(|| {
            metadata
                .get(SPRING_ZONE_KEY)
                .filter(|z| !z.is_empty())
                .cloned()
        });

    // InstanceInfo.getId(): `instanceId`, else the AmazonInfo `instance-id`, else `hostName`.
    let is_amazon = data_center.is_some_and(|dc| {
        dc.get("@class")
            .and_then(Value::as_str)
            .is_some_and(|c| c.ends_with("AmazonInfo"))
            || dc.get("name").and_then(Value::as_str) == Some("Amazon")
    });
    let amazon_id = dc_metadata
        .filter(|_| is_amazon)
        .and_then(|m| m.get(AWS_INSTANCE_ID_KEY))
        .and_then(scalar_string);
    let instance_id = optional_string(obj, "instanceId", ptr)?
        .filter(|id| !id.is_empty())
        .or(amazon_id.filter(|id| !id.is_empty()))
        .or_else(|| Some(host_name.clone()).filter(|h| !h.is_empty()))
        .ok_or_else(|| Error::missing("instanceId", ptr))?;

    let action_type = match present(obj, "actionType") {
        None => None,
        Some(a) => Some(parse_action_type(a, &child(ptr, "actionType"))?),
    };
    let lease = optional_object(obj, "leaseInfo", ptr)?;
    let registration_timestamp = match lease {
        Some(l) => timestamp(l, "registrationTimestamp", &child(ptr, "leaseInfo"))?,
        None => 0,
    };
    Ok(EurekaInstance {
        app,
        instance_id,
        host_name,
        ip_addr,
        status,
        overridden_status,
        port,
        secure_port,
        metadata,
        availability_zone,
        action_type,
        last_updated_timestamp: timestamp(obj, "lastUpdatedTimestamp", ptr)?,
        last_dirty_timestamp: timestamp(obj, "lastDirtyTimestamp", ptr)?,
        registration_timestamp,
    })
}

/// `port`/`securePort`: `{"$": 8080, "@enabled": "true"}`, `$` a number or a numeric string,
/// `@enabled` a boolean or `"true"`/`"false"`; a bare number or numeric string (XML
/// `<port>8080</port>`) counts as `{"$": ..}`. Without `@enabled` the port is enabled as
/// Eureka's XML codec does it: `port` unless `"false"`, `securePort` only if `"true"`.
/// A disabled port is `None` whatever its number; an enabled one must be in 1..=65535.
fn parse_port(obj: &Object, key: &str, ptr: &str, enabled_by_default: bool) -> Result<Option<u16>> {
    let port_ptr = child(ptr, key);
    let Some(v) = present(obj, key) else {
        return Ok(None);
    };
    let (enabled, raw, number_ptr) = match v {
        Value::Object(p) => {
            let enabled = match present(p, "@enabled") {
                None => enabled_by_default,
                Some(e) => boolean(e, key, &child(&port_ptr, "@enabled"))?,
            };
            let raw = present(p, "$").ok_or_else(|| Error::missing("$", &port_ptr))?;
            (enabled, raw, child(&port_ptr, "$"))
        }
        // XML `<port>8080</port>` without the attribute reads as a bare value.
        Value::Number(_) | Value::String(_) => (enabled_by_default, v, port_ptr),
        _ => {
            return Err(Error::invalid(
                key,
                &port_ptr,
                r#"must be an object like {"$": 8080, "@enabled": "true"}"#,
                type_name(v),
            ));
        }
    };
    let number = match raw {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| Error::invalid(key, &number_ptr, "must be a port number", type_name(raw)))?;
    if !enabled {
        return Ok(None);
    }
    match u16::try_from(number) {
        Ok(n) if n != 0 => Ok(Some(n)),
        _ => Err(Error::invalid(
            key,
            &number_ptr,
            "must be a port number in 1..=65535",
            type_name(raw),
        )),
    }
}

fn boolean(v: &Value, field: &str, ptr: &str) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(Error::invalid(
            field,
            ptr,
            "must be true or false",
            type_name(v),
        )),
    }
}

/// An `InstanceStatus`. Eureka matches the name ignoring case (`InstanceStatus.toEnum`), so do
/// we; unlike Eureka we refuse an unknown name instead of reading it as `UNKNOWN`.
fn parse_status(obj: &Object, key: &str, ptr: &str) -> Result<Option<InstanceStatus>> {
    let Some(v) = present(obj, key) else {
        return Ok(None);
    };
    v.as_str()
        .and_then(|s| InstanceStatus::parse(&s.trim().to_ascii_uppercase()))
        .map(Some)
        .ok_or_else(|| {
            Error::invalid(
                key,
                child(ptr, key),
                format!("must be one of {STATUSES}"),
                type_name(v),
            )
        })
}

fn parse_action_type(v: &Value, ptr: &str) -> Result<ActionType> {
    v.as_str()
        .and_then(|s| ActionType::parse(&s.trim().to_ascii_uppercase()))
        .ok_or_else(|| {
            Error::invalid(
                "actionType",
                ptr,
                format!("must be one of {ACTION_TYPES}"),
                type_name(v),
            )
        })
}

/// A millisecond timestamp, a JSON number or a numeric string (Jackson writes `@Auto` fields
/// as strings); 0 when absent.
fn timestamp(obj: &Object, key: &str, ptr: &str) -> Result<u64> {
    let Some(v) = present(obj, key) else {
        return Ok(0);
    };
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        Error::invalid(
            key,
            child(ptr, key),
            "must be a non-negative integer (milliseconds since the epoch)",
            type_name(v),
        )
    })
}

fn integer_i64(v: &Value, field: &str, ptr: &str) -> Result<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| Error::invalid(field, ptr, "must be an integer", type_name(v)))
}

/// `metadata` as string pairs: the `@class` key Jackson and XStream add is dropped, numbers and
/// booleans are written as text, and values that are not scalars (null, arrays, objects) are
/// skipped. An empty XML element (`<metadata/>`) reads as an empty string: no metadata.
fn parse_metadata(v: Option<&Value>, ptr: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match v {
        None => {}
        Some(Value::String(s)) if s.trim().is_empty() => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if k == "@class" {
                    continue;
                }
                if let Some(s) = scalar_string(v) {
                    out.insert(k.clone(), s);
                }
            }
        }
        Some(other) => {
            return Err(Error::invalid(
                "metadata",
                ptr,
                "must be an object of string values",
                type_name(other),
            ));
        }
    }
    Ok(out)
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value under `key` unless it is absent or `null`.
fn present<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn object<'a>(v: &'a Value, field: &str, ptr: &str) -> Result<&'a Object> {
    v.as_object()
        .ok_or_else(|| Error::invalid(field, ptr, "must be an object", type_name(v)))
}

/// An optional nested object; an empty string (an empty XML element) counts as absent.
fn optional_object<'a>(obj: &'a Object, key: &str, ptr: &str) -> Result<Option<&'a Object>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(Error::invalid(
            key,
            child(ptr, key),
            "must be an object",
            type_name(other),
        )),
    }
}

fn optional_string(obj: &Object, key: &str, ptr: &str) -> Result<Option<String>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(
            key,
            child(ptr, key),
            "must be a string",
            type_name(other),
        )),
    }
}

/// The values under `key`, each with its pointer: none when absent, one when the old codecs
/// wrote a single object instead of a one-element array, else every element.
fn one_or_many<'a>(obj: &'a Object, key: &str, ptr: &str) -> Result<Vec<(&'a Value, String)>> {
    let key_ptr = child(ptr, key);
    match present(obj, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, item)| (item, format!("{key_ptr}/{i}")))
            .collect()),
        Some(one @ Value::Object(_)) => Ok(vec![(one, key_ptr)]),
        Some(other) => Err(Error::invalid(
            key,
            key_ptr,
            "must be an object or an array of objects",
            type_name(other),
        )),
    }
}

/// `ptr` extended by one key, escaped as RFC 6901 requires.
fn child(ptr: &str, key: &str) -> String {
    let mut out = String::with_capacity(ptr.len() + key.len() + 1);
    out.push_str(ptr);
    out.push('/');
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(v: Value) -> Result<EurekaInstance> {
        match document(&v)? {
            EurekaDocument::Instance(i) => Ok(i),
            other => panic!("not an instance: {other:?}"),
        }
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        assert_eq!(child("/a", "b/c~d"), "/a/b~1c~0d");
    }

    #[test]
    fn an_amazon_instance_without_instance_id_is_named_by_its_ec2_id() {
        let i = one(json!({"instance": {
            "app": "A", "hostName": "h", "status": "UP",
            "dataCenterInfo": {"@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon",
                "metadata": {"instance-id": "i-123", "availability-zone": "eu-west-1a"}}
        }}))
        .unwrap();
        assert_eq!(i.instance_id, "i-123");
        assert_eq!(i.availability_zone.as_deref(), Some("eu-west-1a"));
    }

    #[test]
    fn a_non_amazon_instance_without_instance_id_is_named_by_its_host_name() {
        let i = one(json!({"instance": {
            "app": "A", "hostName": "h", "status": "UP",
            "dataCenterInfo": {"name": "MyOwn", "metadata": {"instance-id": "ignored"}}
        }}))
        .unwrap();
        assert_eq!(i.instance_id, "h");
    }

    #[test]
    fn an_instance_with_neither_id_nor_host_name_is_refused() {
        let err =
            one(json!({"instance": {"app": "A", "hostName": "", "status": "UP"}})).unwrap_err();
        assert_eq!(err.to_string(), "missing field `instanceId` at /instance");
    }

    #[test]
    fn the_spring_cloud_zone_is_used_when_the_data_center_has_none() {
        let i = one(json!({"instance": {
            "app": "A", "instanceId": "x", "status": "UP", "metadata": {"zone": "z1"}
        }}))
        .unwrap();
        assert_eq!(i.availability_zone.as_deref(), Some("z1"));
        assert_eq!(i.metadata.get("zone").map(String::as_str), Some("z1"));
    }

    #[test]
    fn status_names_are_matched_without_regard_to_case() {
        let i =
            one(json!({"instance": {"app": "A", "instanceId": "x", "status": "out_of_service"}}))
                .unwrap();
        assert_eq!(i.status, InstanceStatus::OutOfService);
    }

    #[test]
    fn absent_enabled_flags_follow_eurekas_defaults() {
        let i = one(json!({"instance": {
            "app": "A", "instanceId": "x", "status": "UP",
            "port": {"$": 80}, "securePort": {"$": 443}
        }}))
        .unwrap();
        assert_eq!((i.port, i.secure_port), (Some(80), None));
    }

    #[test]
    fn a_disabled_port_is_not_range_checked_but_is_type_checked() {
        let ok = one(
            json!({"instance": {"app": "A", "instanceId": "x", "status": "UP",
            "securePort": {"$": 0, "@enabled": "false"}}}),
        )
        .unwrap();
        assert_eq!(ok.secure_port, None);
        let err = one(
            json!({"instance": {"app": "A", "instanceId": "x", "status": "UP",
            "securePort": {"$": "x", "@enabled": false}}}),
        )
        .unwrap_err();
        assert_eq!(err.kind(), "invalid_field");
    }

    #[test]
    fn a_port_without_a_number_names_the_missing_dollar() {
        let err = one(
            json!({"instance": {"app": "A", "instanceId": "x", "status": "UP",
            "port": {"@enabled": "true"}}}),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "missing field `$` at /instance/port");
    }

    #[test]
    fn metadata_that_is_not_an_object_is_refused() {
        let err = one(
            json!({"instance": {"app": "A", "instanceId": "x", "status": "UP",
            "metadata": ["a"]}}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid field `metadata` at /instance/metadata: must be an object of string values \
             (got array of 1)"
        );
    }

    #[test]
    fn an_unrecognized_root_lists_its_keys() {
        let err = document(&json!({"foo": 1, "bar": 2}))
            .unwrap_err()
            .to_string();
        // In document order when serde_json preserves it (`preserve_order`), else sorted.
        assert!(
            err.contains("[foo, bar]") || err.contains("[bar, foo]"),
            "{err}"
        );
        let err = document(&json!([1])).unwrap_err().to_string();
        assert!(err.contains("must be a JSON object"), "{err}");
    }

    #[test]
    fn an_instance_inside_an_application_may_omit_its_app() {
        let doc = document(&json!({"application": {"name": "APP",
            "instance": {"instanceId": "x", "status": "UP"}}}))
        .unwrap();
        let EurekaDocument::Application(app) = doc else {
            panic!("{doc:?}")
        };
        assert_eq!(app.instances.first().map(|i| i.app.as_str()), Some("APP"));
    }
}
