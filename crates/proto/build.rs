//! Compiles `../../proto` with the pure-Rust `protox` (no `protoc` on our machines) and maps
//! the well-known types to the ones `envoy-types` ships, so `Any` and `Timestamp` are the same
//! Rust types the xDS messages use.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = "../../proto";
    let files = [
        "istio/mcp/v1alpha1/resource.proto",
        "istio/networking/v1alpha3/service_entry.proto",
        "regsync/snapshot/v1/snapshot.proto",
    ]
    .map(|f| format!("{root}/{f}"));
    let fds = protox::compile(&files, [root])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        // Without this prost-build maps `.google.protobuf` to `::prost_types` itself and then
        // rejects our mapping as a duplicate; with it, the mapping below is the only one.
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::envoy_types::pb::google::protobuf")
        // BTreeMap everywhere: maps encode in key order, so equal values give equal bytes.
        .btree_map(".")
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={root}");
    Ok(())
}
