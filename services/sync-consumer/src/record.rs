//! `regsync record`: a topic's registry events written as a CloudEvents JSON-lines recording,
//! the format `regsync bridge --sink file://` writes and `regsync replay` reads.
//!
//! It reads every partition from a start (the beginning, an offset, or the first record at or
//! after a time) up to the end the partition had when the recording began, so a recording is
//! a finite, repeatable copy. Each record is decoded exactly as `regsync consume` decodes it
//! (structured or `ce_` binary mode) and written in structured mode, one event per line, by
//! partition then offset. Records that are not valid events are not written; they are returned
//! with their position and reason. It uses no consumer group and commits nothing.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use regsync_kafka::Config;
use regsync_kafka::rd::rdkafka::consumer::{BaseConsumer, Consumer as _};
use regsync_kafka::rd::rdkafka::{Offset, TopicPartitionList};
use regsync_kafka::rd::{Context, Role, wait_ready};
use regsync_model::event::DEFAULT_MAX_PAYLOAD;

use crate::owned;

/// Where a recording starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest record still in the partition.
    Earliest,
    /// This offset (or the oldest record, if it is older).
    Offset(i64),
    /// The first record whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// `kafka://BROKER[,BROKER...]/TOPIC[@OFFSET|@RFC3339-TIME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    /// Bootstrap servers.
    pub brokers: String,
    /// Topic.
    pub topic: String,
    /// Where to start.
    pub start: Start,
}

impl FromStr for KafkaSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "{text:?}: {why}; expected kafka://BROKER[,BROKER...]/TOPIC[@OFFSET|@TIME], \
                 e.g. kafka://127.0.0.1:9092/registry-events@2026-11-23T10:00:00Z"
            )
        };
        let rest = text
            .strip_prefix("kafka://")
            .ok_or_else(|| bad("not a kafka:// URL"))?;
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| bad("no topic after the brokers"))?;
        let (topic, start) = match topic.split_once('@') {
            None => (topic, Start::Earliest),
            Some((topic, at)) if at.chars().all(|c| c.is_ascii_digit()) && !at.is_empty() => {
                let offset = at.parse().map_err(|_| bad("the offset is too large"))?;
                (topic, Start::Offset(offset))
            }
            Some((topic, at)) => {
                let time = chrono::DateTime::parse_from_rfc3339(at).map_err(|e| {
                    bad(&format!(
                        "{at:?} is neither an offset nor an RFC 3339 time ({e})"
                    ))
                })?;
                (topic, Start::Timestamp(time.timestamp_millis()))
            }
        };
        if brokers.is_empty() || topic.is_empty() {
            return Err(bad("empty brokers or topic"));
        }
        Ok(KafkaSource {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            start,
        })
    }
}

/// What a recording holds.
#[derive(Debug, Default)]
pub struct Recording {
    /// One structured-mode CloudEvent per line, newline-terminated.
    pub lines: Vec<u8>,
    /// Events written.
    pub events: usize,
    /// Partitions read.
    pub partitions: usize,
    /// Records that are not events: `topic/partition@offset` and the reason.
    pub rejected: Vec<(String, String)>,
}

/// A record read: its event as a JSON line, or its position and why it is not an event.
type Line = Result<Vec<u8>, (String, String)>;

