//! `regsync bridge eureka`: polls a Eureka server the way the Eureka client does and publishes
//! the complete instance list of every application that changed.
//!
//! It fetches `GET {url}/apps` at start, then `GET {url}/apps/delta` every `--interval` (30 s,
//! the client's `registryFetchIntervalSeconds`), applies each delta to its copy of the registry
//! (ADDED and MODIFIED replace the instance by id, DELETED removes it, an application without
//! instances is removed) and reconciles as `DiscoveryClient` does: the copy's hash
//! (`STATUS_count_` per instance status, sorted by status name, e.g. `DOWN_1_UP_5_`) must equal
//! the delta's `apps__hashcode`, otherwise the delta missed something and it fetches the full
//! registry again. Only then does it publish, one `io.regsync.eureka.application.v1` event per
//! application whose instances changed (an application that disappeared gets its empty list).
//!
//! Several `--url`s are tried in order; the first that answers is used until it fails (like
//! the client's `eureka.client.serviceUrl.defaultZone` list). JSON is requested (XML with
//! `xml`); a server that answers the other one is read too.
//!
//! `sourceversion` of an event is the time of the fetch in ms, raised to at least the newest
//! `lastUpdatedTimestamp` the bridge has seen and above the previous event's version, so a
//! bridge whose clock is behind the server's cannot publish a state that looks older than the
//! one before it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use regsync_model::EventType;
use regsync_model::eureka::{ActionType, EurekaDocument, EurekaInstance, InstanceStatus};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::event::{Draft, Outgoing, now_ms};
use crate::metrics::Metrics;
use crate::sink::{Change, Sink, http_client, publish};
use crate::state::{StateFile, fingerprint};

/// What to poll and how.
#[derive(Debug, Clone)]
pub struct EurekaConfig {
    /// Eureka service URLs (`http://eureka:8761/eureka`), tried in order.
    pub urls: Vec<String>,
    /// Time between two delta fetches.
    pub interval: Duration,
    /// `user:password` for every URL; credentials in a URL itself are used for that URL.
    pub basic_auth: Option<String>,
    /// Registry instance name (the events' `registry`).
    pub registry: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Ask for XML (`Accept: application/xml`) instead of JSON.
    pub xml: bool,
    /// A delta is trusted only this soon after the previous successful poll; later, the full
    /// registry is fetched. The server keeps changes in its delta queue for 3 min
    /// (`retention-time-in-m-s-in-delta-queue`) and may serve them up to 30 s late (its
    /// read-only response cache), and `apps__hashcode` only counts instances per status: a
    /// cancel and a registration missed together go unnoticed by the hash.
    pub max_delta_gap: Duration,
    /// Most events handed to the sink at once.
    pub batch_size: usize,
    /// Where to keep what was published across restarts (see [`crate::state`]).
    pub state: Option<std::path::PathBuf>,
}

impl EurekaConfig {
    /// Defaults: 30 s interval, 10 s requests, registry `eureka`.
    pub fn new(urls: Vec<String>) -> Self {
        EurekaConfig {
            urls,
            interval: Duration::from_secs(30),
            basic_auth: None,
            registry: "eureka".to_owned(),
            timeout: Duration::from_secs(10),
            xml: false,
            max_delta_gap: Duration::from_secs(150),
            batch_size: 500,
            state: None,
        }
    }
}

/// What the bridge reports about itself.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Full fetches done.
    pub full_fetches: u64,
    /// Delta fetches applied.
    pub deltas: u64,
    /// Polls that failed on every URL.
    pub failed_polls: u64,
    /// Index in `urls` of the server in use.
    pub url_in_use: usize,
    /// Events delivered so far.
    pub delivered: u64,
    /// How long the last successful poll took: fetch, apply, reconcile and delivery.
    pub last_poll: Duration,
}

/// One instance as the bridge keeps it: normalized for comparison, raw for publishing.
#[derive(Debug, Clone)]
struct Instance {
    normalized: EurekaInstance,
    raw: Value,
}

/// Application name (upper case) → instance id → instance.
type Registry = BTreeMap<String, BTreeMap<String, Instance>>;

/// A fetched `applications` document.
struct Fetched {
    hashcode: Option<String>,
    instances: Vec<Instance>,
}

