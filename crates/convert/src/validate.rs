//! istiod's validation of a ServiceEntry received over MCP, applied before anything is emitted.
//! istiod drops an invalid entry silently (and still ACKs), so regsync must never send one.
//! Rules follow istiod's `pkg/config/validation` `ValidateServiceEntry` (1.18–1.30; errors only,
//! warnings are accepted by istiod) plus the CRD limits that the Kubernetes API server enforces
//! on the same objects (`kubectl apply` of our YAML); where the two differ, the stricter rule wins.

use std::collections::BTreeSet;
use std::net::IpAddr;

use regsync_model::{Entry, Resolution};

use crate::naming::{is_dns1123_label, is_dns1123_subdomain, is_label_key, is_label_value};

/// Maximum endpoints per entry (CRD `maxItems`).
pub const MAX_ENDPOINTS: usize = 4096;
/// Maximum ports per entry (CRD `maxItems`).
pub const MAX_PORTS: usize = 256;
/// Maximum addresses per entry (CRD `maxItems`).
pub const MAX_ADDRESSES: usize = 256;
/// Maximum labels per endpoint (CRD `maxProperties`).
pub const MAX_ENDPOINT_LABELS: usize = 256;
/// Maximum hosts per entry (CRD `maxItems`).
pub const MAX_HOSTS: usize = 256;

/// Endpoint port names must be shorter than this (CRD rule `size(key) < 63`).
pub const MAX_LABEL_FOR_ENDPOINT_PORT: usize = 63;

/// Protocols istiod's `protocol.Parse` knows (case-insensitive).
pub const ISTIO_PROTOCOLS: &[&str] = &[
    "HTTP",
    "HTTPS",
    "HTTP2",
    "HTTP_PROXY",
    "GRPC",
    "GRPC-WEB",
    "TCP",
    "TLS",
    "UDP",
    "MONGO",
    "REDIS",
    "MYSQL",
];

/// Whether `p` is an Istio protocol name.
pub fn is_istio_protocol(p: &str) -> bool {
    ISTIO_PROTOCOLS.iter().any(|k| k.eq_ignore_ascii_case(p))
}

/// Annotations istiod refuses on any resource (`validateMetadata`).
pub const FORBIDDEN_ANNOTATIONS: &[&str] = &[
    "istio.io/dry-run",
    "internal.istio.io/webhook-always-reject",
    "internal.istio.io/parent-namespace",
    "internal.istio.io/parents",
];

/// istiod's `ValidateFQDN`: DNS-1123 labels (upper case allowed), at most 255 characters, one
/// trailing dot allowed, and a top-level domain that is not all digits.
pub fn is_fqdn(host: &str) -> bool {
    if host.len() > 255 {
        return false;
    }
    let h = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| is_dns1123_label(&l.to_ascii_lowercase());
    if h.is_empty() || !h.split('.').all(label_ok) {
        return false;
    }
    match h.split_once('.') {
        Some((_, rest)) => !rest
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())),
        None => true,
    }
}

fn is_http_or_tls(protocol: &str) -> bool {
    [
        "HTTP",
        "HTTP2",
        "HTTP_PROXY",
        "GRPC",
        "GRPC-WEB",
        "HTTPS",
        "TLS",
    ]
    .iter()
    .any(|p| p.eq_ignore_ascii_case(protocol))
}

