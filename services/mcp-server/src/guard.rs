//! The mass-deregistration guard: a generation that takes away more than a set share of one
//! registry's endpoints is held back, and the previous one stays served, until the loss has
//! persisted for a window or an operator releases it. The share is counted from the most
//! endpoints the registry had in the generations served within that window, so a loss arriving
//! in small steps is held like one arriving at once: a Eureka server evicting expired leases
//! at most 15 % per pass (`renewal-percent-threshold` 0.85) takes a registry down in steps.
//!
//! A registry that loses most of its instances in one step is more often a broken registry, a
//! network partition of the bridge, or a bad deploy of a publisher than a real scale-down, and
//! serving it would drop traffic to every instance at once. The guard only decides; the watcher
//! acts on its verdicts. Releases go through the store (`mcp/release.json`), so one
//! `regsync mcp release` reaches every replica.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regsync_mcp::Rendered;
use regsync_store::{Error, Expect, Store};
use serde::{Deserialize, Serialize};

/// Key of the operator's release request, beside `latest`. Garbage collection never touches it.
pub const RELEASE_KEY: &str = "mcp/release.json";

/// Default share of one registry's endpoints a generation may remove at once.
pub const DEFAULT_MAX_LOSS_PERCENT: f64 = 50.0;

/// Default time a loss must persist before the held generation is served anyway.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The guard's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardConfig {
    /// A generation removing more than this percentage of one registry's endpoints is held;
    /// 100 turns the guard off.
    pub max_loss_percent: f64,
    /// How long a loss must persist before it is served without an operator.
    pub window: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_loss_percent: DEFAULT_MAX_LOSS_PERCENT,
            window: DEFAULT_WINDOW,
        }
    }
}

/// The worst loss of a generation against the one served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// The registry losing endpoints.
    pub registry: String,
    /// Its endpoints in the generation served.
    pub before: usize,
    /// Its endpoints in the new generation.
    pub after: usize,
}

impl Loss {
    /// The share lost, in percent.
    pub fn percent(&self) -> f64 {
        if self.before == 0 {
            return 0.0;
        }
        (self.before - self.after) as f64 * 100.0 / self.before as f64
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "registry {} would go from {} to {} endpoints ({:.0}% removed)",
            self.registry,
            self.before,
            self.after,
            self.percent()
        )
    }
}

/// The registry losing the largest share of its endpoints from `served` to `candidate`, if that
/// share is above `max_loss_percent`.
pub fn excessive_loss(
    served: &Rendered,
    candidate: &Rendered,
    max_loss_percent: f64,
) -> Option<Loss> {
    loss_from(&served.registries, candidate, max_loss_percent)
}

/// [`excessive_loss`] against endpoint counts by registry.
fn loss_from(
    before: &BTreeMap<String, usize>,
    candidate: &Rendered,
    max_loss_percent: f64,
) -> Option<Loss> {
    before
        .iter()
        .filter(|(_, before)| **before > 0)
        .map(|(registry, before)| Loss {
            registry: registry.clone(),
            before: *before,
            after: candidate
                .registries
                .get(registry)
                .copied()
                .unwrap_or(0)
                .min(*before),
        })
        .filter(|loss| loss.percent() > max_loss_percent)
        .max_by(|a, b| a.percent().total_cmp(&b.percent()))
}

/// A generation held back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held {
    /// The newest generation held (later ones with the same loss replace it).
    pub generation: u64,
    /// The loss it would cause.
    pub loss: Loss,
    /// Unix seconds when the loss was first seen.
    pub since_unix: u64,
    /// When the window ends and the generation is served anyway, Unix seconds.
    pub release_at_unix: u64,
    #[serde(skip)]
    since: Option<Instant>,
}

/// Why a held generation is served after all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The loss persisted past the window.
    Window,
    /// An operator released it.
    Operator,
}

impl Release {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Release::Window => "window",
            Release::Operator => "operator",
        }
    }
}

/// What to do with a candidate generation.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Serve it: no excessive loss.
    Serve,
    /// Serve it: it was held and is released now.
    Released(Release),
    /// Keep serving the previous generation.
    Hold(Held),
}

