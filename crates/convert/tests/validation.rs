//! Entries istiod would reject are excluded, with the reason, and never emitted.

use std::collections::BTreeMap;

use regsync_convert::validate::validate_entry;
use regsync_convert::{ConvertConfig, apply};
use regsync_model::{
    Entry, Location, RegistryEvent, Resolution, ServiceEntrySpec, ServicePort, Snapshot,
    WorkloadEntry,
};
use serde_json::json;

fn valid() -> Entry {
    Entry {
        namespace: "dubbo".into(),
        name: "com.example.greeter.dubbo".into(),
        version: "x".into(),
        create_time_ms: 0,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        spec: ServiceEntrySpec {
            hosts: vec!["com.example.greeter.dubbo".into()],
            ports: vec![ServicePort {
                number: 20880,
                protocol: "TCP".into(),
                name: "tcp-dubbo-20880".into(),
                target_port: None,
            }],
            location: Location::MeshInternal,
            resolution: Resolution::Static,
            endpoints: vec![WorkloadEntry {
                address: "10.0.0.1".into(),
                ports: BTreeMap::from([("tcp-dubbo-20880".into(), 20880)]),
                ..WorkloadEntry::default()
            }],
            export_to: vec!["*".into()],
            ..ServiceEntrySpec::default()
        },
    }
}

fn reasons(e: &Entry) -> String {
    validate_entry(e).expect_err("must be invalid").join("; ")
}

#[test]
fn a_valid_entry_passes() {
    assert_eq!(validate_entry(&valid()), Ok(()));
}

#[test]
fn hosts_with_colons_underscores_wildcards_or_numeric_tlds_are_invalid() {
    for host in [
        "providers:com.example.Greeter:1.0.0",
        "foo_bar.eureka",
        "*",
        "10.0.0.1",
        "a..b",
        "",
    ] {
        let mut e = valid();
        e.spec.hosts = vec![host.into()];
        let why = reasons(&e);
        assert!(why.contains("host"), "{host}: {why}");
    }
}

#[test]
fn a_dubbo_protocol_port_is_invalid() {
    let mut e = valid();
    e.spec.ports[0].protocol = "DUBBO".into();
    assert!(reasons(&e).contains("unsupported protocol \"DUBBO\""));
}

#[test]
fn duplicate_port_names_and_numbers_and_undeclared_endpoint_ports_are_invalid() {
    let mut e = valid();
    e.spec.ports.push(e.spec.ports[0].clone());
    let why = reasons(&e);
    assert!(why.contains("used twice"), "{why}");
    let mut e = valid();
    e.spec.endpoints[0]
        .ports
        .insert("grpc-tri-50051".into(), 50051);
    assert!(reasons(&e).contains("does not declare"));
    let mut e = valid();
    e.spec.ports[0].number = 0;
    assert!(reasons(&e).contains("outside 1-65535"));
}

#[test]
fn invalid_labels_are_invalid() {
    let mut e = valid();
    e.spec.endpoints[0]
        .labels
        .insert("service.name".into(), "ServiceBean:/org.Foo".into());
    assert!(reasons(&e).contains("label"));
    let mut e = valid();
    e.spec.endpoints[0].labels.insert("-bad".into(), "x".into());
    assert!(reasons(&e).contains("label"));
}

#[test]
fn static_endpoints_must_be_ips_and_count_limits_hold() {
    let mut e = valid();
    e.spec.endpoints[0].address = "provider.local".into();
    assert!(reasons(&e).contains("STATIC"));
    let mut e = valid();
    let ep = e.spec.endpoints[0].clone();
    e.spec.endpoints = (0..4097)
        .map(|i| WorkloadEntry {
            address: format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            ..ep.clone()
        })
        .collect();
    assert!(reasons(&e).contains("more than 4096"));
    let mut e = valid();
    e.spec.ports = (1..=257)
        .map(|n| ServicePort {
            number: n,
            protocol: "TCP".into(),
            name: format!("tcp-{n}"),
            target_port: None,
        })
        .collect();
    assert!(reasons(&e).contains("more than 256"));
}

#[test]
fn invalid_entries_from_real_conversion_are_left_out_with_the_reason() {
    // An anchor's mistake: a `DUBBO` port protocol. Here it comes from a config override; the
    // entry must be reported, not emitted.
    let mut config = ConvertConfig::default();
    config
        .dubbo
        .protocols
        .get_mut("dubbo")
        .expect("dubbo style")
        .protocol = "DUBBO".into();
    // An Eureka app whose name makes a DNS label longer than 63 characters.
    let long_app = "A".repeat(70);
    let eureka = RegistryEvent::from_value(json!({
        "specversion": "1.0", "id": "1", "source": "test", "type": "io.regsync.eureka.application.v1",
        "subject": long_app, "sourceversion": "5",
        "data": {"application": {"name": long_app, "instance": [{
            "instanceId": "i1", "hostName": "h", "app": long_app, "ipAddr": "10.0.0.9", "status": "UP",
            "port": {"$": 8080, "@enabled": "true"}, "metadata": {"protocol": "dubbo"}}]}}
    }))
    .expect("valid event");
    let dubbo = RegistryEvent::from_value(json!({
        "specversion": "1.0", "id": "2", "source": "test", "type": "io.regsync.zookeeper.providers.v1",
        "subject": "com.example.Greeter", "sourceversion": "3",
        "data": {"path": "/dubbo/com.example.Greeter/providers", "pzxid": 3,
                 "children": ["dubbo%3A%2F%2F10.0.0.1%3A20880%2Fcom.example.Greeter%3Finterface%3Dcom.example.Greeter"]}
    }))
    .expect("valid event");
    let snapshot = apply(&Snapshot::empty(), &[eureka, dubbo], &config).snapshot;
    assert!(
        snapshot.entries.is_empty(),
        "nothing invalid may be emitted: {:?}",
        snapshot.entries
    );
    let all: Vec<String> = snapshot
        .rejected
        .iter()
        .map(|r| format!("{}: {}", r.resource, r.reasons.join("; ")))
        .collect();
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(
        all.iter()
            .any(|r| r.starts_with("dubbo/com.example.greeter.dubbo")
                && r.contains(
                    "entry not emitted: port tcp-dubbo-20880 has unsupported protocol \"DUBBO\""
                )),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|r| r.contains("entry not emitted") && r.contains("is not a valid DNS name")),
        "{all:#?}"
    );
    // A non-Istio protocol in one instance's metadata is reported and replaced by the default,
    // instead of invalidating the whole entry.
    assert!(
        all.iter()
            .any(|r| r.contains("metadata protocol \"dubbo\" is not an Istio protocol")),
        "{all:#?}"
    );
}
