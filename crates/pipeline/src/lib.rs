//! The function core every trigger shares: decode a record, validate it, apply a whole batch to
//! the snapshot store with one publish, and report an outcome per record (applied, stale, or
//! rejected with the field at fault). Records that can never apply become dead letters.
//!
//! Safety under at-least-once delivery comes from the fold: every piece of state carries the
//! registry's own version (Eureka `lastUpdatedTimestamp`/`lastDirtyTimestamp`/`actionType`,
//! ZooKeeper `pzxid`/`mzxid`), so a redelivered or reordered event folds to `stale` and changes
//! nothing, and concurrent invocations meet at the store's conditional swap of `latest`.
//!
//! The triggers are thin adapters: the Lambda functions under `functions/`, `regsync consume`
//! (rdkafka) and `regsync webhook` (axum). This crate must not depend on Lambda, Kafka or HTTP
//! server crates, so each adapter compiles only what it needs.

#![warn(missing_docs)]

pub mod archive;
pub mod batch;
pub mod config;
pub mod dead_letter;
pub mod error;
pub mod record;
pub mod replay;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod webhook;
pub mod writer;

pub use archive::Archive;
pub use batch::{BatchReport, Input, Outcome, RecordReport, apply_batch, validate};
pub use config::{ConfigError, DeadLetterTarget, InitError, Pipeline, PipelineConfig};
pub use dead_letter::{DeadLetter, StoreDeadLetters};
pub use error::{Error, Result};
pub use record::{KafkaRecord, Rejection};
pub use writer::Writer;
