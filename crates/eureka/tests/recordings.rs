//! Every real payload under `events/recordings/eureka/` parses, with the values read from the
//! files themselves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regsync_eureka::{
    max_last_updated, parse, parse_json, parse_json_fast, parse_json_slow, parse_json_str,
    parse_xml,
};
use regsync_model::eureka::{
    ActionType, EurekaApplication, EurekaDocument, EurekaInstance, InstanceStatus,
};

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/recordings/eureka")
}

fn read(rel: &str) -> Vec<u8> {
    let path = recordings().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(rel: &str) -> EurekaDocument {
    parse(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The recordings with their own test below; a new recording must be added here.
const COVERED: &[&str] = &[
    "istio-pilot-testdata/001-apps.json",
    "karyon-xml/001-apps-one-app.xml",
    "karyon-xml/002-apps-two-apps.xml",
    "legacy-xstream-single-object/001-apps-pre-1.2.2.json",
    "legacy-xstream-single-object/002-apps-post-1.2.2.json",
    "single-app/001-application.json",
    "spring-cloud-netflix-5/001-apps.json",
    "spring-cloud-netflix-5/001-apps.xml",
    "spring-cloud-netflix-5/002-delta-added.json",
    "spring-cloud-netflix-5/003-delta-out-of-service.json",
    "spring-cloud-netflix-5/004-delta-back-up.json",
    "spring-cloud-netflix-5/005-delta-cancelled.json",
    "spring-cloud-netflix-5/006-apps-empty.json",
    "spring-cloud-jackson/001-apps.json",
    "steeltoe-add-then-modify/001-apps.json",
    "steeltoe-add-then-modify/002-delta.json",
    "two-apps-mixed-shapes/001-apps-one-app-two-instances.json",
    "two-apps-mixed-shapes/002-apps-two-apps.json",
];

struct Apps<'a> {
    versions_delta: Option<i64>,
    apps_hashcode: Option<&'a str>,
    applications: &'a [EurekaApplication],
}

fn apps(doc: &EurekaDocument) -> Apps<'_> {
    match doc {
        EurekaDocument::Applications {
            versions_delta,
            apps_hashcode,
            applications,
        } => Apps {
            versions_delta: *versions_delta,
            apps_hashcode: apps_hashcode.as_deref(),
            applications,
        },
        other => panic!("expected an applications document, got {other:?}"),
    }
}

fn names_and_counts(apps: &[EurekaApplication]) -> Vec<(&str, usize)> {
    apps.iter()
        .map(|a| (a.name.as_str(), a.instances.len()))
        .collect()
}

fn ids(app: &EurekaApplication) -> Vec<&str> {
    app.instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect()
}

fn ports(app: &EurekaApplication) -> Vec<(Option<u16>, Option<u16>)> {
    app.instances
        .iter()
        .map(|i| (i.port, i.secure_port))
        .collect()
}

fn meta<'a>(i: &'a EurekaInstance, key: &str) -> Option<&'a str> {
    i.metadata.get(key).map(String::as_str)
}

#[test]
fn every_recording_parses_and_has_its_own_test() {
    let mut found = BTreeSet::new();
    for scenario in std::fs::read_dir(recordings()).unwrap() {
        let scenario = scenario.unwrap().path();
        for file in std::fs::read_dir(&scenario).unwrap() {
            let file = file.unwrap().path();
            let rel = file
                .strip_prefix(recordings())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = std::fs::read(&file).unwrap();
            if let Err(e) = parse(&bytes) {
                panic!("{rel}: {e}");
            }
            found.insert(rel);
        }
    }
    let covered: BTreeSet<String> = COVERED.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        found, covered,
        "recordings without their own test (or tests without a file)"
    );
}