struct Endpoint {
    base: String,
    auth: Option<(String, String)>,
}

/// The Eureka bridge.
pub struct EurekaBridge {
    config: EurekaConfig,
    endpoints: Vec<Endpoint>,
    client: reqwest::Client,
    in_use: usize,
    registry: Registry,
    /// Fingerprint of the instances last published per application.
    published: HashMap<String, String>,
    state: Option<StateFile>,
    newest_seen: u64,
    last_version: u64,
    sink: Sink,
    metrics: Arc<Metrics>,
    status: watch::Sender<Status>,
}

impl EurekaBridge {
    /// A bridge publishing to `sink`. Fails on a URL that does not parse.
    pub fn new(config: EurekaConfig, sink: Sink, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        if config.urls.is_empty() {
            bail!("--url: give at least one Eureka service URL, e.g. http://eureka:8761/eureka");
        }
        let shared_auth = match &config.basic_auth {
            Some(text) => Some(split_credentials(text).context("--basic-auth")?),
            None => None,
        };
        let mut endpoints = Vec::with_capacity(config.urls.len());
        for url in &config.urls {
            let mut parsed = reqwest::Url::parse(url).with_context(|| {
                format!("--url {url:?}: not a URL; expected e.g. http://eureka:8761/eureka")
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("--url {url:?}: expected an http:// or https:// Eureka service URL");
            }
            let auth = if parsed.username().is_empty() {
                shared_auth.clone()
            } else {
                let user = percent_decode(parsed.username());
                let password = parsed.password().map(percent_decode).unwrap_or_default();
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
                Some((user, password))
            };
            endpoints.push(Endpoint {
                base: parsed.as_str().trim_end_matches('/').to_owned(),
                auth,
            });
        }
        let client = http_client(config.timeout)?;
        let state = config
            .state
            .as_deref()
            .map(|path| StateFile::new(path, &state_source(&endpoints)));
        Ok(EurekaBridge {
            config,
            endpoints,
            client,
            in_use: 0,
            registry: Registry::new(),
            published: HashMap::new(),
            state,
            newest_seen: 0,
            last_version: 0,
            sink,
            metrics,
            status: watch::Sender::new(Status::default()),
        })
    }

    /// Follows the bridge's status.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Polls until `shutdown` completes. Fails only when an event can neither be delivered
    /// nor dead-lettered; Eureka outages are waited out (nothing is published meanwhile).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        if let Some(state) = &self.state {
            self.published = state.load()?;
        }
        // When the last poll succeeded; None until the first full fetch has.
        let mut last_ok: Option<tokio::time::Instant> = None;
        loop {
            let started = tokio::time::Instant::now();
            let polled = match last_ok {
                None => self.full("start").await,
                Some(at) if at.elapsed() > self.config.max_delta_gap => {
                    warn!(since_last_poll = ?at.elapsed(), max_delta_gap = ?self.config.max_delta_gap,
                        "the last poll is older than --max-delta-gap: the server's delta may have \
                         dropped changes since; fetching the full registry (reason delta_gap)");
                    self.full("delta_gap").await
                }
                Some(_) => self.poll_delta().await,
            };
            match polled {
                Ok(()) => {
                    last_ok = Some(tokio::time::Instant::now());
                    self.status.send_modify(|s| s.last_poll = started.elapsed());
                }
                Err(e) if e.is::<Unreachable>() => {
                    self.metrics.set_connected(false);
                    self.status.send_modify(|s| s.failed_polls += 1);
                    warn!(error = %format!("{e:#}"), retry_in = ?self.config.interval,
                        "no Eureka server answered; publishing nothing until one does");
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.interval) => {}
                () = &mut shutdown => return Ok(()),
            }
        }
    }

    /// `GET /apps`: replaces the copy and publishes what differs.
    async fn full(&mut self, reason: &'static str) -> anyhow::Result<()> {
        let fetched = self.fetch("apps/").await?;
        self.metrics.full_fetch(reason);
        let mut registry = Registry::new();
        for instance in fetched.instances {
            self.newest_seen = self
                .newest_seen
                .max(instance.normalized.last_updated_timestamp);
            registry
                .entry(instance.normalized.app.to_ascii_uppercase())
                .or_default()
                .insert(instance.normalized.instance_id.clone(), instance);
        }
        self.registry = registry;
        self.status.send_modify(|s| s.full_fetches += 1);
        info!(
            reason,
            apps = self.registry.len(),
            instances = self.registry.values().map(BTreeMap::len).sum::<usize>(),
            "fetched the full Eureka registry"
        );
        self.publish_changes(None).await
    }

    /// `GET /apps/delta`: applies it, reconciles with `apps__hashcode`, publishes.
    async fn poll_delta(&mut self) -> anyhow::Result<()> {
        let was_in_use = self.in_use;
        let delta = self.fetch("apps/delta").await?;
        if self.in_use != was_in_use {
            // Another server's delta queue: what it holds is relative to its own past.
            return self.full("failover").await;
        }
        let Some(expected) = delta.hashcode.clone() else {
            warn!("the delta has no apps__hashcode; fetching the full registry");
            return self.full("no_hashcode").await;
        };
        let mut touched = std::collections::BTreeSet::new();
        for instance in delta.instances {
            self.newest_seen = self
                .newest_seen
                .max(instance.normalized.last_updated_timestamp);
            let app = instance.normalized.app.to_ascii_uppercase();
            touched.insert(app.clone());
            let id = instance.normalized.instance_id.clone();
            match instance.normalized.action_type {
                Some(ActionType::Deleted) => {
                    if let Some(instances) = self.registry.get_mut(&app) {
                        instances.remove(&id);
                        if instances.is_empty() {
                            self.registry.remove(&app);
                        }
                    }
                }
                // ADDED, MODIFIED (and a delta entry without an action, read as MODIFIED).
                _ => {
                    self.registry.entry(app).or_default().insert(id, instance);
                }
            }
        }
        self.status.send_modify(|s| s.deltas += 1);
        let actual = reconcile_hashcode(&self.registry);
        if actual != expected {
            info!(%expected, %actual,
                "apps__hashcode differs after the delta (it missed changes); fetching the full registry");
            return self.full("hashcode_mismatch").await;
        }
        self.publish_changes(Some(&touched)).await
    }

    /// Publishes every application whose instances differ from what was last published: of
    /// the applications `touched` (a delta's), or of all (a full fetch). Comparing only what a
    /// delta touched keeps a poll's cost to the size of the delta, not of the registry.
    async fn publish_changes(
        &mut self,
        touched: Option<&std::collections::BTreeSet<String>>,
    ) -> anyhow::Result<()> {
        let mut changes: Vec<Change<String>> = Vec::new();
        let version = now_ms().max(self.newest_seen).max(self.last_version + 1);
        let candidates: Box<dyn Iterator<Item = (&String, &BTreeMap<String, Instance>)>> =
            match touched {
                Some(apps) => Box::new(
                    apps.iter()
                        .filter_map(|app| self.registry.get_key_value(app)),
                ),
                None => Box::new(self.registry.iter()),
            };
        for (app, instances) in candidates {
            let content = content_of(instances);
            if self.published.get(app) != Some(&content) {
                let raw: Vec<&Value> = instances.values().map(|i| &i.raw).collect();
                let name = instances
                    .values()
                    .next()
                    .map_or(app.as_str(), |i| i.normalized.app.as_str());
                let data = json!({"application": {"name": name, "instance": raw}});
                changes.push((
                    app.clone(),
                    Some(content),
                    self.outgoing(name, version, &data),
                ));
            }
        }
        let gone: Box<dyn Iterator<Item = &String>> = match touched {
            Some(apps) => Box::new(apps.iter().filter(|a| self.published.contains_key(*a))),
            None => Box::new(self.published.keys()),
        };
        for app in gone {
            if !self.registry.contains_key(app) {
                let data = json!({"application": {"name": app, "instance": []}});
                changes.push((app.clone(), None, self.outgoing(app, version, &data)));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        self.last_version = version;
        let status = &self.status;
        publish(
            &mut self.sink,
            &changes,
            self.config.batch_size,
            &mut self.published,
            |n| {
                status.send_modify(|s| s.delivered += n);
            },
        )
        .await?;
        if let Some(state) = &self.state {
            state.save_or_warn(&self.published).await;
        }
        Ok(())
    }

    fn outgoing(&self, app: &str, version: u64, data: &Value) -> Outgoing {
        Outgoing::new(
            Draft {
                source: &self.endpoints[self.in_use].base,
                registry: &self.config.registry,
                event_type: EventType::EurekaApplication,
                subject: app,
                version,
                id_suffix: None,
                data,
            }
            .build(),
        )
    }

    /// GETs `path` below the service URL, failing over across URLs from the one in use.
    async fn fetch(&mut self, path: &str) -> anyhow::Result<Fetched> {
        let mut errors = Vec::new();
        for step in 0..self.endpoints.len() {
            let index = (self.in_use + step) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            let url = format!("{}/{path}", endpoint.base);
            match self.get(endpoint, &url).await {
                Ok(body) => {
                    if index != self.in_use {
                        warn!(from = %self.endpoints[self.in_use].base, to = %endpoint.base,
                            "failed over to another Eureka server");
                        self.in_use = index;
                        self.status.send_modify(|s| s.url_in_use = index);
                    }
                    self.metrics.set_connected(true);
                    return parse_applications(&body).with_context(|| {
                        format!("GET {url} answered a payload regsync cannot read")
                    });
                }
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        Err(anyhow::Error::new(Unreachable(errors.join("; "))))
    }

    async fn get(&self, endpoint: &Endpoint, url: &str) -> Result<Vec<u8>, String> {
        let accept = if self.config.xml {
            "application/xml"
        } else {
            "application/json"
        };
        let mut request = self.client.get(url).header("accept", accept);
        if let Some((user, password)) = &endpoint.auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 => " (check --basic-auth)",
                404 => " (is this the service URL, e.g. http://eureka:8761/eureka?)",
                _ => "",
            };
            return Err(format!("answered {status}{hint}"));
        }
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }
}

/// No Eureka URL answered: waited out, never fatal.
#[derive(Debug, thiserror::Error)]
#[error("no Eureka server answered: {0}")]
struct Unreachable(String);

/// Eureka's reconcile hash of a registry: `STATUS_count_` per status, sorted by status name.
pub fn reconcile_hashcode_of(statuses: impl IntoIterator<Item = InstanceStatus>) -> String {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for status in statuses {
        *counts.entry(status_name(status)).or_default() += 1;
    }
    counts
        .iter()
        .map(|(status, n)| format!("{status}_{n}_"))
        .collect()
}

fn reconcile_hashcode(registry: &Registry) -> String {
    reconcile_hashcode_of(
        registry
            .values()
            .flat_map(BTreeMap::values)
            .map(|i| i.normalized.status),
    )
}

fn status_name(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::Up => "UP",
        InstanceStatus::Down => "DOWN",
        InstanceStatus::Starting => "STARTING",
        InstanceStatus::OutOfService => "OUT_OF_SERVICE",
        InstanceStatus::Unknown => "UNKNOWN",
    }
}

