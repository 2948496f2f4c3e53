//! Errors of the object store.

/// What can go wrong talking to object storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A conditional write lost: the object exists (create) or changed (replace).
    #[error("object {key} changed while we were writing it")]
    Conflict {
        /// The object's key.
        key: String,
    },
    /// A content-addressed object whose bytes do not hash to its name: never served.
    #[error("object {key} is corrupt: its SHA-256 is {actual}")]
    Corrupt {
        /// The object's key (which names the expected SHA-256).
        key: String,
        /// The SHA-256 of the bytes found.
        actual: String,
    },
    /// A layout object (root, page, `latest`) that is missing or does not decode.
    #[error("snapshot layout object {key} is unusable: {why}")]
    Layout {
        /// The object's key.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// A key that cannot name an object (empty, absolute, `..`, backslash).
    #[error("invalid object key {key:?}: {why}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A store URL this build cannot open.
    #[error("unsupported store URL {url:?}: {why}")]
    Url {
        /// The URL.
        url: String,
        /// What would be accepted.
        why: String,
    },
    /// S3 (or the S3-compatible server) failed.
    #[error("object storage failed on {key} (HTTP status {status:?})")]
    S3 {
        /// The key being accessed.
        key: String,
        /// The HTTP status, when there was a response.
        status: Option<u16>,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The local file system failed.
    #[error("file store failed on {key}")]
    Io {
        /// The key (or path) being accessed.
        key: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Conflict { .. } => "conflict",
            Error::Corrupt { .. } => "corrupt",
            Error::Layout { .. } => "layout",
            Error::InvalidKey { .. } => "invalid_key",
            Error::Url { .. } => "url",
            Error::Io { .. } => "io",
            Error::S3 { .. } => "s3",
        }
    }

    /// Whether retrying the whole operation later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Conflict { .. } | Error::Io { .. } | Error::S3 { .. }
        )
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
