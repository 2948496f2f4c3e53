//! The state of one incremental (delta) ADS stream, with no I/O, for clients that speak
//! `DeltaAggregatedResources` (istiod does not; Envoy-style tools and `pkg/adsc/delta.go` do).
//!
//! The delta protocol's own rules, as the xDS specification states them:
//! - The first request for a type subscribes. With no names, or with `*`, it is a wildcard
//!   subscription to every resource; otherwise only the names listed. Later requests add and
//!   remove names with `resource_names_subscribe` / `resource_names_unsubscribe`, whatever
//!   their nonce.
//! - `initial_resource_versions` (first request of a reconnected stream) says what the client
//!   already holds: only what differs is sent, and what no longer exists is removed.
//! - A response carries only changed resources, and `removed_resources` for those the client
//!   holds that are gone. A name subscribed explicitly is always answered, with the resource or,
//!   when it does not exist, in `removed_resources`.
//! - A request carrying the nonce of the last response of its type ACKs it, or NACKs it with
//!   `error_detail`: the client keeps what it had, and the refused versions are not sent again.
//!   Any other nonce is stale for ACK purposes.
//! - As on the State-of-the-World stream, at most one response per type waits for its ACK, and
//!   the next one is computed from the newest snapshot when it comes.
//! - Types other than ServiceEntry are answered once, empty.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource as DeltaResource,
};

use crate::ads::EMPTY_VERSION;
use crate::render::{Rendered, Resource};
use crate::sotw::Decision;
use crate::types::is_service_entry;

/// The wildcard resource name.
pub const WILDCARD: &str = "*";

/// A response waiting for its ACK: what the client will hold once it applies it.
#[derive(Debug, Clone)]
struct Pending {
    nonce: String,
    version: String,
    updated: Vec<(String, String)>,
    removed: Vec<String>,
}

/// What the stream knows of one type.
#[derive(Debug, Default, Clone)]
struct TypeState {
    wildcard: bool,
    /// Names subscribed explicitly.
    names: BTreeSet<String>,
    /// What the client holds, as far as it ACKed: name → version.
    view: BTreeMap<String, String>,
    /// Names subscribed since the last response: answered even if the client holds them.
    fresh: BTreeSet<String>,
    /// The response waiting for its ACK.
    pending: Option<Pending>,
    /// Versions refused by a NACK, never sent again: name → version ("" for a removal).
    nacked: BTreeMap<String, String>,
    /// Whether any response was sent.
    answered: bool,
    /// `system_version_info` of the last response ACKed.
    acked: Option<String>,
}

impl TypeState {
    fn tracks(&self, name: &str) -> bool {
        self.wildcard || self.names.contains(name)
    }

    fn subscribe(&mut self, names: &[String]) {
        for name in names {
            if name == WILDCARD {
                self.wildcard = true;
            } else {
                self.names.insert(name.clone());
                // The client may have dropped it: answer it again (the spec's RemoveThenAdd).
                self.view.remove(name);
                self.fresh.insert(name.clone());
            }
        }
    }

    fn unsubscribe(&mut self, names: &[String]) {
        if names.is_empty() && self.wildcard {
            return;
        }
        for name in names {
            if name == WILDCARD {
                self.wildcard = false;
            } else {
                self.names.remove(name);
                self.fresh.remove(name);
            }
        }
        // The client forgets what it no longer tracks; no removal is sent for it.
        let Self {
            wildcard,
            names,
            view,
            ..
        } = self;
        view.retain(|n, _| *wildcard || names.contains(n));
    }

    /// The resources to send and the names to remove so the client holds `snapshot`.
    fn diff(&self, snapshot: &Rendered) -> (Vec<(String, String)>, Vec<String>) {
        let refused =
            |name: &str, version: &str| self.nacked.get(name).is_some_and(|v| v == version);
        let present = |name: &str| self.tracks(name) && snapshot.get(name).is_some();
        let mut updated = Vec::new();
        let mut update = |r: &Resource, held: Option<&String>| {
            if held != Some(&r.version) && !refused(&r.name, &r.version) {
                updated.push((r.name.clone(), r.version.clone()));
            }
        };
        let mut gone: Vec<&String> = Vec::new();
        if self.wildcard {
            // The snapshot and the view are both sorted by name: one merge pass, no lookups.
            let mut view = self.view.iter().peekable();
            for r in &snapshot.resources {
                while let Some((name, _)) = view.next_if(|(n, _)| n.as_str() < r.name.as_str()) {
                    gone.push(name);
                }
                let held = view.next_if(|(n, _)| **n == r.name).map(|(_, v)| v);
                update(r, held);
            }
            gone.extend(view.map(|(n, _)| n));
        } else {
            for r in self.names.iter().filter_map(|n| snapshot.get(n)) {
                update(r, self.view.get(&r.name));
            }
            gone.extend(self.view.keys().filter(|n| !present(n)));
        }
        let mut removed: Vec<String> = gone
            .into_iter()
            .filter(|n| !refused(n, ""))
            .cloned()
            .collect();
        // A name asked for that does not exist is answered with its removal.
        removed.extend(
            self.fresh
                .iter()
                .filter(|n| !present(n) && !self.view.contains_key(*n))
                .cloned(),
        );
        removed.sort();
        removed.dedup();
        (updated, removed)
    }
}

