//! Dead letters: records that can never apply, kept whole with where they came from and why,
//! so nothing is lost and the partition moves on. A dead letter's key follows from the record's
//! topic, partition and offset, so a redelivered batch writes the same object again (a no-op).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use regsync_store::{Expect, Store};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::record::{KafkaRecord, Rejection};
use crate::{Error, Result};

/// Prefix of dead-letter objects in a store.
pub const DEAD_LETTER_PREFIX: &str = "dead-letter/";
/// Format of the dead-letter object.
pub const DEAD_LETTER_FORMAT: u32 = 1;
/// Kafka header naming the rejection's kind, on dead-letter topic records.
pub const REASON_KIND_HEADER: &str = "regsync_reason_kind";
/// Kafka header with the whole reason.
pub const REASON_HEADER: &str = "regsync_reason";
/// Kafka header naming the field at fault, when there is one.
pub const REASON_FIELD_HEADER: &str = "regsync_reason_field";
/// Kafka headers naming where the record came from.
pub const ORIGIN_TOPIC_HEADER: &str = "regsync_origin_topic";
/// See [`ORIGIN_TOPIC_HEADER`].
pub const ORIGIN_PARTITION_HEADER: &str = "regsync_origin_partition";
/// See [`ORIGIN_TOPIC_HEADER`].
pub const ORIGIN_OFFSET_HEADER: &str = "regsync_origin_offset";

/// One header of a kept record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawHeader {
    /// Header key.
    pub key: String,
    /// Header value, base64.
    pub value_base64: String,
}

/// A Kafka record kept whole as JSON: where it was read, and its bytes in base64. Dead letters
/// and the archive hold records this way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRecord {
    /// Topic it was read from.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp (ms), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    /// Key bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// Value bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    /// Headers, in order.
    #[serde(default)]
    pub headers: Vec<RawHeader>,
}

impl RawRecord {
    /// `record`, kept.
    pub fn new(record: &KafkaRecord) -> Self {
        RawRecord {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            key_base64: record.key.as_ref().map(|k| STANDARD.encode(k)),
            value_base64: record.value.as_ref().map(|v| STANDARD.encode(v)),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| RawHeader {
                    key: k.clone(),
                    value_base64: STANDARD.encode(v),
                })
                .collect(),
        }
    }

    /// The original record.
    pub fn to_record(&self) -> std::result::Result<KafkaRecord, base64::DecodeError> {
        let decode = |s: &Option<String>| s.as_ref().map(|s| STANDARD.decode(s)).transpose();
        Ok(KafkaRecord {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
            key: decode(&self.key_base64)?,
            value: decode(&self.value_base64)?,
            headers: self
                .headers
                .iter()
                .map(|h| Ok((h.key.clone(), STANDARD.decode(&h.value_base64)?)))
                .collect::<std::result::Result<_, base64::DecodeError>>()?,
        })
    }
}

/// A record that can never apply, with its origin and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// [`DEAD_LETTER_FORMAT`].
    pub format: u32,
    /// Why it can never apply.
    pub rejection: Rejection,
    /// The record, whole.
    #[serde(flatten)]
    pub record: RawRecord,
}

impl DeadLetter {
    /// The dead letter of `record`.
    pub fn new(record: &KafkaRecord, rejection: Rejection) -> Self {
        DeadLetter {
            format: DEAD_LETTER_FORMAT,
            rejection,
            record: RawRecord::new(record),
        }
    }

    /// `dead-letter/kafka/<topic>/<partition>/<offset, 20 digits>.json`: sorted by offset.
    pub fn object_key(&self) -> String {
        let r = &self.record;
        format!(
            "{DEAD_LETTER_PREFIX}kafka/{}/{}/{:020}.json",
            r.topic, r.partition, r.offset
        )
    }

    /// The original record, for replay after a fix.
    pub fn to_record(&self) -> std::result::Result<KafkaRecord, base64::DecodeError> {
        self.record.to_record()
    }

