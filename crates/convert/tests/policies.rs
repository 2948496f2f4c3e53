//! Cross-registry and Dubbo 3 rules: duplicate hosts, application-level registration.

use regsync_convert::config::DuplicateHostPolicy;
use regsync_convert::{ConvertConfig, apply};
use regsync_model::{RegistryEvent, Snapshot};
use serde_json::{Value, json};

fn znode(url: &str) -> String {
    regsync_dubbo::url::encode_component(url)
}

fn ev(registry: &str, ty: &str, subject: &str, version: u64, data: Value) -> RegistryEvent {
    RegistryEvent::from_value(json!({"specversion": "1.0", "id": format!("{registry}-{version}"), "source": "test",
        "type": ty, "subject": subject, "registry": registry, "sourceversion": version.to_string(), "data": data}))
    .expect("valid event")
}

fn providers(registry: &str, ip: &str) -> RegistryEvent {
    let url = format!(
        "dubbo://{ip}:20880/com.example.Greeter?interface=com.example.Greeter&side=provider&timestamp=1600000000000"
    );
    ev(
        registry,
        "io.regsync.zookeeper.providers.v1",
        "com.example.Greeter",
        3,
        json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 3, "children": [znode(&url)]}),
    )
}

#[test]
fn the_same_host_from_two_registries_is_merged_with_a_registry_label_by_default() {
    let events = [
        providers("zk-east", "10.0.0.1"),
        providers("zk-west", "10.1.0.1"),
    ];
    let snapshot = apply(&Snapshot::empty(), &events, &ConvertConfig::default()).snapshot;
    assert_eq!(snapshot.entries.len(), 1, "{:#?}", snapshot.entries);
    let e = &snapshot.entries[0];
    assert_eq!(e.namespace, "zk-east");
    assert_eq!(e.annotations["regsync.io/registries"], "zk-east,zk-west");
    let regs: Vec<(&str, &str)> = e
        .spec
        .endpoints
        .iter()
        .map(|p| (p.address.as_str(), &*p.labels["registry"]))
        .collect();
    assert_eq!(regs, vec![("10.0.0.1", "zk-east"), ("10.1.0.1", "zk-west")]);
}

#[test]
fn the_prefer_policy_keeps_one_registry_and_reports_the_shadowed_one() {
    let config = ConvertConfig {
        duplicate_hosts: DuplicateHostPolicy::Prefer {
            order: vec!["zk-west".into()],
        },
        ..ConvertConfig::default()
    };
    let events = [
        providers("zk-east", "10.0.0.1"),
        providers("zk-west", "10.1.0.1"),
    ];
    let snapshot = apply(&Snapshot::empty(), &events, &config).snapshot;
    assert_eq!(snapshot.entries.len(), 1);
    assert_eq!(snapshot.entries[0].namespace, "zk-west");
    assert_eq!(snapshot.entries[0].spec.endpoints.len(), 1);
    assert_eq!(snapshot.rejected.len(), 1);
    assert!(
        snapshot.rejected[0].reasons[0].contains("zk-east"),
        "{:?}",
        snapshot.rejected
    );
}

fn app_instance(ip: &str, port: u16, protocol: &str) -> Value {
    json!({"name": "greeter-app", "id": format!("{ip}:{port}"), "address": ip, "port": port, "sslPort": null,
           "payload": {"@class": "org.apache.dubbo.registry.zookeeper.ZookeeperInstance", "id": format!("{ip}:{port}"), "name": "greeter-app",
                       "metadata": {"dubbo.endpoints": format!("[{{\"port\":{port},\"protocol\":\"{protocol}\"}}]"),
                                    "dubbo.metadata.revision": "abc", "dubbo.metadata.storage-type": "local"}},
           "registrationTimeUTC": 1674960781893u64, "serviceType": "DYNAMIC", "uriSpec": null})
}

fn dubbo3(ips: &[&str]) -> Vec<RegistryEvent> {
    let children: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"name": format!("{ip}:50051"), "data": app_instance(ip, 50051, "tri")}))
        .collect();
    vec![
        ev(
            "dubbo",
            "io.regsync.zookeeper.instances.v1",
            "greeter-app",
            7,
            json!({"path": "/services/greeter-app", "pzxid": 7, "children": children}),
        ),
        ev(
            "dubbo",
            "io.regsync.zookeeper.mapping.v1",
            "com.example.Greeter",
            8,
            json!({"path": "/dubbo/mapping/com.example.Greeter", "mzxid": 8, "data": "greeter-app"}),
        ),
    ]
}

#[test]
fn application_level_instances_reach_their_interfaces_through_the_mapping() {
    let snapshot = apply(
        &Snapshot::empty(),
        &dubbo3(&["10.2.0.1", "10.2.0.2"]),
        &ConvertConfig::default(),
    )
    .snapshot;
    assert_eq!(snapshot.entries.len(), 1, "{:#?}", snapshot);
    let e = &snapshot.entries[0];
    assert_eq!(e.spec.hosts, vec!["com.example.greeter.dubbo".to_owned()]);
    assert_eq!(e.spec.ports[0].name, "grpc-tri-50051");
    assert_eq!(e.spec.ports[0].protocol, "GRPC");
    assert_eq!(e.spec.endpoints.len(), 2);
    assert_eq!(e.create_time_ms, 1674960781893);
}

