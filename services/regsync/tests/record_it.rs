//! `regsync record` against Apache Kafka (REGSYNC_IT_KAFKA_BROKERS): a
//! recorded scenario produced to a topic comes back as a recording that converts to the
//! scenario's golden ServiceEntries; a poison record is named and left out; @offset and @time
//! start where they say.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{ROOT, Record, brokers, create_topic, produce, scenario_files, structured, unique};

const SCENARIO: &str = "dubbo-zk/disabled-and-weighted";

fn regsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .output()
        .unwrap()
}

fn record(from: &str, to: &Path) -> Output {
    regsync(&["record", "--from", from, "--to", to.to_str().unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_records_to_events_that_convert_to_the_golden_snapshot() {
    let topic = unique("record");
    create_topic(&topic, 2).await;
    let mut records: Vec<Record> = scenario_files(SCENARIO)
        .iter()
        .map(|f| structured(&std::fs::read(f).unwrap()))
        .collect();
    records.push((
        "dubbo/poison".into(),
        Some(b"{\"specversion\":\"1.0\"".to_vec()),
        vec![],
    ));
    produce(&topic, &records).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("recording.jsonl");

    let done = record(&format!("kafka://{}/{topic}", brokers()), &out);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(
        done.status.code(),
        Some(2),
        "a record that is not an event: {stderr}"
    );
    assert!(
        stderr.contains(&format!("not recorded: record {topic}/"))
            && stderr.contains("malformed JSON"),
        "{stderr}"
    );
    assert!(stderr.contains("recorded 2 events"), "{stderr}");
    // Where the poison record landed: the scenario's two events share a key, so they are
    // offsets 0 and 1 of one partition, and the poison is offset 0 of the other or 2 of theirs.
    let poison_offset: u64 = stderr
        .split(&format!("not recorded: record {topic}/"))
        .nth(1)
        .and_then(|rest| rest.split_once('@'))
        .and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or_else(|| panic!("no offset for the poison record in {stderr}"));

    let validated = regsync(&["events", "validate", out.to_str().unwrap()]);
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stdout)
    );
    let converted = regsync(&["convert", "-o", "yaml", out.to_str().unwrap()]);
    assert!(
        converted.status.success(),
        "{}",
        String::from_utf8_lossy(&converted.stderr)
    );
    let golden = std::fs::read_to_string(
        Path::new(ROOT)
            .join("tests/golden")
            .join(format!("{}.yaml", SCENARIO.replace('/', "-"))),
    )
    .unwrap();
    assert_eq!(String::from_utf8(converted.stdout).unwrap(), golden);

    // Recording again gives the same bytes.
    let again = dir.path().join("again.jsonl");
    let done = record(&format!("kafka://{}/{topic}", brokers()), &again);
    assert_eq!(
        done.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());

    // A time after every record: nothing; an offset past the first record of each partition:
    // fewer events.
    let later = dir.path().join("later.jsonl");
    let done = record(
        &format!("kafka://{}/{topic}@2099-01-01T00:00:00Z", brokers()),
        &later,
    );
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(std::fs::read(&later).unwrap(), b"");
    let skipped = dir.path().join("skipped.jsonl");
    let done = record(&format!("kafka://{}/{topic}@1", brokers()), &skipped);
    let stderr = String::from_utf8_lossy(&done.stderr);
    // The second event stays; the poison too when it follows them in their partition.
    let lines = std::fs::read_to_string(&skipped).unwrap().lines().count();
    assert_eq!(lines, 1, "{stderr}");
    let poison_after_offset_1 = poison_offset >= 1;
    assert_eq!(
        done.status.code(),
        Some(if poison_after_offset_1 { 2 } else { 0 }),
        "poison at offset {poison_offset}: {stderr}"
    );
    assert!(stderr.contains("recorded 1 events"), "{stderr}");
}

#[test]
fn a_missing_topic_and_a_bad_source_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.jsonl");
    let done = record(&format!("kafka://{}/{}", brokers(), unique("absent")), &out);
    assert_eq!(done.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("does not exist"),
        "{done:?}"
    );
    assert!(!out.exists(), "nothing is written on an error");
    let done = record("kafka://127.0.0.1:9092/t@yesterday", &out);
    assert_eq!(done.status.code(), Some(2), "a usage error");
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("RFC 3339"),
        "{done:?}"
    );
}
