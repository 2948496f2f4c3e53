//! The folded registry state: everything regsync has learned from events, kept so that the
//! next batch can be applied to it, and so that the result never depends on event order.
//!
//! Every piece of state is a [`Versioned`] value. Merging keeps the greater [`Stamp`]; equal
//! stamps with different values are ordered by the content hash of the values, computed only
//! when such a tie happens. So merging is commutative, associative and idempotent: any
//! permutation of the same events, applied once or twice, folds to the same state, and a stale
//! event never overwrites a newer one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::canonical::hash_of;
use crate::eureka::EurekaInstance;

/// A totally ordered version: compared field by field, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The source's own version: Eureka `lastUpdatedTimestamp`, ZooKeeper pzxid/mzxid, or the
    /// event's `sourceversion` for whole-state documents.
    pub major: u64,
    /// Secondary source version (Eureka `lastDirtyTimestamp`), else 0.
    #[serde(default)]
    pub minor: u64,
    /// Breaks ties between kinds of change: a Eureka `DELETED` outranks `MODIFIED`, which
    /// outranks `ADDED`, at the same timestamps.
    #[serde(default)]
    pub rank: u8,
}

/// A value with the stamp it was observed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// When, in the source's terms.
    pub stamp: Stamp,
    /// What.
    pub value: T,
}

impl<T> Versioned<T> {
    /// Stamps `value` with `major`/`minor`/`rank`.
    pub fn new(major: u64, minor: u64, rank: u8, value: T) -> Self {
        Self {
            stamp: Stamp { major, minor, rank },
            value,
        }
    }
}

/// Keeps the greater of `slot` and `candidate`; returns whether `slot` changed. Equal stamps
/// with different values keep the value with the greater content hash, so the winner never
/// depends on arrival order.
pub fn merge_into<T: Serialize + PartialEq>(
    slot: &mut Option<Versioned<T>>,
    candidate: Versioned<T>,
) -> bool {
    match slot {
        None => {
            *slot = Some(candidate);
            true
        }
        Some(current) => merge(current, candidate),
    }
}

/// [`merge_into`] for a slot that already holds a value.
pub fn merge<T: Serialize + PartialEq>(
    current: &mut Versioned<T>,
    candidate: Versioned<T>,
) -> bool {
    let replace = match candidate.stamp.cmp(&current.stamp) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            candidate.value != current.value && hash_of(&candidate.value) > hash_of(&current.value)
        }
    };
    if replace {
        *current = candidate;
    }
    replace
}

/// Lowers `slot` to `candidate` if that is earlier (or `slot` is empty); returns whether it moved.
pub fn min_into(slot: &mut Option<u64>, candidate: u64) -> bool {
    if slot.is_some_and(|c| c <= candidate) {
        return false;
    }
    *slot = Some(candidate);
    true
}

/// Everything known, per registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RegistryState {
    /// Eureka registries by registry name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eureka: BTreeMap<String, EurekaRegistry>,
    /// ZooKeeper (Dubbo) registries by registry name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dubbo: BTreeMap<String, DubboRegistry>,
}

/// One Eureka registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EurekaRegistry {
    /// Application names listed by the newest full `/eureka/apps` document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Versioned<BTreeSet<String>>>,
    /// Applications by name.
    #[serde(default)]
    pub apps: BTreeMap<String, EurekaAppState>,
}

/// One Eureka application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EurekaAppState {
    /// Instance ids listed by the newest whole-application document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Versioned<BTreeSet<String>>>,
    /// Newest record per instance id; `None` is a deletion (tombstone).
    #[serde(default)]
    pub instances: BTreeMap<String, Versioned<Option<EurekaInstance>>>,
    /// Earliest registration time seen for this application, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_ms: Option<u64>,
}

impl EurekaRegistry {
    /// Whether instance `id` of app `app` with record stamp `stamp` is still registered, given
    /// the newest whole-application and whole-registry documents.
    pub fn is_member(
        &self,
        app: &str,
        app_state: &EurekaAppState,
        id: &str,
        stamp: &Stamp,
    ) -> bool {
        let listed = |m: &Option<Versioned<BTreeSet<String>>>, key: &str| match m {
            Some(v) => v.value.contains(key) || stamp.major > v.stamp.major,
            None => true,
        };
        // A whole-application document newer than the whole-registry one is the newer word on
        // whether this application exists.
        let app_is_newer = match (&app_state.membership, &self.membership) {
            (Some(a), Some(r)) => a.stamp.major > r.stamp.major,
            _ => false,
        };
        (app_is_newer || listed(&self.membership, app)) && listed(&app_state.membership, id)
    }
}

/// One ZooKeeper registry used by Dubbo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DubboRegistry {
    /// Interface-level state by interface name.
    #[serde(default)]
    pub interfaces: BTreeMap<String, DubboInterfaceState>,
    /// Dubbo 3 application-level instances by application name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applications: BTreeMap<String, DubboAppState>,
}

/// Interface-level znodes of one Dubbo interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DubboInterfaceState {
    /// Children of `<root>/<interface>/providers`: raw URL-encoded znode names, sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<Versioned<Vec<String>>>,
    /// Children of `<root>/<interface>/configurators`: raw override URLs, sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configurators: Option<Versioned<Vec<String>>>,
    /// Applications from `<root>/mapping/<interface>`, sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Versioned<Vec<String>>>,
    /// Earliest provider `timestamp` seen, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_ms: Option<u64>,
}

/// One znode under `/services/<app>`: its name (`ip:port`) and its data (Curator JSON), as is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RawInstance {
    /// Child znode name.
    pub name: String,
    /// Child znode data.
    pub data: String,
}

/// Dubbo 3 application-level registration of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DubboAppState {
    /// Children of `/services/<app>`, sorted by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Versioned<Vec<RawInstance>>>,
    /// Earliest `registrationTimeUTC` seen, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_the_newest_whatever_the_order() {
        let old = Versioned::new(1, 0, 0, vec!["a".to_owned()]);
        let new = Versioned::new(2, 0, 0, vec!["b".to_owned()]);
        let mut x = None;
        assert!(merge_into(&mut x, old.clone()));
        assert!(merge_into(&mut x, new.clone()));
        assert!(!merge_into(&mut x, old.clone()));
        let mut y = None;
        merge_into(&mut y, new.clone());
        merge_into(&mut y, old);
        assert_eq!(x, y);
        assert_eq!(x.unwrap().value, vec!["b".to_owned()]);
    }

    #[test]
    fn equal_versions_are_broken_by_content_not_arrival() {
        let a = Versioned::new(5, 0, 0, "a");
        let b = Versioned::new(5, 0, 0, "b");
        let (mut x, mut y) = (None, None);
        merge_into(&mut x, a.clone());
        merge_into(&mut x, b.clone());
        merge_into(&mut y, b);
        merge_into(&mut y, a);
        assert_eq!(x, y);
    }
}
