//! `apply_batch`: validate every record, group the valid ones by service key, fold and publish
//! them with one conditional swap, and say per record what happened.

use std::collections::BTreeMap;

use regsync_convert::fold::{Outcome as FoldOutcome, apply_event};
use regsync_model::{RegistryEvent, RegistryState, ServiceKey};
use serde::Serialize;
use tracing::debug;

use crate::record::Rejection;
use crate::{Pipeline, Result};

/// One record as it reaches the core: an event, or why it could not be decoded.
pub type Input = std::result::Result<RegistryEvent, Rejection>;

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It moved the state forward.
    Applied,
    /// Everything it said was already known, or older than what is known (a redelivery, or an
    /// event overtaken by a newer one).
    Stale,
    /// It can never apply.
    Rejected(Rejection),
}

impl Outcome {
    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// One record's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordReport {
    /// The event id, when the record decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `registry/name` of the service it is about, when the record decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a batch did, one report per record in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Per record, in input order.
    pub records: Vec<RecordReport>,
    /// The generation the batch is in; `None` when no record was valid (the store was not read).
    pub generation: Option<u64>,
    /// Whether a new generation was published.
    pub published: bool,
    /// Attempts at the swap (more than one when other writers won first).
    pub attempts: u32,
    /// Distinct services the valid records are about.
    pub services: usize,
}

impl BatchReport {
    /// Records with this outcome label.
    pub fn count(&self, label: &str) -> usize {
        self.records
            .iter()
            .filter(|r| r.outcome.label() == label)
            .count()
    }

    /// Rejected records: their index in the batch and why.
    pub fn rejections(&self) -> impl Iterator<Item = (usize, &Rejection)> {
        rejections(&self.records)
    }

    /// The report of the records in `range` of a merged batch: their records, the shared
    /// generation, and their own count of services.
    pub fn part(&self, range: std::ops::Range<usize>) -> BatchReport {
        let records = self.records[range].to_vec();
        let services: std::collections::BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r.service.as_deref())
            .collect();
        BatchReport {
            services: services.len(),
            records,
            generation: self.generation,
            published: self.published,
            attempts: self.attempts,
        }
    }
}

fn rejections(reports: &[RecordReport]) -> impl Iterator<Item = (usize, &Rejection)> {
    reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.outcome {
            Outcome::Rejected(why) => Some((i, why)),
            _ => None,
        })
}

/// A batch checked without touching the store: valid events grouped by service, and the
/// rejections found.
#[derive(Debug)]
pub struct Validated {
    /// Valid events, grouped by service key (input order within a service).
    events: Vec<RegistryEvent>,
    /// The input index of each valid event.
    index: Vec<usize>,
    /// One report per input; valid ones are filled in when published.
    reports: Vec<RecordReport>,
    services: usize,
}

impl Validated {
    /// Rejected inputs: their index and why.
    pub fn rejections(&self) -> impl Iterator<Item = (usize, &Rejection)> {
        rejections(&self.reports)
    }

    /// The number of valid events.
    pub fn valid(&self) -> usize {
        self.events.len()
    }

    /// The valid events, in input order.
    pub fn into_events(self) -> Vec<RegistryEvent> {
        let mut indexed: Vec<(usize, RegistryEvent)> =
            self.index.into_iter().zip(self.events).collect();
        indexed.sort_by_key(|(i, _)| *i);
        indexed.into_iter().map(|(_, e)| e).collect()
    }
}

/// Checks every input without the store. A rejection does not depend on the state, so each
/// event is folded into an empty state: what fails there fails everywhere. For callers that must
/// refuse a whole request before writing anything (the webhook).
pub fn validate(inputs: Vec<Input>) -> Validated {
    group(inputs, true)
}

/// Groups decoded inputs by service key, leaving the fold's own check to reject bad events
/// during the publish (a rejected event changes no state there, so the result is the same as
/// [`validate`] first, without folding every event one more time).
pub fn prepare(inputs: Vec<Input>) -> Validated {
    group(inputs, false)
}

