//! Generated protobuf types: Istio MCP Resource, ServiceEntry, and the regsync snapshot format
