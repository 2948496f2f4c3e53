//! Rendering the folded state into ServiceEntries: one candidate per (registry, host), merged
//! across registries by policy, validated with istiod's rules, then sealed with a content version.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use regsync_dubbo::{AppInstance, DubboUrl};
use regsync_model::canonical::hash_of;
use regsync_model::snapshot::Rejection;
use regsync_model::state::{DubboRegistry, EurekaRegistry};
use regsync_model::{
    Entry, Location, RegistryState, Resolution, ServiceEntrySpec, ServicePort, SharedStr,
    WorkloadEntry,
};

use crate::config::{ConvertConfig, DuplicateHostPolicy};
use crate::intern::Interner;
use crate::naming::{dubbo_host, eureka_host};
use crate::time::{creation_time, unusable_time};
use crate::validate::{is_istio_protocol, validate_entry};

/// Label on every endpoint naming the registry it came from.
pub const REGISTRY_LABEL: &str = "registry";
/// Resource label naming the registry technology.
pub const SOURCE_LABEL: &str = "regsync.io/source";
/// Resource annotation listing the registries whose endpoints an entry holds.
pub const REGISTRIES_ANNOTATION: &str = "regsync.io/registries";
/// Resource label every regsync entry carries.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "regsync");

/// Votes for the protocol and name of one port number of one role.
#[derive(Debug, Clone)]
struct PortVote {
    role: SharedStr,
    number: u32,
    protocol: String,
    name: String,
    count: usize,
}

/// What one endpoint serves: at most two (role, number) pairs (Eureka `port` and `securePort`;
/// one Dubbo protocol), kept inline because there is one per endpoint. A role is what a port is
/// for, whatever its number on one instance: Eureka's `port` or `securePort`, a Dubbo protocol.
#[derive(Debug, Clone, Default)]
struct Served {
    n: [Option<(SharedStr, u32)>; 2],
    len: usize,
}

impl Served {
    fn one(role: SharedStr, n: u32) -> Self {
        Self {
            n: [Some((role, n)), None],
            len: 1,
        }
    }

    fn push(&mut self, role: SharedStr, n: u32) {
        if let Some(slot) = self.n.get_mut(self.len) {
            *slot = Some((role, n));
            self.len += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&SharedStr, u32)> {
        self.n.iter().flatten().map(|(r, n)| (r, *n))
    }

    fn number_of(&self, role: &str) -> Option<u32> {
        self.iter().find(|(r, _)| &***r == role).map(|(_, n)| n)
    }
}

/// An endpoint before its port names are known: the (role, number) pairs it serves.
#[derive(Debug, Clone)]
struct Pending {
    entry: WorkloadEntry,
    ports: Served,
}

/// One registry's view of one host, before merging.
#[derive(Debug, Clone)]
struct Candidate {
    registry: String,
    source: &'static str,
    host: String,
    ports: Vec<PortVote>,
    endpoints: Vec<Pending>,
    first_seen_ms: Option<u64>,
}

impl Candidate {
    fn new(registry: &str, source: &'static str, host: String) -> Self {
        Self {
            registry: registry.to_owned(),
            source,
            host,
            ports: Vec::new(),
            endpoints: Vec::new(),
            first_seen_ms: None,
        }
    }

    /// Counts a vote for `protocol` (compared without case) on `number` of `role`; the name is
    /// only built the first time a (role, number, protocol) is seen. Entries have few ports, so
    /// a scan wins.
    fn vote_port(
        &mut self,
        role: &SharedStr,
        number: u32,
        protocol: &str,
        name: impl FnOnce(&str) -> String,
    ) {
        if let Some(v) = self.ports.iter_mut().find(|v| {
            v.number == number && v.role == *role && v.protocol.eq_ignore_ascii_case(protocol)
        }) {
            v.count += 1;
            return;
        }
        let protocol = protocol.to_ascii_uppercase();
        let name = name(&protocol);
        self.ports.push(PortVote {
            role: role.clone(),
            number,
            protocol,
            name,
            count: 1,
        });
    }

