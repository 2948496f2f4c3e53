//! Apache Dubbo's registry data as it sits in ZooKeeper, read into plain Rust values: provider
//! URLs and their percent-encoded znode names ([`url`]), what a provider URL means to a consumer
//! ([`provider`]), `override://` configurators applied as Dubbo 2.7 applies them
//! ([`configurator`]), the `<root>/<interface>/<category>` paths ([`path`]) and Dubbo 3
//! application-level instances and mappings ([`instance`]).
//!
//! Pure parsing: this crate does no I/O, never panics on input, and must not depend on a
//! ZooKeeper client, AWS, Kubernetes, gRPC or Kafka crate (a watcher belongs behind a `zk`
//! feature). Errors are [`regsync_model::Error`]s that name the field and the input.
//!
//! Where Dubbo's behaviour is followed, the module docs say which upstream code it comes from.

#![warn(missing_docs)]

pub mod configurator;
pub mod instance;
pub mod path;
pub mod provider;
pub mod url;

pub use configurator::{Configurator, ConfiguratorKind, apply_configurators, to_configurators};
pub use instance::{AppInstance, parse_mapping};
pub use path::{Category, category_path, parse_category_path};
pub use url::DubboUrl;