#[test]
fn a_provider_registered_at_both_levels_is_counted_once() {
    let url = "tri://10.2.0.1:50051/com.example.Greeter?interface=com.example.Greeter&side=provider&timestamp=1600000000000";
    let mut events = dubbo3(&["10.2.0.1", "10.2.0.2"]);
    events.push(ev("dubbo", "io.regsync.zookeeper.providers.v1", "com.example.Greeter", 9,
                   json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 9, "children": [znode(url)]})));
    let snapshot = apply(&Snapshot::empty(), &events, &ConvertConfig::default()).snapshot;
    let addresses: Vec<&str> = snapshot.entries[0]
        .spec
        .endpoints
        .iter()
        .map(|e| e.address.as_str())
        .collect();
    assert_eq!(addresses, vec!["10.2.0.1", "10.2.0.2"]);
}

#[test]
fn one_process_exporting_two_versions_on_one_port_serves_both_hosts() {
    let urls = [
        "dubbo://10.0.0.1:20880/com.example.Greeter?interface=com.example.Greeter&version=1.0.0&timestamp=1600000000000",
        "dubbo://10.0.0.1:20880/com.example.Greeter?interface=com.example.Greeter&version=2.0.0&timestamp=1600000000001",
    ];
    let children: Vec<String> = urls.iter().map(|u| znode(u)).collect();
    let ev = ev(
        "dubbo",
        "io.regsync.zookeeper.providers.v1",
        "com.example.Greeter",
        3,
        json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 3, "children": children}),
    );
    let snapshot = apply(&Snapshot::empty(), &[ev], &ConvertConfig::default()).snapshot;
    let hosts: Vec<&str> = snapshot
        .entries
        .iter()
        .map(|e| e.spec.hosts[0].as_str())
        .collect();
    assert_eq!(
        hosts,
        vec![
            "com.example.greeter-1-0-0.dubbo",
            "com.example.greeter-2-0-0.dubbo"
        ]
    );
}

#[test]
fn a_provider_disabled_by_a_configurator_does_not_return_through_its_application_level_twin() {
    let url = "tri://10.2.0.1:50051/com.example.Greeter?interface=com.example.Greeter&side=provider&timestamp=1600000000000";
    let rule = "override://10.2.0.1:50051/com.example.Greeter?category=configurators&dynamic=false&disabled=true";
    let mut events = dubbo3(&["10.2.0.1"]);
    events.push(ev("dubbo", "io.regsync.zookeeper.providers.v1", "com.example.Greeter", 9,
                   json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 9, "children": [znode(url)]})));
    events.push(ev("dubbo", "io.regsync.zookeeper.configurators.v1", "com.example.Greeter", 10,
                   json!({"path": "/dubbo/com.example.Greeter/configurators", "pzxid": 10, "children": [znode(rule)]})));
    let snapshot = apply(&Snapshot::empty(), &events, &ConvertConfig::default()).snapshot;
    assert!(snapshot.entries.is_empty(), "{:#?}", snapshot.entries);
}

fn eureka_instance(app: &str, ip: &str, updated: u64) -> Value {
    json!({"instanceId": format!("{ip}:{app}"), "hostName": ip, "app": app, "ipAddr": ip, "status": "UP",
           "port": {"$": 8080, "@enabled": "true"}, "lastUpdatedTimestamp": updated.to_string()})
}

#[test]
fn a_newer_application_document_outweighs_an_older_registry_document() {
    let apps = ev(
        "eureka",
        "io.regsync.eureka.applications.v1",
        "*",
        100,
        json!({"applications": {"application": [{"name": "OTHER", "instance": [eureka_instance("OTHER", "10.9.0.1", 10)]}]}}),
    );
    let app = ev(
        "eureka",
        "io.regsync.eureka.application.v1",
        "ORDERS",
        200,
        json!({"application": {"name": "ORDERS", "instance": [eureka_instance("ORDERS", "10.0.0.1", 50)]}}),
    );
    let snapshot = apply(&Snapshot::empty(), &[apps, app], &ConvertConfig::default()).snapshot;
    let hosts: Vec<&str> = snapshot
        .entries
        .iter()
        .map(|e| e.spec.hosts[0].as_str())
        .collect();
    assert_eq!(hosts, vec!["orders.eureka", "other.eureka"]);
}

#[test]
fn a_rejected_event_leaves_no_trace_in_the_state() {
    let good = providers("zk-east", "10.0.0.1");
    let wrong_subject = ev(
        "eureka-west",
        "io.regsync.eureka.application.v1",
        "BILLING",
        5,
        json!({"application": {"name": "ORDERS", "instance": [eureka_instance("ORDERS", "10.0.0.1", 5)]}}),
    );
    let config = ConvertConfig::default();
    let with = apply(&Snapshot::empty(), &[good.clone(), wrong_subject], &config);
    assert!(matches!(
        with.outcomes[1],
        regsync_convert::Outcome::Rejected(_)
    ));
    let without = apply(&Snapshot::empty(), &[good], &config);
    assert_eq!(with.snapshot, without.snapshot);
}

#[test]
fn an_instance_data_update_under_the_same_parent_pzxid_is_ordered_by_the_child_mzxid() {
    let state = |mzxid: u64, port: u16| {
        let child = json!({"name": "10.2.0.1:50051", "mzxid": mzxid, "data": app_instance("10.2.0.1", port, "tri")});
        ev(
            "dubbo",
            "io.regsync.zookeeper.instances.v1",
            "greeter-app",
            7,
            json!({"path": "/services/greeter-app", "pzxid": 7, "children": [child]}),
        )
    };
    let mapping = dubbo3(&[]).pop().expect("mapping event");
    let (old, new) = (state(8, 50051), state(9, 50052));
    for order in [
        vec![old.clone(), new.clone(), mapping.clone()],
        vec![new, old, mapping],
    ] {
        let snapshot = apply(&Snapshot::empty(), &order, &ConvertConfig::default()).snapshot;
        assert_eq!(
            snapshot.entries[0].spec.ports[0].number, 50052,
            "{:#?}",
            snapshot.entries
        );
    }
}
