//! The registry bridges: producers that turn a live ZooKeeper (Apache Dubbo) or Eureka (Spring
//! Cloud) into the regsync event stream, and the sinks they publish to.
//!
//! - [`zookeeper::ZkBridge`] (`regsync bridge zookeeper`) watches Dubbo's znodes and publishes
//!   the complete state of each changed interface or application, exact across disconnects and
//!   session expiry.
//! - [`eureka::EurekaBridge`] (`regsync bridge eureka`) polls `/eureka/apps/delta` and
//!   reconciles with `apps__hashcode` as the Eureka client does.
//! - [`sink::Sink`]: `kafka://` (idempotent producer, `acks=all`, keyed by service),
//!   `https://` (the signed webhook contract), `file://` (JSON lines, also a recording for
//!   `regsync replay`). Nothing is dropped silently: failures are retried with backoff, and
//!   events a receiver refuses for good go to a dead-letter file with the reason.

#![warn(missing_docs)]

pub mod eureka;
pub mod event;
pub mod metrics;
pub mod sink;
pub mod state;
pub mod zookeeper;
