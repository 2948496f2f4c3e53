//! The stored snapshot format (`regsync.snapshot.v1`) ↔ `regsync_model::Snapshot`.

use std::collections::BTreeSet;

use prost::Message;
use regsync_model::eureka::{ActionType, EurekaInstance, InstanceStatus};
use regsync_model::snapshot::Rejection;
use regsync_model::state::{
    DubboAppState, DubboInterfaceState, DubboRegistry, EurekaAppState, EurekaRegistry, RawInstance,
};
use regsync_model::{Entry, RegistryState, Snapshot, Stamp, Versioned};

use super::{Path, missing, narrow, service_entry, service_entry_at, try_map, unknown_enum};
use crate::error::{Error, Result};
use crate::regsync::snapshot::v1 as pb;

/// Fully qualified name of the stored snapshot message, for errors.
const SNAPSHOT_MESSAGE: &str = "regsync.snapshot.v1.Snapshot";

/// The snapshot as the `regsync.snapshot.v1.Snapshot` message.
pub fn snapshot_to_proto(snapshot: &Snapshot) -> pb::Snapshot {
    pb::Snapshot {
        format: snapshot.format,
        entries: snapshot.entries.iter().map(entry_to_proto).collect(),
        rejected: snapshot
            .rejected
            .iter()
            .map(|r| pb::Rejection {
                resource: r.resource.clone(),
                reasons: r.reasons.clone(),
            })
            .collect(),
        state: Some(state_to_proto(&snapshot.state)),
    }
}

/// Reads a `regsync.snapshot.v1.Snapshot` back into the model. An absent `state` is an empty
/// state (a snapshot with nothing learned yet encodes it as an empty message anyway).
pub fn snapshot_from_proto(snapshot: pb::Snapshot) -> Result<Snapshot> {
    let at = Path::Root;
    let entries_at = at.field("entries");
    let entries = snapshot
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| entry_from_proto(e, entries_at.index(i)))
        .collect::<Result<_>>()?;
    let rejected = snapshot
        .rejected
        .into_iter()
        .map(|r| Rejection {
            resource: r.resource,
            reasons: r.reasons,
        })
        .collect();
    let state = match snapshot.state {
        Some(state) => state_from_proto(state, at.field("state"))?,
        None => RegistryState::default(),
    };
    Ok(Snapshot {
        format: snapshot.format,
        state,
        entries,
        rejected,
    })
}

/// The snapshot in the stored binary format.
pub fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    snapshot_to_proto(snapshot).encode_to_vec()
}

/// Reads the stored binary format.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot> {
    let message = pb::Snapshot::decode(bytes).map_err(|source| Error::Decode {
        message: SNAPSHOT_MESSAGE,
        source,
    })?;
    snapshot_from_proto(message)
}

fn entry_to_proto(entry: &Entry) -> pb::Entry {
    pb::Entry {
        namespace: entry.namespace.clone(),
        name: entry.name.clone(),
        version: entry.version.clone(),
        create_time_ms: entry.create_time_ms,
        labels: entry.labels.clone(),
        annotations: entry.annotations.clone(),
        spec: Some(service_entry(&entry.spec)),
    }
}

fn entry_from_proto(entry: pb::Entry, at: Path<'_>) -> Result<Entry> {
    let spec_at = at.field("spec");
    let spec = entry.spec.ok_or_else(|| missing(spec_at))?;
    Ok(Entry {
        namespace: entry.namespace,
        name: entry.name,
        version: entry.version,
        create_time_ms: entry.create_time_ms,
        labels: entry.labels,
        annotations: entry.annotations,
        spec: service_entry_at(spec, spec_at)?,
    })
}

fn stamp_to_proto(stamp: &Stamp) -> pb::Stamp {
    pb::Stamp {
        major: stamp.major,
        minor: stamp.minor,
        rank: stamp.rank.into(),
    }
}

