//! Properties of the fold: order independence, idempotence, staleness, batching.

use proptest::prelude::*;
use regsync_convert::{ConvertConfig, apply};
use regsync_model::{RegistryEvent, Snapshot};
use serde_json::{Value, json};

const IPS: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];

fn eureka_instance(
    app: &str,
    n: usize,
    updated: u64,
    action: &str,
    status: &str,
    port: u16,
) -> Value {
    json!({
        "instanceId": format!("{}:{app}:{port}", IPS[n]), "hostName": IPS[n], "app": app, "ipAddr": IPS[n],
        "status": status, "overriddenStatus": "UNKNOWN",
        "port": {"$": port, "@enabled": "true"}, "securePort": {"$": 443, "@enabled": "false"},
        "leaseInfo": {"registrationTimestamp": 1000 + n as u64},
        "metadata": {"@class": "java.util.Collections$EmptyMap"},
        "lastUpdatedTimestamp": updated.to_string(), "lastDirtyTimestamp": "1000", "actionType": action
    })
}

/// Registries the events come from: two of each kind, so services meet across registries.
const EUREKA_REGISTRIES: [&str; 2] = ["eureka", "eureka-west"];
const DUBBO_REGISTRIES: [&str; 2] = ["dubbo", "dubbo-west"];
const APPS: [&str; 2] = ["ORDERS", "BILLING"];
/// Dubbo 3 applications, and the interface they may serve.
const DUBBO_APPS: [&str; 2] = ["greeter-app", "billing-app"];
const INTERFACE: &str = "com.example.Greeter";

fn event(ty: &str, subject: Option<&str>, version: u64, data: Value) -> RegistryEvent {
    registry_event(ty, None, subject, version, data)
}

fn registry_event(
    ty: &str,
    registry: Option<&str>,
    subject: Option<&str>,
    version: u64,
    data: Value,
) -> RegistryEvent {
    let mut v = json!({"specversion": "1.0", "id": format!("{ty}-{version}"), "source": "test", "type": ty,
                       "sourceversion": version.to_string(), "data": data});
    if let Some(s) = subject {
        v["subject"] = s.into();
    }
    if let Some(r) = registry {
        v["registry"] = r.into();
        v["id"] = format!("{r}-{ty}-{version}").into();
    }
    RegistryEvent::from_value(v).expect("generated events are valid")
}

fn provider_znode(n: usize, port: u16, extra: &str) -> String {
    let url = format!(
        "dubbo://{}:{port}/com.example.Greeter?application=greeter&interface=com.example.Greeter&side=provider&timestamp={}{extra}",
        IPS[n],
        1600000000000u64 + n as u64
    );
    regsync_dubbo::url::encode_component(&url)
}

/// A Dubbo 3 instance znode under `/services/<app>`: its name and Curator JSON.
fn dubbo_instance(app: &str, n: usize, port: u16) -> Value {
    let id = format!("{}:{port}", IPS[n]);
    json!({"name": id, "data": {
        "name": app, "id": id, "address": IPS[n], "port": port,
        "payload": {"@class": "org.apache.dubbo.registry.zookeeper.ZookeeperInstance", "id": id, "name": app,
                    "metadata": {"dubbo.endpoints": format!("[{{\"port\":{port},\"protocol\":\"tri\"}}]")}},
        "registrationTimeUTC": 1600000000000u64 + n as u64, "serviceType": "DYNAMIC"
    }})
}

/// The members of an application: a few of the four addresses.
fn members() -> impl Strategy<Value = std::collections::BTreeSet<usize>> {
    prop::collection::btree_set(0..4usize, 0..4)
}

