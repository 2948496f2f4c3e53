//! Bytes written by hand from istio/api's field numbers (docs/mcp-wire-contract.md §3), so a
//! wrong number or type in `proto/` fails here instead of in istiod's logs.

use std::collections::BTreeMap;

use prost::Message;
use regsync_model::{Entry, Location, Resolution, ServiceEntrySpec, ServicePort, WorkloadEntry};
use regsync_proto::istio::mcp::v1alpha1::Resource;
use regsync_proto::istio::networking::v1alpha3::{ServiceEntry, service_entry};
use regsync_proto::{RESOURCE_TYPE_URL, SERVICE_ENTRY_TYPE_URL, model};

/// A length-delimited field: the tag byte we wrote, then the length, then the body.
fn ld(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = u8::try_from(body.len()).ok().filter(|len| *len < 0x80);
    let mut out = vec![
        tag,
        len.expect("one-byte lengths keep the fixtures readable"),
    ];
    out.extend_from_slice(body);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `map<string, _>` entry: key = 1 (0x0a), value = 2.
fn string_map_entry(tag: u8, key: &str, value: &str) -> Vec<u8> {
    ld(
        tag,
        &cat(&[&ld(0x0a, key.as_bytes()), &ld(0x12, value.as_bytes())]),
    )
}

/// ServicePort{number: 20880, protocol: "TCP", name: "dubbo", target_port: 20881}.
fn service_port_bytes() -> Vec<u8> {
    cat(&[
        &[0x08, 0x90, 0xa3, 0x01], // number = 1, varint 20880
        &ld(0x12, b"TCP"),         // protocol = 2
        &ld(0x1a, b"dubbo"),       // name = 3
        &[0x20, 0x91, 0xa3, 0x01], // target_port = 4, varint 20881
    ])
}

/// WorkloadEntry with every field set.
fn workload_entry_bytes() -> Vec<u8> {
    cat(&[
        &ld(0x0a, b"10.0.0.1"), // address = 1
        // ports = 2: map<string, uint32> entry {key = 1 "dubbo", value = 2 varint 20881}
        &ld(
            0x12,
            &cat(&[&ld(0x0a, b"dubbo"), &[0x10, 0x91, 0xa3, 0x01]]),
        ),
        &string_map_entry(0x1a, "app", "foo"), // labels = 3
        &ld(0x22, b"net1"),                    // network = 4
        &ld(0x2a, b"r/z"),                     // locality = 5
        &[0x30, 0x07],                         // weight = 6, varint 7
        &ld(0x3a, b"sa"),                      // service_account = 7
    ])
}

#[test]
fn a_service_entry_encoded_from_upstream_field_numbers_decodes_field_by_field() {
    let bytes = cat(&[
        &ld(0x0a, b"foo.dubbo"),            // hosts = 1
        &ld(0x12, b"240.0.0.1"),            // addresses = 2
        &ld(0x1a, &service_port_bytes()),   // ports = 3
        &[0x20, 0x01],                      // location = 4: MESH_INTERNAL
        &[0x28, 0x01],                      // resolution = 5: STATIC
        &ld(0x32, &workload_entry_bytes()), // endpoints = 6
        &ld(0x3a, b"."),                    // export_to = 7
        &ld(0x42, b"spiffe://x"),           // subject_alt_names = 8
        // workload_selector = 9: WorkloadSelector{labels = 1 {"a": "b"}}
        &ld(0x4a, &string_map_entry(0x0a, "a", "b")),
    ]);

    let se = ServiceEntry::decode(bytes.as_slice()).unwrap();

    assert_eq!(se.hosts, ["foo.dubbo"]);
    assert_eq!(se.addresses, ["240.0.0.1"]);
    assert_eq!(se.ports.len(), 1);
    let port = &se.ports[0];
    assert_eq!(
        (
            port.number,
            port.protocol.as_str(),
            port.name.as_str(),
            port.target_port
        ),
        (20880, "TCP", "dubbo", 20881)
    );
    assert_eq!(se.location(), service_entry::Location::MeshInternal);
    assert_eq!(se.resolution(), service_entry::Resolution::Static);
    assert_eq!(se.endpoints.len(), 1);
    let ep = &se.endpoints[0];
    assert_eq!(ep.address, "10.0.0.1");
    assert_eq!(ep.ports, BTreeMap::from([("dubbo".to_owned(), 20881)]));
    assert_eq!(
        ep.labels,
        BTreeMap::from([("app".to_owned(), "foo".to_owned())])
    );
    assert_eq!(ep.network, "net1");
    assert_eq!(ep.locality, "r/z");
    assert_eq!(ep.weight, 7);
    assert_eq!(ep.service_account, "sa");
    assert_eq!(se.export_to, ["."]);
    assert_eq!(se.subject_alt_names, ["spiffe://x"]);
    let selector = se.workload_selector.as_ref().unwrap();
    assert_eq!(
        selector.labels,
        BTreeMap::from([("a".to_owned(), "b".to_owned())])
    );

    // Every field came from a tag we wrote: re-encoding gives the same bytes back.
    assert_eq!(se.encode_to_vec(), bytes);
}

#[test]
fn the_other_resolutions_and_location_sit_at_their_upstream_numbers() {
    use service_entry::{Location as L, Resolution as R};
    for (byte, expected) in [
        (0x00, R::None),
        (0x01, R::Static),
        (0x02, R::Dns),
        (0x03, R::DnsRoundRobin),
        (0x04, R::DynamicDns),
    ] {
        let se = ServiceEntry::decode([0x28, byte].as_slice()).unwrap();
        assert_eq!(se.resolution(), expected);
    }
    for (byte, expected) in [(0x00, L::MeshExternal), (0x01, L::MeshInternal)] {
        let se = ServiceEntry::decode([0x20, byte].as_slice()).unwrap();
        assert_eq!(se.location(), expected);
    }
}

/// The model entry whose resource is [`small_resource_bytes`].
fn small_entry() -> Entry {
    Entry {
        namespace: "ns".to_owned(),
        name: "foo".to_owned(),
        version: "v1".to_owned(),
        create_time_ms: 1005,
        labels: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        annotations: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
        spec: ServiceEntrySpec {
            hosts: vec!["foo.dubbo".to_owned()],
            ports: vec![ServicePort {
                number: 8080,
                protocol: "HTTP".to_owned(),
                name: "http".to_owned(),
                target_port: None,
            }],
            location: Location::MeshInternal,
            resolution: Resolution::Static,
            endpoints: vec![WorkloadEntry {
                address: "10.0.0.1".to_owned(),
                ..WorkloadEntry::default()
            }],
            ..ServiceEntrySpec::default()
        },
    }
}

/// The ServiceEntry of [`small_entry`]: defaults (target_port 0, empty strings) are absent.
fn small_service_entry_bytes() -> Vec<u8> {
    cat(&[
        &ld(0x0a, b"foo.dubbo"), // hosts = 1
        &ld(
            0x1a,
            &cat(&[&[0x08, 0x90, 0x3f], &ld(0x12, b"HTTP"), &ld(0x1a, b"http")]),
        ), // ports = 3
        &[0x20, 0x01],           // location = 4
        &[0x28, 0x01],           // resolution = 5
        &ld(0x32, &ld(0x0a, b"10.0.0.1")), // endpoints = 6
    ])
}

/// Resource{metadata = 1 {...}, body = 2 Any{type_url = 1, value = 2}} of [`small_entry`].
fn small_resource_bytes() -> Vec<u8> {
    let metadata = cat(&[
        &ld(0x0a, b"ns/foo"), // name = 1
        // create_time = 2: Timestamp{seconds = 1 varint 1, nanos = 2 varint 5_000_000}
        &ld(0x12, &[0x08, 0x01, 0x10, 0xc0, 0x96, 0xb1, 0x02]),
        &ld(0x1a, b"v1"),                  // version = 3
        &string_map_entry(0x22, "k", "v"), // labels = 4
        &string_map_entry(0x2a, "a", "b"), // annotations = 5
    ]);
    let body = cat(&[
        &ld(0x0a, SERVICE_ENTRY_TYPE_URL.as_bytes()),
        &ld(0x12, &small_service_entry_bytes()),
    ]);
    cat(&[&ld(0x0a, &metadata), &ld(0x12, &body)])
}

#[test]
fn a_resource_encoded_from_upstream_field_numbers_decodes_field_by_field() {
    let resource = Resource::decode(small_resource_bytes().as_slice()).unwrap();

    let metadata = resource.metadata.unwrap();
    assert_eq!(metadata.name, "ns/foo");
    let created = metadata.create_time.unwrap();
    assert_eq!((created.seconds, created.nanos), (1, 5_000_000));
    assert_eq!(metadata.version, "v1");
    assert_eq!(
        metadata.labels,
        BTreeMap::from([("k".to_owned(), "v".to_owned())])
    );
    assert_eq!(
        metadata.annotations,
        BTreeMap::from([("a".to_owned(), "b".to_owned())])
    );
    let body = resource.body.unwrap();
    assert_eq!(
        body.type_url,
        "type.googleapis.com/istio.networking.v1alpha3.ServiceEntry"
    );
    let se = ServiceEntry::decode(body.value.as_slice()).unwrap();
    assert_eq!(se.hosts, ["foo.dubbo"]);
    assert_eq!(
        (
            se.ports[0].number,
            se.ports[0].protocol.as_str(),
            se.ports[0].name.as_str()
        ),
        (8080, "HTTP", "http")
    );
    assert_eq!(se.endpoints[0].address, "10.0.0.1");
    assert_eq!(
        model::service_entry_from_proto(se).unwrap(),
        small_entry().spec
    );
}

#[test]
fn rendering_a_small_entry_gives_exactly_the_upstream_bytes() {
    let entry = small_entry();
    assert_eq!(
        model::service_entry(&entry.spec).encode_to_vec(),
        small_service_entry_bytes()
    );
    assert_eq!(
        model::resource(&entry).encode_to_vec(),
        small_resource_bytes()
    );
}

#[test]
fn the_type_urls_name_the_upstream_messages() {
    assert_eq!(
        RESOURCE_TYPE_URL,
        "type.googleapis.com/istio.mcp.v1alpha1.Resource"
    );
    assert_eq!(
        SERVICE_ENTRY_TYPE_URL,
        "type.googleapis.com/istio.networking.v1alpha3.ServiceEntry"
    );
}

#[test]
fn every_optional_endpoint_field_survives_model_to_proto_and_back() {
    let spec = ServiceEntrySpec {
        hosts: vec!["foo.dubbo".to_owned()],
        addresses: vec!["240.0.0.1".to_owned()],
        ports: vec![ServicePort {
            number: 20880,
            protocol: "TCP".to_owned(),
            name: "dubbo".to_owned(),
            target_port: Some(20881),
        }],
        location: Location::MeshInternal,
        resolution: Resolution::Static,
        endpoints: vec![WorkloadEntry {
            address: "10.0.0.1".to_owned(),
            ports: BTreeMap::from([("dubbo".into(), 20881)]),
            labels: BTreeMap::from([("app".into(), "foo".into())]),
            network: Some("net1".to_owned()),
            locality: Some("r/z".into()),
            weight: Some(7),
            service_account: Some("sa".to_owned()),
        }],
        export_to: vec![".".to_owned()],
        subject_alt_names: vec!["spiffe://x".to_owned()],
    };
    let proto = model::service_entry(&spec);
    // Same bytes as the hand-written fixture minus the workload selector the model has no field for.
    let decoded = ServiceEntry::decode(proto.encode_to_vec().as_slice()).unwrap();
    assert_eq!(model::service_entry_from_proto(decoded).unwrap(), spec);
}