/// The guard's state: the generation held, if any.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    config: GuardConfig,
    held: Option<Held>,
    /// Endpoint counts by registry of the generations served, each with the last time it was
    /// seen served, oldest first; none older than the window.
    served: VecDeque<(Instant, BTreeMap<String, usize>)>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Guard {
    /// A guard with `config`.
    pub fn new(config: GuardConfig) -> Self {
        Self {
            config,
            held: None,
            served: VecDeque::new(),
        }
    }

    /// Each registry's most endpoints in the generations served within the window, `served`
    /// (served now) included.
    fn peak(&mut self, served: &Rendered, now: Instant) -> BTreeMap<String, usize> {
        match self.served.back_mut() {
            Some((seen, counts)) if *counts == served.registries => *seen = now,
            _ => self.served.push_back((now, served.registries.clone())),
        }
        while self
            .served
            .front()
            .is_some_and(|(seen, _)| now.saturating_duration_since(*seen) > self.config.window)
        {
            self.served.pop_front();
        }
        let mut peak = BTreeMap::new();
        for (_, counts) in &self.served {
            for (registry, n) in counts {
                let most = peak.entry(registry.clone()).or_insert(0);
                *most = (*most).max(*n);
            }
        }
        peak
    }

    /// The loss `candidate` would cause, counted from the peak within the window.
    pub fn loss(
        &mut self,
        served: Option<&Rendered>,
        candidate: &Rendered,
        now: Instant,
    ) -> Option<Loss> {
        let peak = self.peak(served?, now);
        loss_from(&peak, candidate, self.config.max_loss_percent)
    }

    /// The generation held now.
    pub fn held(&self) -> Option<&Held> {
        self.held.as_ref()
    }

    /// Decides on `candidate` against `served` (the first generation loaded is always served:
    /// there is nothing to compare it with). `released_up_to` is the operator's release request:
    /// it releases held generations up to that number. A loss that stays above the limit keeps
    /// its first-seen time across newer generations, so the window runs from the first one.
    pub fn check(
        &mut self,
        served: Option<&Rendered>,
        candidate: &Rendered,
        released_up_to: Option<u64>,
        now: Instant,
        wall: SystemTime,
    ) -> Verdict {
        let Some(loss) = self.loss(served, candidate, now) else {
            self.held = None;
            return Verdict::Serve;
        };
        if released_up_to.is_some_and(|g| g >= candidate.generation) {
            self.held = None;
            // What was released is the new measure.
            self.served.clear();
            return Verdict::Released(Release::Operator);
        }
        let (since, since_unix) = match &self.held {
            Some(Held {
                since: Some(since),
                since_unix,
                ..
            }) => (*since, *since_unix),
            _ => (now, unix(wall)),
        };
        if now.saturating_duration_since(since) >= self.config.window {
            self.held = None;
            self.served.clear();
            return Verdict::Released(Release::Window);
        }
        let held = Held {
            generation: candidate.generation,
            loss,
            since_unix,
            release_at_unix: since_unix + self.config.window.as_secs(),
            since: Some(since),
        };
        self.held = Some(held.clone());
        Verdict::Hold(held)
    }
}

/// The operator's release request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// Held generations up to this one are served.
    pub generation: u64,
    /// Unix seconds of the request.
    pub at_unix: u64,
    /// Who asked (user and host), for the logs.
    #[serde(default)]
    pub by: String,
}

/// Reads the release request, if any.
pub async fn read_release(store: &Store) -> regsync_store::Result<Option<ReleaseRequest>> {
    let Some(obj) = store.get(RELEASE_KEY).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&obj.bytes)
        .map(Some)
        .map_err(|e| Error::Layout {
            key: RELEASE_KEY.to_owned(),
            why: e.to_string(),
        })
}

