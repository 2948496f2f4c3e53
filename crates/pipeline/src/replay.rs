//! Replay: recorded events folded into a store through the same core as every trigger
//! ([`crate::apply_batch`]), in fixed batches, with a checkpoint in the store so an interrupted
//! replay resumes where it stopped.
//!
//! The fold is order-independent and idempotent, so the same recording gives the same final
//! snapshot whatever the batch size, however often it is interrupted and resumed, and a batch
//! replayed twice publishes nothing the second time. [`digest`] names a generation's content
//! (every service key and the content hash of its object, each object read and checked), so
//! two replays, or a replay and a live store, can be compared byte for byte.
//!
//! What a source holds, line by line or object by object: CloudEvents (structured mode, as
//! `regsync record`, the bridges' `file://` sink and the webhook archive write them), the
//! functions' dead letters and archived Kafka records (the original record, decoded again), and
//! the bridges' dead-letter lines (`{time, sink, reason, event}`).

use std::collections::BTreeMap;

use regsync_model::RegistryEvent;
use regsync_store::generations::{Generation, LATEST};
use regsync_store::{CONTENT_PREFIX, Expect, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::archive::{ARCHIVE_FORMAT, ArchivedRecord};
use crate::dead_letter::{DEAD_LETTER_FORMAT, DeadLetter};
use crate::record::Rejection;
use crate::{Input, Pipeline, Result, apply_batch};

/// Where checkpoints are kept in the target store.
pub const CHECKPOINT_PREFIX: &str = "replay/";
/// Events per published generation, unless told otherwise.
pub const DEFAULT_BATCH: usize = 1000;

/// One record of a source: where it came from, what it decoded to, and when it happened.
#[derive(Debug, Clone)]
pub struct Item {
    /// `FILE:LINE`, an object key, or `topic/partition@offset`.
    pub origin: String,
    /// The event, or why the record is not one.
    pub input: Input,
    /// The event's CloudEvents `time` (or the dead letter's record timestamp), in ms.
    pub time_ms: Option<i64>,
}

/// Reads every record in `bytes`: a JSON array, one JSON object, or JSON lines. `name` names the
/// source in origins (`name:LINE` for lines, `name/INDEX` for array elements).
pub fn items_from_bytes(name: &str, bytes: &[u8], max_bytes: usize) -> Vec<Item> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return vec![not_an_event(
            name.to_owned(),
            Rejection::new("syntax", None, format!("{name} is not UTF-8 text")),
        )];
    };
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Vec<Value>>(trimmed) {
            Ok(values) => values
                .into_iter()
                .enumerate()
                .map(|(i, v)| item_from_value(format!("{name}/{i}"), v, max_bytes))
                .collect(),
            Err(e) => vec![not_an_event(name.to_owned(), syntax(name, &e))],
        };
    }
    // One pretty-printed object (an event file or a dead-letter object), else JSON lines.
    if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
        return vec![item_from_value(name.to_owned(), value, max_bytes)];
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let origin = format!("{name}:{}", i + 1);
            match serde_json::from_str::<Value>(line) {
                Ok(value) => item_from_value(origin, value, max_bytes),
                Err(e) => {
                    let why = syntax(&origin, &e);
                    not_an_event(origin, why)
                }
            }
        })
        .collect()
}

fn syntax(origin: &str, e: &serde_json::Error) -> Rejection {
    Rejection::new(
        "syntax",
        None,
        format!("{origin}: not JSON ({e}); a recording holds one CloudEvent per line"),
    )
}

fn not_an_event(origin: String, why: Rejection) -> Item {
    Item {
        origin,
        input: Err(why),
        time_ms: None,
    }
}

