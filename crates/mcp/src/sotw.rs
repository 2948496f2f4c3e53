//! The state of one State-of-the-World ADS stream, as istiod drives it (wire contract §7), with
//! no I/O: what a request means, and what must be sent when the snapshot changes.
//!
//! - A request for a type this stream has not answered yet is a subscription, whatever its
//!   `response_nonce` says (istiod's initial nonces are timestamps).
//! - A request carrying the nonce of the last response of its type is an ACK, or a NACK when it
//!   has an `error_detail`. Any other nonce is stale and ignored.
//! - At most one response per type waits for its ACK. A snapshot that arrives meanwhile is sent
//!   when the ACK (or NACK) comes, and only its newest version: bursts are coalesced.
//! - A NACKed version is never sent again; the client keeps the last state it ACKed.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;

use crate::types::is_service_entry;

/// What one request means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The first request for its type on this stream: answer with the current state.
    Subscribe,
    /// The client asks for a different set of resource names: answer again.
    Resubscribe,
    /// The client applied the last response.
    Ack {
        /// The version it applied.
        version: String,
    },
    /// The client refused the last response and keeps its last ACKed state.
    Nack {
        /// The version it refused.
        version: String,
        /// Why, as the client said (`error_detail.message`).
        detail: String,
    },
    /// A nonce that is not the last one sent for this type: nothing to do.
    Stale,
}

/// What the stream knows of one type.
#[derive(Debug, Default, Clone)]
struct TypeState {
    /// Resource names asked for; empty means all.
    names: BTreeSet<String>,
    /// Nonce of the last response sent.
    nonce: Option<String>,
    /// version_info of the last response sent.
    sent: Option<String>,
    /// The last version ACKed.
    acked: Option<String>,
    /// The last version NACKed, never to be sent again.
    nacked: Option<String>,
    /// Whether the last response waits for its ACK.
    waiting: bool,
}

/// One stream's state across every type it asked for.
#[derive(Debug, Default)]
pub struct Stream {
    types: BTreeMap<String, TypeState>,
    sent: u64,
    prefix: String,
}

impl Stream {
    /// A stream whose nonces start with `prefix` (unique per stream, say its number).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }

    /// Reads one request. The caller answers `Subscribe` and `Resubscribe` with the current
    /// state of the type, and after `Ack` or `Nack` sends what [`Stream::due`] says.
    pub fn on_request(&mut self, req: &DiscoveryRequest) -> Decision {
        let names: BTreeSet<String> = req.resource_names.iter().cloned().collect();
        let Some(state) = self.types.get_mut(&req.type_url) else {
            self.types.insert(
                req.type_url.clone(),
                TypeState {
                    names,
                    ..TypeState::default()
                },
            );
            return Decision::Subscribe;
        };
        if state.nonce.is_none() {
            // Subscribed, not answered yet: a repeated first request.
            state.names = names;
            return Decision::Subscribe;
        }
        if state.nonce.as_deref() != Some(req.response_nonce.as_str()) {
            return Decision::Stale;
        }
        state.waiting = false;
        let version = req.version_info.clone();
        let decision = match &req.error_detail {
            Some(status) => {
                state.nacked.clone_from(&state.sent);
                Decision::Nack {
                    version: state.sent.clone().unwrap_or_default(),
                    detail: status.message.clone(),
                }
            }
            None => {
                state.acked = Some(version.clone());
                Decision::Ack { version }
            }
        };
        if names != state.names {
            state.names = names;
            // Due again whatever the version.
            state.sent = None;
            return Decision::Resubscribe;
        }
        decision
    }

    /// Records a response of `type_url` at `version` and returns its nonce, fresh and unique
    /// on this stream.
    pub fn sent(&mut self, type_url: &str, version: &str) -> String {
        self.sent += 1;
        let nonce = format!("{}-{}", self.prefix, self.sent);
        let state = self.types.entry(type_url.to_owned()).or_default();
        state.nonce = Some(nonce.clone());
        state.sent = Some(version.to_owned());
        state.waiting = true;
        nonce
    }

