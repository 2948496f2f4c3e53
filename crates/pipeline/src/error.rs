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
