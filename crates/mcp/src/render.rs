//! A snapshot generation rendered once into the MCP resources every stream sends: one
//! `Any(istio.mcp.v1alpha1.Resource)` per entry, sorted by name.
//!
//! istiod drops an invalid entry silently and still ACKs, and deletes the copy it held. The
//! conversion never stores such an entry, so one in a generation means the generation is
//! damaged: it is refused whole, with every reason, and the last good one keeps being served.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use regsync_model::Entry;

/// One resource as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `namespace/name`.
    pub name: String,
    /// The entry's content hash (`metadata.version`).
    pub version: String,
    /// `Any(istio.mcp.v1alpha1.Resource)`.
    pub any: Any,
    /// Endpoints in the entry.
    pub endpoints: usize,
    /// The resource as field 2 of a `DiscoveryResponse`: a slice of [`Rendered::encoded`].
    pub field: Bytes,
}

/// An entry istiod would drop, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `namespace/name`.
    pub name: String,
    /// What istiod's validation would say.
    pub reasons: Vec<String>,
}

/// A generation rendered for every stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// The snapshot generation.
    pub generation: u64,
    /// `version_info` of every response carrying it.
    pub version: String,
    /// Resources, sorted by name, names unique.
    pub resources: Vec<Resource>,
    /// Endpoints per registry (the endpoint label `registry`, else the entry's namespace), for
    /// the mass-deregistration guard.
    pub registries: BTreeMap<String, usize>,
    /// Every resource, in order, as field 2 (`resources`) of a `DiscoveryResponse`: encoded
    /// once per generation and shared by every State-of-the-World stream (see [`crate::wire`]).
    pub encoded: Bytes,
}

impl Rendered {
    /// Renders `entries` of `generation`, or says which entries istiod would drop.
    pub fn new(generation: u64, entries: &[Entry]) -> Result<Self, Vec<Invalid>> {
        let mut resources: Vec<Resource> = Vec::with_capacity(entries.len());
        let mut invalid = Vec::new();
        let mut seen = BTreeSet::new();
        let mut registries: BTreeMap<String, usize> = BTreeMap::new();
        for entry in entries {
            let name = entry.resource_name();
            let mut reasons = match regsync_convert::validate::validate_entry(entry) {
                Ok(()) => Vec::new(),
                Err(reasons) => reasons,
            };
            if entry.version.is_empty() {
                reasons.push(
                    "metadata.version is empty (istiod would update it on every push)".into(),
                );
            }
            if !seen.insert(name.clone()) {
                reasons.push(format!(
                    "name {name} appears twice in generation {generation}"
                ));
            }
            if !reasons.is_empty() {
                invalid.push(Invalid { name, reasons });
                continue;
            }
            for endpoint in &entry.spec.endpoints {
                let registry = endpoint
                    .labels
                    .get(regsync_convert::render::REGISTRY_LABEL)
                    .map_or(entry.namespace.as_str(), |r| &**r);
                match registries.get_mut(registry) {
                    Some(n) => *n += 1,
                    None => {
                        registries.insert(registry.to_owned(), 1);
                    }
                }
            }
            let resource = regsync_proto::resource(entry);
            resources.push(Resource {
                name,
                version: entry.version.clone(),
                any: Any {
                    type_url: regsync_proto::RESOURCE_TYPE_URL.to_owned(),
                    value: resource.encode_to_vec(),
                },
                endpoints: entry.endpoint_count(),
                field: Bytes::new(),
            });
        }
        if !invalid.is_empty() {
            return Err(invalid);
        }
        resources.sort_by(|a, b| a.name.cmp(&b.name));
        let spans: Vec<usize> = resources
            .iter()
            .map(|r| prost::encoding::message::encoded_len(2, &r.any))
            .collect();
        let mut buf = BytesMut::with_capacity(spans.iter().sum());
        for r in &resources {
            prost::encoding::message::encode(2, &r.any, &mut buf);
        }
        let encoded = buf.freeze();
        let mut at = 0;
        for (r, len) in resources.iter_mut().zip(spans) {
            r.field = encoded.slice(at..at + len);
            at += len;
        }
        Ok(Self {
            generation,
            version: generation.to_string(),
            resources,
            registries,
            encoded,
        })
    }

    /// The resource named `name`.
    pub fn get(&self, name: &str) -> Option<&Resource> {
        self.resources
            .binary_search_by(|r| r.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.resources[i])
    }

    /// The resources named in `names`, or all of them when `names` is empty.
    pub fn select(&self, names: &BTreeSet<String>) -> Vec<Any> {
        self.resources
            .iter()
            .filter(|r| names.is_empty() || names.contains(&r.name))
            .map(|r| r.any.clone())
            .collect()
    }

    /// Field 2 of a `DiscoveryResponse` holding the resources named in `names` (all of them,
    /// shared with no copy, when `names` is empty), and how many it holds.
    pub fn resources_field(&self, names: &BTreeSet<String>) -> (Bytes, usize) {
        if names.is_empty() {
            return (self.encoded.clone(), self.resources.len());
        }
        let mut buf = BytesMut::new();
        let mut count = 0;
        for name in names {
            if let Some(r) = self.get(name) {
                buf.extend_from_slice(&r.field);
                count += 1;
            }
        }
        (buf.freeze(), count)
    }

    /// Whether `other` holds the same resources at the same versions (a generation that changed
    /// no entry, only the registry state behind them, needs no push).
    pub fn same_resources(&self, other: &Rendered) -> bool {
        self.resources.len() == other.resources.len()
            && self
                .resources
                .iter()
                .zip(&other.resources)
                .all(|(a, b)| a.name == b.name && a.version == b.version)
    }

    /// Endpoints across every resource.
    pub fn endpoints(&self) -> usize {
        self.resources.iter().map(|r| r.endpoints).sum()
    }

    /// Bytes of every resource's `Any` value.
    pub fn bytes(&self) -> usize {
        self.resources.iter().map(|r| r.any.value.len()).sum()
    }
}
