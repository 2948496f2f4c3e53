//! One Kafka record as every Kafka adapter sees it (Lambda's `KafkaEvent`, rdkafka), decoded
//! into a [`RegistryEvent`]: a structured-mode CloudEvent in the value, or binary mode with the
//! attributes in `ce_` headers and the data in the value.

use regsync_model::RegistryEvent;
use regsync_model::error::Error as ModelError;
use serde::{Deserialize, Serialize};

/// Prefix of CloudEvents attribute headers in Kafka binary mode.
pub const CE_HEADER_PREFIX: &str = "ce_";
/// The header whose presence marks a binary-mode record.
const CE_SPECVERSION_HEADER: &str = "ce_specversion";
/// Kafka header carrying the data's content type in binary mode.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// Why a record or event can never apply. `field` names the wire field (or header) at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// A bounded label: `syntax`, `missing_field`, `invalid_field`, `unknown_type`,
    /// `too_large`, `empty_value`, `header_encoding`, `base64`.
    pub kind: String,
    /// The field or header at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The whole reason, naming the field and the input.
    pub reason: String,
}

impl Rejection {
    /// A rejection that is not a model error.
    pub fn new(kind: &str, field: Option<&str>, reason: impl Into<String>) -> Self {
        Rejection {
            kind: kind.to_owned(),
            field: field.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

impl From<&ModelError> for Rejection {
    fn from(e: &ModelError) -> Self {
        Rejection {
            kind: e.kind().to_owned(),
            field: e.field().map(str::to_owned),
            reason: e.to_string(),
        }
    }
}

impl From<ModelError> for Rejection {
    fn from(e: ModelError) -> Self {
        Rejection::from(&e)
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A Kafka record, raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Record timestamp in milliseconds, when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order (a key may repeat).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl KafkaRecord {
    /// `topic/partition@offset`, for logs and reasons.
    pub fn position(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }

    /// The last value of header `name` (exact match, as Kafka header keys are case-sensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Decodes the record into an event; the rejection names what is wrong and where.
    pub fn decode(&self, max_bytes: usize) -> Result<RegistryEvent, Rejection> {
        // Formatted only for a rejection: most records decode.
        let at = || self.position();
        let value = self.value.as_deref().ok_or_else(|| {
            Rejection::new(
                "empty_value",
                Some("value"),
                format!(
                    "record {} has no value (a tombstone); regsync events always carry one",
                    at()
                ),
            )
        })?;
        let binary = self.header(CE_SPECVERSION_HEADER).is_some();
        let decoded = if binary {
            // Attribute headers must be text; say which one is not.
            for (k, v) in &self.headers {
                if (k.starts_with(CE_HEADER_PREFIX) || k == CONTENT_TYPE_HEADER)
                    && std::str::from_utf8(v).is_err()
                {
                    return Err(Rejection::new(
                        "header_encoding",
                        Some(k),
                        format!("header `{k}` of record {} is not UTF-8 text", at()),
                    ));
                }
            }
            let text = |name: &str| {
                self.header(name)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .map(str::to_owned)
            };
            let content_type = text(CONTENT_TYPE_HEADER);
            RegistryEvent::from_binary(
                text,
                CE_HEADER_PREFIX,
                content_type.as_deref(),
                value,
                max_bytes,
            )
        } else {
            RegistryEvent::from_slice(value, max_bytes)
        };
        decoded.map_err(|e| {
            let mut r = Rejection::from(&e);
            r.reason = format!("record {}: {}", at(), r.reason);
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: Option<&[u8]>, headers: Vec<(&str, &[u8])>) -> KafkaRecord {
        KafkaRecord {
            topic: "registry-events".into(),
            partition: 2,
            offset: 41,
            timestamp_ms: None,
            key: None,
            value: value.map(<[u8]>::to_vec),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn the_binary_mode_marker_is_the_prefixed_specversion() {
        assert_eq!(
            CE_SPECVERSION_HEADER,
            format!("{CE_HEADER_PREFIX}specversion")
        );
    }

    #[test]
    fn a_tombstone_is_rejected_naming_the_value_and_the_position() {
        let r = record(None, vec![]).decode(1024).unwrap_err();
        assert_eq!(r.kind, "empty_value");
        assert_eq!(r.field.as_deref(), Some("value"));
        assert!(r.reason.contains("registry-events/2@41"), "{}", r.reason);
    }

    #[test]
    fn binary_mode_without_a_required_attribute_names_the_header() {
        let r = record(Some(b"{}"), vec![("ce_specversion", b"1.0")])
            .decode(1024)
            .unwrap_err();
        assert_eq!(r.kind, "missing_field");
        assert!(r.field.as_deref().unwrap().starts_with("ce_"), "{r:?}");
    }

    #[test]
    fn a_non_utf8_attribute_header_is_rejected_by_name() {
        let r = record(
            Some(b"{}"),
            vec![("ce_specversion", b"1.0"), ("ce_id", &[0xff, 0xfe])],
        )
        .decode(1024)
        .unwrap_err();
        assert_eq!(r.kind, "header_encoding");
        assert_eq!(r.field.as_deref(), Some("ce_id"));
    }

    #[test]
    fn malformed_json_is_a_syntax_rejection() {
        let r = record(Some(b"{\"specversion\":"), vec![])
            .decode(1024)
            .unwrap_err();
        assert_eq!(r.kind, "syntax");
        assert!(r.reason.contains("line 1"), "{}", r.reason);
    }
}
