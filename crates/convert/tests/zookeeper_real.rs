//! What the real peers of issue 26 wrote to ZooKeeper (`events/recordings/dubbo-zk/dubbo-3.3`
//! and `spring-cloud-zookeeper`, recorded by `scripts/record-zookeeper.sh`), converted:
//! - Curator service discovery: a Spring Cloud Zookeeper application becomes
//!   `lower(app).zookeeper`; `instance_status` other than UP is left out; a Dubbo 3 application
//!   with no mapping yet is one too, and leaves it for its interfaces when its mapping appears;
//! - Dubbo weights: Dubbo's default is 100, istio's 1, so an unweighted provider beside a
//!   weighted one gets 100; a process whose two protocols carry two weights is one endpoint
//!   with the lower.

use regsync_convert::{ConvertConfig, apply};
use regsync_model::{Entry, RegistryEvent, Snapshot};
use serde_json::Value;

fn story(name: &str) -> Vec<RegistryEvent> {
    story_json(name)
        .into_iter()
        .map(|v| RegistryEvent::from_value(v).expect("event"))
        .collect()
}

/// The recorded events of `name`, as JSON.
fn story_json(name: &str) -> Vec<Value> {
    let dir = format!(
        "{}/../../events/recordings/dubbo-zk/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("recording")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).expect("read")).expect("json"))
        .collect()
}

fn entries(events: &[RegistryEvent], config: &ConvertConfig) -> Vec<Entry> {
    apply(&Snapshot::empty(), events, config).snapshot.entries
}

fn entry<'a>(entries: &'a [Entry], host: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.name == host)
        .unwrap_or_else(|| panic!("no {host} in {:?}", names(entries)))
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

/// `address:port` of every endpoint on the entry's first port.
fn endpoints(e: &Entry) -> Vec<String> {
    let port = &e.spec.ports[0].name;
    e.spec
        .endpoints
        .iter()
        .map(|ep| format!("{}:{}", ep.address, ep.ports[port.as_str()]))
        .collect()
}

#[test]
fn spring_cloud_zookeeper_instances_become_one_entry_per_application() {
    let events = story("spring-cloud-zookeeper");
    let config = ConvertConfig::default();
    // After the two registrations: both instances, on an HTTP port.
    let both = entries(&events[..2], &config);
    let orders = entry(&both, "orders.zookeeper");
    assert_eq!(orders.spec.ports[0].protocol, "HTTP");
    assert_eq!(endpoints(orders).len(), 2, "{orders:#?}");
    assert!(
        orders.spec.endpoints.iter().all(|e| e
            .labels
            .get("instance_status")
            .is_some_and(|s| &**s == "UP")),
        "payload metadata are labels: {orders:#?}"
    );
    // OUT_OF_SERVICE through Spring's serviceregistry endpoint: that instance leaves.
    let out = entries(&events[..3], &config);
    assert_eq!(endpoints(entry(&out, "orders.zookeeper")).len(), 1);
    // Back UP, then the other one stopped.
    assert_eq!(
        endpoints(entry(&entries(&events[..4], &config), "orders.zookeeper")).len(),
        2
    );
    let end = entries(&events, &config);
    assert_eq!(names(&end), ["orders.zookeeper"]);
    assert_eq!(endpoints(&end[0]).len(), 1);
}

#[test]
fn the_host_suffix_of_curator_entries_is_configurable() {
    let mut config = ConvertConfig::default();
    config.curator.host_suffix = "svc.zk".into();
    let end = entries(&story("spring-cloud-zookeeper"), &config);
    assert_eq!(names(&end), ["orders.svc.zk"]);
}

/// `events` without the Dubbo 3 mapping events.
fn without_mappings(events: &[RegistryEvent]) -> Vec<RegistryEvent> {
    events
        .iter()
        .filter(|e| !e.event_type.to_string().contains("mapping"))
        .cloned()
        .collect()
}