    /// Lowers the first-seen time to `ts`; a time no protobuf Timestamp holds (which a state
    /// stored before issue 22 may still carry) is ignored.
    fn seen(&mut self, ts: Option<u64>) {
        if let Some(ts) = ts.and_then(creation_time) {
            self.first_seen_ms = Some(self.first_seen_ms.map_or(ts, |f| f.min(ts)));
        }
    }
}

/// Renders every entry and every rejection from `state`.
pub fn render(state: &RegistryState, config: &ConvertConfig) -> (Vec<Entry>, Vec<Rejection>) {
    render_part(state, &MappedElsewhere::new(), config)
}

/// By registry, the Dubbo 3 applications that an interface outside the rendered state maps: a
/// rendering of part of the state (one stored unit) must not turn them into Curator discovery
/// entries.
pub type MappedElsewhere = BTreeMap<String, BTreeSet<String>>;

/// [`render`] of part of the whole state, with the applications mapped by interfaces left out
/// of it.
pub fn render_part(
    state: &RegistryState,
    mapped_elsewhere: &MappedElsewhere,
    config: &ConvertConfig,
) -> (Vec<Entry>, Vec<Rejection>) {
    // Sized up front: growing these large vectors frees big blocks, which is slow with glibc.
    let apps: usize = state.eureka.values().map(|r| r.apps.len()).sum();
    let interfaces: usize = state.dubbo.values().map(|r| r.interfaces.len()).sum();
    let mut candidates = Vec::with_capacity(apps + interfaces);
    let mut rejected = Vec::new();
    let mut strings = Interner::default();
    for (registry, reg) in &state.eureka {
        eureka_candidates(
            registry,
            reg,
            config,
            &mut strings,
            &mut candidates,
            &mut rejected,
        );
    }
    for (registry, reg) in &state.dubbo {
        dubbo_candidates(
            registry,
            reg,
            config,
            &mut strings,
            &mut candidates,
            &mut rejected,
        );
        curator_candidates(
            registry,
            reg,
            mapped_elsewhere.get(registry),
            config,
            &mut strings,
            &mut candidates,
            &mut rejected,
        );
    }
    let mut by_host: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for c in candidates {
        by_host.entry(c.host.clone()).or_default().push(c);
    }
    let mut entries = Vec::with_capacity(by_host.len());
    for (host, mut group) in by_host {
        group.sort_by(|a, b| a.registry.cmp(&b.registry));
        let group = apply_policy(&host, group, config, &mut rejected);
        let (entry, reasons) = seal(&host, group, config, &mut strings);
        if !reasons.is_empty() {
            rejected.push(Rejection {
                resource: entry.resource_name(),
                reasons,
            });
        }
        match validate_entry(&entry) {
            Ok(()) => entries.push(entry),
            Err(reasons) => rejected.push(Rejection {
                resource: entry.resource_name(),
                reasons: reasons
                    .into_iter()
                    .map(|r| format!("entry not emitted: {r}"))
                    .collect(),
            }),
        }
    }
    entries.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    rejected.sort();
    (entries, rejected)
}

fn apply_policy(
    host: &str,
    group: Vec<Candidate>,
    config: &ConvertConfig,
    rejected: &mut Vec<Rejection>,
) -> Vec<Candidate> {
    let registries: BTreeSet<&str> = group.iter().map(|c| c.registry.as_str()).collect();
    let DuplicateHostPolicy::Prefer { order } = &config.duplicate_hosts else {
        return group;
    };
    if registries.len() < 2 {
        return group;
    }
    let rank = |r: &str| order.iter().position(|o| o == r).unwrap_or(order.len());
    let Some(winner) = group
        .iter()
        .map(|c| c.registry.clone())
        .min_by_key(|r| (rank(r), r.clone()))
    else {
        return group;
    };
    let (keep, shadowed): (Vec<_>, Vec<_>) = group.into_iter().partition(|c| c.registry == winner);
    for c in shadowed {
        rejected.push(Rejection {
            resource: format!("{}/{}", config.namespace_for(&c.registry), host),
            reasons: vec![format!(
                "host {host} is also provided by registry {winner}, which duplicate-hosts policy `prefer` ranks first; {} endpoints of registry {} not emitted",
                c.endpoints.len(),
                c.registry
            )],
        });
    }
    keep
}

fn seal(
    host: &str,
    group: Vec<Candidate>,
    config: &ConvertConfig,
    strings: &mut Interner,
) -> (Entry, Vec<String>) {
    let registries: BTreeSet<String> = group.iter().map(|c| c.registry.clone()).collect();
    let sources: BTreeSet<&str> = group.iter().map(|c| c.source).collect();
    let first_registry = registries.iter().next().cloned().unwrap_or_default();
    let mut votes: Vec<PortVote> = Vec::new();
    let mut pending = Vec::new();
    let mut first_seen: Option<u64> = None;
    for c in group {
        for v in c.ports {
            match votes
                .iter_mut()
                .find(|x| x.role == v.role && x.number == v.number && x.protocol == v.protocol)
            {
                Some(x) => x.count += v.count,
                None => votes.push(v),
            }
        }
        pending.extend(c.endpoints);
        if let Some(f) = c.first_seen_ms {
            first_seen = Some(first_seen.map_or(f, |x| x.min(f)));
        }
    }
    let mut reasons = Vec::new();
    let uniform = serve_the_same_roles(&pending);
    let (ports, roles) = declare_ports(votes, &mut pending, uniform, &mut reasons);
    let names: Vec<SharedStr> = ports.iter().map(|p| strings.text(&p.name)).collect();
    // istiod makes every endpoint an endpoint of every declared port, at the number its `ports`
    // maps for that port name or else at the port's own number
    // (serviceentry.convertWorkloadInstanceToServiceInstance). So every endpoint maps every
    // port: its own number for a role it serves, else the number its address serves that role
    // on (one process exporting two Dubbo protocols is two endpoints of one address).
    let by_address = if uniform {
        BTreeMap::new()
    } else {
        numbers_by_address(&pending)
    };
    let maps: Vec<BTreeMap<SharedStr, u32>> = pending
        .iter()
        .map(|p| {
            roles
                .iter()
                .zip(&names)
                .filter_map(|(role, name)| {
                    let n = p.ports.number_of(role).or_else(|| {
                        by_address
                            .get(p.entry.address.as_str())?
                            .get(&**role)
                            .copied()
                    })?;
                    Some((name.clone(), n))
                })
                .collect()
        })
        .collect();
    drop(by_address);
    let mut endpoints: Vec<WorkloadEntry> = pending
        .into_iter()
        .zip(maps)
        .map(|(Pending { mut entry, .. }, ports)| {
            entry.ports = ports;
            entry
        })
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    merge_same_endpoint(&mut endpoints);
    let resolution = if endpoints
        .iter()
        .all(|e| e.address.parse::<IpAddr>().is_ok())
    {
        Resolution::Static
    } else {
        Resolution::Dns
    };
    let spec = ServiceEntrySpec {
        hosts: vec![host.to_owned()],
        ports,
        location: Location::MeshInternal,
        resolution,
        endpoints,
        export_to: config.export_to.clone(),
        ..ServiceEntrySpec::default()
    };
    let mut labels =
        BTreeMap::from([(MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned())]);
    labels.insert(
        SOURCE_LABEL.to_owned(),
        sources.into_iter().collect::<Vec<_>>().join("-"),
    );
    let annotations = BTreeMap::from([(
        REGISTRIES_ANNOTATION.to_owned(),
        registries.into_iter().collect::<Vec<_>>().join(","),
    )]);
    let version = hash_of(&(&labels, &annotations, &spec));
    let entry = Entry {
        namespace: config.namespace_for(&first_registry),
        name: host.to_owned(),
        version,
        create_time_ms: first_seen.unwrap_or(0),
        labels,
        annotations,
        spec,
    };
    (entry, reasons)
}

/// Chooses the ports of an entry, one per role (Eureka `port`, `securePort`; a Dubbo
/// protocol), and returns them sorted by number with the role of each. A role's number is the
/// one most of its endpoints serve it on (ties: the smallest), its protocol and name the ones
/// most voted on that number. Since istiod sends every port's traffic to every endpoint, a role
/// is declared only when every address serves it; a role some addresses lack is left out, and
/// when no role is served everywhere, the one most addresses serve is kept with only those
/// addresses. `uniform` says every endpoint serves the same roles (all of them are then kept).
/// What is left out is said in `reasons`.
fn declare_ports(
    votes: Vec<PortVote>,
    pending: &mut Vec<Pending>,
    uniform: bool,
    reasons: &mut Vec<String>,
) -> (Vec<ServicePort>, Vec<SharedStr>) {
    // Per role: total votes per number, then the best number.
    let mut per_role: BTreeMap<SharedStr, BTreeMap<u32, usize>> = BTreeMap::new();
    for v in &votes {
        *per_role
            .entry(v.role.clone())
            .or_default()
            .entry(v.number)
            .or_default() += v.count;
    }
    let (keep, mut left_out_roles, total) = if uniform {
        // The usual case: every endpoint serves the same roles, all of them are kept.
        let mut roles: Vec<SharedStr> = pending
            .first()
            .map(|p| p.ports.iter().map(|(r, _)| r.clone()).collect())
            .unwrap_or_default();
        roles.sort_unstable();
        (roles, Vec::new(), 0)
    } else {
        roles_served_everywhere(pending, reasons)
    };
    let mut ports: Vec<(ServicePort, SharedStr)> = Vec::new();
    for role in &keep {
        let Some(numbers) = per_role.get(role) else {
            continue;
        };
        let Some((&number, _)) = numbers
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        else {
            continue;
        };
        let Some(best) = votes
            .iter()
            .filter(|v| v.role == *role && v.number == number)
            .min_by(|a, b| {
                (std::cmp::Reverse(a.count), &a.protocol, &a.name).cmp(&(
                    std::cmp::Reverse(b.count),
                    &b.protocol,
                    &b.name,
                ))
            })
        else {
            continue;
        };
        if let Some((taken, _)) = ports.iter().find(|(p, _)| p.number == number) {
            reasons.push(format!(
                "port {} left out: its number is also port {}'s",
                best.name, taken.name
            ));
            left_out_roles.retain(|(r, _)| r != role);
            continue;
        }
        ports.push((
            ServicePort {
                number,
                protocol: best.protocol.clone(),
                name: best.name.clone(),
                target_port: None,
            },
            role.clone(),
        ));
    }
    for (role, serving) in left_out_roles {
        reasons.push(format!(
            "{role} left out: served by {serving} of {total} addresses, and istiod would send its traffic to every endpoint"
        ));
    }
    ports.sort_by_key(|(p, _)| p.number);
    ports.into_iter().unzip()
}

/// Whether every endpoint serves the same roles (whatever their numbers).
fn serve_the_same_roles(pending: &[Pending]) -> bool {
    let Some(first) = pending.first() else {
        return true;
    };
    pending.iter().all(|p| {
        p.ports.len == first.ports.len
            && p.ports
                .iter()
                .all(|(r, _)| first.ports.number_of(r).is_some())
    })
}

/// The roles every address serves, or the one most addresses serve (dropping the endpoints of
/// the others) when none is served everywhere; the roles left out, with how many addresses serve
/// each; and how many addresses there are.
#[allow(clippy::type_complexity)]
fn roles_served_everywhere(
    pending: &mut Vec<Pending>,
    reasons: &mut Vec<String>,
) -> (Vec<SharedStr>, Vec<(SharedStr, usize)>, usize) {
    // Which roles each address serves.
    let mut served_by: BTreeMap<&SharedStr, BTreeSet<&str>> = BTreeMap::new();
    let mut addresses: BTreeSet<&str> = BTreeSet::new();
    for p in pending.iter() {
        addresses.insert(&p.entry.address);
        for (role, _) in p.ports.iter() {
            served_by.entry(role).or_default().insert(&p.entry.address);
        }
    }
    let everywhere: Vec<SharedStr> = served_by
        .iter()
        .filter(|(_, a)| a.len() == addresses.len())
        .map(|(r, _)| (*r).clone())
        .collect();
    let keep: Vec<SharedStr> = if everywhere.is_empty() {
        // No role is served everywhere: the one served by most addresses (then by name).
        served_by
            .iter()
            .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)))
            .map(|(r, _)| vec![(*r).clone()])
            .unwrap_or_default()
    } else {
        everywhere
    };
    let left_out_roles: Vec<(SharedStr, usize)> = served_by
        .iter()
        .filter(|(r, _)| !keep.contains(r))
        .map(|(r, a)| ((*r).clone(), a.len()))
        .collect();
    let total = addresses.len();
    // Endpoints whose address serves none of the kept roles cannot stay.
    if keep.len() == 1 && !left_out_roles.is_empty() {
        let role = keep[0].clone();
        let serving: BTreeSet<String> = pending
            .iter()
            .filter(|p| p.ports.number_of(&role).is_some())
            .map(|p| p.entry.address.clone())
            .collect();
        pending.retain(|p| {
            let stays = serving.contains(&p.entry.address);
            if !stays {
                reasons.push(format!(
                    "endpoint {} left out: it does not serve {role}, the role most addresses serve, and istiod would send {role} traffic to every endpoint",
                    p.entry.address
                ));
            }
            stays
        });
    }
    (keep, left_out_roles, total)
}