fn group(inputs: Vec<Input>, check: bool) -> Validated {
    let mut reports = Vec::with_capacity(inputs.len());
    let mut groups: BTreeMap<ServiceKey, Vec<(usize, RegistryEvent)>> = BTreeMap::new();
    // Records of one service usually come in runs (one Kafka partition key per service), so the
    // key and its text are built once per run, not once per record.
    let mut last: Option<(ServiceKey, String)> = None;
    for (i, input) in inputs.into_iter().enumerate() {
        let event = match input {
            Ok(event) => event,
            Err(why) => {
                reports.push(RecordReport {
                    id: None,
                    service: None,
                    outcome: Outcome::Rejected(why),
                });
                continue;
            }
        };
        let (key, service) = match last.take() {
            Some((key, text)) if event.is_about(&key) => (key, text),
            _ => {
                let key = event.service_key();
                let text = key.to_string();
                (key, text)
            }
        };
        let outcome = match check.then(|| apply_event(&mut RegistryState::default(), &event)) {
            Some(FoldOutcome::Rejected(e)) => Outcome::Rejected(rejection(&event.id, &e)),
            // Filled in by the publish.
            _ => Outcome::Stale,
        };
        let valid = !matches!(outcome, Outcome::Rejected(_));
        reports.push(RecordReport {
            id: Some(event.id.clone()),
            service: Some(service.clone()),
            outcome,
        });
        if valid {
            match groups.get_mut(&key) {
                Some(group) => group.push((i, event)),
                None => {
                    groups.insert(key.clone(), vec![(i, event)]);
                }
            }
        }
        last = Some((key, service));
    }
    let services = groups.len();
    let (index, events) = groups.into_values().flatten().unzip();
    Validated {
        events,
        index,
        reports,
        services,
    }
}

/// A fold error as a rejection naming the event.
fn rejection(id: &str, e: &regsync_model::Error) -> Rejection {
    let mut why = Rejection::from(e);
    why.reason = format!("event {id:?}: {}", why.reason);
    why
}

/// Publishes the valid events of `batch` with one swap (none when nothing moved).
pub async fn publish(pipeline: &Pipeline, batch: Validated) -> Result<BatchReport> {
    let Validated {
        events,
        index,
        mut reports,
        services,
    } = batch;
    if events.is_empty() {
        return Ok(BatchReport {
            records: reports,
            generation: None,
            published: false,
            attempts: 0,
            services,
        });
    }
    let applied = regsync_snapshots::apply(
        &pipeline.store,
        &events,
        &pipeline.convert,
        pipeline.attempts,
    )
    .await?;
    for (outcome, &i) in applied.plan.outcomes.iter().zip(&index) {
        reports[i].outcome = match outcome {
            FoldOutcome::Applied => Outcome::Applied,
            FoldOutcome::Stale => Outcome::Stale,
            FoldOutcome::Rejected(e) => {
                Outcome::Rejected(rejection(reports[i].id.as_deref().unwrap_or(""), e))
            }
        };
    }
    let report = BatchReport {
        records: reports,
        generation: Some(applied.generation.number),
        published: applied.plan.written > 0,
        attempts: applied.attempts,
        services,
    };
    debug!(
        records = report.records.len(),
        applied = report.count("applied"),
        stale = report.count("stale"),
        rejected = report.count("rejected"),
        services,
        generation = report.generation,
        published = report.published,
        attempts = report.attempts,
        "batch applied"
    );
    Ok(report)
}

/// Validates `inputs`, applies the valid ones with one publish, and reports per record.
/// An error means the batch must be redelivered; bad records are never an error.
pub async fn apply_batch(pipeline: &Pipeline, inputs: Vec<Input>) -> Result<BatchReport> {
    publish(pipeline, prepare(inputs)).await
}
