//! The collection type URLs istiod asks for (wire contract §4): `<group>/<version>/<Kind>`.

/// Mesh configuration, always asked for first; answered empty, never with content.
pub const MESH_CONFIG: &str = "core/v1alpha1/MeshConfig";

/// ServiceEntry as istiod 1.24 and later ask for it.
pub const SERVICE_ENTRY_V1: &str = "networking.istio.io/v1/ServiceEntry";
/// ServiceEntry at v1beta1, which no istiod release asks for, accepted to be safe.
pub const SERVICE_ENTRY_V1BETA1: &str = "networking.istio.io/v1beta1/ServiceEntry";
/// ServiceEntry as istiod 1.18 to 1.23 ask for it.
pub const SERVICE_ENTRY_V1ALPHA3: &str = "networking.istio.io/v1alpha3/ServiceEntry";

/// Every type URL regsync answers with ServiceEntries, echoing the one asked for.
pub const SERVICE_ENTRY_TYPE_URLS: [&str; 3] = [
    SERVICE_ENTRY_V1,
    SERVICE_ENTRY_V1BETA1,
    SERVICE_ENTRY_V1ALPHA3,
];

/// Whether `type_url` is the ServiceEntry collection at any version istiod may ask for.
/// istiod matches type URLs exactly, so the answer must echo the URL asked for.
pub fn is_service_entry(type_url: &str) -> bool {
    SERVICE_ENTRY_TYPE_URLS.contains(&type_url)
}

/// The initial requests of istiod 1.18 to 1.23, in order (wire contract §4).
pub const ISTIOD_1_23_TYPES: [&str; 15] = [
    MESH_CONFIG,
    "security.istio.io/v1beta1/AuthorizationPolicy",
    "networking.istio.io/v1alpha3/DestinationRule",
    "networking.istio.io/v1alpha3/EnvoyFilter",
    "networking.istio.io/v1alpha3/Gateway",
    "security.istio.io/v1beta1/PeerAuthentication",
    "networking.istio.io/v1beta1/ProxyConfig",
    "security.istio.io/v1beta1/RequestAuthentication",
    SERVICE_ENTRY_V1ALPHA3,
    "networking.istio.io/v1alpha3/Sidecar",
    "telemetry.istio.io/v1alpha1/Telemetry",
    "networking.istio.io/v1alpha3/VirtualService",
    "extensions.istio.io/v1alpha1/WasmPlugin",
    "networking.istio.io/v1alpha3/WorkloadEntry",
    "networking.istio.io/v1alpha3/WorkloadGroup",
];

/// The initial requests of istiod 1.30 and later, in order (wire contract §4).
pub const ISTIOD_1_30_TYPES: [&str; 16] = [
    MESH_CONFIG,
    "security.istio.io/v1/AuthorizationPolicy",
    "networking.istio.io/v1/DestinationRule",
    "networking.istio.io/v1alpha3/EnvoyFilter",
    "networking.istio.io/v1/Gateway",
    "security.istio.io/v1/PeerAuthentication",
    "networking.istio.io/v1beta1/ProxyConfig",
    "security.istio.io/v1/RequestAuthentication",
    SERVICE_ENTRY_V1,
    "networking.istio.io/v1/Sidecar",
    "telemetry.istio.io/v1/Telemetry",
    "extensions.istio.io/v1alpha1/TrafficExtension",
    "networking.istio.io/v1/VirtualService",
    "extensions.istio.io/v1alpha1/WasmPlugin",
    "networking.istio.io/v1/WorkloadEntry",
    "networking.istio.io/v1/WorkloadGroup",
];
