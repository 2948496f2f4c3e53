//! Building the CloudEvents a bridge publishes, and their wire form.

use std::time::{SystemTime, UNIX_EPOCH};

use regsync_model::event::{EventData, JSON_CONTENT_TYPE};
use regsync_model::{EventType, RegistryEvent};
use serde_json::Value;

/// One event ready for a sink: the service key (Kafka key), the event, and its structured-mode
/// JSON (Kafka value, webhook body, file line).
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// `registry/subject`: one service's events stay in order on one partition.
    pub key: String,
    /// The event.
    pub event: RegistryEvent,
    /// `event.to_json()` as bytes, without a trailing newline.
    pub json: Vec<u8>,
}

impl Outgoing {
    /// Serializes `event` once for every sink.
    pub fn new(event: RegistryEvent) -> Self {
        let json =
            serde_json::to_vec(&event.to_json()).expect("a JSON value always serializes to bytes");
        Outgoing {
            key: event.service_key().to_string(),
            event,
            json,
        }
    }
}

/// What a bridge knows about one piece of registry state when it publishes it.
pub struct Draft<'a> {
    /// CloudEvents `source` of the bridge.
    pub source: &'a str,
    /// Registry instance name.
    pub registry: &'a str,
    /// Event type.
    pub event_type: EventType,
    /// Service name.
    pub subject: &'a str,
    /// Registry version (`sourceversion`).
    pub version: u64,
    /// Distinguishes two events of one subject and version (e.g. a newer child mzxid).
    pub id_suffix: Option<u64>,
    /// The registry's payload.
    pub data: &'a Value,
}

impl Draft<'_> {
    /// The event, stamped now. Its `id` is `<type short name>:<subject>@<version>[.<suffix>]`:
    /// the same state read twice gives the same id, so consumers can drop the repeat.
    pub fn build(&self) -> RegistryEvent {
        let short = self
            .event_type
            .as_str()
            .trim_start_matches("io.regsync.")
            .trim_end_matches(".v1");
        let id = match self.id_suffix {
            Some(suffix) => format!("{short}:{}@{}.{suffix}", self.subject, self.version),
            None => format!("{short}:{}@{}", self.subject, self.version),
        };
        RegistryEvent {
            id,
            source: self.source.to_owned(),
            event_type: self.event_type,
            subject: Some(self.subject.to_owned()),
            time: Some(rfc3339(now_ms())),
            data_content_type: JSON_CONTENT_TYPE.to_owned(),
            registry: self.registry.to_owned(),
            source_version: self.version,
            data: EventData::from_value(self.data),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `ms` as RFC 3339 UTC with milliseconds (`2026-11-23T10:00:00.123Z`).
pub fn rfc3339(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_repeat_for_the_same_state_and_the_event_round_trips() {
        let data = serde_json::json!({"path": "/dubbo/a.B/providers", "pzxid": 7, "children": []});
        let draft = Draft {
            source: "zookeeper://127.0.0.1:2181/dubbo",
            registry: "dubbo",
            event_type: EventType::ZookeeperProviders,
            subject: "a.B",
            version: 7,
            id_suffix: None,
            data: &data,
        };
        let one = Outgoing::new(draft.build());
        assert_eq!(one.event.id, "zookeeper.providers:a.B@7");
        assert_eq!(one.key, "dubbo/a.B");
        let back = RegistryEvent::from_slice(&one.json, 1 << 20).unwrap();
        assert_eq!(back.source_version, 7);
        assert_eq!(back.data.to_value(), data);
        assert!(back.time.unwrap().ends_with('Z'));
    }

    #[test]
    fn rfc3339_has_milliseconds() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