/// One event of any type (`EventType::ALL`) from any of the registries: a few services, so
/// events meet on the same state.
fn arb_event() -> impl Strategy<Value = RegistryEvent> {
    let eureka = prop::sample::select(EUREKA_REGISTRIES.to_vec());
    let dubbo = prop::sample::select(DUBBO_REGISTRIES.to_vec());
    let apps = prop::sample::select(APPS.to_vec());
    let eureka_instance_event = (
        eureka.clone(),
        apps.clone(),
        0..4usize,
        1..20u64,
        prop::sample::select(vec!["ADDED", "MODIFIED", "DELETED"]),
        prop::sample::select(vec!["UP", "DOWN"]),
        prop::sample::select(vec![8080u16, 8081]),
    )
        .prop_map(|(registry, app, n, t, action, status, port)| {
            registry_event(
                "io.regsync.eureka.instance.v1",
                Some(registry),
                Some(app),
                t,
                json!({"instance": eureka_instance(app, n, t, action, status, port)}),
            )
        });
    let eureka_app_event = (eureka.clone(), apps.clone(), members(), 1..20u64).prop_map(
        |(registry, app, members, t)| {
            let instances: Vec<Value> = members
                .iter()
                .map(|n| eureka_instance(app, *n, t, "ADDED", "UP", 8080))
                .collect();
            registry_event(
                "io.regsync.eureka.application.v1",
                Some(registry),
                Some(app),
                t,
                json!({"application": {"name": app, "instance": instances}}),
            )
        },
    );
    // The whole registry: some applications, each with some members.
    let eureka_apps_event = (
        eureka.clone(),
        prop::collection::btree_map(apps.clone(), members(), 0..3),
        1..20u64,
    )
        .prop_map(|(registry, listed, t)| {
            let applications: Vec<Value> = listed
                .iter()
                .map(|(app, members)| {
                    let instances: Vec<Value> = members
                        .iter()
                        .map(|n| eureka_instance(app, *n, t, "ADDED", "UP", 8080))
                        .collect();
                    json!({"name": app, "instance": instances})
                })
                .collect();
            registry_event(
                "io.regsync.eureka.applications.v1",
                Some(registry),
                None,
                t,
                json!({"applications": {"versions__delta": "1", "apps__hashcode": "", "application": applications}}),
            )
        });
    // Recent changes across applications, each with its action.
    let eureka_delta_event = (
        eureka,
        prop::collection::vec(
            (
                apps,
                0..4usize,
                prop::sample::select(vec!["ADDED", "MODIFIED", "DELETED"]),
                prop::sample::select(vec!["UP", "DOWN"]),
            ),
            1..4,
        ),
        1..20u64,
    )
        .prop_map(|(registry, changes, t)| {
            let mut by_app: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
            for (app, n, action, status) in changes {
                by_app
                    .entry(app)
                    .or_default()
                    .push(eureka_instance(app, n, t, action, status, 8080));
            }
            let applications: Vec<Value> = by_app
                .into_iter()
                .map(|(app, instances)| json!({"name": app, "instance": instances}))
                .collect();
            registry_event(
                "io.regsync.eureka.delta.v1",
                Some(registry),
                None,
                t,
                json!({"applications": {"versions__delta": t.to_string(), "apps__hashcode": "", "application": applications}}),
            )
        });
    let providers_event = (dubbo.clone(), members(), 1..20u64, prop::sample::select(vec![20880u16, 50051]))
        .prop_map(|(registry, members, zxid, port)| {
            let children: Vec<String> = members.iter().map(|n| provider_znode(*n, port, "")).collect();
            registry_event(
                "io.regsync.zookeeper.providers.v1",
                Some(registry),
                Some(INTERFACE),
                zxid,
                json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": zxid, "children": children}),
            )
        });
    let configurators_event = (dubbo.clone(), 0..4usize, 1..20u64, any::<bool>()).prop_map(|(registry, n, zxid, disable)| {
        let url = if disable {
            format!("override://{}/com.example.Greeter?category=configurators&dynamic=false&disabled=true", IPS[n])
        } else {
            format!("override://{}/com.example.Greeter?category=configurators&dynamic=false&weight=200", IPS[n])
        };
        let znode = regsync_dubbo::url::encode_component(&url);
        registry_event(
            "io.regsync.zookeeper.configurators.v1",
            Some(registry),
            Some(INTERFACE),
            zxid,
            json!({"path": "/dubbo/com.example.Greeter/configurators", "pzxid": zxid, "children": [znode]}),
        )
    });
    // Dubbo 3: an application's instances, and which applications serve the interface.
    let instances_event = (
        dubbo.clone(),
        prop::sample::select(DUBBO_APPS.to_vec()),
        members(),
        1..20u64,
        prop::sample::select(vec![50051u16, 50052]),
    )
        .prop_map(|(registry, app, members, zxid, port)| {
            let children: Vec<Value> = members
                .iter()
                .map(|n| dubbo_instance(app, *n, port))
                .collect();
            registry_event(
                "io.regsync.zookeeper.instances.v1",
                Some(registry),
                Some(app),
                zxid,
                json!({"path": format!("/services/{app}"), "pzxid": zxid, "children": children}),
            )
        });
    let mapping_event = (
        dubbo,
        prop::collection::btree_set(prop::sample::select(DUBBO_APPS.to_vec()), 0..3),
        1..20u64,
    )
        .prop_map(|(registry, served_by, zxid)| {
            registry_event(
                "io.regsync.zookeeper.mapping.v1",
                Some(registry),
                Some(INTERFACE),
                zxid,
                json!({"path": "/dubbo/mapping/com.example.Greeter", "mzxid": zxid,
                       "data": served_by.into_iter().collect::<Vec<_>>().join(",")}),
            )
        });
    prop_oneof![
        eureka_instance_event,
        eureka_app_event,
        eureka_apps_event,
        eureka_delta_event,
        providers_event,
        configurators_event,
        instances_event,
        mapping_event,
    ]
}

