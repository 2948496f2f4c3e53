//! `regsync-model` ↔ protobuf, in one place: the ServiceEntry and MCP `Resource` istiod
//! receives, and the stored snapshot format.
//!
//! Model → proto never fails. Proto → model fails, naming the field, on what the model cannot
//! hold: an unknown enum number, `DYNAMIC_DNS`, a workload selector, a port above 65535, or a
//! message regsync always writes that is absent.
//!
//! Istio's proto has no field presence for scalars, so the model's `None` and an empty value
//! (`target_port: Some(0)`, `weight: Some(0)`, `network: Some("")`) are the same on the wire;
//! both mean "unset" to istiod and both decode as `None`.

use std::collections::BTreeMap;
use std::fmt;

use envoy_types::pb::google::protobuf::{Any, Timestamp};
use prost::Message;
use regsync_model::entry::MAX_CREATE_TIME_MS;
use regsync_model::{Entry, Location, Resolution, ServiceEntrySpec, ServicePort, WorkloadEntry};

use crate::SERVICE_ENTRY_TYPE_URL;
use crate::error::{Error, Result};
use crate::istio::mcp::v1alpha1 as mcp;
use crate::istio::networking::v1alpha3 as net;

mod snapshot;

pub use snapshot::{decode_snapshot, encode_snapshot, snapshot_from_proto, snapshot_to_proto};

// ---------------------------------------------------------------------------------------------
// ServiceEntry and Resource (what istiod receives)

/// The model's `Location` as the proto enum.
pub fn location(location: Location) -> net::service_entry::Location {
    match location {
        Location::MeshExternal => net::service_entry::Location::MeshExternal,
        Location::MeshInternal => net::service_entry::Location::MeshInternal,
    }
}

/// The model's `Resolution` as the proto enum.
pub fn resolution(resolution: Resolution) -> net::service_entry::Resolution {
    match resolution {
        Resolution::None => net::service_entry::Resolution::None,
        Resolution::Static => net::service_entry::Resolution::Static,
        Resolution::Dns => net::service_entry::Resolution::Dns,
        Resolution::DnsRoundRobin => net::service_entry::Resolution::DnsRoundRobin,
    }
}

/// The model's spec as the `istio.networking.v1alpha3.ServiceEntry` istiod decodes.
pub fn service_entry(spec: &ServiceEntrySpec) -> net::ServiceEntry {
    net::ServiceEntry {
        hosts: spec.hosts.clone(),
        addresses: spec.addresses.clone(),
        ports: spec.ports.iter().map(service_port).collect(),
        location: location(spec.location).into(),
        resolution: resolution(spec.resolution).into(),
        endpoints: spec.endpoints.iter().map(workload_entry).collect(),
        export_to: spec.export_to.clone(),
        subject_alt_names: spec.subject_alt_names.clone(),
        workload_selector: None,
    }
}

fn service_port(port: &ServicePort) -> net::ServicePort {
    net::ServicePort {
        number: port.number,
        protocol: port.protocol.clone(),
        name: port.name.clone(),
        target_port: port.target_port.unwrap_or_default(),
    }
}

fn workload_entry(endpoint: &WorkloadEntry) -> net::WorkloadEntry {
    net::WorkloadEntry {
        address: endpoint.address.clone(),
        ports: endpoint
            .ports
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        labels: endpoint
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        network: endpoint.network.clone().unwrap_or_default(),
        locality: endpoint.locality.as_deref().unwrap_or_default().to_owned(),
        weight: endpoint.weight.unwrap_or_default(),
        service_account: endpoint.service_account.clone().unwrap_or_default(),
    }
}

/// Reads a ServiceEntry back into the model's spec.
pub fn service_entry_from_proto(entry: net::ServiceEntry) -> Result<ServiceEntrySpec> {
    service_entry_at(entry, Path::Root)
}

fn service_entry_at(entry: net::ServiceEntry, at: Path<'_>) -> Result<ServiceEntrySpec> {
    if entry.workload_selector.is_some() {
        return Err(Error::Unsupported {
            field: at.field("workload_selector").to_string(),
            value: "a workload selector".to_owned(),
        });
    }
    Ok(ServiceEntrySpec {
        hosts: entry.hosts,
        addresses: entry.addresses,
        ports: entry
            .ports
            .into_iter()
            .map(service_port_from_proto)
            .collect(),
        location: location_from_proto(entry.location, at.field("location"))?,
        resolution: resolution_from_proto(entry.resolution, at.field("resolution"))?,
        endpoints: entry
            .endpoints
            .into_iter()
            .map(workload_entry_from_proto)
            .collect(),
        export_to: entry.export_to,
        subject_alt_names: entry.subject_alt_names,
    })
}

