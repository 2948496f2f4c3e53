//! A snapshot generation rendered once into the MCP resources every stream sends: one
//! `Any(istio.mcp.v1alpha1.Resource)` per entry, sorted by name.
//!
//! istiod drops an invalid entry silently and still ACKs, and deletes the copy it held. The
//! conversion never stores such an entry, so one in a generation means the generation is
//! damaged: it is refused whole, with every reason, and the last good one keeps being served.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
    /// `Any(istio.mcp.v1alpha1.Resource)`, shared with the generations that reuse it.
    pub any: Arc<Any>,
    /// Endpoints in the entry.
    pub endpoints: usize,
    /// The resource as field 2 of a `DiscoveryResponse`: a slice of [`Rendered::encoded`].
    pub field: Bytes,
    /// Endpoints per registry in this entry.
    pub registries: Vec<(String, usize)>,
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
        Self::next(None, generation, entries)
    }

    /// Renders `entries` of `generation`, reusing from `previous` every resource whose entry
    /// is unchanged (same name, same content hash): it was validated and encoded when it was
    /// rendered, so a one-entry change validates and encodes one entry.
    pub fn next<'a>(
        previous: Option<&Rendered>,
        generation: u64,
        entries: impl IntoIterator<Item = &'a Entry>,
    ) -> Result<Self, Vec<Invalid>> {
        let entries = entries.into_iter();
        let mut resources: Vec<Resource> = Vec::with_capacity(entries.size_hint().0);
        let mut invalid = Vec::new();
        let mut seen = BTreeSet::new();
        for entry in entries {
            let name = entry.resource_name();
            if !seen.insert(name.clone()) {
                invalid.push(Invalid {
                    reasons: vec![format!(
                        "name {name} appears twice in generation {generation}"
                    )],
                    name,
                });
                continue;
            }
            if let Some(r) = previous
                .and_then(|p| p.get(&name))
                .filter(|r| !entry.version.is_empty() && r.version == entry.version)
            {
                resources.push(r.clone());
                continue;
            }
            match render(entry, name) {
                Ok(r) => resources.push(r),
                Err(i) => invalid.push(i),
            }
        }
        if !invalid.is_empty() {
            return Err(invalid);
        }
        resources.sort_by(|a, b| a.name.cmp(&b.name));
        let mut buf = BytesMut::with_capacity(
            resources
                .iter()
                .map(|r| prost::encoding::message::encoded_len(2, &*r.any))
                .sum(),
        );
        let mut spans = Vec::with_capacity(resources.len());
        for r in &resources {
            let at = buf.len();
            if r.field.is_empty() {
                prost::encoding::message::encode(2, &*r.any, &mut buf);
            } else {
                buf.extend_from_slice(&r.field);
            }
            spans.push(at..buf.len());
        }
        let encoded = buf.freeze();
        let mut registries: BTreeMap<String, usize> = BTreeMap::new();
        for (r, span) in resources.iter_mut().zip(spans) {
            r.field = encoded.slice(span);
            for (registry, n) in &r.registries {
                *registries.entry(registry.clone()).or_default() += n;
            }
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
            .map(|r| (*r.any).clone())
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

/// Validates and encodes one entry.
fn render(entry: &Entry, name: String) -> Result<Resource, Invalid> {
    let mut reasons = match regsync_convert::validate::validate_entry(entry) {
        Ok(()) => Vec::new(),
        Err(reasons) => reasons,
    };
    if entry.version.is_empty() {
        reasons.push("metadata.version is empty (istiod would update it on every push)".into());
    }
    if !reasons.is_empty() {
        return Err(Invalid { name, reasons });
    }
    let mut registries: Vec<(String, usize)> = Vec::new();
    for endpoint in &entry.spec.endpoints {
        let registry = endpoint
            .labels
            .get(regsync_convert::render::REGISTRY_LABEL)
            .map_or(entry.namespace.as_str(), |r| &**r);
        match registries.iter_mut().find(|(r, _)| r == registry) {
            Some((_, n)) => *n += 1,
            None => registries.push((registry.to_owned(), 1)),
        }
    }
    Ok(Resource {
        version: entry.version.clone(),
        any: Arc::new(Any {
            type_url: regsync_proto::RESOURCE_TYPE_URL.to_owned(),
            value: regsync_proto::resource(entry).encode_to_vec(),
        }),
        endpoints: entry.endpoint_count(),
        field: Bytes::new(),
        registries,
        name,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testkit::entry;

    #[test]
    fn the_next_generation_reuses_unchanged_entries_and_renders_the_rest() {
        let orders = entry("orders", "h1", &["10.0.0.1", "10.0.0.2"]);
        let users = entry("users", "u1", &["10.0.0.3"]);
        let first = Rendered::new(1, &[orders.clone(), users.clone()]).unwrap();

        let users2 = entry("users", "u2", &["10.0.0.3", "10.0.0.4"]);
        let billing = entry("billing", "b1", &["10.0.0.5"]);
        let entries = [billing, users2, orders];
        let next = Rendered::next(Some(&first), 2, &entries).unwrap();
        // Exactly what a fresh rendering gives.
        assert_eq!(next, Rendered::new(2, &entries).unwrap());
        assert_eq!(next.registries["istio-system"], 5);
        // The unchanged entry is the previous generation's own resource; the changed one is new.
        let (o1, o2) = (
            first.get("istio-system/orders"),
            next.get("istio-system/orders"),
        );
        assert!(Arc::ptr_eq(&o1.unwrap().any, &o2.unwrap().any));
        let (u1, u2) = (
            first.get("istio-system/users"),
            next.get("istio-system/users"),
        );
        assert!(!Arc::ptr_eq(&u1.unwrap().any, &u2.unwrap().any));
        assert_eq!(next.get("istio-system/users").unwrap().endpoints, 2);
    }

    #[test]
    fn a_changed_entry_is_validated_even_when_its_name_was_served() {
        let first = Rendered::new(1, &[entry("orders", "h1", &["10.0.0.1"])]).unwrap();
        let mut broken = entry("orders", "h2", &["10.0.0.1"]);
        broken.spec.hosts.clear();
        let invalid = Rendered::next(Some(&first), 2, &[broken]).unwrap_err();
        assert_eq!(invalid[0].name, "istio-system/orders");
        // The same content hash is trusted: it was validated when it was rendered.
        let again = Rendered::next(Some(&first), 3, &[entry("orders", "h1", &["10.0.0.1"])]);
        assert_eq!(again.unwrap().resources, first.resources);
    }
}