#[test]
fn the_generated_events_cover_every_type_and_registry_and_all_apply() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = arb_event();
    let mut types = std::collections::BTreeSet::new();
    let mut registries = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let e = strategy.new_tree(&mut runner).expect("a value").current();
        let applied = apply(
            &Snapshot::empty(),
            std::slice::from_ref(&e),
            &ConvertConfig::default(),
        );
        assert!(
            !matches!(applied.outcomes[0], regsync_convert::Outcome::Rejected(_)),
            "{:?}: {}",
            applied.outcomes[0],
            e.to_json()
        );
        types.insert(e.event_type.as_str());
        registries.insert(e.registry.clone());
    }
    let all: std::collections::BTreeSet<&str> = regsync_model::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(types, all);
    let expected: std::collections::BTreeSet<String> = EUREKA_REGISTRIES
        .iter()
        .chain(&DUBBO_REGISTRIES)
        .map(|r| (*r).to_owned())
        .collect();
    assert_eq!(registries, expected);
}

fn render(events: &[RegistryEvent]) -> String {
    let applied = apply(&Snapshot::empty(), events, &ConvertConfig::default());
    serde_json::to_string(&applied.snapshot).expect("serialize")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_permutation_of_the_same_events_gives_byte_identical_output(
        (events, shuffled) in prop::collection::vec(arb_event(), 1..12).prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        prop_assert_eq!(render(&events), render(&shuffled));
    }

    #[test]
    fn applying_events_twice_equals_applying_them_once(events in prop::collection::vec(arb_event(), 1..12)) {
        let mut twice = events.clone();
        twice.extend(events.iter().cloned());
        prop_assert_eq!(render(&events), render(&twice));
    }

    #[test]
    fn every_endpoint_maps_every_declared_port_to_a_number_it_serves(events in prop::collection::vec(arb_event(), 1..12)) {
        // istiod sends every declared port's traffic to every endpoint (at the port's number when
        // the endpoint maps none), so an endpoint without a mapping would get traffic it may
        // not serve.
        let snapshot = apply(&Snapshot::empty(), &events, &ConvertConfig::default()).snapshot;
        for e in &snapshot.entries {
            for ep in &e.spec.endpoints {
                for p in &e.spec.ports {
                    prop_assert!(ep.ports.contains_key(p.name.as_str()), "{}: {} does not map {}", e.name, ep.address, p.name);
                }
            }
        }
    }

    #[test]
    fn applying_one_at_a_time_equals_one_batch(events in prop::collection::vec(arb_event(), 1..12)) {
        let config = ConvertConfig::default();
        let mut snapshot = Snapshot::empty();
        for e in &events {
            snapshot = apply(&snapshot, std::slice::from_ref(e), &config).snapshot;
        }
        prop_assert_eq!(serde_json::to_string(&snapshot).expect("serialize"), render(&events));
    }

    #[test]
    fn a_stale_providers_event_never_overwrites_a_newer_state(
        older in prop::collection::btree_set(0..4usize, 0..4), newer in prop::collection::btree_set(0..4usize, 0..4),
        v1 in 1..100u64, gap in 1..100u64,
    ) {
        let ev = |members: &std::collections::BTreeSet<usize>, zxid: u64| {
            let children: Vec<String> = members.iter().map(|n| provider_znode(*n, 20880, "")).collect();
            event("io.regsync.zookeeper.providers.v1", Some("com.example.Greeter"), zxid,
                  json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": zxid, "children": children}))
        };
        let (old, new) = (ev(&older, v1), ev(&newer, v1 + gap));
        let config = ConvertConfig::default();
        let after_new = apply(&Snapshot::empty(), std::slice::from_ref(&new), &config).snapshot;
        let then_old = apply(&after_new, std::slice::from_ref(&old), &config);
        prop_assert!(matches!(then_old.outcomes[0], regsync_convert::Outcome::Stale), "{:?}", then_old.outcomes);
        let slot = |s: &Snapshot| s.state.dubbo["dubbo"].interfaces["com.example.Greeter"].providers.clone();
        prop_assert_eq!(slot(&then_old.snapshot), slot(&after_new));
        let specs = |s: &Snapshot| s.entries.iter().map(|e| e.spec.clone()).collect::<Vec<_>>();
        prop_assert_eq!(specs(&then_old.snapshot), specs(&after_new));
        prop_assert_eq!(then_old.snapshot.entries.first().map_or(0, |e| e.spec.endpoints.len()), newer.len());
        // The only thing an old event may teach is an earlier first registration: create_time
        // can move back, never forward.
        for (a, b) in then_old.snapshot.entries.iter().zip(&after_new.entries) {
            prop_assert!(a.create_time_ms <= b.create_time_ms);
        }
    }
}

#[test]
fn a_deleted_instance_is_not_resurrected_by_an_older_registration() {
    let deleted = event(
        "io.regsync.eureka.instance.v1",
        Some("ORDERS"),
        10,
        json!({"instance": eureka_instance("ORDERS", 0, 10, "DELETED", "UP", 8080)}),
    );
    let added = event(
        "io.regsync.eureka.instance.v1",
        Some("ORDERS"),
        5,
        json!({"instance": eureka_instance("ORDERS", 0, 5, "ADDED", "UP", 8080)}),
    );
    assert_eq!(
        render(&[deleted.clone(), added.clone()]),
        render(&[added.clone(), deleted])
    );
    let applied = apply(&Snapshot::empty(), &[added], &ConvertConfig::default());
    assert_eq!(applied.snapshot.entries.len(), 1);
}

#[test]
fn a_deletion_at_the_same_timestamp_wins_over_the_registration() {
    let added = event(
        "io.regsync.eureka.instance.v1",
        Some("ORDERS"),
        7,
        json!({"instance": eureka_instance("ORDERS", 0, 7, "ADDED", "UP", 8080)}),
    );
    let deleted = event(
        "io.regsync.eureka.instance.v1",
        Some("ORDERS"),
        7,
        json!({"instance": eureka_instance("ORDERS", 0, 7, "DELETED", "UP", 8080)}),
    );
    let applied = apply(
        &Snapshot::empty(),
        &[deleted, added],
        &ConvertConfig::default(),
    );
    assert!(
        applied.snapshot.entries.is_empty(),
        "{:?}",
        applied.snapshot.entries
    );
}

#[test]
fn an_application_document_removes_instances_it_no_longer_lists() {
    let a = event(
        "io.regsync.eureka.instance.v1",
        Some("ORDERS"),
        5,
        json!({"instance": eureka_instance("ORDERS", 0, 5, "ADDED", "UP", 8080)}),
    );
    let b = event(
        "io.regsync.eureka.instance.v1",
        Some("ORDERS"),
        6,
        json!({"instance": eureka_instance("ORDERS", 1, 6, "ADDED", "UP", 8080)}),
    );
    let doc = event(
        "io.regsync.eureka.application.v1",
        Some("ORDERS"),
        9,
        json!({"application": {"name": "ORDERS", "instance": [eureka_instance("ORDERS", 1, 6, "ADDED", "UP", 8080)]}}),
    );
    let applied = apply(&Snapshot::empty(), &[a, b, doc], &ConvertConfig::default());
    let addresses: Vec<&str> = applied.snapshot.entries[0]
        .spec
        .endpoints
        .iter()
        .map(|e| e.address.as_str())
        .collect();
    assert_eq!(addresses, vec![IPS[1]]);
}

#[test]
fn the_last_provider_leaving_removes_the_entry() {
    let one = event(
        "io.regsync.zookeeper.providers.v1",
        Some("com.example.Greeter"),
        1,
        json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 1, "children": [provider_znode(0, 20880, "")]}),
    );
    let none = event(
        "io.regsync.zookeeper.providers.v1",
        Some("com.example.Greeter"),
        2,
        json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 2, "children": []}),
    );
    let config = ConvertConfig::default();
    let first = apply(&Snapshot::empty(), &[one], &config).snapshot;
    assert_eq!(first.entries.len(), 1);
    let second = apply(&first, &[none], &config).snapshot;
    assert!(second.entries.is_empty());
}

#[test]
fn create_time_is_stable_while_endpoints_change() {
    let config = ConvertConfig::default();
    let one = event(
        "io.regsync.zookeeper.providers.v1",
        Some("com.example.Greeter"),
        1,
        json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 1, "children": [provider_znode(0, 20880, "")]}),
    );
    let two = event(
        "io.regsync.zookeeper.providers.v1",
        Some("com.example.Greeter"),
        2,
        json!({"path": "/dubbo/com.example.Greeter/providers", "pzxid": 2, "children": [provider_znode(1, 20880, "")]}),
    );
    let first = apply(&Snapshot::empty(), &[one], &config).snapshot;
    let second = apply(&first, &[two], &config).snapshot;
    assert_eq!(
        first.entries[0].create_time_ms,
        second.entries[0].create_time_ms
    );
    assert_ne!(first.entries[0].version, second.entries[0].version);
}
