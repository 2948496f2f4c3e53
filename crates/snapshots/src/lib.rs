//! regsync's snapshot in object storage: the registry state split into units (one per Eureka
//! application, Dubbo interface, Dubbo 3 application, and Eureka registry list) and the rendered
//! ServiceEntries split per host, each one object of a store generation (see
//! `regsync_store::generations` and docs/store-layout.md). Applying a batch reads and writes
//! only what the batch touches, so its cost does not grow with the mesh.

pub mod apply;
pub mod read;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod unit;

use std::sync::Mutex;

use regsync_convert::ConvertConfig;
use regsync_model::RegistryEvent;
use regsync_store::generations::Generation;
use regsync_store::{Result, Store};

pub use apply::Plan;
pub use read::{
    Diff, EntryChange, Follower, Listed, View, diff, generation, history, read, verify,
};

/// Writers give up after this many conflicting attempts and return a retryable conflict.
pub const DEFAULT_ATTEMPTS: u32 = 16;

/// The result of applying a batch.
#[derive(Debug)]
pub struct Applied {
    /// The generation the batch is in (the base itself when nothing moved).
    pub generation: Generation,
    /// What the last, successful attempt did.
    pub plan: Plan,
    /// Attempts made (1 without conflicts).
    pub attempts: u32,
}

/// Applies `events` to the latest generation of `store` and publishes the result, retrying on
/// conflicts with other writers up to `attempts` times. Nothing is published when no unit moved.
pub async fn apply(
    store: &Store,
    events: &[RegistryEvent],
    config: &ConvertConfig,
    attempts: u32,
) -> Result<Applied> {
    let last: Mutex<Option<Plan>> = Mutex::new(None);
    let mut made = 0;
    let generation = store
        .update(attempts, |store, base| {
            made += 1;
            let last = &last;
            async move {
                let mut plan = apply::plan(&store, &base, events, config).await?;
                let changes = std::mem::take(&mut plan.changes);
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(plan);
                Ok(changes)
            }
        })
        .await?;
    let plan = last
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_default();
    Ok(Applied {
        generation,
        plan,
        attempts: made,
    })
}