    /// Logs the letter as written to `to` (an object key or a topic).
    pub fn log(&self, to: &str) {
        warn!(
            topic = %self.record.topic,
            partition = self.record.partition,
            offset = self.record.offset,
            kind = %self.rejection.kind,
            reason = %self.rejection.reason,
            to,
            "record dead-lettered"
        );
    }

    /// Headers for a dead-letter topic record: the original headers, then the reason and origin.
    pub fn kafka_headers(&self, original: &KafkaRecord) -> Vec<(String, Vec<u8>)> {
        let mut headers = original.headers.clone();
        headers.push((
            REASON_KIND_HEADER.into(),
            self.rejection.kind.clone().into(),
        ));
        headers.push((REASON_HEADER.into(), self.rejection.reason.clone().into()));
        if let Some(field) = &self.rejection.field {
            headers.push((REASON_FIELD_HEADER.into(), field.clone().into()));
        }
        let r = &self.record;
        headers.push((ORIGIN_TOPIC_HEADER.into(), r.topic.clone().into()));
        headers.push((
            ORIGIN_PARTITION_HEADER.into(),
            r.partition.to_string().into(),
        ));
        headers.push((ORIGIN_OFFSET_HEADER.into(), r.offset.to_string().into()));
        headers
    }
}

/// Writes dead letters as objects under [`DEAD_LETTER_PREFIX`] of a store.
#[derive(Debug, Clone)]
pub struct StoreDeadLetters {
    store: Store,
}

impl StoreDeadLetters {
    /// Dead letters in `store`.
    pub fn new(store: Store) -> Self {
        StoreDeadLetters { store }
    }

    /// The store written to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Writes every letter; one already present (a redelivery) counts as written.
    pub async fn write(&self, letters: &[DeadLetter]) -> Result<usize> {
        for letter in letters {
            let key = letter.object_key();
            let bytes = serde_json::to_vec_pretty(letter).expect("dead letters always serialize");
            match self.store.put(&key, bytes, Expect::Absent).await {
                Ok(_) | Err(regsync_store::Error::Conflict { .. }) => {}
                Err(source) => return Err(Error::DeadLetter { key, source }),
            }
            letter.log(&key);
        }
        Ok(letters.len())
    }

    /// Every dead letter in the store, oldest offset first within a partition.
    pub async fn list(&self) -> Result<Vec<DeadLetter>> {
        let mut out = Vec::new();
        let mut keys = self.store.list(DEAD_LETTER_PREFIX).await?;
        keys.sort();
        for key in keys {
            if let Some(obj) = self.store.get(&key).await? {
                let letter = serde_json::from_slice(&obj.bytes).map_err(|e| {
                    regsync_store::Error::Layout {
                        key: key.clone(),
                        why: e.to_string(),
                    }
                })?;
                out.push(letter);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_letter_round_trips_and_a_redelivery_rewrites_nothing() {
        let store = Store::open("memory://").await.unwrap();
        let letters = StoreDeadLetters::new(store.clone());
        let record = KafkaRecord {
            topic: "registry-events".into(),
            partition: 3,
            offset: 7,
            timestamp_ms: Some(1_700_000_000_000),
            key: Some(b"eureka/ORDERS".to_vec()),
            value: Some(vec![0, 159, 146, 150]),
            headers: vec![("ce_id".into(), b"x".to_vec())],
        };
        let letter = DeadLetter::new(
            &record,
            Rejection::new("syntax", None, "malformed JSON at line 1 column 1"),
        );
        assert_eq!(
            letter.object_key(),
            "dead-letter/kafka/registry-events/3/00000000000000000007.json"
        );
        letters.write(std::slice::from_ref(&letter)).await.unwrap();
        letters.write(std::slice::from_ref(&letter)).await.unwrap();
        let back = letters.list().await.unwrap();
        assert_eq!(back, vec![letter.clone()]);
        assert_eq!(back[0].to_record().unwrap(), record);
    }
}