fn item_from_value(origin: String, value: Value, max_bytes: usize) -> Item {
    let is_dead_letter = value.get("format").and_then(Value::as_u64)
        == Some(u64::from(DEAD_LETTER_FORMAT))
        && value.get("rejection").is_some();
    let is_archived = value.get("archive").and_then(Value::as_u64)
        == Some(u64::from(ARCHIVE_FORMAT))
        && value.get("topic").is_some();
    if is_dead_letter || is_archived {
        return from_kept_record(origin, value, max_bytes);
    }
    // A bridge's dead-letter line: the event it could not deliver.
    let value = match value {
        Value::Object(mut o) if o.contains_key("sink") && o.contains_key("event") => {
            o.remove("event").unwrap_or_default()
        }
        v => v,
    };
    if !value.get("specversion").is_some_and(Value::is_string) {
        let why = Rejection::new(
            "missing_field",
            Some("specversion"),
            format!(
                "{origin}: not a CloudEvent (no `specversion`), a dead letter or a bridge dead-letter line"
            ),
        );
        return not_an_event(origin, why);
    }
    match RegistryEvent::from_value(value) {
        Ok(event) => {
            let time_ms = event.time.as_deref().and_then(parse_time);
            Item {
                origin,
                input: Ok(event),
                time_ms,
            }
        }
        Err(e) => {
            let mut why = Rejection::from(&e);
            why.reason = format!("{origin}: {}", why.reason);
            not_an_event(origin, why)
        }
    }
}

/// A dead letter or an archived record: the Kafka record inside, decoded again.
fn from_kept_record(origin: String, value: Value, max_bytes: usize) -> Item {
    let (what, record) = if value.get("archive").is_some() {
        (
            "an archived record",
            serde_json::from_value::<ArchivedRecord>(value).map(|a| a.record),
        )
    } else {
        (
            "a dead letter",
            serde_json::from_value::<DeadLetter>(value).map(|l| l.record),
        )
    };
    let record = match record {
        Ok(record) => record,
        Err(e) => {
            let why = Rejection::new(
                "invalid_field",
                None,
                format!("{origin}: {what} of an unknown shape: {e}"),
            );
            return not_an_event(origin, why);
        }
    };
    let origin = format!(
        "{origin} ({}/{}@{})",
        record.topic, record.partition, record.offset
    );
    let input = match record.to_record() {
        Ok(kafka) => kafka.decode(max_bytes),
        Err(e) => Err(Rejection::new(
            "base64",
            Some("value_base64"),
            format!("{origin}: {e}"),
        )),
    };
    let time_ms = match &input {
        Ok(event) => event.time.as_deref().and_then(parse_time),
        Err(_) => None,
    }
    .or(record.timestamp_ms);
    Item {
        origin,
        input,
        time_ms,
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Keys under a store prefix that are part of regsync's own layout, not recorded events.
fn is_layout_key(key: &str) -> bool {
    key == LATEST
        || key.starts_with(CONTENT_PREFIX)
        || key.starts_with(CHECKPOINT_PREFIX)
        || key.starts_with("mcp/")
        || key.starts_with('.')
}

/// Reads every object of `store` (a prefix of a bucket or a directory), in key order: dead
/// letters, archived batches or recordings. The snapshot layout's own objects are skipped.
pub async fn items_from_store(store: &Store, max_bytes: usize) -> Result<Vec<Item>> {
    let mut keys = store.list("").await?;
    keys.retain(|k| !is_layout_key(k));
    keys.sort();
    let mut items = Vec::new();
    for key in keys {
        if let Some(object) = store.get(&key).await? {
            items.extend(items_from_bytes(&key, &object.bytes, max_bytes));
        }
    }
    Ok(items)
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events per published generation.
    pub batch: usize,
    /// Leave out events that happened after this time (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Continue from the store's checkpoint of the same source, if it has one.
    pub resume: bool,
    /// Names the source in the checkpoint (for people reading it).
    pub source: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: DEFAULT_BATCH,
            until_ms: None,
            resume: true,
            source: String::new(),
        }
    }
}

/// Progress after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Records handled so far (including those skipped on resume).
    pub done: usize,
    /// Records to handle.
    pub total: usize,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Records in the source.
    pub total: usize,
    /// Records a checkpoint said were already replayed.
    pub resumed_after: usize,
    /// Events left out by `until` (they happened later).
    pub after_until: usize,
    /// Events left out by `until` because they carry no time.
    pub undated: usize,
    /// Events that moved the state.
    pub applied: usize,
    /// Events already known.
    pub stale: usize,
    /// Records that are not valid events: where, and why.
    pub rejected: Vec<(String, Rejection)>,
    /// Generations published by this run.
    pub published: usize,
    /// Records handled, those skipped on resume included (the checkpoint's `done`).
    pub done: usize,
    /// Whether it stopped early because it was asked to (the checkpoint is saved).
    pub interrupted: bool,
}