/// One delta stream's state across every type it asked for.
#[derive(Debug, Default)]
pub struct DeltaStream {
    types: BTreeMap<String, TypeState>,
    sent: u64,
    prefix: String,
}

impl DeltaStream {
    /// A stream whose nonces start with `prefix` (unique per stream).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }

    /// Reads one request: subscription changes always apply; the nonce decides ACK, NACK or
    /// stale. Afterwards the caller sends what [`DeltaStream::due`] says.
    pub fn on_request(&mut self, req: &DeltaDiscoveryRequest) -> Decision {
        let Some(state) = self.types.get_mut(&req.type_url) else {
            let mut state = TypeState {
                wildcard: req.resource_names_subscribe.is_empty(),
                ..TypeState::default()
            };
            state.subscribe(&req.resource_names_subscribe);
            // What the client said it holds stays in its view: only differences are sent.
            for (name, version) in &req.initial_resource_versions {
                state.view.insert(name.clone(), version.clone());
                state.fresh.remove(name);
            }
            state.unsubscribe(&req.resource_names_unsubscribe);
            self.types.insert(req.type_url.clone(), state);
            return Decision::Subscribe;
        };
        let changed =
            !req.resource_names_subscribe.is_empty() || !req.resource_names_unsubscribe.is_empty();
        state.subscribe(&req.resource_names_subscribe);
        state.unsubscribe(&req.resource_names_unsubscribe);
        let is_reply = !req.response_nonce.is_empty()
            && state
                .pending
                .as_ref()
                .is_some_and(|p| p.nonce == req.response_nonce);
        if !is_reply {
            return if changed {
                Decision::Resubscribe
            } else {
                Decision::Stale
            };
        }
        let Some(pending) = state.pending.take() else {
            return Decision::Stale;
        };
        match &req.error_detail {
            Some(status) => {
                for (name, version) in pending.updated {
                    state.nacked.insert(name, version);
                }
                for name in pending.removed {
                    state.nacked.insert(name, String::new());
                }
                Decision::Nack {
                    version: pending.version,
                    detail: status.message.clone(),
                }
            }
            None => {
                for name in &pending.removed {
                    state.view.remove(name);
                }
                for (name, version) in pending.updated {
                    state.nacked.remove(&name);
                    // Unsubscribed meanwhile: the client dropped it.
                    if state.tracks(&name) {
                        state.view.insert(name, version);
                    }
                }
                state.acked = Some(pending.version.clone());
                Decision::Ack {
                    version: pending.version,
                }
            }
        }
    }

