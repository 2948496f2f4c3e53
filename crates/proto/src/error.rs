//! Why a protobuf message could not become a model value.

/// A decode or proto → model failure. `field` is the path of the offending field from the
/// top-level message, e.g. `entries[3].spec.resolution`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid encoding of the message.
    #[error("cannot decode {message}")]
    Decode {
        /// Fully qualified message name.
        message: &'static str,
        /// What prost found.
        #[source]
        source: prost::DecodeError,
    },
    /// An enum field holds a number the proto does not define.
    #[error("{field}: unknown {enum_name} value {value}")]
    UnknownEnumValue {
        /// Path of the field.
        field: String,
        /// Proto enum name.
        enum_name: &'static str,
        /// The number found.
        value: i32,
    },
    /// A valid proto value the model cannot represent (e.g. `DYNAMIC_DNS`, a workload selector).
    #[error("{field}: {value} is not supported by regsync")]
    Unsupported {
        /// Path of the field.
        field: String,
        /// What was found, in words.
        value: String,
    },
    /// A number larger than the model's type allows.
    #[error("{field}: {value} is out of range (at most {max})")]
    OutOfRange {
        /// Path of the field.
        field: String,
        /// The number found.
        value: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A message field regsync always writes is absent.
    #[error("{field} is missing")]
    Missing {
        /// Path of the field.
        field: String,
    },
}

impl Error {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Decode { .. } => "decode",
            Error::UnknownEnumValue { .. } => "unknown_enum_value",
            Error::Unsupported { .. } => "unsupported",
            Error::OutOfRange { .. } => "out_of_range",
            Error::Missing { .. } => "missing",
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
