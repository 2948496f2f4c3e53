//! The Istio ServiceEntry as regsync renders it, in the field names of the Kubernetes resource
//! (`networking.istio.io/v1` `ServiceEntry` `spec`), plus the MCP resource metadata.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An immutable string shared between the many endpoints that repeat it (label keys and
/// values, port names, localities): cloning it copies a pointer, not the text.
pub type SharedStr = Arc<str>;

/// `ServiceEntry.Location`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Location {
    /// Outside the mesh.
    MeshExternal,
    /// Part of the mesh: what registry services are.
    #[default]
    MeshInternal,
}

/// `ServiceEntry.Resolution`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// Pass-through.
    None,
    /// Endpoint addresses are IPs.
    #[default]
    Static,
    /// Endpoint addresses are host names resolved by the proxy.
    Dns,
    /// One endpoint, resolved round-robin.
    DnsRoundRobin,
}

/// `ServicePort`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Port number, 1–65535.
    pub number: u32,
    /// Istio protocol: HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS.
    pub protocol: String,
    /// Port name, unique in the entry.
    pub name: String,
    /// Target port on the endpoints, when it differs from `number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// `WorkloadEntry`, one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEntry {
    /// IP address or host name.
    pub address: String,
    /// Port name → port on this endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<SharedStr, u32>,
    /// Labels (Kubernetes label rules).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<SharedStr, SharedStr>,
    /// Network name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `region/zone/subzone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<SharedStr>,
    /// Load-balancing weight; absent means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

/// `ServiceEntry` spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    /// Host names.
    pub hosts: Vec<String>,
    /// Virtual IPs (regsync sets none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports, sorted by number.
    pub ports: Vec<ServicePort>,
    /// Always `MESH_INTERNAL` for registry services.
    pub location: Location,
    /// `STATIC` unless an endpoint address is a host name.
    pub resolution: Resolution,
    /// Endpoints, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntry>,
    /// Namespaces this entry is visible to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Subject alternative names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// The latest `create_time_ms` an entry can carry: 9999-12-31T23:59:59.999Z, the end of the
/// range of a protobuf `google.protobuf.Timestamp` (seconds at most 253402300799). A conforming
/// client (Go's protobuf in istiod) refuses a whole response holding a later one (issue 22).
pub const MAX_CREATE_TIME_MS: u64 = 253_402_300_799_999;

/// One rendered ServiceEntry with the metadata istiod needs (MCP `Metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Namespace: one per registry.
    pub namespace: String,
    /// Name within the namespace.
    pub name: String,
    /// Hash of the canonical encoding of labels, annotations and spec.
    pub version: String,
    /// First time this entry's services were seen, ms since the epoch; stable. At most
    /// [`MAX_CREATE_TIME_MS`]; 0 when unknown.
    pub create_time_ms: u64,
    /// Resource labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Resource annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The spec.
    pub spec: ServiceEntrySpec,
}

impl Entry {
    /// MCP resource name: `namespace/name`.
    pub fn resource_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Total number of endpoints.
    pub fn endpoint_count(&self) -> usize {
        self.spec.endpoints.len()
    }
}
