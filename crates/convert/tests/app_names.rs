//! Eureka application names and hosts (issue 22): a name that cannot be a DNS label is refused,
//! naming the field and the name; distinct applications that meet on one host are never merged.

use regsync_convert::{ConvertConfig, Outcome, apply};
use regsync_model::{RegistryEvent, Snapshot};

/// A real instance registration, as recorded: application `MYMICROSERVICE2` at 10.8.30.55.
const ADDED: &str =
    include_str!("../../../events/recordings/eureka-events/instance-lifecycle/001-added.json");
/// A real whole-application document, as recorded.
const APPLICATION: &str =
    include_str!("../../../events/recordings/eureka-events/single-app/001-application.json");

/// [`ADDED`] for application `app` at `ip`, registered at `registered` ms.
fn registration(app: &str, ip: &str, registered: u64) -> RegistryEvent {
    let text = ADDED
        .replace("\"MYMICROSERVICE2\"", &format!("{app:?}"))
        .replace("10.8.30.55", ip)
        .replace(
            "\"registrationTimestamp\": 1606976861357",
            &format!("\"registrationTimestamp\": {registered}"),
        )
        .replace("instance-lifecycle-001", &format!("{app}-{ip}"));
    assert!(text.contains(&format!("\"app\": {app:?}")), "edited");
    RegistryEvent::from_slice(text.as_bytes(), usize::MAX).expect("a valid event")
}

fn rejection(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Rejected(e) => e.to_string(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_name_that_cannot_be_a_dns_label_is_refused_naming_the_field_and_the_name() {
    let event = registration("bad app/name*", "10.0.0.1", 1_606_976_861_357);
    let applied = apply(&Snapshot::empty(), &[event], &ConvertConfig::default());
    let why = rejection(&applied.outcomes[0]);
    assert!(why.contains("`app`"), "{why}");
    assert!(why.contains("/data/instance/app"), "{why}");
    assert!(why.contains("\"bad app/name*\""), "{why}");
    assert!(!applied.changed, "a refused event leaves no trace");
    assert!(applied.snapshot.entries.is_empty());
}

#[test]
fn a_whole_application_with_such_a_name_is_refused_too() {
    let text = APPLICATION.replace("\"MYMICROSERVICE2\"", "\"orders*\"");
    let event = RegistryEvent::from_slice(text.as_bytes(), usize::MAX).expect("a valid event");
    let applied = apply(&Snapshot::empty(), &[event], &ConvertConfig::default());
    let why = rejection(&applied.outcomes[0]);
    assert!(why.contains("`name`"), "{why}");
    assert!(why.contains("/data/application/name"), "{why}");
    assert!(why.contains("\"orders*\""), "{why}");
}

#[test]
fn distinct_applications_meeting_on_one_host_are_not_merged_the_first_registered_keeps_it() {
    let events = [
        registration("bad app/name*", "10.0.0.1", 1_600_000_000_000),
        // Registered last, but first by name: it must not take the host.
        registration("BAD-APP-NAME", "10.0.0.2", 1_700_000_000_000),
        // Eureka names are case-insensitive: the same application as BAD-APP-NAME.
        registration("bad-app-name", "10.0.0.3", 1_700_000_000_000),
        registration("bad_app_name", "10.0.0.4", 1_650_000_000_000),
    ];
    let config = ConvertConfig::default();
    let forward = apply(&Snapshot::empty(), &events, &config);
    rejection(&forward.outcomes[0]);
    let snapshot = forward.snapshot;
    assert_eq!(snapshot.entries.len(), 1, "{:#?}", snapshot.entries);
    let entry = &snapshot.entries[0];
    assert_eq!(entry.name, "bad-app-name.eureka");
    let addresses: Vec<&str> = entry
        .spec
        .endpoints
        .iter()
        .map(|e| e.address.as_str())
        .collect();
    assert_eq!(addresses, ["10.0.0.4"], "only BAD_APP_NAME's instance");
    assert_eq!(entry.create_time_ms, 1_650_000_000_000);
    // Reported against the host, naming both applications.
    let [rejection] = snapshot.rejected.as_slice() else {
        panic!("one rejection expected: {:?}", snapshot.rejected);
    };
    assert_eq!(rejection.resource, "eureka/bad-app-name.eureka");
    let reason = rejection.reasons.join("; ");
    let names = ["BAD-APP-NAME", "BAD_APP_NAME", "2 endpoints"];
    assert!(names.iter().all(|n| reason.contains(n)), "{reason}");
    // Whatever the order of the events.
    let mut reversed = events.clone();
    reversed.reverse();
    assert_eq!(
        apply(&Snapshot::empty(), &reversed, &config).snapshot,
        snapshot
    );
}

#[test]
fn the_other_application_takes_the_host_once_the_first_has_no_endpoints() {
    let config = ConvertConfig::default();
    let first = [
        registration("FOO_BAR", "10.0.0.1", 1_600_000_000_000),
        registration("FOO-BAR", "10.0.0.2", 1_700_000_000_000),
    ];
    let before = apply(&Snapshot::empty(), &first, &config).snapshot;
    let addresses = |s: &Snapshot| -> Vec<String> {
        s.entries
            .iter()
            .flat_map(|e| e.spec.endpoints.iter().map(|p| p.address.clone()))
            .collect()
    };
    assert_eq!(addresses(&before), ["10.0.0.1"]);
    let gone = ADDED
        .replace("\"MYMICROSERVICE2\"", "\"FOO_BAR\"")
        .replace("10.8.30.55", "10.0.0.1")
        .replace("1606976861357", "1606976961357")
        .replace("\"ADDED\"", "\"DELETED\"");
    let gone = RegistryEvent::from_slice(gone.as_bytes(), usize::MAX).expect("a valid event");
    let after = apply(&before, &[gone], &config).snapshot;
    assert_eq!(addresses(&after), ["10.0.0.2"]);
    assert!(after.rejected.is_empty(), "{:?}", after.rejected);
}