/// Writes a release request for held generations up to `generation`, replacing any earlier one
/// (with a conditional write, retried if another operator wrote meanwhile).
pub async fn request_release(
    store: &Store,
    generation: u64,
    by: &str,
) -> regsync_store::Result<ReleaseRequest> {
    let request = ReleaseRequest {
        generation,
        at_unix: unix(SystemTime::now()),
        by: by.to_owned(),
    };
    let bytes = serde_json::to_vec(&request).map_err(|e| Error::Layout {
        key: RELEASE_KEY.to_owned(),
        why: e.to_string(),
    })?;
    let mut attempts = 0;
    loop {
        let expect = match store.head(RELEASE_KEY).await? {
            Some(etag) => Expect::Version(etag),
            None => Expect::Absent,
        };
        match store.put(RELEASE_KEY, bytes.clone(), expect).await {
            Ok(_) => return Ok(request),
            Err(Error::Conflict { .. }) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn rendered(generation: u64, registries: &[(&str, usize)]) -> Rendered {
        Rendered {
            generation,
            version: generation.to_string(),
            registries: registries
                .iter()
                .map(|(r, n)| ((*r).to_owned(), *n))
                .collect::<BTreeMap<_, _>>(),
            ..Rendered::default()
        }
    }

    fn guard(window: u64) -> Guard {
        Guard::new(GuardConfig {
            max_loss_percent: 50.0,
            window: Duration::from_secs(window),
        })
    }

    #[test]
    fn the_first_generation_and_small_losses_are_served() {
        let mut g = guard(600);
        let now = Instant::now();
        let wall = SystemTime::now();
        let a = rendered(1, &[("eureka", 100), ("dubbo", 10)]);
        assert_eq!(g.check(None, &a, None, now, wall), Verdict::Serve);
        let b = rendered(2, &[("eureka", 50), ("dubbo", 10)]);
        assert_eq!(g.check(Some(&a), &b, None, now, wall), Verdict::Serve);
        // Growth and a new registry are never losses.
        let c = rendered(3, &[("eureka", 500), ("dubbo", 10), ("other", 3)]);
        assert_eq!(g.check(Some(&a), &c, None, now, wall), Verdict::Serve);
    }

    #[test]
    fn a_loss_above_the_limit_in_one_registry_is_held_until_the_window_ends() {
        let mut g = guard(600);
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let served = rendered(1, &[("eureka", 100), ("dubbo", 1000)]);
        // dubbo keeps everything; eureka loses 90 of 100: held, despite the total barely moving.
        let drop = rendered(2, &[("eureka", 10), ("dubbo", 1000)]);
        let Verdict::Hold(held) = g.check(Some(&served), &drop, None, t0, wall) else {
            panic!("a 90% loss must be held");
        };
        assert_eq!(held.generation, 2);
        assert_eq!(
            (
                held.loss.registry.as_str(),
                held.loss.before,
                held.loss.after
            ),
            ("eureka", 100, 10)
        );
        assert_eq!(held.release_at_unix - held.since_unix, 600);
        // A later generation with the same loss is held too, and the window keeps running
        // from the first one.
        let later = rendered(3, &[("dubbo", 1000)]);
        let t1 = t0 + Duration::from_secs(300);
        let Verdict::Hold(held) = g.check(Some(&served), &later, None, t1, wall) else {
            panic!("still held");
        };
        assert_eq!((held.generation, held.loss.after), (3, 0));
        let t2 = t0 + Duration::from_secs(600);
        assert_eq!(
            g.check(Some(&served), &later, None, t2, wall),
            Verdict::Released(Release::Window)
        );
        assert!(g.held().is_none());
    }

    #[test]
    fn a_recovery_clears_the_hold_and_restarts_the_window() {
        let mut g = guard(600);
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let served = rendered(1, &[("eureka", 100)]);
        assert!(matches!(
            g.check(
                Some(&served),
                &rendered(2, &[("eureka", 0)]),
                None,
                t0,
                wall
            ),
            Verdict::Hold(_)
        ));
        assert_eq!(
            g.check(
                Some(&served),
                &rendered(3, &[("eureka", 90)]),
                None,
                t0,
                wall
            ),
            Verdict::Serve
        );
        let t1 = t0 + Duration::from_secs(599);
        assert!(matches!(
            g.check(
                Some(&served),
                &rendered(4, &[("eureka", 1)]),
                None,
                t1,
                wall
            ),
            Verdict::Hold(_)
        ));
    }

    #[test]
    fn a_loss_in_small_steps_within_the_window_is_held_like_one_at_once() {
        let mut g = guard(600);
        let t0 = Instant::now();
        let wall = SystemTime::now();
        // 10 endpoints lose 2 per step (20 %, each below the limit against the one before).
        let mut served = rendered(1, &[("eureka", 10)]);
        let mut held = None;
        for (step, left) in [8, 6, 4, 2].into_iter().enumerate() {
            let t = t0 + Duration::from_secs(step as u64);
            let candidate = rendered(step as u64 + 2, &[("eureka", left)]);
            match g.check(Some(&served), &candidate, None, t, wall) {
                Verdict::Serve => served = candidate,
                Verdict::Hold(h) => {
                    held = Some(h);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        let held = held.expect("the creeping loss was never held");
        assert_eq!((held.loss.before, held.loss.after), (10, 4));
        // Steps further apart than the window are each measured on their own.
        let mut g = guard(60);
        let a = rendered(1, &[("eureka", 10)]);
        let b = rendered(2, &[("eureka", 6)]);
        let c = rendered(3, &[("eureka", 4)]);
        assert_eq!(g.check(Some(&a), &b, None, t0, wall), Verdict::Serve);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(g.check(Some(&b), &c, None, later, wall), Verdict::Serve);
    }

    #[test]
    fn an_operator_releases_held_generations_up_to_the_one_named() {
        let mut g = guard(600);
        let now = Instant::now();
        let wall = SystemTime::now();
        let served = rendered(1, &[("eureka", 100)]);
        let drop = rendered(5, &[("eureka", 1)]);
        // A release of an older generation does not cover a newer one.
        assert!(matches!(
            g.check(Some(&served), &drop, Some(4), now, wall),
            Verdict::Hold(_)
        ));
        assert_eq!(
            g.check(Some(&served), &drop, Some(5), now, wall),
            Verdict::Released(Release::Operator)
        );
    }

    #[test]
    fn a_limit_of_one_hundred_percent_turns_the_guard_off() {
        let mut g = Guard::new(GuardConfig {
            max_loss_percent: 100.0,
            window: Duration::from_secs(600),
        });
        let now = Instant::now();
        let served = rendered(1, &[("eureka", 100)]);
        assert_eq!(
            g.check(
                Some(&served),
                &rendered(2, &[]),
                None,
                now,
                SystemTime::now()
            ),
            Verdict::Serve
        );
    }
}