/// The checkpoint of one source in a target store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format of this object.
    pub format: u32,
    /// The source as the user named it.
    pub source: String,
    /// Digest of the source's records and the options that shape batches.
    pub digest: String,
    /// Records handled.
    pub done: usize,
    /// Records in the source.
    pub total: usize,
    /// The store's generation after them.
    pub generation: u64,
}

/// Identifies a source with the options that decide its batches: the same value means the same
/// batches.
pub fn source_digest(items: &[Item], options: &Options) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "batch={};until={:?}\n",
        options.batch, options.until_ms
    ));
    for item in items {
        match &item.input {
            Ok(event) => h.update(serde_json::to_vec(&event.to_json()).unwrap_or_default()),
            Err(why) => h.update(why.reason.as_bytes()),
        }
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn checkpoint_key(digest: &str) -> String {
    format!("{CHECKPOINT_PREFIX}{}.json", &digest[..16])
}

/// The checkpoint of `digest` in `store`, with its version for the next write.
pub async fn read_checkpoint(
    store: &Store,
    digest: &str,
) -> Result<Option<(Checkpoint, regsync_store::ETag)>> {
    let key = checkpoint_key(digest);
    let Some(object) = store.get(&key).await? else {
        return Ok(None);
    };
    // An unreadable checkpoint only costs a replay from the start.
    Ok(serde_json::from_slice::<Checkpoint>(&object.bytes)
        .ok()
        .filter(|c| c.digest == digest)
        .map(|c| (c, object.etag)))
}

/// Replays `items` into the pipeline's store. `progress` is called after each batch; `stop` is
/// asked before each batch, and a `true` ends the replay early with the checkpoint saved.
pub async fn replay(
    pipeline: &Pipeline,
    items: Vec<Item>,
    options: &Options,
    progress: &mut dyn FnMut(Progress),
    stop: &dyn Fn() -> bool,
) -> Result<Report> {
    let batch = options.batch.max(1);
    let digest = source_digest(&items, options);
    let key = checkpoint_key(&digest);
    let mut report = Report {
        total: items.len(),
        ..Report::default()
    };
    let mut version = None;
    if let Some((checkpoint, etag)) = read_checkpoint(&pipeline.store, &digest).await? {
        if options.resume {
            report.resumed_after = checkpoint.done.min(items.len());
        }
        // Overwritten as the replay goes, resumed or not.
        version = Some(etag);
    }
    let mut done = report.resumed_after;
    progress(Progress {
        done,
        total: items.len(),
    });
    let mut rest = items.into_iter().skip(done).peekable();
    while rest.peek().is_some() {
        if stop() {
            report.interrupted = true;
            break;
        }
        let chunk: Vec<Item> = rest.by_ref().take(batch).collect();
        let taken = chunk.len();
        let mut inputs = Vec::with_capacity(taken);
        let mut origins = Vec::with_capacity(taken);
        for item in chunk {
            if let (Some(until), Ok(_)) = (options.until_ms, &item.input) {
                match item.time_ms {
                    Some(t) if t > until => {
                        report.after_until += 1;
                        continue;
                    }
                    None => {
                        report.undated += 1;
                        continue;
                    }
                    Some(_) => {}
                }
            }
            origins.push(item.origin);
            inputs.push(item.input);
        }
        let batch_report = apply_batch(pipeline, inputs).await?;
        report.applied += batch_report.count("applied");
        report.stale += batch_report.count("stale");
        for (i, why) in batch_report.rejections() {
            report.rejected.push((origins[i].clone(), why.clone()));
        }
        report.published += usize::from(batch_report.published);
        done += taken;
        let generation = match batch_report.generation {
            Some(g) => g,
            None => pipeline.store.latest().await?.number,
        };
        let checkpoint = Checkpoint {
            format: 1,
            source: options.source.clone(),
            digest: digest.clone(),
            done,
            total: report.total,
            generation,
        };
        let bytes = serde_json::to_vec_pretty(&checkpoint).unwrap_or_default();
        let expect = version.take().map_or(Expect::Absent, Expect::Version);
        version = Some(pipeline.store.put(&key, bytes, expect).await?);
        progress(Progress {
            done,
            total: report.total,
        });
    }
    report.done = done;
    Ok(report)
}

/// Names a generation's content after checking it whole ([`regsync_snapshots::verify`]: its
/// root, trie nodes and service objects each read once, hashed against their names and
/// decoded): sha256 over every service key and the content hash of its object. Equal digests
/// mean byte-identical service objects (units and entries); a missing, corrupt or undecodable
/// object is an error naming its key. The generation number and the trie's shape are left out,
/// so the same content published in other batches has the same digest.
pub async fn digest(store: &Store, generation: &Generation) -> Result<String> {
    let services: BTreeMap<String, String> = regsync_snapshots::verify(store, generation).await?;
    let mut h = Sha256::new();
    for (key, object) in &services {
        h.update(key.as_bytes());
        h.update(b"\t");
        h.update(object.as_bytes());
        h.update(b"\n");
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// Copies the latest generation of `from` (its `latest` pointer and every content object) into
/// a fresh in-memory store, for a dry run that must not write to `from`.
pub async fn copy_to_memory(from: &Store) -> Result<Store> {
    let to = Store::open("memory://").await?;
    for key in from.list(CONTENT_PREFIX).await? {
        if let Some(object) = from.get(&key).await? {
            to.put(&key, object.bytes, Expect::Absent).await?;
        }
    }
    if let Some(object) = from.get(LATEST).await? {
        to.put(LATEST, object.bytes, Expect::Absent).await?;
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use regsync_snapshots::testkit::{instance_event, ip};

    fn lines(events: &[RegistryEvent]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in events {
            out.extend(serde_json::to_vec(&e.to_json()).unwrap());
            out.push(b'\n');
        }
        out
    }

    fn recording() -> Vec<RegistryEvent> {
        (0..40)
            .map(|i| {
                let mut e = instance_event(i % 7, &ip(i % 7, i), 1_000 + i as u64);
                e.time = Some(format!("2026-11-23T10:00:{:02}Z", i));
                e
            })
            .collect()
    }

    async fn replayed(batch: usize, until_ms: Option<i64>) -> (Store, Report) {
        let store = Store::open("memory://").await.unwrap();
        let pipeline = Pipeline::with_store(store.clone());
        let items = items_from_bytes("rec.jsonl", &lines(&recording()), usize::MAX);
        let options = Options {
            batch,
            until_ms,
            ..Options::default()
        };
        let report = replay(&pipeline, items, &options, &mut |_| {}, &|| false)
            .await
            .unwrap();
        (store, report)
    }

    #[tokio::test]
    async fn the_batch_size_does_not_change_the_snapshot() {
        let (a, ra) = replayed(1, None).await;
        let (b, rb) = replayed(1000, None).await;
        assert_eq!((ra.applied, rb.applied), (40, 40));
        let (ga, gb) = (a.latest().await.unwrap(), b.latest().await.unwrap());
        assert_eq!(
            digest(&a, &ga).await.unwrap(),
            digest(&b, &gb).await.unwrap()
        );
        assert_eq!((ra.published, rb.published), (40, 1));
    }

    #[tokio::test]
    async fn the_digest_refuses_an_object_that_hashes_to_its_name_but_is_no_entry() {
        let (store, _) = replayed(1000, None).await;
        let g = store.latest().await.unwrap();
        let intact = digest(&store, &g).await.unwrap();
        let services = store.services(&g).await.unwrap();
        let entry = services.keys().find(|k| k.starts_with("entry/")).unwrap();
        let e = entry.clone();
        let bad = store
            .update(1, move |_, _| {
                let c = vec![(e.clone(), Some(b"{}".to_vec()))];
                async move { Ok(c) }
            })
            .await
            .unwrap();
        let err = digest(&store, &bad).await.unwrap_err();
        let crate::Error::Store(regsync_store::Error::Layout { key, why }) = &err else {
            panic!("{err}");
        };
        assert_eq!(*key, regsync_store::content_key(b"{}"));
        assert!(
            why.contains(entry) && why.contains("does not decode"),
            "{why}"
        );
        // The generation before still checks, with its digest unchanged.
        assert_eq!(digest(&store, &g).await.unwrap(), intact);
    }

    #[tokio::test]
    async fn until_leaves_out_later_and_undated_events() {
        let cut = parse_time("2026-11-23T10:00:09Z").unwrap();
        let (_, report) = replayed(8, Some(cut)).await;
        assert_eq!((report.applied, report.after_until), (10, 30));
    }

    #[tokio::test]
    async fn a_resumed_replay_skips_what_the_checkpoint_covers() {
        let store = Store::open("memory://").await.unwrap();
        let pipeline = Pipeline::with_store(store.clone());
        let bytes = lines(&recording());
        let options = Options {
            batch: 5,
            ..Options::default()
        };
        let items = || items_from_bytes("rec.jsonl", &bytes, usize::MAX);
        let batches = std::cell::Cell::new(0);
        let stop = || {
            batches.set(batches.get() + 1);
            batches.get() > 3
        };
        let first = replay(&pipeline, items(), &options, &mut |_| {}, &stop)
            .await
            .unwrap();
        assert!(first.interrupted);
        assert_eq!(first.applied, 15);
        let second = replay(&pipeline, items(), &options, &mut |_| {}, &|| false)
            .await
            .unwrap();
        assert_eq!((second.resumed_after, second.applied), (15, 25));
        let (whole, _) = replayed(5, None).await;
        assert_eq!(
            digest(&store, &store.latest().await.unwrap())
                .await
                .unwrap(),
            digest(&whole, &whole.latest().await.unwrap())
                .await
                .unwrap()
        );
        // Done: a third run has nothing left.
        let third = replay(&pipeline, items(), &options, &mut |_| {}, &|| false)
            .await
            .unwrap();
        assert_eq!((third.resumed_after, third.published), (40, 0));
    }

    #[test]
    fn bad_lines_are_named_and_the_others_read() {
        let mut bytes = lines(&recording()[..2]);
        bytes.extend(b"{not json\n{\"hello\":1}\n");
        let items = items_from_bytes("rec.jsonl", &bytes, usize::MAX);
        assert_eq!(items.len(), 4);
        assert!(items[0].input.is_ok() && items[1].input.is_ok());
        let e3 = items[2].input.as_ref().unwrap_err();
        assert!(e3.reason.starts_with("rec.jsonl:3: not JSON"), "{e3}");
        let e4 = items[3].input.as_ref().unwrap_err();
        assert_eq!(e4.field.as_deref(), Some("specversion"));
        assert!(e4.reason.starts_with("rec.jsonl:4:"), "{e4}");
    }

    #[test]
    fn dead_letters_and_bridge_lines_give_back_their_event() {
        let event = &recording()[0];
        let record = crate::KafkaRecord {
            topic: "registry-events".into(),
            partition: 0,
            offset: 9,
            timestamp_ms: Some(5),
            key: None,
            value: Some(serde_json::to_vec(&event.to_json()).unwrap()),
            headers: vec![],
        };
        let letter = DeadLetter::new(&record, Rejection::new("too_large", None, "x"));
        let items = items_from_bytes(
            &letter.object_key(),
            &serde_json::to_vec_pretty(&letter).unwrap(),
            usize::MAX,
        );
        assert_eq!(items[0].input.as_ref().unwrap(), event);
        assert!(items[0].origin.ends_with("(registry-events/0@9)"));
        let line = serde_json::json!({"time": "t", "sink": "kafka://b/t", "reason": "r", "event": event.to_json()});
        let items = items_from_bytes("dlq.jsonl", line.to_string().as_bytes(), usize::MAX);
        assert_eq!(items[0].input.as_ref().unwrap(), event);
    }

    #[tokio::test]
    async fn archived_kafka_batches_and_webhook_requests_replay_to_their_events() {
        let events = recording();
        let store = Store::open("memory://").await.unwrap();
        let archive = crate::Archive::new(store.clone());
        let records: Vec<crate::KafkaRecord> = events[..2]
            .iter()
            .enumerate()
            .map(|(i, e)| crate::KafkaRecord {
                topic: "registry-events".into(),
                partition: 1,
                offset: 40 + i as i64,
                timestamp_ms: None,
                key: None,
                value: Some(serde_json::to_vec(&e.to_json()).unwrap()),
                headers: vec![],
            })
            .collect();
        archive.kafka(&records).await.unwrap();
        archive
            .webhook(&events[2..], 1_700_000_000_000)
            .await
            .unwrap();

        let items = items_from_store(&store, usize::MAX).await.unwrap();
        let back: Vec<&RegistryEvent> = items.iter().map(|i| i.input.as_ref().unwrap()).collect();
        // Key order: archive/kafka/... before archive/webhook/...
        assert_eq!(back, events.iter().collect::<Vec<_>>());
        assert!(
            items[1].origin.ends_with("(registry-events/1@41)"),
            "{}",
            items[1].origin
        );
    }
}
