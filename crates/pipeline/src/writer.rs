//! One writer per process. Requests that arrive while a publish is under way queue; the writer
//! takes every queued request at once and publishes them with one swap (natural batching), so
//! writers in one process never conflict with each other. A conflict with another process is
//! retried until the deadline, so a request gets 503 only when the store stays contended or
//! unavailable that long.

use std::sync::Arc;
use std::time::Duration;

use regsync_model::RegistryEvent;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::debug;

use crate::batch::{BatchReport, prepare, publish};
use crate::{Error, Pipeline};

/// Requests merged into one publish at most.
const MAX_MERGED: usize = 256;
/// Requests waiting at most; further senders wait for room.
const QUEUE: usize = 1024;
/// The pause between two rounds of conflicts with other processes.
const CONFLICT_PAUSE: Duration = Duration::from_millis(20);

/// A publish's result, shared by the requests it carried.
pub type Shared = Result<BatchReport, Arc<Error>>;

struct Job {
    events: Vec<RegistryEvent>,
    reply: oneshot::Sender<Shared>,
}

/// The handle of the process's writer task; clones share it.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer for `pipeline` on the current runtime. Conflicts with other processes
    /// are retried for up to `deadline` from the first attempt.
    pub fn spawn(pipeline: Pipeline, deadline: Duration) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pipeline, deadline, rx));
        Writer { tx }
    }

    /// Publishes `events` (valid ones) together with whatever else is queued; the report covers
    /// exactly these events, in this order.
    pub async fn publish(&self, events: Vec<RegistryEvent>) -> Shared {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Job { events, reply }).await.is_err() {
            return Err(Arc::new(Error::WriterStopped));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(Arc::new(Error::WriterStopped)))
    }
}

async fn run(pipeline: Pipeline, deadline: Duration, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_MERGED {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let events: Vec<RegistryEvent> = jobs.iter().flat_map(|j| j.events.clone()).collect();
        let started = Instant::now();
        let result = loop {
            let inputs = events.iter().cloned().map(Ok).collect();
            match publish(&pipeline, prepare(inputs)).await {
                Err(e) if is_conflict(&e) && started.elapsed() < deadline => {
                    debug!(error = %e, "another process won the swap; trying again");
                    tokio::time::sleep(CONFLICT_PAUSE).await;
                }
                other => break other,
            }
        };
        debug!(
            requests = jobs.len(),
            events = events.len(),
            "merged publish"
        );
        match result {
            Ok(report) => {
                let mut offset = 0;
                for job in jobs {
                    let n = job.events.len();
                    let part = report.part(offset..offset + n);
                    offset += n;
                    let _ = job.reply.send(Ok(part));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Store(regsync_store::Error::Conflict { .. }))
}