/// Per address, the number it serves each role on (the smallest when it serves one on several).
fn numbers_by_address(pending: &[Pending]) -> BTreeMap<&str, BTreeMap<&str, u32>> {
    let mut out: BTreeMap<&str, BTreeMap<&str, u32>> = BTreeMap::new();
    for p in pending {
        let roles = out.entry(p.entry.address.as_str()).or_default();
        for (role, n) in p.ports.iter() {
            let slot = roles.entry(&**role).or_insert(n);
            *slot = (*slot).min(n);
        }
    }
    out
}

/// Endpoints with the same address and ports are one endpoint to istiod's load balancer (a
/// process exporting two Dubbo protocols registers twice): keep one, with the labels both have
/// and the lower weight (an override that lowers one protocol's weight lowers the process's).
fn merge_same_endpoint(endpoints: &mut Vec<WorkloadEntry>) {
    endpoints.dedup_by(|later, first| {
        if later.address != first.address || later.ports != first.ports {
            return false;
        }
        first
            .labels
            .retain(|k, v| later.labels.get(k).is_some_and(|l| l == v));
        first.weight = match (first.weight, later.weight) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        true
    });
}

/// An endpoint whose port names are filled in by [`seal`].
fn endpoint(
    address: &str,
    port_numbers: Served,
    labels: BTreeMap<regsync_model::SharedStr, regsync_model::SharedStr>,
) -> Pending {
    Pending {
        entry: WorkloadEntry {
            address: address.to_owned(),
            labels,
            ..WorkloadEntry::default()
        },
        ports: port_numbers,
    }
}