fn stamp_from_proto(stamp: Option<pb::Stamp>, at: Path<'_>) -> Result<Stamp> {
    let stamp = stamp.ok_or_else(|| missing(at))?;
    Ok(Stamp {
        major: stamp.major,
        minor: stamp.minor,
        rank: narrow(stamp.rank, at.field("rank"))?,
    })
}

fn names_to_proto<'a>(
    stamp: &Stamp,
    names: impl IntoIterator<Item = &'a String>,
) -> pb::VersionedNames {
    pb::VersionedNames {
        stamp: Some(stamp_to_proto(stamp)),
        names: names.into_iter().cloned().collect(),
    }
}

fn name_set_from_proto(
    names: pb::VersionedNames,
    at: Path<'_>,
) -> Result<Versioned<BTreeSet<String>>> {
    Ok(Versioned {
        stamp: stamp_from_proto(names.stamp, at.field("stamp"))?,
        value: names.names.into_iter().collect(),
    })
}

fn name_list_from_proto(names: pb::VersionedNames, at: Path<'_>) -> Result<Versioned<Vec<String>>> {
    Ok(Versioned {
        stamp: stamp_from_proto(names.stamp, at.field("stamp"))?,
        value: names.names,
    })
}

fn state_to_proto(state: &RegistryState) -> pb::RegistryState {
    pb::RegistryState {
        eureka: state
            .eureka
            .iter()
            .map(|(name, r)| (name.clone(), eureka_registry_to_proto(r)))
            .collect(),
        dubbo: state
            .dubbo
            .iter()
            .map(|(name, r)| (name.clone(), dubbo_registry_to_proto(r)))
            .collect(),
    }
}

fn state_from_proto(state: pb::RegistryState, at: Path<'_>) -> Result<RegistryState> {
    let (eureka_at, dubbo_at) = (at.field("eureka"), at.field("dubbo"));
    Ok(RegistryState {
        eureka: try_map(state.eureka, |name, r| {
            eureka_registry_from_proto(r, eureka_at.key(name))
        })?,
        dubbo: try_map(state.dubbo, |name, r| {
            dubbo_registry_from_proto(r, dubbo_at.key(name))
        })?,
    })
}

fn eureka_registry_to_proto(registry: &EurekaRegistry) -> pb::EurekaRegistry {
    pb::EurekaRegistry {
        membership: registry
            .membership
            .as_ref()
            .map(|m| names_to_proto(&m.stamp, &m.value)),
        apps: registry
            .apps
            .iter()
            .map(|(name, app)| (name.clone(), eureka_app_to_proto(app)))
            .collect(),
    }
}

fn eureka_registry_from_proto(
    registry: pb::EurekaRegistry,
    at: Path<'_>,
) -> Result<EurekaRegistry> {
    let apps_at = at.field("apps");
    Ok(EurekaRegistry {
        membership: registry
            .membership
            .map(|m| name_set_from_proto(m, at.field("membership")))
            .transpose()?,
        apps: try_map(registry.apps, |name, app| {
            eureka_app_from_proto(app, apps_at.key(name))
        })?,
    })
}

fn eureka_app_to_proto(app: &EurekaAppState) -> pb::EurekaApp {
    pb::EurekaApp {
        membership: app
            .membership
            .as_ref()
            .map(|m| names_to_proto(&m.stamp, &m.value)),
        instances: app
            .instances
            .iter()
            .map(|(id, record)| {
                let record = pb::VersionedEurekaInstance {
                    stamp: Some(stamp_to_proto(&record.stamp)),
                    instance: record.value.as_ref().map(eureka_instance_to_proto),
                };
                (id.clone(), record)
            })
            .collect(),
        first_seen_ms: app.first_seen_ms,
    }
}

fn eureka_app_from_proto(app: pb::EurekaApp, at: Path<'_>) -> Result<EurekaAppState> {
    let instances_at = at.field("instances");
    Ok(EurekaAppState {
        membership: app
            .membership
            .map(|m| name_set_from_proto(m, at.field("membership")))
            .transpose()?,
        instances: try_map(app.instances, |id, record| {
            let at = instances_at.key(id);
            Ok(Versioned {
                stamp: stamp_from_proto(record.stamp, at.field("stamp"))?,
                value: record
                    .instance
                    .map(|i| eureka_instance_from_proto(i, at.field("instance")))
                    .transpose()?,
            })
        })?,
        first_seen_ms: app.first_seen_ms,
    })
}

