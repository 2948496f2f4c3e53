//! Dead letters on a Kafka topic (`REGSYNC_DEAD_LETTER_URL=kafka://brokers/topic`), produced
//! with rskafka, a pure-Rust client, so the arm64 cross-build links no librdkafka. Security
//! (SASL_SSL/SCRAM, TLS with a CA bundle) comes from `regsync-kafka`: `REGSYNC_KAFKA_*`
//! variables or the `REGSYNC_KAFKA_CONFIG` file; a refused login fails the first attempt.
//!
//! Each letter is the original key and value with the original headers plus `regsync_reason`,
//! `regsync_reason_kind`, `regsync_reason_field` and `regsync_origin_{topic,partition,offset}`,
//! the same records `regsync consume` writes to `<topic>.dlq`. A letter goes to partition
//! `origin partition mod partitions of the topic`, so the letters of one source partition stay
//! in order. The connection is opened on the first letter, not at cold start, so an
//! unreachable dead-letter cluster never stops good batches. Delivery is at least once: a
//! redelivered batch produces its letters again; the origin headers identify duplicates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use regsync_kafka::Settings;
use regsync_kafka::rs::rskafka::client::Client;
use regsync_kafka::rs::rskafka::client::partition::{
    Compression, PartitionClient, UnknownTopicHandling,
};
use regsync_kafka::rs::rskafka::record::Record;
use regsync_pipeline::{DeadLetter, Error, KafkaRecord};
use tokio::sync::{Mutex, OnceCell};

/// How long one produce may keep retrying before the invocation fails and is redelivered.
const DEADLINE: Duration = Duration::from_secs(10);

/// A Kafka dead-letter topic, connected on first use.
pub struct TopicDeadLetters {
    settings: Settings,
    topic: String,
    client: OnceCell<(Client, i32)>,
    partitions: Mutex<BTreeMap<i32, Arc<PartitionClient>>>,
}

impl std::fmt::Debug for TopicDeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicDeadLetters")
            .field("brokers", &self.settings.brokers())
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl TopicDeadLetters {
    /// The topic `topic` on the brokers of `settings`.
    pub fn new(settings: Settings, topic: &str) -> Self {
        TopicDeadLetters {
            settings,
            topic: topic.to_owned(),
            client: OnceCell::new(),
            partitions: Mutex::new(BTreeMap::new()),
        }
    }

    fn fail(&self, reason: impl std::fmt::Display) -> Error {
        Error::DeadLetterTopic {
            topic: self.topic.clone(),
            reason: reason.to_string(),
        }
    }

    /// The client and the topic's partition count.
    async fn client(&self) -> Result<&(Client, i32), Error> {
        self.client
            .get_or_try_init(|| async {
                let client =
                    regsync_kafka::rs::connect(&self.settings, "regsync-ingest-kafka", DEADLINE)
                        .await
                        .map_err(|e| self.fail(e))?;
                let topics = client.list_topics().await.map_err(|e| self.fail(e))?;
                let count = topics
                    .iter()
                    .find(|t| t.name == self.topic)
                    .map(|t| t.partitions.len())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        self.fail("the topic does not exist; create it (the function never creates topics)")
                    })?;
                Ok((client, i32::try_from(count).unwrap_or(i32::MAX)))
            })
            .await
    }

    async fn partition(
        &self,
        client: &Client,
        partition: i32,
    ) -> Result<Arc<PartitionClient>, Error> {
        let mut cache = self.partitions.lock().await;
        if let Some(p) = cache.get(&partition) {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(
            client
                .partition_client(self.topic.clone(), partition, UnknownTopicHandling::Error)
                .await
                .map_err(|e| self.fail(format!("partition {partition}: {e}")))?,
        );
        cache.insert(partition, Arc::clone(&p));
        Ok(p)
    }

    /// Produces every letter (with the record it came from) and waits for the brokers' acks.
    pub async fn write(&self, letters: &[(DeadLetter, &KafkaRecord)]) -> Result<usize, Error> {
        if letters.is_empty() {
            return Ok(0);
        }
        let (client, count) = self.client().await?;
        let mut by_partition: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
        for (letter, original) in letters {
            let timestamp = original
                .timestamp_ms
                .and_then(chrono::DateTime::from_timestamp_millis)
                .unwrap_or_else(chrono::Utc::now);
            by_partition
                .entry(original.partition.rem_euclid(*count))
                .or_default()
                .push(Record {
                    key: original.key.clone(),
                    value: original.value.clone(),
                    headers: letter.kafka_headers(original).into_iter().collect(),
                    timestamp,
                });
            letter.log(&self.topic);
        }
        for (partition, records) in by_partition {
            let p = self.partition(client, partition).await?;
            p.produce(records, Compression::NoCompression)
                .await
                .map_err(|e| self.fail(format!("partition {partition}: {e}")))?;
        }
        Ok(letters.len())
    }
}
