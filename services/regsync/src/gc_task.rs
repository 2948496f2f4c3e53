//! Scheduled garbage collection for the long-running commands (`regsync up`, `regsync mcp
//! serve`): every `--gc-interval`, the process that holds the store's GC lease keeps the newest
//! `--gc-retain` generations and deletes what none of them needs, so the store stays bounded
//! however many changes go through. Replicas sharing a store elect the runner through the
//! store's conditional write ([`regsync_store::lease`]).

use std::time::Duration;

use regsync_store::Store;
use regsync_store::generations::GcOptions;
use tracing::{info, warn};

use crate::snapshot_cmd::parse_duration;

/// When and what the scheduled GC keeps.
#[derive(Debug, Clone, clap::Args)]
pub struct GcArgs {
    /// Run garbage collection this often (in the one process holding the store's GC lease);
    /// 0s turns it off (then schedule `regsync snapshot gc` yourself).
    #[arg(long, env = "REGSYNC_GC_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub gc_interval: Duration,
    /// Generations the scheduled GC keeps (at least 1).
    #[arg(long, env = "REGSYNC_GC_RETAIN", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub gc_retain: u64,
    /// Minimum age of an object the scheduled GC deletes; longer than any writer's attempt.
    #[arg(long, env = "REGSYNC_GC_GRACE", default_value = "1h", value_parser = parse_duration)]
    pub gc_grace: Duration,
}

impl GcArgs {
    /// Starts the schedule on the current runtime, unless the interval is zero. The task runs
    /// until it is aborted or the runtime stops.
    pub fn spawn(&self, store: Store) -> Option<tokio::task::JoinHandle<()>> {
        if self.gc_interval.is_zero() {
            return None;
        }
        let options = GcOptions {
            retain: usize::try_from(self.gc_retain).unwrap_or(usize::MAX),
            grace: self.gc_grace,
            dry_run: false,
        };
        let every = self.gc_interval;
        let holder = holder();
        Some(tokio::spawn(async move {
            store
                .gc_every(every, options, &holder, |run| match run {
                    Ok(Some(report)) => info!(%report, "scheduled garbage collection"),
                    Ok(None) => {}
                    Err(e) => warn!(
                        error = %e,
                        "scheduled garbage collection failed; it runs again at the next interval"
                    ),
                })
                .await;
        }))
    }
}

/// This process, as the lease names it: host name and process id.
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!("{host}/{}", std::process::id())
}
