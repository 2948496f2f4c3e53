//! The stored snapshot format: model → proto → bytes → proto → model is the identity, and a
//! snapshot the model cannot hold is refused with the path of the bad field.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use regsync_model::eureka::{ActionType, EurekaInstance, InstanceStatus};
use regsync_model::snapshot::{Rejection, SNAPSHOT_FORMAT};
use regsync_model::state::{
    DubboAppState, DubboInterfaceState, DubboRegistry, EurekaAppState, EurekaRegistry, RawInstance,
};
use regsync_model::{
    Entry, Location, RegistryState, Resolution, ServiceEntrySpec, ServicePort, Snapshot, Versioned,
    WorkloadEntry,
};
use regsync_proto::regsync::snapshot::v1 as pb;
use regsync_proto::{
    Error, decode_snapshot, encode_snapshot, snapshot_from_proto, snapshot_to_proto,
};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn instance(id: &str, ip: &str) -> EurekaInstance {
    EurekaInstance {
        app: "ORDERS".to_owned(),
        instance_id: id.to_owned(),
        host_name: format!("{id}.internal"),
        ip_addr: ip.to_owned(),
        status: InstanceStatus::Up,
        overridden_status: InstanceStatus::Unknown,
        port: Some(8080),
        secure_port: None,
        metadata: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
        availability_zone: Some("us-east-1a".to_owned()),
        action_type: Some(ActionType::Modified),
        last_updated_timestamp: 1_700_000_000_100,
        last_dirty_timestamp: 1_700_000_000_050,
        registration_timestamp: 1_700_000_000_000,
    }
}

fn entry(namespace: &str, name: &str, resolution: Resolution) -> Entry {
    Entry {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        version: format!("{name}-v1"),
        create_time_ms: 1_700_000_000_000,
        labels: BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "regsync".to_owned(),
        )]),
        annotations: BTreeMap::from([("regsync.io/source".to_owned(), namespace.to_owned())]),
        spec: ServiceEntrySpec {
            hosts: vec![format!("{name}.{namespace}.svc")],
            ports: vec![ServicePort {
                number: 20880,
                protocol: "TCP".to_owned(),
                name: "dubbo".to_owned(),
                target_port: Some(20881),
            }],
            location: Location::MeshInternal,
            resolution,
            endpoints: vec![WorkloadEntry {
                address: "10.0.0.1".to_owned(),
                ports: BTreeMap::from([("dubbo".into(), 20881)]),
                labels: BTreeMap::from([("version".into(), "1.2".into())]),
                locality: Some("us-east-1/us-east-1a".into()),
                weight: Some(3),
                ..WorkloadEntry::default()
            }],
            export_to: strings(&["*"]),
            ..ServiceEntrySpec::default()
        },
    }
}

