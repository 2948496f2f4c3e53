//! A snapshot: the folded registry state and the ServiceEntries rendered from it.

use serde::{Deserialize, Serialize};

use crate::entry::Entry;
use crate::state::RegistryState;

/// Version of the snapshot format this crate writes.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// An entry that failed istiod's validation and was left out, with the reasons.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rejection {
    /// `namespace/name` of the entry that would have been emitted.
    pub resource: String,
    /// Each rule it broke, in words.
    pub reasons: Vec<String>,
}

/// State plus output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Format version ([`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// What the registries said.
    pub state: RegistryState,
    /// Valid ServiceEntries, sorted by namespace and name.
    pub entries: Vec<Entry>,
    /// Entries left out because istiod would reject them, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejection>,
}

impl Snapshot {
    /// An empty snapshot in the current format.
    pub fn empty() -> Self {
        Self {
            format: SNAPSHOT_FORMAT,
            ..Self::default()
        }
    }
}
