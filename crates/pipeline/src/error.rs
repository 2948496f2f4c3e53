//! Errors that make a whole batch fail, so its trigger redelivers it. Bad input is never one of
//! them: it is a per-record [`crate::Rejection`].

/// A failure that a retry can fix: the batch must be redelivered, nothing was lost.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The snapshot store refused or failed the publish.
    #[error("the snapshot store could not take the batch")]
    Store(#[from] regsync_store::Error),
    /// A dead letter could not be written, so its record must not be acknowledged yet.
    #[error("cannot write dead letter {key}")]
    DeadLetter {
        /// Where it was going.
        key: String,
        /// Why it failed.
        #[source]
        source: regsync_store::Error,
    },
    /// A batch could not be archived, so it must not be acknowledged yet.
    #[error("cannot archive the batch as {key}")]
    Archive {
        /// Where it was going.
        key: String,
        /// Why it failed.
        #[source]
        source: regsync_store::Error,
    },
    /// The process's writer task is gone (the process is stopping).
    #[error("the writer of this process has stopped")]
    WriterStopped,
    /// The invocation's deadline came before the batch was done (a store or broker that
    /// accepts connections but does not answer): failed while there is time to say so.
    #[error("the batch was not done {margin_ms} ms before the invocation's deadline")]
    Deadline {
        /// How long before the deadline it gave up.
        margin_ms: u64,
    },
    /// A dead letter could not be produced to its Kafka topic, so its record must not be
    /// acknowledged yet.
    #[error("cannot produce dead letters to Kafka topic {topic}: {reason}")]
    DeadLetterTopic {
        /// The dead-letter topic.
        topic: String,
        /// Why it failed.
        reason: String,
    },
}

impl Error {
    /// A bounded label for metrics and the Lambda error type.
    pub fn kind(&self) -> &'static str {
        use regsync_store::Error as S;
        match self {
            Error::Store(S::Conflict { .. }) => "StoreConflict",
            Error::Store(S::Corrupt { .. } | S::Layout { .. }) => "StoreCorrupt",
            Error::Store(_) => "StoreUnavailable",
            Error::DeadLetter { .. } | Error::DeadLetterTopic { .. } => "DeadLetterUnavailable",
            Error::Archive { .. } => "ArchiveUnavailable",
            Error::WriterStopped => "Stopping",
            Error::Deadline { .. } => "DeadlineExceeded",
        }
    }

    /// What an operator should do, for logs and HTTP error bodies.
    pub fn advice(&self) -> &'static str {
        use regsync_store::Error as S;
        match self {
            Error::Store(S::Conflict { .. }) => {
                "other writers kept winning the snapshot swap; the batch will be redelivered"
            }
            Error::Store(S::Corrupt { .. } | S::Layout { .. }) => {
                "a snapshot object is unreadable; run `regsync snapshot ls` and restore or roll back the store"
            }
            Error::Store(_) | Error::DeadLetter { .. } => {
                "object storage is unreachable or refused the request; check the URL, credentials and network"
            }
            Error::Archive { .. } => {
                "the archive store is unreachable or refused the write; check REGSYNC_ARCHIVE_URL, credentials and network; the batch will be redelivered"
            }
            Error::DeadLetterTopic { .. } => {
                "check REGSYNC_DEAD_LETTER_URL, that the topic exists, that the function's network reaches the brokers, and the REGSYNC_KAFKA_* security settings; the batch will be redelivered"
            }
            Error::WriterStopped => {
                "the server is stopping; send the request again to a running one"
            }
            Error::Deadline { .. } => {
                "the store, the archive or the dead-letter target did not answer in time; check that it is reachable, or raise the function's timeout; the batch will be redelivered"
            }
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error and its sources on one line, for logs and HTTP bodies.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// How long before a Lambda invocation's deadline [`by_deadline`] gives up: time to log, answer
/// and return the error, so the invocation fails as a function error rather than a timeout.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs `work` until [`DEADLINE_MARGIN`] before `deadline_ms` (milliseconds since the Unix
/// epoch, as Lambda's context gives it; 0 means none), then fails with [`Error::Deadline`].
pub async fn by_deadline<T>(
    deadline_ms: u64,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    if deadline_ms == 0 {
        return work.await;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let margin = u64::try_from(DEADLINE_MARGIN.as_millis()).unwrap_or(0);
    let left = deadline_ms.saturating_sub(now_ms).saturating_sub(margin);
    tokio::time::timeout(std::time::Duration::from_millis(left), work)
        .await
        .unwrap_or(Err(Error::Deadline { margin_ms: margin }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now_ms() -> u64 {
        u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
    }

    #[tokio::test]
    async fn work_that_outlasts_the_deadline_fails_before_it() {
        let deadline = now_ms() + 700;
        let started = std::time::Instant::now();
        let never = std::future::pending::<Result<()>>();
        let e = by_deadline(deadline, never).await.unwrap_err();
        assert_eq!(e.kind(), "DeadlineExceeded");
        assert!(started.elapsed() < std::time::Duration::from_millis(700));
    }

    #[tokio::test]
    async fn no_deadline_and_quick_work_are_left_alone() {
        assert_eq!(by_deadline(0, async { Ok(7) }).await.unwrap(), 7);
        let deadline = now_ms() + 60_000;
        assert_eq!(by_deadline(deadline, async { Ok(8) }).await.unwrap(), 8);
    }
}