fn eureka_instance_to_proto(instance: &EurekaInstance) -> pb::EurekaInstance {
    pb::EurekaInstance {
        app: instance.app.clone(),
        instance_id: instance.instance_id.clone(),
        host_name: instance.host_name.clone(),
        ip_addr: instance.ip_addr.clone(),
        status: instance_status_to_proto(instance.status).into(),
        overridden_status: instance_status_to_proto(instance.overridden_status).into(),
        port: instance.port.map(u32::from),
        secure_port: instance.secure_port.map(u32::from),
        metadata: instance.metadata.clone(),
        availability_zone: instance.availability_zone.clone(),
        action_type: action_type_to_proto(instance.action_type).into(),
        last_updated_timestamp: instance.last_updated_timestamp,
        last_dirty_timestamp: instance.last_dirty_timestamp,
        registration_timestamp: instance.registration_timestamp,
    }
}

fn eureka_instance_from_proto(
    instance: pb::EurekaInstance,
    at: Path<'_>,
) -> Result<EurekaInstance> {
    Ok(EurekaInstance {
        app: instance.app,
        instance_id: instance.instance_id,
        host_name: instance.host_name,
        ip_addr: instance.ip_addr,
        status: instance_status_from_proto(instance.status, at.field("status"))?,
        overridden_status: instance_status_from_proto(
            instance.overridden_status,
            at.field("overridden_status"),
        )?,
        port: instance
            .port
            .map(|p| narrow(p, at.field("port")))
            .transpose()?,
        secure_port: instance
            .secure_port
            .map(|p| narrow(p, at.field("secure_port")))
            .transpose()?,
        metadata: instance.metadata,
        availability_zone: instance.availability_zone,
        action_type: action_type_from_proto(instance.action_type, at.field("action_type"))?,
        last_updated_timestamp: instance.last_updated_timestamp,
        last_dirty_timestamp: instance.last_dirty_timestamp,
        registration_timestamp: instance.registration_timestamp,
    })
}

fn instance_status_to_proto(status: InstanceStatus) -> pb::InstanceStatus {
    match status {
        InstanceStatus::Up => pb::InstanceStatus::Up,
        InstanceStatus::Down => pb::InstanceStatus::Down,
        InstanceStatus::Starting => pb::InstanceStatus::Starting,
        InstanceStatus::OutOfService => pb::InstanceStatus::OutOfService,
        InstanceStatus::Unknown => pb::InstanceStatus::Unknown,
    }
}

fn instance_status_from_proto(value: i32, at: Path<'_>) -> Result<InstanceStatus> {
    match pb::InstanceStatus::try_from(value) {
        Ok(pb::InstanceStatus::Up) => Ok(InstanceStatus::Up),
        Ok(pb::InstanceStatus::Down) => Ok(InstanceStatus::Down),
        Ok(pb::InstanceStatus::Starting) => Ok(InstanceStatus::Starting),
        Ok(pb::InstanceStatus::OutOfService) => Ok(InstanceStatus::OutOfService),
        Ok(pb::InstanceStatus::Unknown) => Ok(InstanceStatus::Unknown),
        Ok(pb::InstanceStatus::Unspecified) => Err(Error::Unsupported {
            field: at.to_string(),
            value: "INSTANCE_STATUS_UNSPECIFIED".to_owned(),
        }),
        Err(_) => Err(unknown_enum(at, "InstanceStatus", value)),
    }
}

fn action_type_to_proto(action: Option<ActionType>) -> pb::ActionType {
    match action {
        None => pb::ActionType::Unspecified,
        Some(ActionType::Added) => pb::ActionType::Added,
        Some(ActionType::Modified) => pb::ActionType::Modified,
        Some(ActionType::Deleted) => pb::ActionType::Deleted,
    }
}