/// Eureka and Dubbo state, a tombstone, memberships, rejected entries.
fn snapshot() -> Snapshot {
    let orders = EurekaAppState {
        membership: Some(Versioned::new(
            1_700_000_000_200,
            0,
            0,
            BTreeSet::from(["i-1".to_owned()]),
        )),
        instances: BTreeMap::from([
            (
                "i-1".to_owned(),
                Versioned::new(
                    1_700_000_000_100,
                    1_700_000_000_050,
                    1,
                    Some(instance("i-1", "10.0.0.1")),
                ),
            ),
            // A tombstone: deleted, kept so a stale ADDED cannot revive it.
            (
                "i-2".to_owned(),
                Versioned::new(1_700_000_000_300, 0, 2, None),
            ),
        ]),
        first_seen_ms: Some(1_700_000_000_000),
    };
    let eureka = EurekaRegistry {
        membership: Some(Versioned::new(
            42,
            0,
            0,
            BTreeSet::from(["ORDERS".to_owned(), "USERS".to_owned()]),
        )),
        apps: BTreeMap::from([
            ("ORDERS".to_owned(), orders),
            ("USERS".to_owned(), EurekaAppState::default()),
        ]),
    };
    let dubbo = DubboRegistry {
        interfaces: BTreeMap::from([
            (
                "com.example.Greeter".to_owned(),
                DubboInterfaceState {
                    providers: Some(Versioned::new(
                        7,
                        0,
                        0,
                        strings(&[
                            "dubbo%3A%2F%2F10.0.0.1%3A20880%2Fcom.example.Greeter%3Fapplication%3Dgreeter",
                        ]),
                    )),
                    configurators: Some(Versioned::new(
                        8,
                        0,
                        0,
                        strings(&["override%3A%2F%2F0.0.0.0%2Fcom.example.Greeter%3Fweight%3D3"]),
                    )),
                    mapping: Some(Versioned::new(9, 0, 0, strings(&["greeter"]))),
                    first_seen_ms: Some(1_699_999_999_000),
                },
            ),
            // Seen once, now empty: providers present but an empty list.
            (
                "com.example.Empty".to_owned(),
                DubboInterfaceState {
                    providers: Some(Versioned::new(10, 0, 0, Vec::new())),
                    ..DubboInterfaceState::default()
                },
            ),
        ]),
        applications: BTreeMap::from([(
            "greeter".to_owned(),
            DubboAppState {
                instances: Some(Versioned::new(
                    11,
                    0,
                    0,
                    vec![RawInstance {
                        name: "10.0.0.1:20880".to_owned(),
                        data: r#"{"name":"greeter"}"#.to_owned(),
                    }],
                )),
                first_seen_ms: None,
            },
        )]),
    };
    Snapshot {
        format: SNAPSHOT_FORMAT,
        state: RegistryState {
            eureka: BTreeMap::from([("eureka-prod".to_owned(), eureka)]),
            dubbo: BTreeMap::from([("zk-prod".to_owned(), dubbo)]),
        },
        entries: vec![
            entry("eureka-prod", "orders", Resolution::Static),
            entry("zk-prod", "greeter", Resolution::Dns),
        ],
        rejected: vec![Rejection {
            resource: "zk-prod/bad".to_owned(),
            reasons: strings(&["port 0 is out of range", "no hosts"]),
        }],
    }
}

#[test]
fn a_snapshot_survives_model_to_proto_to_bytes_and_back() {
    let original = snapshot();
    let proto = snapshot_to_proto(&original);
    let bytes = proto.encode_to_vec();
    let reread = pb::Snapshot::decode(bytes.as_slice()).unwrap();
    assert_eq!(reread, proto);
    assert_eq!(snapshot_from_proto(reread).unwrap(), original);
    assert_eq!(
        decode_snapshot(&encode_snapshot(&original)).unwrap(),
        original
    );
}

#[test]
fn a_tombstone_stays_a_tombstone() {
    let proto = snapshot_to_proto(&snapshot());
    let app = &proto.state.as_ref().unwrap().eureka["eureka-prod"].apps["ORDERS"];
    assert!(app.instances["i-2"].instance.is_none());
    assert!(app.instances["i-2"].stamp.is_some());
    assert!(app.instances["i-1"].instance.is_some());
}

#[test]
fn encoding_is_deterministic() {
    assert_eq!(encode_snapshot(&snapshot()), encode_snapshot(&snapshot()));
}

#[test]
fn an_empty_snapshot_round_trips() {
    let empty = Snapshot::empty();
    assert_eq!(decode_snapshot(&encode_snapshot(&empty)).unwrap(), empty);
    // No bytes at all is format 0 with nothing in it: still readable.
    assert_eq!(decode_snapshot(&[]).unwrap(), Snapshot::default());
}