fn location_from_proto(value: i32, at: Path<'_>) -> Result<Location> {
    use net::service_entry::Location as P;
    match P::try_from(value) {
        Ok(P::MeshExternal) => Ok(Location::MeshExternal),
        Ok(P::MeshInternal) => Ok(Location::MeshInternal),
        Err(_) => Err(unknown_enum(at, "ServiceEntry.Location", value)),
    }
}

fn resolution_from_proto(value: i32, at: Path<'_>) -> Result<Resolution> {
    use net::service_entry::Resolution as P;
    match P::try_from(value) {
        Ok(P::None) => Ok(Resolution::None),
        Ok(P::Static) => Ok(Resolution::Static),
        Ok(P::Dns) => Ok(Resolution::Dns),
        Ok(P::DnsRoundRobin) => Ok(Resolution::DnsRoundRobin),
        Ok(P::DynamicDns) => Err(Error::Unsupported {
            field: at.to_string(),
            value: "DYNAMIC_DNS".to_owned(),
        }),
        Err(_) => Err(unknown_enum(at, "ServiceEntry.Resolution", value)),
    }
}

fn service_port_from_proto(port: net::ServicePort) -> ServicePort {
    ServicePort {
        number: port.number,
        protocol: port.protocol,
        name: port.name,
        target_port: non_zero(port.target_port),
    }
}

fn workload_entry_from_proto(endpoint: net::WorkloadEntry) -> WorkloadEntry {
    WorkloadEntry {
        address: endpoint.address,
        ports: endpoint
            .ports
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect(),
        labels: endpoint
            .labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        network: non_empty(endpoint.network),
        locality: non_empty(endpoint.locality).map(Into::into),
        weight: non_zero(endpoint.weight),
        service_account: non_empty(endpoint.service_account),
    }
}

/// Milliseconds since the epoch as a protobuf `Timestamp`, clamped to the type's range: a time
/// after 9999-12-31T23:59:59.999Z ([`MAX_CREATE_TIME_MS`]) becomes that instant, because a
/// conforming decoder (istiod's) refuses the whole response holding an out-of-range Timestamp.
/// The conversion never stores such a time; this is the last line of defence (issue 22). A
/// `u64` cannot fall below the range's start (0001-01-01).
pub fn timestamp_from_ms(ms: u64) -> Timestamp {
    let ms = ms.min(MAX_CREATE_TIME_MS);
    Timestamp {
        seconds: i64::try_from(ms / 1000).expect("u64::MAX / 1000 fits in i64"),
        nanos: i32::try_from(ms % 1000 * 1_000_000).expect("999_000_000 fits in i32"),
    }
}

