//! Ports as istiod uses them (found by the istio harness, tests/istio): istiod makes every
//! ServiceEntry endpoint an endpoint of every declared port, at the number the endpoint maps for
//! that port's name or else at the port's own number. So an entry declares one port per role
//! (Eureka `port`, `securePort`; one per Dubbo protocol), every endpoint maps every declared port
//! to a number it really serves, and a role not served everywhere is left out, saying so.

use regsync_convert::{ConvertConfig, apply};
use regsync_model::{Entry, RegistryEvent, Snapshot};
use serde_json::{Value, json};

/// istio's own Eureka testdata, as recorded: 10.0.0.1 serves 5000 and securePort 5443,
/// 10.0.0.2 of the same application serves 6000 only.
const PILOT_TESTDATA: &str = include_str!(
    "../../../events/recordings/eureka-events/istio-pilot-testdata/001-applications.json"
);

fn one_entry(events: &[RegistryEvent]) -> (Entry, Vec<String>) {
    let snapshot = apply(&Snapshot::empty(), events, &ConvertConfig::default()).snapshot;
    assert_eq!(snapshot.entries.len(), 1, "{:#?}", snapshot.entries);
    let reasons = snapshot
        .rejected
        .iter()
        .flat_map(|r| r.reasons.clone())
        .collect();
    (snapshot.entries[0].clone(), reasons)
}

/// (port name, number) of the entry, and (address, [(port name, number)]) of each endpoint.
#[allow(clippy::type_complexity)]
fn layout(e: &Entry) -> (Vec<(String, u32)>, Vec<(String, Vec<(String, u32)>)>) {
    (
        e.spec
            .ports
            .iter()
            .map(|p| (p.name.clone(), p.number))
            .collect(),
        e.spec
            .endpoints
            .iter()
            .map(|ep| {
                let ports = ep.ports.iter().map(|(k, v)| (k.to_string(), *v)).collect();
                (ep.address.clone(), ports)
            })
            .collect(),
    )
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[test]
fn instances_on_different_ports_share_one_port_each_mapping_its_own_number() {
    let mut doc: Value = serde_json::from_str(PILOT_TESTDATA).expect("json");
    // Keep application FOO_BAR_LOCAL only (its two instances).
    let apps = doc["data"]["applications"]["application"]
        .as_array_mut()
        .expect("array");
    apps.retain(|a| a["name"] == "FOO_BAR_LOCAL");
    let event = RegistryEvent::from_value(doc).expect("event");
    let (entry, reasons) = one_entry(&[event]);
    let (ports, endpoints) = layout(&entry);
    // One plain port: both instances serve it, each on its own number. 5000 and 6000 tie, the
    // smaller is the port's number. Before, 10.0.0.2 was an endpoint of http-5000 at 5000 and
    // 10.0.0.1 of http-6000 at 6000, which neither serves.
    assert_eq!(ports, vec![(s("http-5000"), 5000)]);
    assert_eq!(
        endpoints,
        vec![
            (s("10.0.0.1"), vec![(s("http-5000"), 5000)]),
            (s("10.0.0.2"), vec![(s("http-5000"), 6000)]),
        ]
    );
    // The securePort only 10.0.0.1 enables is left out, and the reason says so.
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("securePort left out: served by 1 of 2 addresses")),
        "{reasons:?}"
    );
}

fn znode(url: &str) -> String {
    regsync_dubbo::url::encode_component(url)
}

fn providers(urls: &[&str]) -> RegistryEvent {
    let children: Vec<String> = urls.iter().map(|u| znode(u)).collect();
    RegistryEvent::from_value(json!({"specversion": "1.0", "id": "p-1", "source": "test",
        "type": "io.regsync.zookeeper.providers.v1", "subject": "com.example.Greeter", "sourceversion": "3",
        "data": {"path": "/dubbo/com.example.Greeter/providers", "pzxid": 3, "children": children}}))
    .expect("valid event")
}

fn url(protocol: &str, ip: &str, port: u16) -> String {
    format!(
        "{protocol}://{ip}:{port}/com.example.Greeter?application=greeter&interface=com.example.Greeter&side=provider&timestamp=1600000000000"
    )
}

#[test]
fn dubbo_providers_on_different_ports_share_the_protocol_port() {
    let (a, b, c) = (
        url("dubbo", "10.0.0.1", 20880),
        url("dubbo", "10.0.0.2", 20881),
        url("dubbo", "10.0.0.3", 20880),
    );
    let (entry, reasons) = one_entry(&[providers(&[&a, &b, &c])]);
    let (ports, endpoints) = layout(&entry);
    assert_eq!(ports, vec![(s("tcp-dubbo-20880"), 20880)]);
    assert_eq!(
        endpoints,
        vec![
            (s("10.0.0.1"), vec![(s("tcp-dubbo-20880"), 20880)]),
            (s("10.0.0.2"), vec![(s("tcp-dubbo-20880"), 20881)]),
            (s("10.0.0.3"), vec![(s("tcp-dubbo-20880"), 20880)]),
        ]
    );
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[test]
fn a_process_exporting_dubbo_and_tri_is_one_endpoint_serving_both_ports() {
    let (a, b, c, d) = (
        url("dubbo", "10.0.0.1", 20880),
        url("tri", "10.0.0.1", 50051),
        url("dubbo", "10.0.0.2", 20880),
        url("tri", "10.0.0.2", 50051),
    );
    let (entry, reasons) = one_entry(&[providers(&[&a, &b, &c, &d])]);
    let (ports, endpoints) = layout(&entry);
    assert_eq!(
        ports,
        vec![(s("tcp-dubbo-20880"), 20880), (s("grpc-tri-50051"), 50051)]
    );
    let both = vec![(s("grpc-tri-50051"), 50051), (s("tcp-dubbo-20880"), 20880)];
    assert_eq!(
        endpoints,
        vec![(s("10.0.0.1"), both.clone()), (s("10.0.0.2"), both)]
    );
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[test]
fn providers_with_no_protocol_in_common_keep_the_one_most_serve() {
    let (a, b, c) = (
        url("dubbo", "10.0.0.1", 20880),
        url("tri", "10.0.0.2", 50051),
        url("tri", "10.0.0.3", 50051),
    );
    let (entry, reasons) = one_entry(&[providers(&[&a, &b, &c])]);
    let (ports, endpoints) = layout(&entry);
    assert_eq!(ports, vec![(s("grpc-tri-50051"), 50051)]);
    assert_eq!(
        endpoints.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["10.0.0.2", "10.0.0.3"]
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("endpoint 10.0.0.1 left out: it does not serve tri")),
        "{reasons:?}"
    );
}

#[test]
fn an_address_two_registries_list_is_one_endpoint_with_the_labels_both_give() {
    let a = url("dubbo", "10.0.0.1", 20880);
    let mut east = providers(&[&a]).to_json();
    east["registry"] = "zk-east".into();
    let mut west = east.clone();
    west["registry"] = "zk-west".into();
    west["id"] = "p-2".into();
    let events = [east, west].map(|v| RegistryEvent::from_value(v).expect("event"));
    // Before, each registry's copy was its own endpoint: twice the share of the balancing.
    let (entry, _) = one_entry(&events);
    assert_eq!(entry.spec.endpoints.len(), 1, "{:#?}", entry.spec.endpoints);
    let labels = &entry.spec.endpoints[0].labels;
    assert_eq!(labels.get("application").map(|v| &**v), Some("greeter"));
    assert!(!labels.contains_key("registry"), "{labels:?}");
}
