//! The archive: every record a function receives, kept whole before it is applied, so the
//! snapshot can be rebuilt or audited later (`regsync replay s3://bucket/prefix/archive`).
//!
//! One object per received batch and topic-partition,
//! `archive/kafka/<topic>/<partition>/<first offset>-<last offset>.jsonl` (offsets in 20
//! digits), one [`ArchivedRecord`] per line; webhook requests go to
//! `archive/webhook/<received s, 10 digits>-<digest>.jsonl`,
//! one CloudEvent per line. Keys sort by partition and offset (by time for the webhook), the
//! order replay reads them in. A redelivered batch writes the same key again and the object
//! already there is kept (create-only); a redelivery cut differently (more records arrived
//! meanwhile) is another object, and the records both hold fold to `stale` on replay.

use std::collections::BTreeMap;

use regsync_model::RegistryEvent;
use regsync_store::{Expect, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tracing::debug;

use crate::dead_letter::RawRecord;
use crate::record::KafkaRecord;
use crate::{Error, Result};

/// Prefix of archive objects in a store.
pub const ARCHIVE_PREFIX: &str = "archive/";
/// Format of an archived record line (its `archive` field).
pub const ARCHIVE_FORMAT: u32 = 1;

/// One line of a Kafka archive object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedRecord {
    /// [`ARCHIVE_FORMAT`]; marks the line as an archived record.
    pub archive: u32,
    /// The record, whole.
    #[serde(flatten)]
    pub record: RawRecord,
}

/// Writes the archive under [`ARCHIVE_PREFIX`] of a store.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Store,
}

impl Archive {
    /// The archive in `store`.
    pub fn new(store: Store) -> Self {
        Archive { store }
    }

    /// The store written to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Keeps `records` (in topic, partition, offset order): one object per topic-partition,
    /// named by its first and last offsets. Returns the keys written (or found already written).
    pub async fn kafka<'a>(
        &self,
        records: impl IntoIterator<Item = &'a KafkaRecord>,
    ) -> Result<Vec<String>> {
        let mut objects: BTreeMap<(&str, i32), (i64, i64, Vec<u8>)> = BTreeMap::new();
        for record in records {
            let line = ArchivedRecord {
                archive: ARCHIVE_FORMAT,
                record: RawRecord::new(record),
            };
            let (_, last, bytes) = objects
                .entry((record.topic.as_str(), record.partition))
                .or_insert_with(|| (record.offset, record.offset, Vec::new()));
            *last = record.offset;
            serde_json::to_writer(&mut *bytes, &line).expect("archived records always serialize");
            bytes.push(b'\n');
        }
        let mut keys = Vec::with_capacity(objects.len());
        for ((topic, partition), (first, last, bytes)) in objects {
            let key =
                format!("{ARCHIVE_PREFIX}kafka/{topic}/{partition}/{first:020}-{last:020}.jsonl");
            self.put(&key, bytes).await?;
            keys.push(key);
        }
        Ok(keys)
    }

    /// Keeps the events of one webhook request, received at `now` (Unix seconds). The same
    /// events received twice in one second are one object.
    pub async fn webhook(&self, events: &[RegistryEvent], now: u64) -> Result<String> {
        let mut bytes = Vec::new();
        for event in events {
            serde_json::to_writer(&mut bytes, &event.to_json())
                .expect("JSON values always serialize");
            bytes.push(b'\n');
        }
        let digest = hex::encode(&Sha256::digest(&bytes)[..8]);
        let key = format!("{ARCHIVE_PREFIX}webhook/{now:010}-{digest}.jsonl");
        self.put(&key, bytes).await?;
        Ok(key)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        match self.store.put(key, bytes, Expect::Absent).await {
            Ok(_) => debug!(key, "batch archived"),
            Err(regsync_store::Error::Conflict { .. }) => debug!(key, "batch already archived"),
            Err(source) => {
                return Err(Error::Archive {
                    key: key.to_owned(),
                    source,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(partition: i32, offset: i64, value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: "registry-events".into(),
            partition,
            offset,
            timestamp_ms: Some(1_700_000_000_000 + offset),
            key: Some(b"dubbo/demo".to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: vec![("ce_id".into(), b"x".to_vec())],
        }
    }

    #[tokio::test]
    async fn a_batch_is_kept_per_partition_and_a_redelivery_keeps_the_first_copy() {
        let store = Store::open("memory://").await.unwrap();
        let archive = Archive::new(store.clone());
        let batch = [
            record(0, 7, "a"),
            record(0, 8, "b"),
            record(2, 3, "not json"),
        ];
        let keys = archive.kafka(&batch).await.unwrap();
        assert_eq!(
            keys,
            [
                "archive/kafka/registry-events/0/00000000000000000007-00000000000000000008.jsonl",
                "archive/kafka/registry-events/2/00000000000000000003-00000000000000000003.jsonl"
            ]
        );
        let first = store.get(&keys[0]).await.unwrap().unwrap().bytes;
        let lines: Vec<ArchivedRecord> = first
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let back: Vec<KafkaRecord> = lines
            .iter()
            .map(|l| l.record.to_record().unwrap())
            .collect();
        assert_eq!(
            back,
            batch[..2],
            "whole records, in order, bytes as received"
        );

        // The same batch again: the first copy stays.
        let again = [record(0, 7, "changed"), record(0, 8, "changed")];
        assert_eq!(archive.kafka(&again).await.unwrap(), keys[..1]);
        assert_eq!(store.get(&keys[0]).await.unwrap().unwrap().bytes, first);
        // Redelivered with more records: nothing it holds is left out.
        let more = [record(0, 7, "a"), record(0, 8, "b"), record(0, 9, "c")];
        let key = archive.kafka(&more).await.unwrap().remove(0);
        assert!(
            key.ends_with("/00000000000000000007-00000000000000000009.jsonl"),
            "{key}"
        );
        assert_eq!(store.list("archive/").await.unwrap().len(), 3);
    }
}
