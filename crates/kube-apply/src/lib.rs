//! regsync's ServiceEntries as Kubernetes objects, for clusters that cannot take MCP: a
//! `networking.istio.io/v1` `ServiceEntry` custom resource over the model's spec, and
//! `kubectl apply`-ready YAML and JSON renderings of a snapshot's entries, and [`apply()`]:
//! server-side apply with field manager [`FIELD_MANAGER`] and pruning of what regsync owns.
//!
//! This is the only crate that uses `kube` and `k8s-openapi`; it must not depend on AWS,
//! gRPC or Kafka crates.

pub mod apply;

pub use apply::{ApplyError, Report, apply, connect};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResource;
use regsync_model::Entry;
use serde::{Deserialize, Serialize};

/// Label that marks every object regsync writes, so it can find (and prune) them later.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "regsync";

/// Annotation holding the entry's content version (`Entry::version`, the same value MCP sends as
/// `Metadata.version`).
pub const VERSION_ANNOTATION: &str = "regsync.io/version";

/// Field manager for server-side apply.
pub const FIELD_MANAGER: &str = "regsync";

/// `spec` of the `networking.istio.io/v1` `ServiceEntry` custom resource: exactly the model's
/// spec, which already uses the resource's camelCase field names and enum spellings
/// (`MESH_INTERNAL`, `STATIC`).
///
/// The derive generates [`ServiceEntry`], the whole object (`apiVersion`, `kind`, `metadata`,
/// `spec`). Schema generation is disabled: Istio installs the CRD, regsync only writes objects.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[kube(
    group = "networking.istio.io",
    version = "v1",
    kind = "ServiceEntry",
    namespaced
)]
#[kube(schema = "disabled", derive = "PartialEq")]
#[serde(transparent)]
pub struct ServiceEntrySpec(pub regsync_model::ServiceEntrySpec);

