//! The pure conversion at the heart of regsync: `(Snapshot, &[RegistryEvent]) -> Snapshot`.
//!
//! [`fold`] merges events into the registry state, [`render`] turns the state into
//! ServiceEntries, [`validate`] applies istiod's rules so no invalid entry is ever emitted, and
//! [`input`] recognizes raw Eureka and Dubbo payloads. Naming rules live in [`naming`], the
//! bounds of registry times in [`time`], every default in [`config`].
//!
//! No I/O, no clock, no randomness: the output depends only on the set of events applied.
//! Must not depend on AWS, Kubernetes, gRPC or Kafka crates.

pub mod config;
pub mod fold;
pub mod input;
pub mod intern;
pub mod naming;
pub mod render;
pub mod time;
pub mod validate;

use regsync_model::snapshot::SNAPSHOT_FORMAT;
use regsync_model::{RegistryEvent, RegistryState, Snapshot};

pub use config::ConvertConfig;
pub use fold::Outcome;

/// The result of applying a batch.
#[derive(Debug)]
pub struct Applied {
    /// The new snapshot.
    pub snapshot: Snapshot,
    /// One outcome per input event, in input order.
    pub outcomes: Vec<Outcome>,
    /// Whether the state moved at all.
    pub changed: bool,
}

/// Applies `events` to `previous` and renders the result.
pub fn apply(previous: &Snapshot, events: &[RegistryEvent], config: &ConvertConfig) -> Applied {
    let mut state = previous.state.clone();
    let mut seen_moved = false;
    let outcomes: Vec<Outcome> = events
        .iter()
        .map(|e| fold::apply_event_tracked(&mut state, e, &mut seen_moved))
        .collect();
    // A stale event can still lower a first-seen time, which changes create_time.
    let changed = seen_moved || outcomes.iter().any(|o| matches!(o, Outcome::Applied));
    let snapshot = if changed {
        render_state(state, config)
    } else {
        previous.clone()
    };
    Applied {
        snapshot,
        outcomes,
        changed,
    }
}

/// Renders a snapshot from a state.
pub fn render_state(state: RegistryState, config: &ConvertConfig) -> Snapshot {
    let (entries, rejected) = render::render(&state, config);
    Snapshot {
        format: SNAPSHOT_FORMAT,
        state,
        entries,
        rejected,
    }
}