#[test]
fn an_unknown_enum_value_is_refused_naming_its_field() {
    let mut proto = snapshot_to_proto(&snapshot());
    proto.entries[1].spec.as_mut().unwrap().resolution = 9;
    let err = snapshot_from_proto(proto).unwrap_err();
    assert!(
        matches!(err, Error::UnknownEnumValue { value: 9, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "entries[1].spec.resolution: unknown ServiceEntry.Resolution value 9"
    );
    assert_eq!(err.kind(), "unknown_enum_value");
}

#[test]
fn dynamic_dns_and_workload_selectors_are_refused_as_unsupported() {
    let mut proto = snapshot_to_proto(&snapshot());
    proto.entries[0].spec.as_mut().unwrap().resolution = 4;
    let err = snapshot_from_proto(proto).unwrap_err();
    assert_eq!(
        err.to_string(),
        "entries[0].spec.resolution: DYNAMIC_DNS is not supported by regsync"
    );

    let mut proto = snapshot_to_proto(&snapshot());
    proto.entries[0].spec.as_mut().unwrap().workload_selector = Some(Default::default());
    let err = snapshot_from_proto(proto).unwrap_err();
    assert_eq!(
        err.to_string(),
        "entries[0].spec.workload_selector: a workload selector is not supported by regsync"
    );
}

/// The live instance `i-1` of the fixture, to break.
fn instance_of(proto: &mut pb::Snapshot) -> &mut pb::EurekaInstance {
    let state = proto.state.as_mut().expect("the fixture has state");
    let app = state
        .eureka
        .get_mut("eureka-prod")
        .and_then(|r| r.apps.get_mut("ORDERS"));
    let record = app
        .and_then(|a| a.instances.get_mut("i-1"))
        .expect("the fixture has i-1");
    record.instance.as_mut().expect("i-1 is live")
}

#[test]
fn bad_state_is_refused_with_the_path_through_the_maps() {
    let mut proto = snapshot_to_proto(&snapshot());
    instance_of(&mut proto).status = 0;
    let err = snapshot_from_proto(proto).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"state.eureka["eureka-prod"].apps["ORDERS"].instances["i-1"].instance.status: INSTANCE_STATUS_UNSPECIFIED is not supported by regsync"#
    );

    let mut proto = snapshot_to_proto(&snapshot());
    instance_of(&mut proto).port = Some(70_000);
    let err = snapshot_from_proto(proto).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"state.eureka["eureka-prod"].apps["ORDERS"].instances["i-1"].instance.port: 70000 is out of range (at most 65535)"#
    );

    let mut proto = snapshot_to_proto(&snapshot());
    let registry = proto
        .state
        .as_mut()
        .unwrap()
        .dubbo
        .get_mut("zk-prod")
        .unwrap();
    registry
        .applications
        .get_mut("greeter")
        .unwrap()
        .instances
        .as_mut()
        .unwrap()
        .stamp = None;
    let err = snapshot_from_proto(proto).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"state.dubbo["zk-prod"].applications["greeter"].instances.stamp is missing"#
    );

    let mut proto = snapshot_to_proto(&snapshot());
    let registry = proto
        .state
        .as_mut()
        .unwrap()
        .dubbo
        .get_mut("zk-prod")
        .unwrap();
    registry
        .interfaces
        .get_mut("com.example.Greeter")
        .unwrap()
        .mapping
        .as_mut()
        .unwrap()
        .stamp
        .as_mut()
        .unwrap()
        .rank = 256;
    let err = snapshot_from_proto(proto).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"state.dubbo["zk-prod"].interfaces["com.example.Greeter"].mapping.stamp.rank: 256 is out of range (at most 255)"#
    );
}

#[test]
fn an_entry_without_a_spec_is_refused() {
    let mut proto = snapshot_to_proto(&snapshot());
    proto.entries[0].spec = None;
    assert_eq!(
        snapshot_from_proto(proto).unwrap_err().to_string(),
        "entries[0].spec is missing"
    );
}

#[test]
fn bytes_that_are_not_a_snapshot_are_a_decode_error() {
    let err = decode_snapshot(&[0x0a, 0x05, 0x01]).unwrap_err();
    assert_eq!(err.kind(), "decode");
    assert_eq!(
        err.to_string(),
        "cannot decode regsync.snapshot.v1.Snapshot"
    );
}