/// Why `address` can never be an endpoint address, if it can't: an empty string, or something
/// that tries to be an IP address and is not one (`10.0.0.300`, `fe80::zz`).
pub fn bad_address(address: &str) -> Option<String> {
    if address.is_empty() {
        return Some("empty address".into());
    }
    if address.parse::<IpAddr>().is_ok() {
        return None;
    }
    let looks_v4 = address.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if looks_v4 || address.contains(':') {
        return Some(format!("address {address:?} is not a valid IP address"));
    }
    if !crate::naming::is_dns1123_subdomain(&address.to_ascii_lowercase()) {
        return Some(format!(
            "address {address:?} is neither an IP address nor a DNS name"
        ));
    }
    None
}

/// Why an endpoint at `address` (read from field `address_field`) and `port` can never be
/// served, if it can't.
fn endpoint_problem(address: &str, address_field: &str, port: u16) -> Option<String> {
    if port == 0 {
        return Some("field port: missing or 0".into());
    }
    bad_address(address).map(|why| format!("field {address_field}: {why}"))
}

fn eureka_candidates(
    registry: &str,
    reg: &EurekaRegistry,
    config: &ConvertConfig,
    strings: &mut Interner,
    out: &mut Vec<Candidate>,
    rejected: &mut Vec<Rejection>,
) {
    let cfg = &config.eureka;
    let mut apps = Vec::with_capacity(reg.apps.len());
    for (app, app_state) in &reg.apps {
        let mut c = Candidate::new(registry, "eureka", eureka_host(app, &cfg.host_suffix));
        let mut bad = Vec::new();
        c.seen(app_state.first_seen_ms);
        for (id, rec) in &app_state.instances {
            let Some(inst) = &rec.value else { continue };
            for (field, ms) in [
                (
                    "leaseInfo.registrationTimestamp",
                    inst.registration_timestamp,
                ),
                ("lastUpdatedTimestamp", inst.last_updated_timestamp),
            ] {
                if let Some(why) = unusable_time(field, ms) {
                    bad.push(format!(
                        "instance {id} of application {app} in registry {registry}: {why}"
                    ));
                }
            }
            if !inst.is_routable() || !reg.is_member(app, app_state, id, &rec.stamp) {
                continue;
            }
            let mut numbers = Served::default();
            if let Some(p) = inst.port {
                let plain = PlainPort {
                    keys: &cfg.protocol_metadata_keys,
                    default: &cfg.default_protocol,
                };
                let role = plain.vote(&mut c, strings, &inst.metadata, p, id, &mut bad);
                numbers.push(role, u32::from(p));
            }
            if let Some(sp) = inst.secure_port {
                let role = strings.text("securePort");
                c.vote_port(&role, u32::from(sp), "HTTPS", |_| format!("https-{sp}"));
                numbers.push(role, u32::from(sp));
            }
            if numbers.len == 0 {
                continue;
            }
            let address = if inst.ip_addr.trim().is_empty() {
                inst.host_name.trim()
            } else {
                inst.ip_addr.trim()
            };
            if let Some(why) = bad_address(address) {
                bad.push(format!("instance {id} skipped: field ipAddr: {why}"));
                continue;
            }
            let labels = metadata_labels(strings, &inst.metadata, &cfg.excluded_metadata, registry);
            let mut ep = endpoint(address, numbers, labels);
            ep.entry.locality = inst
                .availability_zone
                .as_deref()
                .and_then(|z| strings.locality(z));
            c.endpoints.push(ep);
        }
        report(registry, config, &c, bad, rejected);
        if !c.endpoints.is_empty() {
            apps.push((app.as_str(), c));
        }
    }
    one_application_per_host(registry, config, apps, out, rejected);
}

