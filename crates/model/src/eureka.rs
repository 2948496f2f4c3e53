//! Eureka instances, normalized from whatever shape the server emitted (see `regsync-eureka`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Eureka `InstanceStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    /// Ready to receive traffic.
    Up,
    /// Failed its health check.
    Down,
    /// Starting up, not ready.
    Starting,
    /// Taken out of service by an operator.
    OutOfService,
    /// Unknown (also the "no override" value of `overriddenStatus`).
    Unknown,
}

impl InstanceStatus {
    /// Parses Eureka's spelling; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "UP" => Self::Up,
            "DOWN" => Self::Down,
            "STARTING" => Self::Starting,
            "OUT_OF_SERVICE" => Self::OutOfService,
            "UNKNOWN" => Self::Unknown,
            _ => return None,
        })
    }
}

/// Eureka `ActionType` of an instance in a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionType {
    /// Registered.
    Added,
    /// Changed (status, metadata, address).
    Modified,
    /// Cancelled or evicted.
    Deleted,
}

impl ActionType {
    /// Parses Eureka's spelling; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ADDED" => Self::Added,
            "MODIFIED" => Self::Modified,
            "DELETED" => Self::Deleted,
            _ => return None,
        })
    }
}

/// One Eureka instance with the fields regsync uses, whatever codec wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EurekaInstance {
    /// Application name as the server reports it (upper case).
    pub app: String,
    /// `instanceId`, or `hostName` when the server sent none (Eureka's own fallback).
    pub instance_id: String,
    /// `hostName`.
    pub host_name: String,
    /// `ipAddr`.
    pub ip_addr: String,
    /// `status`.
    pub status: InstanceStatus,
    /// `overriddenStatus` (or legacy `overriddenstatus`); `UNKNOWN` when absent.
    pub overridden_status: InstanceStatus,
    /// `port.$` when `port.@enabled` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `securePort.$` when `securePort.@enabled` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_port: Option<u16>,
    /// `metadata` without the `@class` key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Availability zone: `dataCenterInfo.metadata.availability-zone`, else metadata `zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// `actionType`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<ActionType>,
    /// `lastUpdatedTimestamp` (server clock, ms): bumped on register, status change and cancel.
    #[serde(default)]
    pub last_updated_timestamp: u64,
    /// `lastDirtyTimestamp` (client clock, ms).
    #[serde(default)]
    pub last_dirty_timestamp: u64,
    /// `leaseInfo.registrationTimestamp` (ms), 0 when absent.
    #[serde(default)]
    pub registration_timestamp: u64,
}

impl EurekaInstance {
    /// Eureka's rule for serving an instance: `UP`, and not overridden to `OUT_OF_SERVICE`.
    pub fn is_routable(&self) -> bool {
        self.status == InstanceStatus::Up && self.overridden_status != InstanceStatus::OutOfService
    }
}

/// One application as a document lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EurekaApplication {
    /// Application `name`.
    pub name: String,
    /// Its instances.
    pub instances: Vec<EurekaInstance>,
}

/// What a Eureka payload says, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EurekaDocument {
    /// One instance (`{"instance":{..}}` or the bare InstanceInfo).
    Instance(EurekaInstance),
    /// One application with its complete instance list.
    Application(EurekaApplication),
    /// `{"applications":{..}}`: a full registry or a delta; which one is said by the event type.
    Applications {
        /// `versions__delta`, when present.
        versions_delta: Option<i64>,
        /// `apps__hashcode`, when present.
        apps_hashcode: Option<String>,
        /// Every application, in document order.
        applications: Vec<EurekaApplication>,
    },
}
