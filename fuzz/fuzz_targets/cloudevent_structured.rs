//! Any bytes as a structured-mode CloudEvent (a Kafka record's value, a webhook body): errors
//! are fine, panics are not, and an accepted event forwards unchanged in either mode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsync_fuzz::{MAX_BYTES, assert_forwards_unchanged};
use regsync_model::RegistryEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = RegistryEvent::from_slice(data, MAX_BYTES) {
        assert_forwards_unchanged(&event);
    }
});