/// What is compared between two reads of one application: the normalized instances without
/// their delta action and without lease renewals (which change on every heartbeat).
fn content_of(instances: &BTreeMap<String, Instance>) -> String {
    let normalized: Vec<EurekaInstance> = instances
        .values()
        .map(|i| EurekaInstance {
            action_type: None,
            ..i.normalized.clone()
        })
        .collect();
    fingerprint(
        &serde_json::to_string(&normalized).unwrap_or_default(),
        false,
    )
}

/// What a Eureka state file belongs to: every service URL, in order.
fn state_source(endpoints: &[Endpoint]) -> String {
    endpoints
        .iter()
        .map(|e| e.base.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads an `applications` document (full or delta), JSON or XML, into its instances: each
/// normalized by `regsync-eureka` and, for JSON, kept as the server wrote it.
fn parse_applications(body: &[u8]) -> anyhow::Result<Fetched> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'<') {
        let value: Value = serde_json::from_slice(body)?;
        if let Value::Object(mut root) = value
            && let Some(Value::Object(applications)) = root.remove("applications")
        {
            return json_applications(applications);
        }
    }
    // XML, or JSON in a shape other than the server's own: the full normalizer.
    let document = regsync_eureka::parse(body)?;
    let EurekaDocument::Applications {
        apps_hashcode,
        applications,
        ..
    } = document
    else {
        bail!("expected an {{\"applications\": ...}} document");
    };
    let instances = applications
        .into_iter()
        .flat_map(|a| a.instances)
        .map(|normalized| Instance {
            raw: eureka_json(&normalized),
            normalized,
        })
        .collect();
    Ok(Fetched {
        hashcode: apps_hashcode,
        instances,
    })
}

