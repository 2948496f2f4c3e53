//! The schemas are valid draft 2020-12, need no network, agree with the model's types, and the
//! snapshot schema accepts what the model writes.

// Helpers here are test code too; clippy.toml allows unwrap in tests but cannot see them.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use regsync_events::{REGISTRY_EVENT_SCHEMA, SNAPSHOT_SCHEMA, validate_snapshot_value};
use regsync_model::entry::{
    Entry, Location, Resolution, ServiceEntrySpec, ServicePort, WorkloadEntry,
};
use regsync_model::eureka::{ActionType, EurekaInstance, InstanceStatus};
use regsync_model::snapshot::{Rejection, SNAPSHOT_FORMAT};
use regsync_model::state::{
    DubboAppState, DubboInterfaceState, DubboRegistry, EurekaAppState, EurekaRegistry, RawInstance,
};
use regsync_model::{EventType, RegistryState, Snapshot, Versioned};
use serde_json::{Value, json};

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

fn schemas() -> [(&'static str, Value); 2] {
    [
        (
            "registry-event.v1.json",
            serde_json::from_str(REGISTRY_EVENT_SCHEMA).unwrap(),
        ),
        (
            "snapshot.v1.json",
            serde_json::from_str(SNAPSHOT_SCHEMA).unwrap(),
        ),
    ]
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_owned());
                }
                refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn each_schema_is_a_valid_draft_2020_12_schema() {
    // The meta-schema check is live: it refuses a broken schema.
    assert!(jsonschema::meta::validate(&json!({"$schema": DRAFT_2020_12, "type": 5})).is_err());
    for (name, schema) in schemas() {
        assert_eq!(schema["$schema"], DRAFT_2020_12, "{name}");
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{name}: {e} at {}", e.instance_path());
        }
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
    }
}

#[test]
fn schemas_refer_only_to_themselves_so_validation_never_needs_the_network() {
    for (name, schema) in schemas() {
        let mut found = Vec::new();
        refs(&schema, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let target = r
                .strip_prefix("#/$defs/")
                .unwrap_or_else(|| panic!("{name}: non-local $ref {r}"));
            assert!(
                schema["$defs"].get(target).is_some(),
                "{name}: dangling $ref {r}"
            );
        }
    }
}

#[test]
fn the_type_enum_is_the_models_list_and_subject_is_required_where_the_model_requires_it() {
    let schema: Value = serde_json::from_str(REGISTRY_EVENT_SCHEMA).unwrap();
    let wire: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    let listed: Vec<&str> = schema["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, wire);
    let per_service: Vec<&str> = EventType::ALL
        .iter()
        .filter(|t| !t.is_registry_wide())
        .map(|t| t.as_str())
        .collect();
    let needs_subject = &schema["allOf"][0];
    assert_eq!(needs_subject["then"], json!({"required": ["subject"]}));
    let listed: Vec<&str> = needs_subject["if"]["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, per_service);
}

fn instance(id: &str) -> EurekaInstance {
    EurekaInstance {
        app: "FOO".into(),
        instance_id: id.into(),
        host_name: "localhost".into(),
        ip_addr: "192.168.56.1".into(),
        status: InstanceStatus::Up,
        overridden_status: InstanceStatus::Unknown,
        port: Some(8080),
        secure_port: None,
        metadata: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
        availability_zone: Some("a".into()),
        action_type: Some(ActionType::Added),
        last_updated_timestamp: 1457714988223,
        last_dirty_timestamp: 1457714988172,
        registration_timestamp: 1457714988223,
    }
}

fn full_snapshot() -> Snapshot {
    let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    let app = EurekaAppState {
        membership: Some(Versioned::new(
            1457714988223,
            0,
            0,
            names(&["localhost:foo"]),
        )),
        instances: BTreeMap::from([
            (
                "localhost:foo".to_owned(),
                Versioned::new(
                    1457714988223,
                    1457714988172,
                    1,
                    Some(instance("localhost:foo")),
                ),
            ),
            ("gone".to_owned(), Versioned::new(1457714988224, 0, 3, None)),
        ]),
        first_seen_ms: Some(1457714988223),
    };
    let iface = DubboInterfaceState {
        providers: Some(Versioned::new(
            4294967335,
            0,
            0,
            vec!["dubbo%3A%2F%2F10.0.0.1%3A20880%2Fx".to_owned()],
        )),
        configurators: Some(Versioned::new(4294967336, 0, 0, vec![])),
        mapping: Some(Versioned::new(
            4294967337,
            0,
            0,
            vec!["demo-provider".to_owned()],
        )),
        first_seen_ms: Some(1618918522655),
    };
    let app3 = DubboAppState {
        instances: Some(Versioned::new(
            4294967338,
            0,
            0,
            vec![RawInstance {
                name: "30.221.146.35:20880".into(),
                data: "{\"name\":\"first-dubbo-provider\"}".into(),
            }],
        )),
        first_seen_ms: Some(1674960781893),
    };
    let state = RegistryState {
        eureka: BTreeMap::from([(
            "eureka".to_owned(),
            EurekaRegistry {
                membership: Some(Versioned::new(1457714988223, 0, 0, names(&["FOO"]))),
                apps: BTreeMap::from([("FOO".to_owned(), app)]),
            },
        )]),
        dubbo: BTreeMap::from([(
            "dubbo".to_owned(),
            DubboRegistry {
                interfaces: BTreeMap::from([("org.example.Demo".to_owned(), iface)]),
                applications: BTreeMap::from([("first-dubbo-provider".to_owned(), app3)]),
            },
        )]),
    };
    let entry = Entry {
        namespace: "eureka".into(),
        name: "foo".into(),
        version: "0123456789abcdef".into(),
        create_time_ms: 1457714988223,
        labels: BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "regsync".to_owned(),
        )]),
        annotations: BTreeMap::from([("regsync.io/source".to_owned(), "eureka".to_owned())]),
        spec: ServiceEntrySpec {
            hosts: vec!["foo.eureka.svc.cluster.local".into()],
            addresses: vec![],
            ports: vec![ServicePort {
                number: 8080,
                protocol: "HTTP".into(),
                name: "http-8080".into(),
                target_port: Some(8081),
            }],
            location: Location::MeshInternal,
            resolution: Resolution::Static,
            endpoints: vec![WorkloadEntry {
                address: "192.168.56.1".into(),
                ports: BTreeMap::from([("http-8080".into(), 8080)]),
                labels: BTreeMap::from([("version".into(), "v1".into())]),
                network: Some("net1".into()),
                locality: Some("us-east-1/us-east-1e".into()),
                weight: Some(200),
                service_account: Some("default".into()),
            }],
            export_to: vec!["*".into()],
            subject_alt_names: vec!["spiffe://cluster.local/ns/eureka/sa/default".into()],
        },
    };
    Snapshot {
        format: SNAPSHOT_FORMAT,
        state,
        entries: vec![entry],
        rejected: vec![Rejection {
            resource: "eureka/foo-bar-local".into(),
            reasons: vec!["bad host".into()],
        }],
    }
}

