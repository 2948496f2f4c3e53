//! The store watcher: one cheap check of `latest` per poll interval (a HEAD, compared by ETag),
//! and on a change, after the debounce, the newest generation is read, checked, rendered once and
//! put on the snapshot channel every stream reads.
//!
//! A generation is never served when an object fails its checksum, the layout is unreadable, or
//! an entry would be dropped by istiod; the last good one, if any, stays served and the reason
//! goes to the log, the metrics and `/status`. The guard may hold a generation back, too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regsync_mcp::{Rendered, Snapshot};
use regsync_snapshots::Follower;
use regsync_store::generations::{LATEST, Pointer};
use regsync_store::{ETag, Store};
use serde::Serialize;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::guard::{Guard, GuardConfig, Held, Verdict, read_release};
use crate::metrics::Metrics;

/// Default time between two checks of `latest`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Default wait between seeing a change and reading it, so that a burst of publishes is read
/// (and pushed) once.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// A generation that was not served, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The generation, when known.
    pub generation: Option<u64>,
    /// `corrupt`, `layout`, `invalid` or `store`.
    pub reason: String,
    /// What exactly.
    pub detail: String,
    /// Unix seconds.
    pub at_unix: u64,
}

/// What `/status` and `/readyz` say about the snapshot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotStatus {
    /// The store watched.
    pub store: String,
    /// Generation served, once one is loaded.
    pub generation: Option<u64>,
    /// Entries served.
    pub entries: usize,
    /// Endpoints served.
    pub endpoints: usize,
    /// Endpoints served per registry.
    pub registries: BTreeMap<String, usize>,
    /// Unix seconds when the generation served was loaded.
    pub loaded_unix: Option<u64>,
    /// The newest generation seen in the store.
    pub latest_seen: Option<u64>,
    /// The generation the guard holds back, if any.
    pub held: Option<Held>,
    /// The last generation that could not be served.
    pub last_failure: Option<Failure>,
}

/// Shared, for the HTTP handlers.
pub type SharedStatus = Arc<Mutex<SnapshotStatus>>;

/// Reads a shared status.
pub fn snapshot_status(status: &SharedStatus) -> SnapshotStatus {
    status
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// How the watcher polls, and the guard's settings.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// Time between two checks of `latest`.
    pub poll_interval: Duration,
    /// Wait between seeing a change and reading it.
    pub debounce: Duration,
    /// The mass-deregistration guard.
    pub guard: GuardConfig,
}

/// The watcher of one store.
pub struct Watcher {
    store: Store,
    config: WatchConfig,
    snapshot: watch::Sender<Snapshot>,
    status: SharedStatus,
    metrics: Arc<Metrics>,
    guard: Guard,
    /// The generation the guard holds back.
    held: Option<Arc<Rendered>>,
    loaded_at: Option<Instant>,
    /// Reads each generation from the one read before.
    follower: Follower,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a generation could not be served: a metric label.
fn reason(e: &regsync_store::Error) -> &'static str {
    match e {
        regsync_store::Error::Corrupt { .. } => "corrupt",
        regsync_store::Error::Layout { .. } => "layout",
        _ => "store",
    }
}