/// An endpoint's labels from instance metadata: the entries that pass label rules as they are,
/// minus `excluded`, plus `registry`.
fn metadata_labels(
    strings: &mut Interner,
    metadata: &BTreeMap<String, String>,
    excluded: &BTreeSet<String>,
    registry: &str,
) -> BTreeMap<SharedStr, SharedStr> {
    let mut labels =
        strings.passing_labels(metadata.iter().filter(|(k, _)| !excluded.contains(*k)));
    labels.insert(strings.text(REGISTRY_LABEL), strings.value(registry));
    labels
}

/// Reports the problems found with candidate `c`'s instances, if any, as its host's rejection.
fn report(
    registry: &str,
    config: &ConvertConfig,
    c: &Candidate,
    bad: Vec<String>,
    rejected: &mut Vec<Rejection>,
) {
    if !bad.is_empty() {
        rejected.push(Rejection {
            resource: format!("{}/{}", config.namespace_for(registry), c.host),
            reasons: bad,
        });
    }
}

/// The plain port of an instance (Eureka `port`, Curator `port`): its protocol is named by the
/// first of `keys` found in the metadata, `default` when none is (or when the name is not an
/// Istio protocol, which is reported), and its name is `<protocol>-<n>`.
struct PlainPort<'a> {
    keys: &'a [String],
    default: &'a str,
}

