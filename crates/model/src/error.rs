//! Errors for decoding and validating registry input.

use std::fmt;

/// Where in the input a problem sits: a JSON pointer (`/data/applications/application/0/...`),
/// optionally with a line and column for syntax errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// JSON pointer of the offending value, `""` for the whole document.
    pub pointer: String,
    /// 1-based line, when known (syntax errors).
    pub line: Option<u32>,
    /// 1-based column, when known (syntax errors).
    pub column: Option<u32>,
}

impl Position {
    /// A position given by a JSON pointer only.
    pub fn at(pointer: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            line: None,
            column: None,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) if self.pointer.is_empty() => write!(f, "line {l} column {c}"),
            (Some(l), Some(c)) => write!(f, "{} (line {l} column {c})", self.pointer),
            _ if self.pointer.is_empty() => write!(f, "document root"),
            _ => write!(f, "{}", self.pointer),
        }
    }
}

/// Every way registry input can be unusable. Each variant names the field and where it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not JSON (or not the expected text format) at all.
    #[error("malformed {format} at {position}: {message}")]
    Syntax {
        /// `JSON`, `XML`, `URL`.
        format: &'static str,
        /// Where the parser stopped.
        position: Position,
        /// The parser's own words.
        message: String,
    },
    /// A required field is absent.
    #[error("missing field `{field}` at {position}")]
    Missing {
        /// Field name as it appears on the wire.
        field: String,
        /// Pointer to the object that should hold it.
        position: Position,
    },
    /// A field is present but its value is unusable.
    #[error("invalid field `{field}` at {position}: {message}{}", got_suffix(.got))]
    Invalid {
        /// Field name as it appears on the wire.
        field: String,
        /// Pointer to the value.
        position: Position,
        /// What was wrong, and what would be accepted.
        message: String,
        /// The offending value, shortened for display.
        got: String,
    },
    /// The event `type` is not one regsync knows.
    #[error("unknown event type {got:?} at /type; expected one of: {expected}")]
    UnknownType {
        /// The type that was given.
        got: String,
        /// Comma-separated list of accepted types.
        expected: String,
    },
    /// The payload is larger than regsync accepts.
    #[error(
        "payload of {size} bytes exceeds the limit of {limit} bytes; split it into smaller \
         events (one Eureka application or one Dubbo service each)"
    )]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
}

impl Error {
    /// A bounded label for metrics and dead-letter reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Syntax { .. } => "syntax",
            Error::Missing { .. } => "missing_field",
            Error::Invalid { .. } => "invalid_field",
            Error::UnknownType { .. } => "unknown_type",
            Error::TooLarge { .. } => "too_large",
        }
    }

    /// The wire name of the offending field, when the error is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Missing { field, .. } | Error::Invalid { field, .. } => Some(field),
            Error::UnknownType { .. } => Some("type"),
            Error::Syntax { .. } | Error::TooLarge { .. } => None,
        }
    }

    /// Shorthand for [`Error::Missing`].
    pub fn missing(field: impl Into<String>, pointer: impl Into<String>) -> Self {
        Error::Missing {
            field: field.into(),
            position: Position::at(pointer),
        }
    }

    /// Shorthand for [`Error::Invalid`]; `got` is shortened to 120 characters.
    pub fn invalid(
        field: impl Into<String>,
        pointer: impl Into<String>,
        message: impl Into<String>,
        got: impl fmt::Display,
    ) -> Self {
        Error::Invalid {
            field: field.into(),
            position: Position::at(pointer),
            message: message.into(),
            got: shorten(&got.to_string(), 120),
        }
    }

    /// Wraps a `serde_json` syntax or type error, keeping its line and column.
    pub fn json(err: &serde_json::Error) -> Self {
        Error::Syntax {
            format: "JSON",
            position: Position {
                pointer: String::new(),
                line: u32::try_from(err.line()).ok(),
                column: u32::try_from(err.column()).ok(),
            },
            message: err.to_string(),
        }
    }

    /// Prefixes this error's pointer, used when a payload is nested in an envelope.
    pub fn nested_in(mut self, prefix: &str) -> Self {
        match &mut self {
            Error::Missing { position, .. } | Error::Invalid { position, .. } => {
                position.pointer = format!("{prefix}{}", position.pointer);
            }
            Error::Syntax { position, .. } => {
                position.pointer = format!("{prefix}{}", position.pointer);
            }
            _ => {}
        }
        self
    }
}

fn got_suffix(got: &str) -> String {
    if got.is_empty() {
        String::new()
    } else {
        format!(" (got {got})")
    }
}

/// Shortens `s` to at most `max` characters for error messages, marking the cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
