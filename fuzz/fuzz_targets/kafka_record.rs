//! Any Kafka record (header lines `name: value` with values as raw bytes, an empty line, the
//! value): `KafkaRecord::decode` reads binary mode from `ce_` headers or structured mode from
//! the value. Errors are fine, panics are not, and an accepted event forwards unchanged.
//! A first line of `tombstone` makes a record without a value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsync_fuzz::{MAX_BYTES, Message, assert_forwards_unchanged, text};
use regsync_pipeline::KafkaRecord;

fuzz_target!(|data: &[u8]| {
    let message = Message::parse(data);
    let record = KafkaRecord {
        topic: "registry-events".into(),
        partition: 3,
        offset: 40,
        timestamp_ms: None,
        key: None,
        value: (message.first != b"tombstone").then(|| message.body.to_vec()),
        // Kafka header keys are text; values are bytes.
        headers: message
            .headers
            .iter()
            .map(|(k, v)| (text(k), v.to_vec()))
            .collect(),
    };
    match record.decode(MAX_BYTES) {
        Ok(event) => assert_forwards_unchanged(&event),
        Err(rejection) => assert!(
            rejection.reason.contains("registry-events/3@40"),
            "a rejection names the record: {rejection:?}"
        ),
    }
});