fn action_type_from_proto(value: i32, at: Path<'_>) -> Result<Option<ActionType>> {
    match pb::ActionType::try_from(value) {
        Ok(pb::ActionType::Unspecified) => Ok(None),
        Ok(pb::ActionType::Added) => Ok(Some(ActionType::Added)),
        Ok(pb::ActionType::Modified) => Ok(Some(ActionType::Modified)),
        Ok(pb::ActionType::Deleted) => Ok(Some(ActionType::Deleted)),
        Err(_) => Err(unknown_enum(at, "ActionType", value)),
    }
}

fn dubbo_registry_to_proto(registry: &DubboRegistry) -> pb::DubboRegistry {
    pb::DubboRegistry {
        interfaces: registry
            .interfaces
            .iter()
            .map(|(name, i)| {
                let interface = pb::DubboInterface {
                    providers: i
                        .providers
                        .as_ref()
                        .map(|v| names_to_proto(&v.stamp, &v.value)),
                    configurators: i
                        .configurators
                        .as_ref()
                        .map(|v| names_to_proto(&v.stamp, &v.value)),
                    mapping: i
                        .mapping
                        .as_ref()
                        .map(|v| names_to_proto(&v.stamp, &v.value)),
                    first_seen_ms: i.first_seen_ms,
                };
                (name.clone(), interface)
            })
            .collect(),
        applications: registry
            .applications
            .iter()
            .map(|(name, app)| {
                let instances = app.instances.as_ref().map(|v| pb::VersionedRawInstances {
                    stamp: Some(stamp_to_proto(&v.stamp)),
                    instances: v
                        .value
                        .iter()
                        .map(|r| pb::RawInstance {
                            name: r.name.clone(),
                            data: r.data.clone(),
                        })
                        .collect(),
                });
                (
                    name.clone(),
                    pb::DubboApp {
                        instances,
                        first_seen_ms: app.first_seen_ms,
                    },
                )
            })
            .collect(),
    }
}

fn dubbo_registry_from_proto(registry: pb::DubboRegistry, at: Path<'_>) -> Result<DubboRegistry> {
    let (interfaces_at, applications_at) = (at.field("interfaces"), at.field("applications"));
    Ok(DubboRegistry {
        interfaces: try_map(registry.interfaces, |name, i| {
            let at = interfaces_at.key(name);
            Ok(DubboInterfaceState {
                providers: i
                    .providers
                    .map(|v| name_list_from_proto(v, at.field("providers")))
                    .transpose()?,
                configurators: i
                    .configurators
                    .map(|v| name_list_from_proto(v, at.field("configurators")))
                    .transpose()?,
                mapping: i
                    .mapping
                    .map(|v| name_list_from_proto(v, at.field("mapping")))
                    .transpose()?,
                first_seen_ms: i.first_seen_ms,
            })
        })?,
        applications: try_map(registry.applications, |name, app| {
            let app_at = applications_at.key(name);
            let at = app_at.field("instances");
            let instances = app
                .instances
                .map(|v| -> Result<_> {
                    Ok(Versioned {
                        stamp: stamp_from_proto(v.stamp, at.field("stamp"))?,
                        value: v
                            .instances
                            .into_iter()
                            .map(|r| RawInstance {
                                name: r.name,
                                data: r.data,
                            })
                            .collect(),
                    })
                })
                .transpose()?;
            Ok(DubboAppState {
                instances,
                first_seen_ms: app.first_seen_ms,
            })
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eureka_enums_map_one_to_one() {
        use InstanceStatus::*;
        for status in [Up, Down, Starting, OutOfService, Unknown] {
            let number = instance_status_to_proto(status) as i32;
            assert_eq!(
                instance_status_from_proto(number, Path::Root).unwrap(),
                status
            );
        }
        for action in [
            None,
            Some(ActionType::Added),
            Some(ActionType::Modified),
            Some(ActionType::Deleted),
        ] {
            let number = action_type_to_proto(action) as i32;
            assert_eq!(action_type_from_proto(number, Path::Root).unwrap(), action);
        }
    }
}