    /// The ServiceEntry types that must be sent `version` now: subscribed, not waiting for an
    /// ACK, and neither already sent nor NACKed at this version. A type that waits for its ACK
    /// becomes due when the ACK arrives.
    pub fn due(&self, version: &str) -> Vec<String> {
        self.types
            .iter()
            .filter(|(url, s)| {
                is_service_entry(url)
                    && !s.waiting
                    && s.sent.as_deref() != Some(version)
                    && s.nacked.as_deref() != Some(version)
            })
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// The resource names asked for on `type_url` (empty means all).
    pub fn names(&self, type_url: &str) -> Option<&BTreeSet<String>> {
        self.types.get(type_url).map(|s| &s.names)
    }

    /// The last version ACKed per type, for the status page.
    pub fn acked(&self) -> BTreeMap<String, String> {
        self.types
            .iter()
            .filter_map(|(url, s)| Some((url.clone(), s.acked.clone()?)))
            .collect()
    }

    /// Whether every type asked for has been answered at least once (what istiod waits for).
    pub fn all_answered(&self) -> bool {
        self.types.values().all(|s| s.nonce.is_some())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::types::{MESH_CONFIG, SERVICE_ENTRY_V1};
    use envoy_types::pb::google::rpc::Status;

    fn req(type_url: &str, nonce: &str, version: &str) -> DiscoveryRequest {
        DiscoveryRequest {
            type_url: type_url.into(),
            response_nonce: nonce.into(),
            version_info: version.into(),
            ..DiscoveryRequest::default()
        }
    }

    #[test]
    fn a_first_request_is_a_subscription_whatever_its_nonce() {
        let mut s = Stream::new("s1");
        let istiod_nonce = "2026-11-21 23:34:51.969512 +0000 UTC m=+0.113891976";
        assert_eq!(
            s.on_request(&req(SERVICE_ENTRY_V1, istiod_nonce, "")),
            Decision::Subscribe
        );
        assert_eq!(
            s.on_request(&req(MESH_CONFIG, istiod_nonce, "")),
            Decision::Subscribe
        );
        assert!(!s.all_answered());
    }

    #[test]
    fn ack_nack_and_stale_nonces() {
        let mut s = Stream::new("s1");
        s.on_request(&req(SERVICE_ENTRY_V1, "x", ""));
        let n1 = s.sent(SERVICE_ENTRY_V1, "7");
        assert!(s.all_answered());
        assert_eq!(
            s.on_request(&req(SERVICE_ENTRY_V1, "old", "")),
            Decision::Stale
        );
        assert_eq!(
            s.on_request(&req(SERVICE_ENTRY_V1, &n1, "7")),
            Decision::Ack {
                version: "7".into()
            }
        );
        assert_eq!(s.acked()[SERVICE_ENTRY_V1], "7");
        // The same nonce again is no longer the last response's: an ACK is counted once.
        let n2 = s.sent(SERVICE_ENTRY_V1, "8");
        assert_ne!(n1, n2);
        assert_eq!(
            s.on_request(&req(SERVICE_ENTRY_V1, &n1, "7")),
            Decision::Stale
        );
        let mut nack = req(SERVICE_ENTRY_V1, &n2, "7");
        nack.error_detail = Some(Status {
            code: 3,
            message: "bad entry".into(),
            details: vec![],
        });
        assert_eq!(
            s.on_request(&nack),
            Decision::Nack {
                version: "8".into(),
                detail: "bad entry".into()
            }
        );
        // The client keeps its last ACKed version, and 8 is never sent again.
        assert_eq!(s.acked()[SERVICE_ENTRY_V1], "7");
        assert!(s.due("8").is_empty());
        assert_eq!(s.due("9"), vec![SERVICE_ENTRY_V1.to_owned()]);
    }

    #[test]
    fn one_unacked_response_per_type_and_the_newest_version_after_the_ack() {
        let mut s = Stream::new("s1");
        s.on_request(&req(SERVICE_ENTRY_V1, "x", ""));
        s.on_request(&req(MESH_CONFIG, "x", ""));
        let n = s.sent(SERVICE_ENTRY_V1, "1");
        s.sent(MESH_CONFIG, "1");
        // Versions 2 and 3 arrive before the ACK: nothing is due while 1 waits.
        assert!(s.due("2").is_empty());
        assert!(s.due("3").is_empty());
        s.on_request(&req(SERVICE_ENTRY_V1, &n, "1"));
        // Only the ServiceEntry type follows the snapshot; only the newest version is sent.
        assert_eq!(s.due("3"), vec![SERVICE_ENTRY_V1.to_owned()]);
        s.sent(SERVICE_ENTRY_V1, "3");
        assert!(s.due("3").is_empty());
    }

    #[test]
    fn changed_resource_names_are_answered_again() {
        let mut s = Stream::new("s1");
        s.on_request(&req(SERVICE_ENTRY_V1, "", ""));
        let n = s.sent(SERVICE_ENTRY_V1, "1");
        let mut r = req(SERVICE_ENTRY_V1, &n, "1");
        r.resource_names = vec!["istio-system/a".into()];
        assert_eq!(s.on_request(&r), Decision::Resubscribe);
        assert_eq!(
            s.names(SERVICE_ENTRY_V1).unwrap(),
            &BTreeSet::from(["istio-system/a".to_owned()])
        );
    }
}