#[test]
fn a_dubbo_application_is_a_curator_entry_until_its_mapping_arrives_then_switches() {
    let mut events = story("dubbo-3.3");
    // The story ends with stock stopped; keep it running here.
    let stock_stopped = events
        .iter()
        .rposition(|e| e.subject.as_deref() == Some("stock"))
        .expect("stock's last event");
    events.remove(stock_stopped);
    let config = ConvertConfig::default();
    // Without mappings, stock (instance level only) is reached by application name, on its
    // Dubbo protocol.
    let unmapped = entries(&without_mappings(&events), &config);
    let stock_hosts: Vec<&str> = names(&unmapped)
        .into_iter()
        .filter(|h| h.starts_with("stock."))
        .collect();
    assert_eq!(stock_hosts, ["stock.zookeeper"]);
    assert_eq!(
        entry(&unmapped, "stock.zookeeper").spec.ports[0].name,
        "grpc-tri-50052"
    );
    // With the mappings arriving last, the Curator entries are gone and the interfaces hold
    // the instances: no host twice.
    let mut late: Vec<RegistryEvent> = without_mappings(&events);
    late.extend(
        events
            .iter()
            .filter(|e| e.event_type.to_string().contains("mapping"))
            .cloned(),
    );
    let switched = entries(&late, &config);
    assert!(
        !names(&switched).iter().any(|h| h.ends_with(".zookeeper")),
        "{:?}",
        names(&switched)
    );
    let echo = entry(
        &switched,
        "io.regsync.peers.dubbo.provider.echoservice.dubbo",
    );
    assert_eq!(echo.spec.ports[0].name, "grpc-tri-50052");
}

#[test]
fn an_override_on_one_protocol_of_a_process_lowers_the_weight_of_its_one_endpoint() {
    let end = entries(&story("dubbo-3.3"), &ConvertConfig::default());
    // The override set weight=25 on shop's dubbo port (and shop re-registered that URL with
    // it); its tri URL has none. istio has one endpoint for the process: weight 25, not the
    // first URL's.
    let greeting = entry(
        &end,
        "io.regsync.peers.dubbo.provider.greetingservice.dubbo",
    );
    assert_eq!(greeting.spec.endpoints.len(), 1, "{greeting:#?}");
    assert_eq!(greeting.spec.endpoints[0].weight, Some(25));
    // Group blue, version 2.0.0: weight 50 on both URLs.
    let blue = entry(
        &end,
        "io.regsync.peers.dubbo.provider.greetingservice-blue-2-0-0.dubbo",
    );
    assert_eq!(blue.spec.endpoints[0].weight, Some(50));
}

#[test]
fn an_unweighted_provider_beside_a_weighted_one_gets_dubbos_default_100() {
    // The recorded providers of GreetingService before the override: take the blue/2.0.0
    // URLs (weight=50) and the plain ones (none), and register them all under one interface
    // and group by dropping group and version from the blue ones (on another address).
    let mut doc = story_json("dubbo-3.3")
        .into_iter()
        .find(|e| e["type"].as_str().is_some_and(|t| t.contains("providers")))
        .expect("providers event");
    let children = doc["data"]["children"].as_array_mut().expect("children");
    for c in children.iter_mut() {
        let s = c.as_str().expect("name");
        if s.contains("group%3Dblue") {
            *c = Value::String(
                s.replace("group%3Dblue%26", "")
                    .replace("%26version%3D2.0.0", "")
                    .replace("192.0.2.2", "192.0.2.3"),
            );
        }
    }
    let event = RegistryEvent::from_value(doc).expect("event");
    let end = entries(&[event], &ConvertConfig::default());
    let greeting = entry(
        &end,
        "io.regsync.peers.dubbo.provider.greetingservice.dubbo",
    );
    let weights: Vec<(String, Option<u32>)> = greeting
        .spec
        .endpoints
        .iter()
        .map(|e| (e.address.clone(), e.weight))
        .collect();
    assert_eq!(
        weights,
        [
            ("192.0.2.2".to_owned(), Some(100)),
            ("192.0.2.3".to_owned(), Some(50))
        ]
    );
}
