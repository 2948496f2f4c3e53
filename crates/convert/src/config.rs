//! Conversion settings. Every default can be overridden in a config file (YAML or JSON):
//! see the README's "Conversion rules" section for the file format.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What to do when two registries produce the same host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "policy")]
pub enum DuplicateHostPolicy {
    /// One entry with the endpoints of every registry, each endpoint labelled with its
    /// `registry`; the entry lives in the namespace of the first registry by name.
    #[default]
    Merge,
    /// Keep only the endpoints of the first registry in `order` that has the host; the others
    /// are reported as shadowed, never silently dropped.
    Prefer {
        /// Registry names, most preferred first; unlisted registries come after, by name.
        order: Vec<String>,
    },
}

/// Eureka rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct EurekaConfig {
    /// Last DNS label of every Eureka host.
    pub host_suffix: String,
    /// Protocol of `port` when no metadata key below says otherwise.
    pub default_protocol: String,
    /// Metadata keys that name the protocol of `port`, first match wins.
    pub protocol_metadata_keys: Vec<String>,
    /// Metadata keys never copied to endpoint labels.
    pub excluded_metadata: BTreeSet<String>,
}

impl Default for EurekaConfig {
    fn default() -> Self {
        Self {
            host_suffix: "eureka".into(),
            default_protocol: "HTTP".into(),
            protocol_metadata_keys: vec!["protocol".into(), "istio.protocol".into()],
            excluded_metadata: BTreeSet::new(),
        }
    }
}

/// Dubbo rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct DubboConfig {
    /// Last DNS label of every Dubbo host.
    pub host_suffix: String,
    /// URL parameters that change on every restart or are too long to be labels.
    pub volatile_params: BTreeSet<String>,
    /// Dubbo protocol → (Istio protocol, port-name prefix). Unlisted protocols become TCP.
    pub protocols: BTreeMap<String, PortStyle>,
}

/// How one Dubbo protocol is exposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PortStyle {
    /// Istio protocol.
    pub protocol: String,
    /// Port name prefix; the name is `<prefix>-<number>`.
    pub name_prefix: String,
}

impl Default for DubboConfig {
    fn default() -> Self {
        let volatile = [
            "pid",
            "timestamp",
            "methods",
            "anyhost",
            "bind.ip",
            "bind.port",
            "ipv6",
            "interface",
            "service.name",
            "weight",
        ];
        let protocols = [("dubbo", "TCP", "tcp-dubbo"), ("tri", "GRPC", "grpc-tri")]
            .into_iter()
            .map(|(d, p, n)| {
                (
                    d.to_owned(),
                    PortStyle {
                        protocol: p.to_owned(),
                        name_prefix: n.to_owned(),
                    },
                )
            })
            .collect();
        Self {
            host_suffix: "dubbo".into(),
            volatile_params: volatile.into_iter().map(str::to_owned).collect(),
            protocols,
        }
    }
}

/// Curator service discovery rules: applications under the services root (`/services/<app>`)
/// that no Dubbo interface maps, such as Spring Cloud Zookeeper applications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct CuratorConfig {
    /// Last DNS label of every Curator discovery host.
    pub host_suffix: String,
    /// Protocol of `port` when no metadata key below says otherwise (`sslPort` is HTTPS).
    pub default_protocol: String,
    /// Payload metadata keys that name the protocol of `port`, first match wins.
    pub protocol_metadata_keys: Vec<String>,
    /// Payload metadata keys never copied to endpoint labels.
    pub excluded_metadata: BTreeSet<String>,
}

impl Default for CuratorConfig {
    fn default() -> Self {
        Self {
            host_suffix: "zookeeper".into(),
            default_protocol: "HTTP".into(),
            protocol_metadata_keys: vec!["protocol".into(), "istio.protocol".into()],
            excluded_metadata: ["dubbo.endpoints", "dubbo.metadata.revision", "timestamp"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// All conversion settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConvertConfig {
    /// Registry name → namespace of its entries. Unlisted registries use their own name.
    pub namespaces: BTreeMap<String, String>,
    /// `exportTo` of every entry.
    pub export_to: Vec<String>,
    /// Same host from two registries.
    pub duplicate_hosts: DuplicateHostPolicy,
    /// Eureka rules.
    pub eureka: EurekaConfig,
    /// Dubbo rules.
    pub dubbo: DubboConfig,
    /// Curator service discovery rules.
    pub curator: CuratorConfig,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        Self {
            namespaces: BTreeMap::new(),
            export_to: vec!["*".into()],
            duplicate_hosts: DuplicateHostPolicy::default(),
            eureka: EurekaConfig::default(),
            dubbo: DubboConfig::default(),
            curator: CuratorConfig::default(),
        }
    }
}

impl ConvertConfig {
    /// Namespace of `registry`'s entries.
    pub fn namespace_for(&self, registry: &str) -> String {
        self.namespaces
            .get(registry)
            .cloned()
            .unwrap_or_else(|| registry.to_owned())
    }
}