impl Watcher {
    /// A watcher of `store` feeding `snapshot`.
    pub fn new(
        store: Store,
        config: WatchConfig,
        snapshot: watch::Sender<Snapshot>,
        status: SharedStatus,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            guard: Guard::new(config.guard),
            config,
            snapshot,
            status,
            metrics,
            held: None,
            loaded_at: None,
            follower: Follower::default(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut SnapshotStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Watches until `stop` turns true (or its sender goes away), then drops the snapshot
    /// channel, which ends every stream.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        // The version of `latest` last dealt with: served, held, or refused for good.
        let mut seen: Option<Option<ETag>> = None;
        loop {
            match self.store.head(LATEST).await {
                Err(e) => self.failed(None, "store", &e.to_string()),
                Ok(etag) if seen.as_ref() != Some(&etag) => {
                    if seen.is_some() && !self.config.debounce.is_zero() {
                        tokio::time::sleep(self.config.debounce).await;
                    }
                    if self.load().await {
                        seen = Some(etag);
                    }
                }
                Ok(_) => {
                    if self.held.is_some() {
                        self.recheck_held().await;
                    }
                }
            }
            if let Some(at) = self.loaded_at {
                self.metrics
                    .age
                    .set(i64::try_from(at.elapsed().as_secs()).unwrap_or(i64::MAX));
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        debug!("store watcher stopped");
    }

    /// The generation `latest` names, read without its root (to say which generation failed).
    async fn pointed_generation(&self) -> Option<u64> {
        let obj = self.store.get(LATEST).await.ok()??;
        serde_json::from_slice::<Pointer>(&obj.bytes)
            .ok()
            .map(|p| p.generation)
    }

    /// Reads the latest generation and serves, holds or refuses it. Returns whether it is dealt
    /// with (served, held, or refused for good), or should be read again on the next poll (the
    /// store was unreachable).
    async fn load(&mut self) -> bool {
        let generation = match self.store.latest().await {
            Ok(g) => g,
            Err(e) => {
                let number = self.pointed_generation().await;
                self.update(|s| s.latest_seen = number);
                self.failed(number, reason(&e), &e.to_string());
                return !e.is_retryable();
            }
        };
        let number = generation.number;
        self.update(|s| s.latest_seen = Some(number));
        if number == 0 {
            info!(store = %self.status_store(), "nothing published yet; waiting for the first generation");
            return true;
        }
        // Entries unchanged since the last generation rendered are reused, not re-rendered;
        // the follower reads only the entries that changed since the generation it read before.
        let previous = self.held.clone().or_else(|| self.snapshot.borrow().clone());
        let full_reads = self.follower.full_reads();
        let rendered = match self.follower.read(&self.store, &generation).await {
            Ok(entries) => Rendered::next(previous.as_deref(), number, entries),
            Err(e) => {
                let kind = if e.is_retryable() {
                    "store"
                } else {
                    reason(&e)
                };
                self.failed(Some(number), kind, &e.to_string());
                return !e.is_retryable();
            }
        };
        if self.follower.full_reads() > full_reads && full_reads > 0 {
            debug!(
                generation = number,
                "read every entry: the generation read before could not be compared"
            );
        }
        match rendered {
            Ok(rendered) => self.consider(Arc::new(rendered)).await,
            Err(invalid) => {
                let detail = invalid
                    .iter()
                    .take(5)
                    .map(|i| format!("{}: {}", i.name, i.reasons.join("; ")))
                    .collect::<Vec<_>>()
                    .join(" | ");
                let detail = format!(
                    "{} entries istiod would drop silently: {detail}",
                    invalid.len()
                );
                self.failed(Some(number), "invalid", &detail);
            }
        }
        true
    }

    fn status_store(&self) -> String {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .store
            .clone()
    }

    fn failed(&self, generation: Option<u64>, reason: &str, detail: &str) {
        let repeated = self
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_failure
            .as_ref()
            .is_some_and(|f| f.generation == generation && f.detail == detail);
        if repeated {
            // The same failure on the next poll: counted and logged once.
            return;
        }
        self.metrics
            .load_failures
            .get_or_create(&Metrics::reason(reason))
            .inc();
        let serving = self.snapshot.borrow().as_ref().map(|s| s.generation);
        if serving.is_some() {
            error!(
                generation,
                reason, detail, serving, "generation not served; the last good one stays served"
            );
        } else {
            error!(
                generation,
                reason,
                detail,
                "generation not served; nothing is served yet (ServiceEntries wait for a good generation)"
            );
        }
        self.update(|s| {
            s.last_failure = Some(Failure {
                generation,
                reason: reason.to_owned(),
                detail: detail.to_owned(),
                at_unix: unix_now(),
            });
        });
    }

    /// The operator's release, read only when a loss is at stake.
    async fn released_up_to(&self) -> Option<u64> {
        match read_release(&self.store).await {
            Ok(request) => request.map(|r| r.generation),
            Err(e) => {
                warn!(error = %e, "cannot read the release request");
                None
            }
        }
    }

    async fn consider(&mut self, candidate: Arc<Rendered>) {
        let served = self.snapshot.borrow().clone();
        let at_stake = self
            .guard
            .loss(served.as_deref(), &candidate, Instant::now())
            .is_some();
        let released = if at_stake {
            self.released_up_to().await
        } else {
            None
        };
        self.judge(candidate, released);
    }

    async fn recheck_held(&mut self) {
        let Some(candidate) = self.held.clone() else {
            return;
        };
        let released = self.released_up_to().await;
        self.judge(candidate, released);
    }

    /// Lets the guard judge `candidate` against what is served now, and acts on its verdict.
    fn judge(&mut self, candidate: Arc<Rendered>, released: Option<u64>) {
        let served = self.snapshot.borrow().clone();
        let verdict = self.guard.check(
            served.as_deref(),
            &candidate,
            released,
            Instant::now(),
            SystemTime::now(),
        );
        self.act(verdict, candidate);
    }

    fn act(&mut self, verdict: Verdict, candidate: Arc<Rendered>) {
        match verdict {
            Verdict::Serve => self.serve(candidate),
            Verdict::Released(why) => {
                self.metrics
                    .guard_releases
                    .get_or_create(&Metrics::reason(why.as_str()))
                    .inc();
                warn!(
                    generation = candidate.generation,
                    released_by = why.as_str(),
                    "the guard releases the held generation; serving it"
                );
                self.serve(candidate);
            }
            Verdict::Hold(held) => {
                let new = self.held.is_none();
                if new {
                    self.metrics.guard_holds.inc();
                }
                if new || self.held.as_ref().map(|h| h.generation) != Some(held.generation) {
                    error!(
                        generation = held.generation,
                        loss = %held.loss,
                        release_at_unix = held.release_at_unix,
                        "mass-deregistration guard: holding this generation back and serving the previous one; \
                         run `regsync mcp release` to serve it now"
                    );
                }
                self.metrics.guard_held.set(1);
                self.metrics
                    .guard_held_generation
                    .set(i64::try_from(held.generation).unwrap_or(i64::MAX));
                self.update(|s| s.held = Some(held));
                self.held = Some(candidate);
            }
        }
    }

    fn serve(&mut self, candidate: Arc<Rendered>) {
        self.held = None;
        self.metrics.guard_held.set(0);
        self.metrics.guard_held_generation.set(0);
        let same = self
            .snapshot
            .borrow()
            .as_deref()
            .is_some_and(|s| s.same_resources(&candidate));
        if same {
            debug!(
                generation = candidate.generation,
                "generation changes no entry; nothing to push"
            );
            self.update(|s| s.held = None);
            return;
        }
        info!(
            generation = candidate.generation,
            entries = candidate.resources.len(),
            endpoints = candidate.endpoints(),
            bytes = candidate.bytes(),
            "serving generation"
        );
        let m = &self.metrics;
        m.generation
            .set(i64::try_from(candidate.generation).unwrap_or(i64::MAX));
        m.entries
            .set(i64::try_from(candidate.resources.len()).unwrap_or(i64::MAX));
        m.endpoints
            .set(i64::try_from(candidate.endpoints()).unwrap_or(i64::MAX));
        m.age.set(0);
        self.loaded_at = Some(Instant::now());
        self.update(|s| {
            s.generation = Some(candidate.generation);
            s.entries = candidate.resources.len();
            s.endpoints = candidate.endpoints();
            s.registries = candidate.registries.clone();
            s.loaded_unix = Some(unix_now());
            s.held = None;
        });
        self.snapshot.send_replace(Some(candidate));
    }
}