/// Reads `source` into a recording (blocking; run it off the async runtime), with the client
/// settings of `kafka` (security, properties).
pub fn record(source: &KafkaSource, kafka: &Config) -> anyhow::Result<Recording> {
    let settings = kafka.settings(&source.brokers)?;
    let context = Context::default();
    let refusal = context.refusal();
    let consumer: BaseConsumer<Context> = settings.create(Role::Reader, context)?;
    let timeout = Duration::from_secs(10);
    // Fails at once on a refused login or TLS failure, naming the settings.
    let metadata = wait_ready(
        &settings,
        consumer.client(),
        &refusal,
        Some(&source.topic),
        timeout,
        || {
            // In a group, the consumer returns client errors from poll; nothing is assigned
            // yet, so no record is taken here.
            if let Some(Err(e)) = consumer.poll(Duration::ZERO) {
                refusal.note(&e, &e.to_string());
            }
        },
    )
    .with_context(|| format!("cannot read the metadata of {}", source.topic))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == source.topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!(
            "topic {} does not exist on {}",
            source.topic,
            source.brokers
        );
    }
    // Where each partition starts and ends.
    let mut ranges: Vec<(i32, i64, i64)> = Vec::new();
    let starts_at_time = match source.start {
        Start::Timestamp(ms) => {
            let mut wanted = TopicPartitionList::new();
            for &p in &partitions {
                wanted.add_partition_offset(&source.topic, p, Offset::Offset(ms))?;
            }
            Some(consumer.offsets_for_times(wanted, timeout)?)
        }
        _ => None,
    };
    for &p in &partitions {
        let (low, high) = consumer.fetch_watermarks(&source.topic, p, timeout)?;
        let start = match source.start {
            Start::Earliest => low,
            Start::Offset(offset) => offset.max(low),
            Start::Timestamp(_) => starts_at_time
                .as_ref()
                .and_then(|found| found.find_partition(&source.topic, p))
                .and_then(|e| e.offset().to_raw())
                .filter(|o| *o >= 0)
                .unwrap_or(high),
        };
        if start < high {
            ranges.push((p, start, high));
        }
    }
    let mut assignment = TopicPartitionList::new();
    for &(p, start, _) in &ranges {
        assignment.add_partition_offset(&source.topic, p, Offset::Offset(start))?;
    }
    consumer.assign(&assignment)?;
    let mut by_partition: Vec<Vec<(i64, Line)>> = vec![Vec::new(); ranges.len()];
    let mut started = vec![false; ranges.len()];
    let mut remaining: usize = ranges
        .iter()
        .map(|(_, start, high)| usize::try_from(high - start).unwrap_or(0))
        .sum();
    while remaining > 0 {
        let Some(message) = consumer.poll(timeout) else {
            bail!(
                "no record arrived for {timeout:?} with {remaining} still to read from {}",
                source.topic
            );
        };
        let message = message?;
        let record = owned(&message);
        let Some(slot) = ranges.iter().position(|(p, ..)| *p == record.partition) else {
            continue;
        };
        if record.offset >= ranges[slot].2 {
            continue;
        }
        remaining -= 1;
        // Brokers that answer a time lookup loosely (or not at all) are corrected here: a
        // partition starts at its first record at or after the time, as Kafka defines it.
        if let Start::Timestamp(ms) = source.start
            && !started[slot]
        {
            if record.timestamp_ms.is_some_and(|t| t < ms) {
                continue;
            }
            started[slot] = true;
        }
        let line = match record.decode(DEFAULT_MAX_PAYLOAD) {
            Ok(event) => Ok(serde_json::to_vec(&event.to_json())?),
            Err(rejection) => Err((record.position(), rejection.to_string())),
        };
        by_partition[slot].push((record.offset, line));
    }
    let mut recording = Recording {
        partitions: partitions.len(),
        ..Recording::default()
    };
    for records in &mut by_partition {
        records.sort_by_key(|(offset, _)| *offset);
        for (_, line) in records.drain(..) {
            match line {
                Ok(line) => {
                    recording.lines.extend_from_slice(&line);
                    recording.lines.push(b'\n');
                    recording.events += 1;
                }
                Err(rejected) => recording.rejected.push(rejected),
            }
        }
    }
    Ok(recording)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sources_parse_and_bad_ones_say_what_is_expected() {
        let s: KafkaSource = "kafka://a:9092,b:9092/registry-events".parse().unwrap();
        assert_eq!(
            (s.brokers.as_str(), s.topic.as_str(), s.start),
            ("a:9092,b:9092", "registry-events", Start::Earliest)
        );
        let s: KafkaSource = "kafka://a:9092/t@42".parse().unwrap();
        assert_eq!(s.start, Start::Offset(42));
        let s: KafkaSource = "kafka://a:9092/t@2023-11-14T22:13:20.123Z".parse().unwrap();
        assert_eq!(s.start, Start::Timestamp(1_700_000_000_123));
        let e = "kafka://a:9092/t@yesterday"
            .parse::<KafkaSource>()
            .unwrap_err();
        assert!(
            e.contains("neither an offset nor an RFC 3339 time") && e.contains("kafka://BROKER"),
            "{e}"
        );
        assert!(
            "s3://bucket/x"
                .parse::<KafkaSource>()
                .unwrap_err()
                .contains("not a kafka:// URL")
        );
    }
}