impl PlainPort<'_> {
    /// Votes for `port` of instance `who` on `c`; returns the role, `port`.
    fn vote(
        &self,
        c: &mut Candidate,
        strings: &mut Interner,
        metadata: &BTreeMap<String, String>,
        port: u16,
        who: &str,
        bad: &mut Vec<String>,
    ) -> SharedStr {
        let declared = self
            .keys
            .iter()
            .find_map(|k| metadata.get(k))
            .map(|p| p.trim())
            .filter(|p| !p.is_empty());
        let protocol = match declared {
            Some(p) if is_istio_protocol(p) => p,
            Some(p) => {
                bad.push(format!(
                    "instance {who}: metadata protocol {p:?} is not an Istio protocol; port \
                     {port} uses {}",
                    self.default
                ));
                self.default
            }
            None => self.default,
        };
        let role = strings.text("port");
        c.vote_port(&role, u32::from(port), protocol, |proto| {
            format!(
                "{}-{port}",
                crate::naming::dns_labels(&proto.replace('_', "-")).join("-")
            )
        });
        role
    }
}

/// Keeps one Eureka application of `registry` per host. Distinct applications can meet on one
/// host (`FOO_BAR` and `FOO-BAR` are both `foo-bar`); merging them would silently mix two
/// services (issue 22), so the one registered first (earliest first-seen time, then name) keeps
/// the host and every other one is reported, naming it. Only applications with endpoints take
/// part, as only they feed a host (which keeps a sharded rendering equal to a whole one).
fn one_application_per_host(
    registry: &str,
    config: &ConvertConfig,
    mut apps: Vec<(&str, Candidate)>,
    out: &mut Vec<Candidate>,
    rejected: &mut Vec<Rejection>,
) {
    let first = |c: &Candidate| c.first_seen_ms.unwrap_or(u64::MAX);
    apps.sort_by(|(a, x), (b, y)| (&x.host, first(x), a).cmp(&(&y.host, first(y), b)));
    // The application holding the host of the last candidate kept, and where it is in `out`.
    let mut holder: Option<(&str, usize)> = None;
    for (app, c) in apps {
        match holder {
            Some((keeper, at)) if out[at].host == c.host => rejected.push(Rejection {
                resource: format!("{}/{}", config.namespace_for(registry), c.host),
                reasons: vec![format!(
                    "application {app} of registry {registry} maps to host {}, which \
                     application {keeper} keeps (registered first, or first by name); its {} \
                     endpoints are not emitted: rename one of the two",
                    c.host,
                    c.endpoints.len()
                )],
            }),
            _ => {
                holder = Some((app, out.len()));
                out.push(c);
            }
        }
    }
}

/// An interface-level provider after configurators, with the fields the renderer needs.
struct Provider {
    url: DubboUrl,
    timestamp: u64,
}