/// One entry as a `ServiceEntry` object: its name, namespace, labels (plus
/// [`MANAGED_BY_LABEL`]) and annotations (plus [`VERSION_ANNOTATION`]).
pub fn to_resource(entry: &Entry) -> ServiceEntry {
    let mut labels = entry.labels.clone();
    labels.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned());
    let mut annotations = entry.annotations.clone();
    annotations.insert(VERSION_ANNOTATION.to_owned(), entry.version.clone());
    ServiceEntry {
        metadata: ObjectMeta {
            name: Some(entry.name.clone()),
            namespace: Some(entry.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: ServiceEntrySpec(entry.spec.clone()),
    }
}

/// The entries as a multi-document YAML stream (`---` between documents) for
/// `kubectl apply -f -`. No entries give an empty string.
pub fn to_yaml(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|entry| {
            serde_norway::to_string(&to_resource(entry))
                .expect("a ServiceEntry has string map keys only")
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The entries as one `v1` `List` object (`{"apiVersion":"v1","kind":"List","items":[..]}`),
/// which `kubectl apply -f` also accepts.
pub fn to_json_list(entries: &[Entry]) -> serde_json::Value {
    let items = entries
        .iter()
        .map(|entry| {
            serde_json::to_value(to_resource(entry))
                .expect("a ServiceEntry has string map keys only")
        })
        .collect();
    serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": serde_json::Value::Array(items) })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::Resource;
    use regsync_model::{Location, Resolution, ServicePort, WorkloadEntry};
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    fn entry(namespace: &str, name: &str, resolution: Resolution) -> Entry {
        Entry {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            version: format!("{name}-0123456789abcdef"),
            create_time_ms: 1_700_000_000_000,
            labels: BTreeMap::from([("registry".to_owned(), namespace.to_owned())]),
            annotations: BTreeMap::from([(
                "regsync.io/services".to_owned(),
                "com.example.Greeter".to_owned(),
            )]),
            spec: regsync_model::ServiceEntrySpec {
                hosts: vec![format!("{name}.{namespace}.svc")],
                ports: vec![ServicePort {
                    number: 20880,
                    protocol: "TCP".to_owned(),
                    name: "tcp-dubbo".to_owned(),
                    target_port: None,
                }],
                location: Location::MeshInternal,
                resolution,
                endpoints: vec![WorkloadEntry {
                    address: "10.0.0.1".to_owned(),
                    ports: BTreeMap::from([("tcp-dubbo".into(), 20881)]),
                    labels: BTreeMap::from([("version".into(), "1.2".into())]),
                    weight: Some(3),
                    ..WorkloadEntry::default()
                }],
                export_to: vec!["*".to_owned()],
                ..regsync_model::ServiceEntrySpec::default()
            },
        }
    }

    fn entries() -> Vec<Entry> {
        vec![
            entry("zk-prod", "greeter", Resolution::Static),
            entry("eureka-prod", "orders", Resolution::Dns),
        ]
    }

    /// What `kubectl` must see for [`entry`]`("zk-prod", "greeter", Static)`.
    fn expected_greeter() -> serde_json::Value {
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {
                "name": "greeter",
                "namespace": "zk-prod",
                "labels": { "app.kubernetes.io/managed-by": "regsync", "registry": "zk-prod" },
                "annotations": {
                    "regsync.io/services": "com.example.Greeter",
                    "regsync.io/version": "greeter-0123456789abcdef",
                },
            },
            "spec": {
                "hosts": ["greeter.zk-prod.svc"],
                "ports": [{ "number": 20880, "protocol": "TCP", "name": "tcp-dubbo" }],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "endpoints": [{
                    "address": "10.0.0.1",
                    "ports": { "tcp-dubbo": 20881 },
                    "labels": { "version": "1.2" },
                    "weight": 3,
                }],
                "exportTo": ["*"],
            },
        })
    }

    #[test]
    fn the_resource_is_a_namespaced_istio_service_entry() {
        assert_eq!(ServiceEntry::api_version(&()), "networking.istio.io/v1");
        assert_eq!(ServiceEntry::kind(&()), "ServiceEntry");
        assert_eq!(ServiceEntry::plural(&()), "serviceentries");
        let resource = to_resource(&entries()[0]);
        assert_eq!(resource.meta().namespace.as_deref(), Some("zk-prod"));
        assert_eq!(resource.spec.0, entries()[0].spec);
    }

    #[test]
    fn yaml_of_two_entries_reads_back_as_two_kubectl_documents() {
        let yaml = to_yaml(&entries());
        assert_eq!(yaml.matches("\n---\n").count(), 1, "{yaml}");

        let documents: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&yaml)
            .map(|document| serde_json::Value::deserialize(document).unwrap())
            .collect();
        assert_eq!(documents.len(), 2, "{yaml}");
        assert_eq!(documents[0], expected_greeter());
        assert_eq!(documents[1]["metadata"]["name"], "orders");
        assert_eq!(documents[1]["metadata"]["namespace"], "eureka-prod");
        assert_eq!(documents[1]["spec"]["resolution"], "DNS");

        // And back into the typed object, unchanged.
        let typed: Vec<ServiceEntry> = serde_norway::Deserializer::from_str(&yaml)
            .map(|document| ServiceEntry::deserialize(document).unwrap())
            .collect();
        assert_eq!(typed, entries().iter().map(to_resource).collect::<Vec<_>>());
    }

    #[test]
    fn yaml_keeps_strings_that_look_like_numbers_as_strings() {
        let yaml = to_yaml(&entries()[..1]);
        assert!(
            yaml.contains("version: '1.2'") || yaml.contains("version: \"1.2\""),
            "{yaml}"
        );
        assert!(
            yaml.starts_with("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"),
            "{yaml}"
        );
    }

    #[test]
    fn no_entries_give_an_empty_stream_and_an_empty_list() {
        assert_eq!(to_yaml(&[]), "");
        assert_eq!(
            to_json_list(&[]),
            json!({ "apiVersion": "v1", "kind": "List", "items": [] })
        );
    }

    #[test]
    fn the_json_list_holds_every_entry_as_an_item() {
        let list = to_json_list(&entries());
        let text = serde_json::to_string(&list).unwrap();
        assert!(text.starts_with(r#"{"apiVersion":"v1","#), "{text}");
        assert!(text.contains(r#""kind":"List""#), "{text}");

        let reread: serde_json::Value = serde_json::from_str(&text).unwrap();
        let items = reread["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], expected_greeter());
        assert_eq!(items[1]["apiVersion"], "networking.istio.io/v1");
        assert_eq!(items[1]["kind"], "ServiceEntry");
        assert_eq!(
            items[1]["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "regsync"
        );
        assert_eq!(items[1]["spec"]["hosts"], json!(["orders.eureka-prod.svc"]));
        let typed: ServiceEntry = serde_json::from_value(items[1].clone()).unwrap();
        assert_eq!(typed, to_resource(&entries()[1]));
    }
}
