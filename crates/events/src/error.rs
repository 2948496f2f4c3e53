//! Why a file could not be read as events, and how a record breaks a schema.

use std::fmt;

/// A file that could not be read as events at all. Problems of single records are
/// [`Problem`](crate::Problem)s in the file's report instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read the file")]
    Read(#[source] std::io::Error),
    /// A directory given as input could not be listed.
    #[error("cannot list the directory")]
    ReadDir(#[source] std::io::Error),
    /// The file is neither one JSON document nor JSON lines.
    #[error("malformed JSON at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line where the parser stopped.
        line: usize,
        /// 1-based column where the parser stopped.
        column: usize,
        /// The parser's own words, without its position.
        message: String,
    },
    /// The file holds nothing but whitespace, or an empty array.
    #[error("the file holds no event")]
    Empty,
    /// A directory given as input holds no `.json`, `.jsonl` or `.ndjson` file.
    #[error("no .json, .jsonl or .ndjson file in this directory")]
    NoFiles,
}

impl Error {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Read(_) => "read",
            Error::ReadDir(_) => "read_dir",
            Error::Syntax { .. } => "syntax",
            Error::Empty => "empty",
            Error::NoFiles => "no_files",
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One way a JSON value breaks a schema: where, as a JSON pointer into the value, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// JSON pointer of the offending value (`/data/pzxid`), `""` for the whole value.
    pub pointer: String,
    /// What is wrong, in the validator's words (long values shortened).
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", display_pointer(&self.pointer), self.message)
    }
}

/// A pointer as printed in reports: `(root)` for the whole value.
pub(crate) fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    }
}