fn dubbo_candidates(
    registry: &str,
    reg: &DubboRegistry,
    config: &ConvertConfig,
    strings: &mut Interner,
    out: &mut Vec<Candidate>,
    rejected: &mut Vec<Rejection>,
) {
    let cfg = &config.dubbo;
    let namespace = config.namespace_for(registry);
    for (interface, iface) in &reg.interfaces {
        let mut bad = Vec::new();
        // Every rule goes to Dubbo's own selection (`override`, `absent`, `empty` clearing all).
        let configurators: Vec<DubboUrl> = iface
            .configurators
            .iter()
            .flat_map(|v| v.value.iter())
            .filter_map(|raw| match DubboUrl::from_znode(raw) {
                Ok(u) => Some(u),
                Err(e) => {
                    bad.push(format!("configurator znode {raw:?} ignored: {e}"));
                    None
                }
            })
            .collect();
        let mut by_host: BTreeMap<String, Candidate> = BTreeMap::new();
        // Every registered (address, port), enabled or not: an application-level twin of a
        // provider that is registered at interface level is the same process.
        let mut registered: BTreeSet<(String, u16)> = BTreeSet::new();
        // (address, port, group, version) → newest provider; a restarted provider may linger
        // under its old znode name, while one process may export several groups or versions.
        let mut providers: BTreeMap<(String, u16, String, String), Provider> = BTreeMap::new();
        for raw in iface.providers.iter().flat_map(|v| v.value.iter()) {
            let url = match DubboUrl::from_znode(raw) {
                Ok(u) => u,
                Err(e) => {
                    bad.push(format!("provider znode {raw:?} skipped: {e}"));
                    continue;
                }
            };
            if !is_provider_protocol(&url.protocol) {
                continue;
            }
            registered.insert((url.host.clone(), url.port));
            let url = regsync_dubbo::apply_configurators(&url, &configurators);
            if !url.is_enabled() {
                continue;
            }
            let timestamp = url
                .params
                .get("timestamp")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let key = (
                url.host.clone(),
                url.port,
                url.group().unwrap_or_default().to_owned(),
                url.version().unwrap_or_default().to_owned(),
            );
            if providers.get(&key).is_none_or(|p| p.timestamp <= timestamp) {
                providers.insert(key, Provider { url, timestamp });
            }
        }
        for p in providers.values() {
            let url = &p.url;
            if let Some(why) = unusable_time("timestamp", p.timestamp) {
                bad.push(format!(
                    "provider {}:{} of {interface} in registry {registry}: {why}",
                    url.host, url.port
                ));
            }
            let weight = match url.weight() {
                Ok(w) => w,
                Err(e) => {
                    bad.push(format!("provider {}:{} skipped: {e}", url.host, url.port));
                    continue;
                }
            };
            if let Some(why) = endpoint_problem(&url.host, "host", url.port) {
                bad.push(format!("provider {}:{} skipped: {why}", url.host, url.port));
                continue;
            }
            // Dubbo weight 0 means "send nothing"; Istio would read 0 as "default weight".
            if weight == Some(0) {
                continue;
            }
            let host = dubbo_host(interface, url.group(), url.version(), &cfg.host_suffix);
            let c = by_host
                .entry(host.clone())
                .or_insert_with(|| Candidate::new(registry, "dubbo", host));
            c.seen(iface.first_seen_ms);
            let (protocol, name) = port_style(cfg, &url.protocol, url.port);
            let role = strings.text(&url.protocol);
            c.vote_port(&role, u32::from(url.port), &protocol, |_| name);
            let mut labels = strings.labels(
                url.params
                    .iter()
                    .filter(|(k, _)| !cfg.volatile_params.contains(*k)),
            );
            labels.insert(strings.text(REGISTRY_LABEL), strings.value(registry));
            let mut ep = endpoint(&url.host, Served::one(role, u32::from(url.port)), labels);
            ep.entry.weight = weight;
            c.endpoints.push(ep);
        }
        // Dubbo 3 application-level instances joined through the mapping; a provider that also
        // registered at interface level (Dubbo 3's default double registration) is counted once.
        for app in iface.mapping.iter().flat_map(|m| m.value.iter()) {
            let Some(app_state) = reg.applications.get(app) else {
                continue;
            };
            for (raw, inst) in instances_of(registry, app, app_state, &mut bad) {
                let host = dubbo_host(interface, None, None, &cfg.host_suffix);
                for (port, proto) in &inst.endpoints {
                    if registered.contains(&(inst.address.clone(), *port)) {
                        continue;
                    }
                    if let Some(why) = endpoint_problem(&inst.address, "address", *port) {
                        bad.push(format!("instance {app}/{} skipped: {why}", raw.name));
                        continue;
                    }
                    let c = by_host
                        .entry(host.clone())
                        .or_insert_with(|| Candidate::new(registry, "dubbo", host.clone()));
                    c.seen(app_state.first_seen_ms.or(inst.registration_time_ms));
                    let (protocol, name) = port_style(cfg, proto, *port);
                    let role = strings.text(proto);
                    c.vote_port(&role, u32::from(*port), &protocol, |_| name);
                    let labels = BTreeMap::from([
                        (strings.text("application"), strings.value(&inst.app)),
                        (strings.text(REGISTRY_LABEL), strings.value(registry)),
                    ]);
                    c.endpoints.push(endpoint(
                        &inst.address,
                        Served::one(role, u32::from(*port)),
                        labels,
                    ));
                }
            }
        }
        for c in by_host.values_mut() {
            fill_default_weights(c);
        }
        if !bad.is_empty() {
            let resource = format!(
                "{namespace}/{}",
                dubbo_host(interface, None, None, &cfg.host_suffix)
            );
            rejected.push(Rejection {
                resource,
                reasons: bad,
            });
        }
        out.extend(by_host.into_values().filter(|c| !c.endpoints.is_empty()));
    }
}

