//! Any bytes as a Eureka payload (JSON or XML): errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = regsync_eureka::parse(data);
});