/// One entry as the MCP `Resource` istiod receives: name `namespace/name`, version, creation
/// time, labels, annotations, and the spec as an `Any` ServiceEntry.
pub fn resource(entry: &Entry) -> mcp::Resource {
    mcp::Resource {
        metadata: Some(mcp::Metadata {
            name: entry.resource_name(),
            create_time: Some(timestamp_from_ms(entry.create_time_ms)),
            version: entry.version.clone(),
            labels: entry.labels.clone(),
            annotations: entry.annotations.clone(),
        }),
        body: Some(Any {
            type_url: SERVICE_ENTRY_TYPE_URL.to_owned(),
            value: service_entry(&entry.spec).encode_to_vec(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Where in the message a value sits, built without allocating and printed only for errors:
/// `state.eureka["prod"].apps["ORDERS"].instances["i-1"].stamp`.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'static str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'static str) -> Path<'a> {
        Path::Field(self, name)
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Path::Key(parent, key) => write!(f, "{parent}[{key:?}]"),
        }
    }
}

fn unknown_enum(at: Path<'_>, enum_name: &'static str, value: i32) -> Error {
    Error::UnknownEnumValue {
        field: at.to_string(),
        enum_name,
        value,
    }
}

fn missing(at: Path<'_>) -> Error {
    Error::Missing {
        field: at.to_string(),
    }
}

/// `u32` into a smaller unsigned type, or [`Error::OutOfRange`].
fn narrow<T: TryFrom<u32> + Into<u64> + Bounded>(value: u32, at: Path<'_>) -> Result<T> {
    T::try_from(value).map_err(|_| Error::OutOfRange {
        field: at.to_string(),
        value: value.into(),
        max: T::MAX.into(),
    })
}

/// The largest value of a narrow integer type.
trait Bounded: Sized {
    const MAX: Self;
}

impl Bounded for u8 {
    const MAX: Self = u8::MAX;
}

impl Bounded for u16 {
    const MAX: Self = u16::MAX;
}

fn try_map<V, T>(
    map: BTreeMap<String, V>,
    mut f: impl FnMut(&str, V) -> Result<T>,
) -> Result<BTreeMap<String, T>> {
    map.into_iter()
        .map(|(key, value)| {
            let value = f(&key, value)?;
            Ok((key, value))
        })
        .collect()
}

fn non_zero(value: u32) -> Option<u32> {
    (value != 0).then_some(value)
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCATIONS: [(Location, net::service_entry::Location, i32); 2] = [
        (
            Location::MeshExternal,
            net::service_entry::Location::MeshExternal,
            0,
        ),
        (
            Location::MeshInternal,
            net::service_entry::Location::MeshInternal,
            1,
        ),
    ];

    const RESOLUTIONS: [(Resolution, net::service_entry::Resolution, i32); 4] = [
        (Resolution::None, net::service_entry::Resolution::None, 0),
        (
            Resolution::Static,
            net::service_entry::Resolution::Static,
            1,
        ),
        (Resolution::Dns, net::service_entry::Resolution::Dns, 2),
        (
            Resolution::DnsRoundRobin,
            net::service_entry::Resolution::DnsRoundRobin,
            3,
        ),
    ];

    #[test]
    fn every_location_maps_to_its_upstream_number_and_back() {
        for (model, proto, number) in LOCATIONS {
            assert_eq!(location(model), proto);
            assert_eq!(proto as i32, number);
            assert_eq!(location_from_proto(number, Path::Root).unwrap(), model);
        }
        let err = location_from_proto(2, Path::Root.field("location")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "location: unknown ServiceEntry.Location value 2"
        );
    }

    #[test]
    fn every_resolution_maps_to_its_upstream_number_and_back() {
        for (model, proto, number) in RESOLUTIONS {
            assert_eq!(resolution(model), proto);
            assert_eq!(proto as i32, number);
            assert_eq!(resolution_from_proto(number, Path::Root).unwrap(), model);
        }
        let dynamic = resolution_from_proto(4, Path::Root.field("resolution")).unwrap_err();
        assert_eq!(dynamic.kind(), "unsupported");
        let unknown = resolution_from_proto(-1, Path::Root.field("resolution")).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "resolution: unknown ServiceEntry.Resolution value -1"
        );
    }

    #[test]
    fn the_enums_keep_the_names_kubernetes_yaml_uses() {
        // The model serializes these names too (SCREAMING_SNAKE_CASE), so JSON, YAML and proto agree.
        assert_eq!(
            location(Location::MeshInternal).as_str_name(),
            "MESH_INTERNAL"
        );
        assert_eq!(
            resolution(Resolution::DnsRoundRobin).as_str_name(),
            "DNS_ROUND_ROBIN"
        );
        for (model, proto, _) in RESOLUTIONS {
            let json = serde_json::to_string(&model).unwrap();
            assert_eq!(json.trim_matches('"'), proto.as_str_name());
        }
    }

    #[test]
    fn milliseconds_split_into_seconds_and_nanos() {
        assert_eq!(
            timestamp_from_ms(1_700_000_000_123),
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_000_000
            }
        );
        assert_eq!(
            timestamp_from_ms(0),
            Timestamp {
                seconds: 0,
                nanos: 0
            }
        );
    }

    #[test]
    fn times_after_the_year_9999_are_clamped_into_the_timestamp_range() {
        // google/protobuf/timestamp.proto: seconds in [-62135596800, 253402300799]
        // (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z), nanos in [0, 999999999].
        let last = Timestamp {
            seconds: 253_402_300_799,
            nanos: 999_000_000,
        };
        assert_eq!(timestamp_from_ms(MAX_CREATE_TIME_MS), last);
        // leaseInfo.registrationTimestamp of issue 22, and the largest value the model holds.
        for ms in [300_000_000_000_000, MAX_CREATE_TIME_MS + 1, u64::MAX] {
            assert_eq!(timestamp_from_ms(ms), last, "{ms} ms");
        }
    }
}