/// Every rule `entry` breaks, in words; `Ok` when istiod would accept it.
pub fn validate_entry(entry: &Entry) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    let spec = &entry.spec;
    if !is_dns1123_label(&entry.namespace) {
        errs.push(format!(
            "namespace {:?} is not a DNS-1123 label",
            entry.namespace
        ));
    }
    if !is_dns1123_subdomain(&entry.name) {
        errs.push(format!("name {:?} is not a DNS-1123 subdomain", entry.name));
    }
    if spec.hosts.is_empty() {
        errs.push("no hosts".into());
    }
    if spec.hosts.len() > MAX_HOSTS {
        errs.push(format!("{} hosts, more than {MAX_HOSTS}", spec.hosts.len()));
    }
    for h in &spec.hosts {
        if h == "*" {
            errs.push("host `*` is not allowed".into());
        } else if h.contains('_') || h.contains(':') || !is_fqdn(h) {
            errs.push(format!("host {h:?} is not a valid DNS name (DNS-1123 labels of at most 63 characters, no `_` or `:`)"));
        }
    }
    if spec.addresses.len() > MAX_ADDRESSES {
        errs.push(format!(
            "{} addresses, more than {MAX_ADDRESSES}",
            spec.addresses.len()
        ));
    }
    if spec.hosts.len() > 1
        && spec.resolution != Resolution::None
        && spec.ports.iter().any(|p| !is_http_or_tls(&p.protocol))
    {
        errs.push("multiple hosts provided with non-HTTP, non-TLS ports".into());
    }
    if spec.ports.len() > MAX_PORTS {
        errs.push(format!("{} ports, more than {MAX_PORTS}", spec.ports.len()));
    }
    let (mut names, mut numbers) = (BTreeSet::new(), BTreeSet::new());
    for p in &spec.ports {
        if !(1..=65535).contains(&p.number) {
            errs.push(format!("port number {} is outside 1-65535", p.number));
        }
        if let Some(t) = p.target_port.filter(|t| !(1..=65535).contains(t)) {
            errs.push(format!(
                "target port {t} of port {} is outside 1-65535",
                p.name
            ));
        }
        if !is_dns1123_label(&p.name) {
            errs.push(format!("port name {:?} is not a DNS-1123 label", p.name));
        }
        if !is_istio_protocol(&p.protocol) {
            errs.push(format!(
                "port {} has unsupported protocol {:?}",
                p.name, p.protocol
            ));
        }
        if !names.insert(p.name.as_str()) {
            errs.push(format!("port name {:?} is used twice", p.name));
        }
        if !numbers.insert(p.number) {
            errs.push(format!("port number {} is used twice", p.number));
        }
    }
    if spec.endpoints.len() > MAX_ENDPOINTS {
        errs.push(format!(
            "{} endpoints, more than {MAX_ENDPOINTS}",
            spec.endpoints.len()
        ));
    }
    match spec.resolution {
        Resolution::None if !spec.endpoints.is_empty() => {
            errs.push("resolution NONE cannot have endpoints".into())
        }
        Resolution::DnsRoundRobin if spec.endpoints.len() > 1 => {
            errs.push("resolution DNS_ROUND_ROBIN allows at most one endpoint".into());
        }
        _ => {}
    }
    for ep in &spec.endpoints {
        let a = &ep.address;
        let is_ip = a.parse::<IpAddr>().is_ok();
        match spec.resolution {
            Resolution::Static if !is_ip && !a.starts_with("unix://") => {
                errs.push(format!(
                    "endpoint address {a:?} is not an IP address, which resolution STATIC requires"
                ));
            }
            // All-numeric names are not DNS names; they are mistyped IPs.
            Resolution::Dns | Resolution::DnsRoundRobin
                if !is_ip
                    && (!is_fqdn(a) || a.bytes().all(|b| b.is_ascii_digit() || b == b'.')) =>
            {
                errs.push(format!(
                    "endpoint address {a:?} is neither an IP address nor a DNS name"
                ));
            }
            _ => {}
        }
        for (name, port) in &ep.ports {
            if name.len() >= MAX_LABEL_FOR_ENDPOINT_PORT {
                errs.push(format!(
                    "endpoint {a} port name {name:?} is longer than 62 characters"
                ));
            }
            if !names.contains(&**name) {
                errs.push(format!(
                    "endpoint {a} names port {name:?}, which the entry does not declare"
                ));
            }
            if !(1..=65535).contains(port) {
                errs.push(format!(
                    "endpoint {a} port {name} = {port} is outside 1-65535"
                ));
            }
        }
        if ep.labels.len() > MAX_ENDPOINT_LABELS {
            errs.push(format!(
                "endpoint {a} has {} labels, more than {MAX_ENDPOINT_LABELS}",
                ep.labels.len()
            ));
        }
        for (k, v) in &ep.labels {
            if !is_label_key(k) || !is_label_value(v) {
                errs.push(format!(
                    "endpoint {a} label {k:?}={v:?} is not a valid Kubernetes label"
                ));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for e in &spec.export_to {
        if !(e == "*" || e == "." || e == "~" || is_dns1123_label(&e.to_ascii_lowercase())) {
            errs.push(format!(
                "exportTo {e:?} is not `*`, `.`, `~` or a namespace"
            ));
        }
        let resolved = if e == "." {
            entry.namespace.as_str()
        } else {
            e.as_str()
        };
        if !seen.insert(resolved) {
            errs.push(format!("exportTo {e:?} is listed twice"));
        }
    }
    if seen.len() > 1 && (seen.contains("*") || seen.contains("~")) {
        errs.push("exportTo `*` or `~` cannot be combined with other values".into());
    }
    for a in FORBIDDEN_ANNOTATIONS
        .iter()
        .filter(|a| entry.annotations.contains_key(**a))
    {
        errs.push(format!("annotation {a} makes istiod reject the resource"));
    }
    for (k, v) in &entry.labels {
        if !is_label_key(k) || !is_label_value(v) {
            errs.push(format!(
                "resource label {k:?}={v:?} is not a valid Kubernetes label"
            ));
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}
