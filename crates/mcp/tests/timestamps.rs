//! Every `create_time` an istiod-like client receives is a Timestamp a conforming decoder
//! accepts (issue 22): a far-future Eureka `leaseInfo.registrationTimestamp` (3e14 ms) made Go's
//! protobuf, and so istiod, refuse the whole response.

#![allow(clippy::unwrap_used)]

use envoy_types::pb::google::protobuf::Timestamp;
use prost::Message;
use regsync_convert::{ConvertConfig, apply};
use regsync_mcp::testkit::{Istiod, WAIT, entry, rendered, serve};
use regsync_mcp::types::ISTIOD_1_30_TYPES;
use regsync_model::{Entry, RegistryEvent, Snapshot};
use regsync_proto::istio::mcp::v1alpha1::Resource;

/// A real instance registration, as recorded.
const ADDED: &str =
    include_str!("../../../events/recordings/eureka-events/instance-lifecycle/001-added.json");

/// google/protobuf/timestamp.proto: seconds "must be from 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59Z inclusive", nanos "must be from 0 to 999,999,999 inclusive".
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// What Go's `timestamppb.CheckValid` (used by `AsTime` consumers such as istiod) checks.
fn check_valid(ts: &Timestamp) -> Result<(), String> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) {
        return Err(format!(
            "seconds {} outside the Timestamp range",
            ts.seconds
        ));
    }
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(format!("nanos {} outside [0, 1e9)", ts.nanos));
    }
    Ok(())
}

/// Serves `entries` over ADS and returns every resource's `create_time` the client received
/// until it synced.
async fn create_times_received(entries: &[Entry]) -> Vec<(String, Timestamp)> {
    let server = serve(rendered(1, entries)).await;
    let mut istiod = Istiod::connect(server.addr, &ISTIOD_1_30_TYPES, "default").await;
    let mut out = Vec::new();
    while !istiod.synced() {
        let resp = istiod.step(WAIT).await.expect("a response");
        for any in &resp.resources {
            assert!(any.type_url.ends_with("/istio.mcp.v1alpha1.Resource"));
            let resource = Resource::decode(any.value.as_slice()).unwrap();
            let metadata = resource.metadata.unwrap();
            let created = metadata.create_time.expect("create_time is always set");
            out.push((metadata.name, created));
        }
    }
    out
}

fn assert_all_valid(received: &[(String, Timestamp)]) {
    assert!(!received.is_empty(), "no resource received");
    for (name, ts) in received {
        if let Err(why) = check_valid(ts) {
            panic!("{name}: create_time {ts:?} would be refused: {why}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_registration_time_reaches_istiod_as_a_valid_timestamp() {
    let from = "\"registrationTimestamp\": 1606976861357";
    assert!(ADDED.contains(from), "the recording changed");
    let text = ADDED.replace(from, "\"registrationTimestamp\": 300000000000000");
    let event = RegistryEvent::from_slice(text.as_bytes(), usize::MAX).unwrap();
    let snapshot = apply(&Snapshot::empty(), &[event], &ConvertConfig::default()).snapshot;
    assert_eq!(snapshot.entries.len(), 1, "the instance is still served");
    let received = create_times_received(&snapshot.entries).await;
    assert_all_valid(&received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_stored_with_an_out_of_range_create_time_is_still_sent_valid() {
    // What a snapshot written before issue 22 was fixed may hold.
    let entries: Vec<Entry> = [300_000_000_000_000, 253_402_300_800_000, u64::MAX]
        .into_iter()
        .enumerate()
        .map(|(i, ms)| Entry {
            create_time_ms: ms,
            ..entry(&format!("orders{i}"), "h1", &["10.0.0.1"])
        })
        .collect();
    let received = create_times_received(&entries).await;
    assert_eq!(received.len(), 3, "{received:?}");
    assert_all_valid(&received);
}
