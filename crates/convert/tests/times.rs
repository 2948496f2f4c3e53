//! Registry times that no protobuf `Timestamp` holds never become a `create_time` (issue 22):
//! real recordings, edited to carry the far-future times found from outside.

use regsync_convert::time::MAX_CREATE_TIME_MS;
use regsync_convert::{ConvertConfig, Outcome, apply, render_state};
use regsync_model::{RegistryEvent, Snapshot};

/// `leaseInfo.registrationTimestamp` of issue 22: 3e14 ms, in the year 11476.
const FAR_FUTURE: &str = "300000000000000";

/// A real instance registration, as recorded.
const ADDED: &str =
    include_str!("../../../events/recordings/eureka-events/instance-lifecycle/001-added.json");
/// Real Dubbo 2.7 providers of one interface, as recorded.
const PROVIDERS: &str = include_str!(
    "../../../events/recordings/dubbo-zk/dubbo27-providers/001-providers-ComplexService.json"
);

const INSTANCE_ID: &str = "10.8.30.55:myMicroservice2:338445840785870848";

/// The event in `text`, each `(from, to)` of `edits` replaced; every `from` must occur.
fn edited(text: &str, edits: &[(&str, &str)]) -> RegistryEvent {
    let mut text = text.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "the recording no longer holds {from}");
        text = text.replace(from, to);
    }
    RegistryEvent::from_slice(text.as_bytes(), usize::MAX).expect("a valid event")
}

/// [`ADDED`] registered at [`FAR_FUTURE`].
fn added_far_in_the_future() -> RegistryEvent {
    edited(
        ADDED,
        &[(
            REGISTERED,
            &format!("\"registrationTimestamp\": {FAR_FUTURE}"),
        )],
    )
}

const REGISTERED: &str = "\"registrationTimestamp\": 1606976861357";

fn applied(events: &[RegistryEvent]) -> Snapshot {
    let applied = apply(&Snapshot::empty(), events, &ConvertConfig::default());
    for o in &applied.outcomes {
        assert!(matches!(o, Outcome::Applied), "{o:?}");
    }
    applied.snapshot
}

fn reasons(snapshot: &Snapshot) -> Vec<&str> {
    snapshot
        .rejected
        .iter()
        .flat_map(|r| r.reasons.iter().map(String::as_str))
        .collect()
}

/// The snapshot holds one warning, which names every one of `parts`.
fn assert_one_warning_naming(snapshot: &Snapshot, parts: &[&str]) {
    let reasons = reasons(snapshot);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    for part in parts {
        assert!(reasons[0].contains(part), "{part} missing in {reasons:?}");
    }
}

#[test]
fn a_registration_time_after_the_year_9999_falls_back_to_last_updated_with_a_warning() {
    let snapshot = applied(&[added_far_in_the_future()]);
    assert_eq!(snapshot.entries.len(), 1, "the instance is still served");
    let entry = &snapshot.entries[0];
    assert_eq!(entry.name, "mymicroservice2.eureka");
    assert_eq!(entry.spec.endpoints.len(), 1);
    // lastUpdatedTimestamp of the same instance.
    assert_eq!(entry.create_time_ms, 1_606_976_861_357);
    let app = &snapshot.state.eureka["eureka"].apps["MYMICROSERVICE2"];
    assert_eq!(app.first_seen_ms, Some(1_606_976_861_357));
    // The warning names the registry, the application, the instance and the field.
    assert_one_warning_naming(
        &snapshot,
        &[
            "registry eureka",
            "application MYMICROSERVICE2",
            INSTANCE_ID,
            "leaseInfo.registrationTimestamp",
            FAR_FUTURE,
        ],
    );
}

#[test]
fn an_instance_with_no_usable_time_has_no_create_time() {
    let event = edited(
        ADDED,
        &[
            (
                REGISTERED,
                &format!("\"registrationTimestamp\": {FAR_FUTURE}"),
            ),
            (
                "\"lastUpdatedTimestamp\": \"1606976861357\"",
                &format!("\"lastUpdatedTimestamp\": \"{FAR_FUTURE}\""),
            ),
        ],
    );
    let snapshot = applied(&[event]);
    assert_eq!(snapshot.entries.len(), 1);
    assert_eq!(snapshot.entries[0].create_time_ms, 0, "unknown");
    assert_eq!(reasons(&snapshot).len(), 2, "{:?}", snapshot.rejected);
}

#[test]
fn a_stored_state_holding_a_far_future_first_seen_time_renders_within_range() {
    // A snapshot written before issue 22 was fixed.
    let mut state = applied(&[edited(ADDED, &[])]).state;
    let app = state
        .eureka
        .get_mut("eureka")
        .and_then(|r| r.apps.get_mut("MYMICROSERVICE2"))
        .expect("the application");
    app.first_seen_ms = Some(FAR_FUTURE.parse().unwrap());
    let snapshot = render_state(state, &ConvertConfig::default());
    assert_eq!(snapshot.entries.len(), 1);
    assert!(snapshot.entries[0].create_time_ms <= MAX_CREATE_TIME_MS);
}

#[test]
fn a_dubbo_provider_timestamp_after_the_year_9999_is_not_a_create_time() {
    let event = edited(
        PROVIDERS,
        &[(
            "timestamp%3D1623819379414",
            &format!("timestamp%3D{FAR_FUTURE}"),
        )],
    );
    let snapshot = applied(&[event]);
    assert_eq!(snapshot.entries.len(), 1, "the provider is still served");
    assert_eq!(snapshot.entries[0].create_time_ms, 0, "no other time known");
    assert_one_warning_naming(
        &snapshot,
        &[
            "registry dubbo",
            "ComplexService",
            "172.20.0.69:20880",
            "timestamp",
            FAR_FUTURE,
        ],
    );
}