#[test]
fn the_snapshot_schema_accepts_what_the_model_writes() {
    for snapshot in [Snapshot::empty(), full_snapshot()] {
        let value = serde_json::to_value(&snapshot).unwrap();
        if let Err(errors) = validate_snapshot_value(&value) {
            panic!("{errors:#?}\n{value:#}");
        }
        let back: Snapshot = serde_json::from_value(value).unwrap();
        assert_eq!(back, snapshot);
    }
}

#[test]
fn the_snapshot_schema_names_what_is_wrong() {
    let good = serde_json::to_value(full_snapshot()).unwrap();
    let check = |edit: &dyn Fn(&mut Value), pointer: &str| {
        let mut v = good.clone();
        edit(&mut v);
        let errors = validate_snapshot_value(&v).expect_err("must be invalid");
        assert!(
            errors.iter().any(|e| e.pointer == pointer),
            "{pointer}: {errors:?}"
        );
    };
    check(&|v| v["format"] = json!(2), "/format");
    check(
        &|v| {
            let e = v["entries"][0].as_object_mut().unwrap();
            let t = e.remove("createTimeMs").unwrap();
            e.insert("create_time_ms".into(), t);
        },
        "/entries/0",
    );
    check(
        &|v| v["entries"][0]["spec"]["ports"][0]["number"] = json!(0),
        "/entries/0/spec/ports/0/number",
    );
    check(
        &|v| v["entries"][0]["spec"]["resolution"] = json!("Static"),
        "/entries/0/spec/resolution",
    );
    check(
        &|v| v["state"]["eureka"]["eureka"]["membership"]["stamp"]["rank"] = json!(300),
        "/state/eureka/eureka/membership/stamp/rank",
    );
    check(
        &|v| {
            v["state"]["eureka"]["eureka"]["apps"]["FOO"]["instances"]["localhost:foo"]["value"]["status"] =
                json!("up")
        },
        "/state/eureka/eureka/apps/FOO/instances/localhost:foo/value/status",
    );
    check(
        &|v| {
            v["state"]["dubbo"]["dubbo"]["interfaces"]["org.example.Demo"]["providers"]["value"] =
                json!("x")
        },
        "/state/dubbo/dubbo/interfaces/org.example.Demo/providers/value",
    );
}