/// Curator service discovery: an application under the services root that no Dubbo interface
/// maps (a Spring Cloud Zookeeper application, or a Dubbo 3 application before its mapping is
/// written) is one entry, `lower(app).<curator host suffix>`. Ports: the Dubbo protocols of
/// `dubbo.endpoints` when the instance declares them, else `port` (protocol from the payload
/// metadata, HTTP by default) and `sslPort` (HTTPS). Instances with Curator `enabled: false` or
/// a Spring Cloud `instance_status` other than UP are left out.
fn curator_candidates(
    registry: &str,
    reg: &DubboRegistry,
    mapped_elsewhere: Option<&BTreeSet<String>>,
    config: &ConvertConfig,
    strings: &mut Interner,
    out: &mut Vec<Candidate>,
    rejected: &mut Vec<Rejection>,
) {
    if reg.applications.is_empty() {
        return;
    }
    let cfg = &config.curator;
    let mapped: BTreeSet<&str> = reg
        .interfaces
        .values()
        .flat_map(|i| i.mapping.iter().flat_map(|m| m.value.iter()))
        .chain(mapped_elsewhere.into_iter().flatten())
        .map(String::as_str)
        .collect();
    let mut apps = Vec::new();
    for (app, app_state) in &reg.applications {
        if mapped.contains(app.as_str()) {
            continue;
        }
        let mut c = Candidate::new(registry, "zookeeper", eureka_host(app, &cfg.host_suffix));
        c.seen(app_state.first_seen_ms);
        let mut bad = Vec::new();
        for (raw, inst) in instances_of(registry, app, app_state, &mut bad) {
            let status = inst.metadata.get(SPRING_STATUS_KEY).map(|s| s.trim());
            if !inst.enabled || status.is_some_and(|s| !s.eq_ignore_ascii_case("UP")) {
                continue;
            }
            if let Some(why) = bad_address(&inst.address) {
                bad.push(format!(
                    "instance {app}/{} skipped: field address: {why}",
                    raw.name
                ));
                continue;
            }
            let labels = metadata_labels(strings, &inst.metadata, &cfg.excluded_metadata, registry);
            if inst.declares_endpoints {
                for (port, proto) in &inst.endpoints {
                    if *port == 0 {
                        continue;
                    }
                    let (protocol, name) = port_style(&config.dubbo, proto, *port);
                    let role = strings.text(proto);
                    c.vote_port(&role, u32::from(*port), &protocol, |_| name);
                    c.endpoints.push(endpoint(
                        &inst.address,
                        Served::one(role, u32::from(*port)),
                        labels.clone(),
                    ));
                }
                continue;
            }
            let mut numbers = Served::default();
            if inst.port != 0 {
                let plain = PlainPort {
                    keys: &cfg.protocol_metadata_keys,
                    default: &cfg.default_protocol,
                };
                let who = format!("{app}/{}", raw.name);
                let role = plain.vote(&mut c, strings, &inst.metadata, inst.port, &who, &mut bad);
                numbers.push(role, u32::from(inst.port));
            }
            if let Some(sp) = inst.ssl_port.filter(|p| *p != 0) {
                let role = strings.text("sslPort");
                c.vote_port(&role, u32::from(sp), "HTTPS", |_| format!("https-{sp}"));
                numbers.push(role, u32::from(sp));
            }
            if numbers.len > 0 {
                c.endpoints.push(endpoint(&inst.address, numbers, labels));
            }
        }
        report(registry, config, &c, bad, rejected);
        if !c.endpoints.is_empty() {
            apps.push((app.as_str(), c));
        }
    }
    one_application_per_host(registry, config, apps, out, rejected);
}

/// The payload metadata key Spring Cloud Zookeeper keeps an instance's status in (`UP`,
/// `OUT_OF_SERVICE` through the `serviceregistry` actuator endpoint).
pub const SPRING_STATUS_KEY: &str = "instance_status";

/// The parsed instances of Dubbo 3 / Curator application `app`; each that does not parse, and
/// each `registrationTimeUTC` no timestamp holds, is reported in `bad`.
fn instances_of<'s>(
    registry: &str,
    app: &str,
    app_state: &'s regsync_model::state::DubboAppState,
    bad: &mut Vec<String>,
) -> Vec<(&'s regsync_model::state::RawInstance, AppInstance)> {
    let mut out = Vec::new();
    for raw in app_state.instances.iter().flat_map(|v| v.value.iter()) {
        let inst = match AppInstance::parse(&raw.name, &raw.data) {
            Ok(i) => i,
            Err(e) => {
                bad.push(format!("instance {app}/{} skipped: {e}", raw.name));
                continue;
            }
        };
        if let Some(why) = inst
            .registration_time_ms
            .and_then(|ms| unusable_time("registrationTimeUTC", ms))
        {
            bad.push(format!(
                "instance {app}/{} in registry {registry}: {why}",
                raw.name
            ));
        }
        out.push((raw, inst));
    }
    out
}

/// Dubbo's weight of a provider that sets none (`CommonConstants.DEFAULT_WEIGHT`).
pub const DUBBO_DEFAULT_WEIGHT: u32 = 100;

/// Gives every endpoint without a weight Dubbo's default, 100, when another endpoint of the
/// candidate has one: istio's default is 1, so a provider with `weight=50` beside one with none
/// would take 50 times the other's traffic instead of half of it. Without any weight the
/// endpoints stay unweighted (equal either way).
fn fill_default_weights(c: &mut Candidate) {
    if c.endpoints.iter().any(|p| p.entry.weight.is_some()) {
        for p in &mut c.endpoints {
            p.entry.weight.get_or_insert(DUBBO_DEFAULT_WEIGHT);
        }
    }
}

/// Whether a URL under `providers` names a provider: not a consumer, a rule or `empty://`.
fn is_provider_protocol(protocol: &str) -> bool {
    !matches!(
        protocol,
        "empty" | "consumer" | "override" | "absent" | "route" | "condition" | "tag" | "script"
    )
}

fn port_style(cfg: &crate::config::DubboConfig, protocol: &str, port: u16) -> (String, String) {
    match cfg.protocols.get(protocol) {
        Some(style) => (
            style.protocol.clone(),
            format!("{}-{port}", style.name_prefix),
        ),
        None => {
            let p: String = crate::naming::dns_labels(protocol).join("-");
            (
                "TCP".to_owned(),
                format!("tcp-{}-{port}", if p.is_empty() { "other" } else { &p }),
            )
        }
    }
}