/// The server's JSON `applications` object, read once: each instance is normalized from the
/// parsed value and kept as the server wrote it, without copying it (a delta at scale is
/// megabytes of instances).
fn json_applications(mut applications: serde_json::Map<String, Value>) -> anyhow::Result<Fetched> {
    let hashcode = match applications.get("apps__hashcode") {
        Some(Value::String(h)) => Some(h.clone()),
        _ => None,
    };
    let mut instances = Vec::new();
    for mut app in owned_list(applications.remove("application")) {
        for raw in owned_list(app.get_mut("instance").map(Value::take)) {
            let wrapped = json!({ "instance": raw });
            let EurekaDocument::Instance(normalized) = regsync_eureka::parse_json_value(&wrapped)?
            else {
                bail!("an instance did not read as an instance");
            };
            let Value::Object(mut wrapped) = wrapped else {
                unreachable!("built as an object above");
            };
            instances.push(Instance {
                normalized,
                raw: wrapped.remove("instance").unwrap_or_default(),
            });
        }
    }
    Ok(Fetched {
        hashcode,
        instances,
    })
}

/// One value or an array of them, owned (Jackson writes a single element without the array).
fn owned_list(value: Option<Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(one) => vec![one],
    }
}

/// An instance read from XML, written as the Jackson codec writes it.
fn eureka_json(i: &EurekaInstance) -> Value {
    let port = |p: Option<u16>| json!({"$": p.unwrap_or(0), "@enabled": p.is_some().to_string()});
    let mut metadata = serde_json::Map::new();
    for (key, value) in &i.metadata {
        metadata.insert(key.clone(), Value::String(value.clone()));
    }
    let data_center = match &i.availability_zone {
        Some(zone) => json!({
            "@class": "com.netflix.appinfo.AmazonInfo",
            "name": "Amazon",
            "metadata": {"availability-zone": zone},
        }),
        None => json!({
            "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
            "name": "MyOwn",
        }),
    };
    let mut raw = json!({
        "instanceId": i.instance_id,
        "app": i.app,
        "hostName": i.host_name,
        "ipAddr": i.ip_addr,
        "status": status_name(i.status),
        "overriddenStatus": status_name(i.overridden_status),
        "port": port(i.port),
        "securePort": port(i.secure_port),
        "dataCenterInfo": data_center,
        "leaseInfo": {"registrationTimestamp": i.registration_timestamp},
        "metadata": metadata,
        "lastUpdatedTimestamp": i.last_updated_timestamp,
        "lastDirtyTimestamp": i.last_dirty_timestamp,
    });
    if let Some(action) = i.action_type {
        raw["actionType"] = json!(match action {
            ActionType::Added => "ADDED",
            ActionType::Modified => "MODIFIED",
            ActionType::Deleted => "DELETED",
        });
    }
    raw
}

fn split_credentials(text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok((user.to_owned(), password.to_owned())),
        _ => bail!("expected USER:PASSWORD"),
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_reconcile_hash_is_eurekas() {
        use InstanceStatus::*;
        assert_eq!(
            reconcile_hashcode_of([Up, Up, Down, OutOfService, Up]),
            "DOWN_1_OUT_OF_SERVICE_1_UP_3_"
        );
        assert_eq!(reconcile_hashcode_of([]), "");
    }

    #[test]
    fn xml_reads_into_the_same_instances_as_json_would() {
        let xml =
            include_bytes!("../../../events/recordings/eureka/karyon-xml/002-apps-two-apps.xml");
        let fetched = parse_applications(xml).unwrap();
        assert!(fetched.instances.len() >= 2);
        for instance in &fetched.instances {
            let EurekaDocument::Instance(again) =
                regsync_eureka::parse_json_value(&json!({"instance": instance.raw})).unwrap()
            else {
                panic!("not an instance")
            };
            assert_eq!(again, instance.normalized);
        }
    }
}