    /// The types that must be answered now: not waiting for an ACK, and either never answered
    /// (ServiceEntry types only once a snapshot exists) or behind `snapshot`.
    pub fn due(&self, snapshot: Option<&Rendered>) -> Vec<String> {
        self.types
            .iter()
            .filter(|(url, s)| {
                if s.pending.is_some() {
                    return false;
                }
                if !is_service_entry(url) {
                    return !s.answered;
                }
                let Some(snapshot) = snapshot else {
                    return false;
                };
                let (updated, removed) = s.diff(snapshot);
                !s.answered || !updated.is_empty() || !removed.is_empty()
            })
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// Builds the response for `type_url` (one [`DeltaStream::due`] returned) and records it as
    /// waiting for its ACK.
    pub fn respond(
        &mut self,
        type_url: &str,
        snapshot: Option<&Rendered>,
    ) -> Option<DeltaDiscoveryResponse> {
        self.sent += 1;
        let nonce = format!("{}-d{}", self.prefix, self.sent);
        let state = self.types.get_mut(type_url)?;
        let (version, updated, removed) = match snapshot {
            Some(snapshot) if is_service_entry(type_url) => {
                let (updated, removed) = state.diff(snapshot);
                (snapshot.version.clone(), updated, removed)
            }
            None if is_service_entry(type_url) => return None,
            _ => (EMPTY_VERSION.to_owned(), Vec::new(), Vec::new()),
        };
        let resources = snapshot
            .filter(|_| is_service_entry(type_url))
            .map(|s| {
                updated
                    .iter()
                    .filter_map(|(name, _)| s.get(name))
                    .map(|r| DeltaResource {
                        name: r.name.clone(),
                        version: r.version.clone(),
                        resource: Some((*r.any).clone()),
                        ..DeltaResource::default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        state.fresh.clear();
        state.answered = true;
        state.pending = Some(Pending {
            nonce: nonce.clone(),
            version: version.clone(),
            updated,
            removed: removed.clone(),
        });
        Some(DeltaDiscoveryResponse {
            system_version_info: version,
            resources,
            type_url: type_url.to_owned(),
            removed_resources: removed,
            nonce,
            ..DeltaDiscoveryResponse::default()
        })
    }

    /// The last `system_version_info` ACKed per type, for the status page.
    pub fn acked(&self) -> BTreeMap<String, String> {
        self.types
            .iter()
            .filter_map(|(url, s)| Some((url.clone(), s.acked.clone()?)))
            .collect()
    }

    /// What the client holds of `type_url` as far as it ACKed: name → version.
    pub fn view(&self, type_url: &str) -> Option<&BTreeMap<String, String>> {
        self.types.get(type_url).map(|s| &s.view)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testkit::entry;
    use crate::types::{MESH_CONFIG, SERVICE_ENTRY_V1};
    use envoy_types::pb::google::rpc::Status;

    /// `apps` entries; odd ones keep their version across generations, even ones change.
    fn snapshot(generation: u64, apps: usize) -> Rendered {
        let entries: Vec<_> = (0..apps)
            .map(|i| {
                let version = if i % 2 == 0 {
                    format!("h{i}-{generation}")
                } else {
                    format!("h{i}")
                };
                entry(&format!("svc-{i}"), &version, &["10.0.0.1"])
            })
            .collect();
        Rendered::new(generation, &entries).unwrap()
    }

    fn req(subscribe: &[&str], nonce: &str) -> DeltaDiscoveryRequest {
        DeltaDiscoveryRequest {
            type_url: SERVICE_ENTRY_V1.into(),
            resource_names_subscribe: subscribe.iter().map(|s| (*s).to_owned()).collect(),
            response_nonce: nonce.into(),
            ..DeltaDiscoveryRequest::default()
        }
    }

    fn names(r: &DeltaDiscoveryResponse) -> Vec<&str> {
        r.resources.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn wildcard_gets_everything_then_only_changes_and_removals() {
        let s1 = snapshot(1, 3);
        let mut s = DeltaStream::new("d");
        assert_eq!(s.on_request(&req(&[], "")), Decision::Subscribe);
        assert!(s.due(None).is_empty(), "ServiceEntries wait for a snapshot");
        assert_eq!(s.due(Some(&s1)), vec![SERVICE_ENTRY_V1.to_owned()]);
        let r1 = s.respond(SERVICE_ENTRY_V1, Some(&s1)).unwrap();
        assert_eq!(r1.resources.len(), s1.resources.len());
        assert!(r1.removed_resources.is_empty());
        assert_eq!(r1.system_version_info, "1");
        // Nothing more until the ACK.
        assert!(s.due(Some(&s1)).is_empty());
        assert_eq!(
            s.on_request(&req(&[], &r1.nonce)),
            Decision::Ack {
                version: "1".into()
            }
        );
        assert!(s.due(Some(&s1)).is_empty(), "nothing changed");

        // One app fewer, and the others at a new registry version: only what differs moves.
        let s2 = snapshot(2, 2);
        let r2 = s.respond(SERVICE_ENTRY_V1, Some(&s2)).unwrap();
        let gone: Vec<String> = s1
            .resources
            .iter()
            .filter(|r| s2.get(&r.name).is_none())
            .map(|r| r.name.clone())
            .collect();
        assert!(!gone.is_empty());
        assert_eq!(r2.removed_resources, gone);
        for r in &r2.resources {
            assert_ne!(s1.get(&r.name).map(|x| &x.version), Some(&r.version));
        }
        s.on_request(&req(&[], &r2.nonce));
        let view = s.view(SERVICE_ENTRY_V1).unwrap();
        assert_eq!(view.len(), s2.resources.len());
        assert!(s2.resources.iter().all(|r| view[&r.name] == r.version));
    }

    #[test]
    fn named_subscriptions_answer_missing_names_with_a_removal() {
        let s1 = snapshot(1, 3);
        let first = s1.resources[0].name.clone();
        let mut s = DeltaStream::new("d");
        s.on_request(&req(&[&first, "default/nope"], ""));
        let r = s.respond(SERVICE_ENTRY_V1, Some(&s1)).unwrap();
        assert_eq!(names(&r), vec![first.as_str()]);
        assert_eq!(r.removed_resources, vec!["default/nope".to_owned()]);
        s.on_request(&req(&[], &r.nonce));
        assert!(s.due(Some(&s1)).is_empty());

        // Subscribing again to a name the client holds answers it again.
        assert_eq!(s.on_request(&req(&[&first], "")), Decision::Resubscribe);
        let again = s.respond(SERVICE_ENTRY_V1, Some(&s1)).unwrap();
        assert_eq!(names(&again), vec![first.as_str()]);
        assert!(again.removed_resources.is_empty());
        s.on_request(&req(&[], &again.nonce));

        // Unsubscribed names are forgotten without a removal.
        let mut unsub = req(&[], "");
        unsub.resource_names_unsubscribe = vec![first.clone()];
        assert_eq!(s.on_request(&unsub), Decision::Resubscribe);
        assert!(s.view(SERVICE_ENTRY_V1).unwrap().is_empty());
        assert!(s.due(Some(&s1)).is_empty());
    }

    #[test]
    fn initial_resource_versions_send_only_what_differs() {
        let s1 = snapshot(1, 3);
        let s2 = snapshot(2, 2);
        let mut r = req(&[], "");
        // The client reconnects holding generation 1, and the store has moved on to 2.
        r.initial_resource_versions = s1
            .resources
            .iter()
            .map(|r| (r.name.clone(), r.version.clone()))
            .collect();
        let mut s = DeltaStream::new("d");
        s.on_request(&r);
        let resp = s.respond(SERVICE_ENTRY_V1, Some(&s2)).unwrap();
        for r in &resp.resources {
            assert_ne!(s1.get(&r.name).map(|x| &x.version), Some(&r.version));
        }
        let expected_removed: Vec<&str> = s1
            .resources
            .iter()
            .filter(|r| s2.get(&r.name).is_none())
            .map(|r| r.name.as_str())
            .collect();
        assert!(!expected_removed.is_empty());
        assert_eq!(resp.removed_resources, expected_removed);

        // Holding exactly generation 1 against generation 1: one empty answer, nothing sent.
        let mut s = DeltaStream::new("d");
        s.on_request(&r);
        let resp = s.respond(SERVICE_ENTRY_V1, Some(&s1)).unwrap();
        assert!(resp.resources.is_empty() && resp.removed_resources.is_empty());
    }

    #[test]
    fn a_nack_keeps_the_acked_view_and_the_refused_versions_are_not_resent() {
        let s1 = snapshot(1, 3);
        let s2 = snapshot(2, 3);
        let mut s = DeltaStream::new("d");
        s.on_request(&req(&[], ""));
        let r1 = s.respond(SERVICE_ENTRY_V1, Some(&s1)).unwrap();
        s.on_request(&req(&[], &r1.nonce));
        let r2 = s.respond(SERVICE_ENTRY_V1, Some(&s2)).unwrap();
        assert!(!r2.resources.is_empty(), "generation 2 changes entries");
        // A stale nonce is ignored.
        assert_eq!(s.on_request(&req(&[], &r1.nonce)), Decision::Stale);
        let mut nack = req(&[], &r2.nonce);
        nack.error_detail = Some(Status {
            code: 3,
            message: "bad entry".into(),
            details: vec![],
        });
        assert_eq!(
            s.on_request(&nack),
            Decision::Nack {
                version: "2".into(),
                detail: "bad entry".into()
            }
        );
        assert_eq!(s.acked()[SERVICE_ENTRY_V1], "1");
        let view = s.view(SERVICE_ENTRY_V1).unwrap();
        assert!(s1.resources.iter().all(|r| view[&r.name] == r.version));
        assert!(
            s.due(Some(&s2)).is_empty(),
            "refused versions are not resent"
        );
        // A newer generation is sent, from the state the client kept.
        let s3 = snapshot(3, 3);
        assert_eq!(s.due(Some(&s3)), vec![SERVICE_ENTRY_V1.to_owned()]);
    }

    #[test]
    fn other_types_are_answered_once_empty() {
        let mut s = DeltaStream::new("d");
        let mut r = req(&[], "");
        r.type_url = MESH_CONFIG.into();
        s.on_request(&r);
        assert_eq!(s.due(None), vec![MESH_CONFIG.to_owned()]);
        let resp = s.respond(MESH_CONFIG, None).unwrap();
        assert!(resp.resources.is_empty() && resp.removed_resources.is_empty());
        assert_eq!(resp.system_version_info, EMPTY_VERSION);
        r.response_nonce = resp.nonce.clone();
        assert_eq!(
            s.on_request(&r),
            Decision::Ack {
                version: EMPTY_VERSION.into()
            }
        );
        assert!(s.due(Some(&snapshot(1, 1))).is_empty());
    }
}