#[test]
fn the_typed_path_reads_every_json_recording_as_the_value_path_does() {
    let mut checked = 0;
    for rel in COVERED.iter().filter(|rel| rel.ends_with(".json")) {
        let bytes = read(rel);
        let slow = parse_json_slow(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
        // Every recording is a wrapped shape, which the typed path must read by itself.
        let fast =
            parse_json_fast(&bytes).unwrap_or_else(|| panic!("{rel}: left to the slow path"));
        assert_eq!(fast, slow, "{rel}");
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(parse_json_str(text).unwrap(), slow, "{rel}");
        assert_eq!(parse_json(&bytes).unwrap(), slow, "{rel}");
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn istio_pilot_testdata_has_two_apps_and_string_timestamps() {
    let doc = load("istio-pilot-testdata/001-apps.json");
    let a = apps(&doc);
    assert_eq!(a.versions_delta, Some(1));
    assert_eq!(a.apps_hashcode, Some("UP_34_"));
    assert_eq!(
        names_and_counts(a.applications),
        [("FOO_BAR_LOCAL", 2), ("FOO_BIZ_LOCAL", 1)]
    );
    let [bar, biz] = a.applications else { panic!() };
    assert_eq!(
        ids(bar),
        ["foo.bar.local-10.0.0.1-5000", "foo.bar.local-10.0.0.2-6000"]
    );
    assert_eq!(ports(bar), [(Some(5000), Some(5443)), (Some(6000), None)]);
    assert_eq!(ports(biz), [(Some(8080), None)]);
    let first = &bar.instances[0];
    assert_eq!(first.host_name, "foo.bar.local");
    assert_eq!(first.ip_addr, "10.0.0.1");
    assert_eq!(first.status, InstanceStatus::Up);
    assert_eq!(first.overridden_status, InstanceStatus::Unknown);
    assert_eq!(first.action_type, Some(ActionType::Added));
    assert_eq!(first.last_updated_timestamp, 1_502_120_007_390);
    assert_eq!(first.last_dirty_timestamp, 1_502_120_006_858);
    assert_eq!(first.registration_timestamp, 1_502_120_007_390);
    assert_eq!(meta(first, "istio.protocol"), Some("HTTP"));
    assert_eq!(meta(&biz.instances[0], "istio.protocol"), Some("HTTP2"));
    assert_eq!(first.availability_zone, None);
    assert_eq!(max_last_updated(&doc), 1_502_120_009_977);
}

#[test]
fn karyon_xml_with_one_app_reads_amazon_info() {
    let doc = load("karyon-xml/001-apps-one-app.xml");
    let a = apps(&doc);
    assert_eq!(a.versions_delta, Some(1));
    assert_eq!(a.apps_hashcode, Some("UP_1_"));
    assert_eq!(names_and_counts(a.applications), [("BLAH", 1)]);
    let i = &a.applications[0].instances[0];
    assert_eq!(i.app, "BLAH");
    // No <instanceId>: InstanceInfo.getId() falls back to the AmazonInfo instance-id.
    assert_eq!(i.instance_id, "i-xxxxxxx");
    assert_eq!(i.host_name, "mymachine.abc.com");
    assert_eq!(i.ip_addr, "10.10.10.10");
    assert_eq!((i.port, i.secure_port), (Some(80), None));
    assert_eq!(i.status, InstanceStatus::Up);
    assert_eq!(i.overridden_status, InstanceStatus::Unknown);
    assert_eq!(i.availability_zone.as_deref(), Some("us-east-1e"));
    assert!(i.metadata.is_empty(), "{:?}", i.metadata);
    assert_eq!(i.action_type, Some(ActionType::Added));
    assert_eq!(i.last_updated_timestamp, 1_360_619_077_753);
    assert_eq!(i.last_dirty_timestamp, 1_360_377_164_649);
    assert_eq!(i.registration_timestamp, 1_360_619_077_753);
    assert_eq!(max_last_updated(&doc), 1_360_619_077_753);
}

#[test]
fn karyon_xml_with_two_apps_lists_both() {
    let text = String::from_utf8(read("karyon-xml/002-apps-two-apps.xml")).unwrap();
    let doc = parse_xml(&text).unwrap();
    let a = apps(&doc);
    assert_eq!(a.apps_hashcode, Some("UP_2_"));
    assert_eq!(
        names_and_counts(a.applications),
        [("BLAH", 1), ("KARYON-EUREKA-TEST", 1)]
    );
    let test_app = &a.applications[1].instances[0];
    assert_eq!(test_app.app, "KARYON-EUREKA-TEST");
    assert_eq!((test_app.port, test_app.secure_port), (Some(80), None));
    // The first application is the same as in the one-app document.
    let one = load("karyon-xml/001-apps-one-app.xml");
    assert_eq!(apps(&one).applications[0], a.applications[0]);
}

#[test]
fn a_pre_1_2_2_server_writes_a_single_instance_object_and_string_ports() {
    let doc = load("legacy-xstream-single-object/001-apps-pre-1.2.2.json");
    let a = apps(&doc);
    assert_eq!(a.versions_delta, Some(1));
    assert_eq!(a.apps_hashcode, Some("UP_24_"));
    assert_eq!(names_and_counts(a.applications), [("TESTENG.METRICSD", 1)]);
    let i = &a.applications[0].instances[0];
    // No instanceId and a DefaultDataCenterInfo: the id is the host name.
    assert_eq!(i.instance_id, "192.168.40.94:7101");
    assert_eq!(i.host_name, "192.168.40.94:7101");
    assert_eq!(i.ip_addr, "192.168.40.94");
    assert_eq!((i.port, i.secure_port), (Some(7101), Some(7101)));
    assert_eq!(i.overridden_status, InstanceStatus::Up);
    assert_eq!(i.action_type, Some(ActionType::Modified));
    assert_eq!(i.metadata.len(), 3);
    assert_eq!(meta(i, "base-uri"), Some("https://192.168.40.94:7101"));
    assert_eq!(i.last_updated_timestamp, 1_402_450_388_774);
    assert_eq!(i.registration_timestamp, 1_402_450_388_650);
}

#[test]
fn the_post_1_2_2_payload_is_the_same_document_as_the_pre_1_2_2_one() {
    let pre = load("legacy-xstream-single-object/001-apps-pre-1.2.2.json");
    let post = load("legacy-xstream-single-object/002-apps-post-1.2.2.json");
    assert_eq!(pre, post);
}

#[test]
fn a_single_application_response_is_an_application_document() {
    let doc = parse_json(&read("single-app/001-application.json")).unwrap();
    let EurekaDocument::Application(app) = &doc else {
        panic!("{doc:?}")
    };
    assert_eq!(app.name, "MYMICROSERVICE2");
    assert_eq!(ids(app), ["10.8.30.55:myMicroservice2:338445840785870848"]);
    assert_eq!(ports(app), [(Some(8080), Some(8443))]);
    let i = &app.instances[0];
    assert_eq!(i.overridden_status, InstanceStatus::Unknown);
    assert_eq!(
        meta(i, "instanceId"),
        Some("myMicroservice2:338445840785870848")
    );
    assert_eq!(i.last_updated_timestamp, 1_606_976_861_357);
    assert_eq!(i.last_dirty_timestamp, 1_606_976_860_846);
    assert_eq!(max_last_updated(&doc), 1_606_976_861_357);
}

#[test]
fn a_spring_cloud_registry_reads_camel_case_overridden_status() {
    let doc = load("spring-cloud-jackson/001-apps.json");
    let a = apps(&doc);
    assert_eq!(a.versions_delta, Some(1));
    assert_eq!(a.apps_hashcode, Some("UP_1_"));
    assert_eq!(names_and_counts(a.applications), [("EUREKACONSUMER", 1)]);
    assert_eq!(
        ids(&a.applications[0]),
        ["DESKTOP-SR3A9FI:eurekaconsumer:9002"]
    );
    assert_eq!(ports(&a.applications[0]), [(Some(9002), None)]);
    let i = &a.applications[0].instances[0];
    assert_eq!(i.ip_addr, "10.8.30.55");
    assert_eq!(meta(i, "management.port"), Some("9002"));
    assert_eq!(i.registration_timestamp, 1_606_972_241_104);
}

#[test]
fn steeltoe_full_registry_drops_the_empty_map_class() {
    let doc = load("steeltoe-add-then-modify/001-apps.json");
    let a = apps(&doc);
    assert_eq!(a.versions_delta, Some(1));
    assert_eq!(names_and_counts(a.applications), [("FOO", 1)]);
    let i = &a.applications[0].instances[0];
    assert_eq!(i.instance_id, "localhost:foo");
    assert_eq!(i.host_name, "localhost");
    assert_eq!(i.ip_addr, "192.168.56.1");
    assert_eq!((i.port, i.secure_port), (Some(8080), None));
    assert!(i.metadata.is_empty(), "{:?}", i.metadata);
    assert_eq!(i.action_type, Some(ActionType::Added));
}

#[test]
fn steeltoe_delta_modifies_the_host_name() {
    let doc = load("steeltoe-add-then-modify/002-delta.json");
    let a = apps(&doc);
    assert_eq!(a.versions_delta, Some(3));
    assert_eq!(a.apps_hashcode, Some("UP_1_"));
    let i = &a.applications[0].instances[0];
    assert_eq!(i.instance_id, "localhost:foo");
    assert_eq!(i.host_name, "modified-host");
    assert_eq!(i.action_type, Some(ActionType::Modified));
    assert_eq!(i.last_updated_timestamp, 1_457_714_988_223);
}

#[test]
fn one_app_with_two_instances_keeps_both_in_order() {
    let doc = load("two-apps-mixed-shapes/001-apps-one-app-two-instances.json");
    let a = apps(&doc);
    assert_eq!(names_and_counts(a.applications), [("TESTENG.LSM", 2)]);
    assert_eq!(
        ids(&a.applications[0]),
        ["qa16gs.qa.somecompany.com:7100", "qa22gs:7100"]
    );
    assert_eq!(ports(&a.applications[0]), [(Some(7100), Some(7100)); 2]);
    assert_eq!(max_last_updated(&doc), 1_402_357_291_394);
}

#[test]
fn single_object_and_array_instances_mix_in_one_document() {
    let doc = load("two-apps-mixed-shapes/002-apps-two-apps.json");
    let a = apps(&doc);
    assert_eq!(
        names_and_counts(a.applications),
        [("TESTENG.METRICSD", 1), ("TESTENG.LSM", 2)]
    );
    let single = load("legacy-xstream-single-object/001-apps-pre-1.2.2.json");
    assert_eq!(a.applications[0], apps(&single).applications[0]);
    let two = load("two-apps-mixed-shapes/001-apps-one-app-two-instances.json");
    assert_eq!(a.applications[1], apps(&two).applications[0]);
    assert_eq!(max_last_updated(&doc), 1_402_450_388_774);
}

/// The live Spring Cloud Netflix 5 server (`scripts/record-eureka.sh`): one instance's life as
/// the registry and its delta showed it. XML and JSON read into the same document.
#[test]
fn a_live_spring_cloud_server_shows_one_record_per_instance_and_deletes_as_down() {
    let json = load("spring-cloud-netflix-5/001-apps.json");
    assert_eq!(json, load("spring-cloud-netflix-5/001-apps.xml"));
    let a = apps(&json);
    assert_eq!(a.apps_hashcode, Some("UP_1_"));
    let i = &a.applications[0].instances[0];
    assert_eq!((i.instance_id.as_str(), i.port), ("orders-1", Some(56963)));
    assert_eq!(meta(i, "version"), Some("v1"));
    assert_eq!(meta(i, "zone"), Some("zone-a"));
    assert!(meta(i, "management.port").is_some());
    for (file, hash, status, action) in [
        (
            "002-delta-added.json",
            "UP_1_",
            InstanceStatus::Up,
            ActionType::Added,
        ),
        (
            "003-delta-out-of-service.json",
            "OUT_OF_SERVICE_1_",
            InstanceStatus::OutOfService,
            ActionType::Modified,
        ),
        (
            "004-delta-back-up.json",
            "UP_1_",
            InstanceStatus::Up,
            ActionType::Modified,
        ),
        (
            "005-delta-cancelled.json",
            "",
            InstanceStatus::Down,
            ActionType::Deleted,
        ),
    ] {
        let doc = load(&format!("spring-cloud-netflix-5/{file}"));
        let d = apps(&doc);
        assert_eq!(d.apps_hashcode, Some(hash), "{file}");
        // One record per changed instance: its latest state, not one per change.
        assert_eq!(names_and_counts(d.applications), [("ORDERS", 1)], "{file}");
        let i = &d.applications[0].instances[0];
        assert_eq!((i.status, i.action_type), (status, Some(action)), "{file}");
    }
    let empty = load("spring-cloud-netflix-5/006-apps-empty.json");
    let e = apps(&empty);
    assert_eq!(e.apps_hashcode, Some(""));
    assert!(e.applications.is_empty());
}
