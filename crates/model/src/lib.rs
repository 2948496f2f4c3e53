//! The vocabulary every other regsync crate speaks: the CloudEvents envelope that carries a
//! registry change ([`event`]), normalized registry records ([`eureka`]), the Istio
//! ServiceEntry as regsync renders it ([`entry`]), the folded registry state ([`state`]) and the
//! snapshot that pairs the two ([`snapshot`]).
//!
//! This crate does no I/O and must not depend on AWS, Kubernetes, gRPC or Kafka crates.

pub mod canonical;
pub mod entry;
pub mod error;
pub mod eureka;
pub mod event;
pub mod snapshot;
pub mod state;

pub use entry::{
    Entry, Location, Resolution, ServiceEntrySpec, ServicePort, SharedStr, WorkloadEntry,
};
pub use error::{Error, Result};
pub use event::{EventType, RegistryEvent, ServiceKey, SourceKind};
pub use snapshot::Snapshot;
pub use state::{RegistryState, Stamp, Versioned};
