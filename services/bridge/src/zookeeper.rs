//! `regsync bridge zookeeper`: watches the ZooKeeper of a Dubbo registry and publishes the
//! complete current state of every interface or application that changed.
//!
//! What it watches, with two persistent recursive watches (ZooKeeper 3.6+), so interfaces and
//! applications that appear later are picked up without new watches:
//! - `<root>/<interface>/providers` and `configurators` (interface-level registration; the
//!   root is `/dubbo` unless Dubbo's registry `group` or `--root` says otherwise);
//! - `<root>/mapping/<interface>` (Dubbo 3 interface-to-application mapping);
//! - `<services root>/<application>/<ip:port>` (Dubbo 3 application-level instances, Curator
//!   service discovery, `/services` by default).
//!
//! On a change it reads the whole current state of that one thing (the child list with the
//! parent's `pzxid`, the mapping with its `mzxid`) and publishes it once the burst settles
//! (`--debounce`, 20 ms by default). It publishes only what differs from what it last
//! published, so a repeated read never produces a second event.
//!
//! **Connection loss and session expiry.** While disconnected it publishes nothing. After a
//! reconnect with the same session, and after an expired session is replaced by a new one, it
//! reads everything again and publishes the real differences only: providers that still exist
//! are never announced as gone, and changes made during the outage arrive then. (ZooKeeper
//! does not replay node events missed while disconnected, ZOOKEEPER-4698, so the full read is
//! required, not optional.) A node is announced as gone only after ZooKeeper answers that it
//! does not exist; the version of that event is the `pzxid` of its nearest existing ancestor,
//! which the deletion moved past every earlier version.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use regsync_model::EventType;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};
use zookeeper_client as zk;

use crate::event::{Draft, Outgoing};
use crate::metrics::Metrics;
use crate::sink::{Change, Sink, publish};
use crate::state::{EMPTY, StateFile, StateKey, fingerprint};

/// Dubbo 3's default root of application-level instances (Curator service discovery).
pub const DEFAULT_SERVICES_ROOT: &str = "/services";

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct ZkConfig {
    /// Connect string: `host:port[,host:port...]`, optionally with a `/chroot` suffix.
    pub connect: String,
    /// A chroot appended to the connect string (`--chroot`).
    pub chroot: Option<String>,
    /// Dubbo's registry root (`/dubbo`).
    pub root: String,
    /// Root of Dubbo 3 application-level instances (`/services`), or none to skip them.
    pub services_root: Option<String>,
    /// `scheme:credentials`, e.g. `digest:user:password`.
    pub auth: Option<String>,
    /// Session timeout to negotiate.
    pub session_timeout: Duration,
    /// How long a burst of changes settles before the changed state is read and published.
    pub debounce: Duration,
    /// Registry instance name (the events' `registry`).
    pub registry: String,
    /// Reads in flight during a full read.
    pub read_concurrency: usize,
    /// Most events handed to the sink at once.
    pub batch_size: usize,
    /// Where to keep what was published across restarts (see [`crate::state`]).
    pub state: Option<std::path::PathBuf>,
}

impl ZkConfig {
    /// Defaults for `connect`: root `/dubbo`, `/services`, 30 s sessions, 20 ms debounce.
    pub fn new(connect: &str) -> Self {
        ZkConfig {
            connect: connect.to_owned(),
            chroot: None,
            root: "/dubbo".to_owned(),
            services_root: Some(DEFAULT_SERVICES_ROOT.to_owned()),
            auth: None,
            session_timeout: Duration::from_secs(30),
            debounce: Duration::from_millis(20),
            registry: "dubbo".to_owned(),
            read_concurrency: 64,
            batch_size: 500,
            state: None,
        }
    }

    /// `connect` with the chroot appended.
    fn cluster(&self) -> String {
        match &self.chroot {
            Some(chroot) => format!("{}{}", self.connect, normalize(chroot)),
            None => self.connect.clone(),
        }
    }

    /// The events' `source`: `zookeeper://<connect><chroot><root>`.
    pub fn source(&self) -> String {
        format!("zookeeper://{}{}", self.cluster(), normalize(&self.root))
    }
}

/// `/dubbo`, `dubbo`, `/dubbo/` → `/dubbo`; `/` and `` → `` (the ZooKeeper root).
fn normalize(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// One thing whose whole state is published at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// `<root>/<interface>/providers`.
    Providers(String),
    /// `<root>/<interface>/configurators`.
    Configurators(String),
    /// `<services root>/<application>`.
    Instances(String),
    /// `<root>/mapping/<interface>`.
    Mapping(String),
}

impl StateKey for Key {
    /// `providers/<interface>`, `configurators/<interface>`, `instances/<app>`, `mapping/<interface>`.
    fn state_key(&self) -> String {
        match self {
            Key::Providers(n) => format!("providers/{n}"),
            Key::Configurators(n) => format!("configurators/{n}"),
            Key::Instances(n) => format!("instances/{n}"),
            Key::Mapping(n) => format!("mapping/{n}"),
        }
    }
}

impl Key {
    /// The inverse of [`StateKey::state_key`].
    pub fn from_state_key(text: &str) -> Option<Key> {
        let (kind, name) = text.split_once('/')?;
        let name = name.to_owned();
        Some(match kind {
            "providers" => Key::Providers(name),
            "configurators" => Key::Configurators(name),
            "instances" => Key::Instances(name),
            "mapping" => Key::Mapping(name),
            _ => return None,
        })
    }
}

/// What the bridge reports about itself.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The current session (id and password), while there is one.
    pub session: Option<zk::SessionInfo>,
    /// Whether ZooKeeper answers.
    pub connected: bool,
    /// Full reads done (start, reconnect, new session).
    pub resyncs: u64,
    /// Events delivered so far.
    pub delivered: u64,
}

/// What a read found.
struct Found {
    key: Key,
    path: String,
    /// `None`: ZooKeeper says the node does not exist.
    state: Option<State>,
}

struct State {
    version: u64,
    id_suffix: Option<u64>,
    data: Value,
    /// What is compared with the last published state: a fingerprint of the data without
    /// versions ([`crate::state::fingerprint`]).
    content: String,
}

enum End {
    Shutdown,
    SessionEnded(&'static str),
}

/// The ZooKeeper bridge.
pub struct ZkBridge {
    config: ZkConfig,
    root: String,
    services_root: Option<String>,
    source: String,
    sink: Sink,
    metrics: Arc<Metrics>,
    /// Fingerprint of the content last published per key.
    published: HashMap<Key, String>,
    state: Option<StateFile>,
    status: watch::Sender<Status>,
}

impl ZkBridge {
    /// A bridge publishing to `sink`.
    pub fn new(config: ZkConfig, sink: Sink, metrics: Arc<Metrics>) -> Self {
        ZkBridge {
            root: normalize(&config.root),
            services_root: config.services_root.as_deref().map(normalize),
            source: config.source(),
            state: config
                .state
                .as_deref()
                .map(|path| StateFile::new(path, &config.source())),
            config,
            sink,
            metrics,
            published: HashMap::new(),
            status: watch::Sender::new(Status::default()),
        }
    }

    /// Follows the bridge's status.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Runs until `shutdown` completes. Fails only when an event can neither be delivered nor
    /// dead-lettered; ZooKeeper outages are waited out.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        if let Some(state) = &self.state {
            self.published = state
                .load()?
                .into_iter()
                .filter_map(|(k, v)| Some((Key::from_state_key(&k)?, v)))
                .collect();
        }
        let mut reason = "start";
        let mut backoff = Duration::from_millis(100);
        loop {
            let connected = tokio::select! {
                c = self.connect() => c,
                () = &mut shutdown => return Ok(()),
            };
            let client = match connected {
                Ok(client) => client,
                Err(e) => {
                    warn!(connect = %self.config.cluster(), error = %e, retry_in = ?backoff,
                        "cannot open a ZooKeeper session; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            info!(session = %client.session_id(), timeout = ?client.session_timeout(),
                root = %self.root, "ZooKeeper session open");
            self.status.send_modify(|s| {
                s.session = Some(client.session().clone());
                s.connected = true;
            });
            self.metrics.set_connected(true);
            match self.session(&client, reason, &mut shutdown).await {
                Ok(End::Shutdown) => return Ok(()),
                Ok(End::SessionEnded(why)) => {
                    warn!(session = %client.session_id(), why,
                        "ZooKeeper session ended; opening a new one, then reading everything again");
                    reason = "session_expired";
                }
                Err(e)
                    if matches!(
                        e.downcast_ref::<zk::Error>(),
                        Some(zk::Error::NoAuth | zk::Error::AuthFailed)
                    ) =>
                {
                    return Err(e.context(format!(
                        "ZooKeeper refuses to let this session read {}: give the credentials \
                         its ACLs name with --auth digest:USER:PASSWORD",
                        or_slash(&self.root)
                    )));
                }
                Err(e) if e.is::<zk::Error>() => {
                    warn!(session = %client.session_id(), error = %e,
                        "ZooKeeper failed; opening a new session, then reading everything again");
                    reason = "session_expired";
                }
                Err(e) => return Err(e),
            }
            self.status.send_modify(|s| {
                s.session = None;
                s.connected = false;
            });
            self.metrics.set_connected(false);
        }
    }

    async fn connect(&self) -> Result<zk::Client, zk::Error> {
        let mut connector =
            zk::Client::connector().with_session_timeout(self.config.session_timeout);
        if let Some(auth) = &self.config.auth
            && let Some((scheme, credentials)) = auth.split_once(':')
        {
            connector = connector.with_auth(scheme, credentials.as_bytes());
        }
        connector.connect(&self.config.cluster()).await
    }

    /// One session: watch, read everything, then follow changes until the session ends.
    async fn session(
        &mut self,
        client: &zk::Client,
        reason: &'static str,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> anyhow::Result<End> {
        // Watches first, then the full read: nothing changed in between goes unseen.
        let root_path = if self.root.is_empty() {
            "/"
        } else {
            &self.root
        };
        let mut root_watch = client
            .watch(root_path, zk::AddWatchMode::PersistentRecursive)
            .await?;
        let mut services_watch = match &self.services_root {
            Some(path) if !self.root.is_empty() => Some(
                client
                    .watch(path, zk::AddWatchMode::PersistentRecursive)
                    .await?,
            ),
            _ => None,
        };
        self.resync(client, reason).await?;
        let mut dirty: BTreeSet<Key> = BTreeSet::new();
        let mut deadline: Option<Instant> = None;
        let mut paused = false;
        loop {
            let flush_at = deadline.filter(|_| !paused);
            let event = tokio::select! {
                biased;
                () = shutdown.as_mut() => return Ok(End::Shutdown),
                () = sleep_until(flush_at) => {
                    deadline = None;
                    if let Err(keys) = self.flush(client, std::mem::take(&mut dirty)).await? {
                        // The connection dropped mid-read: read these again later.
                        dirty = keys;
                        deadline = Some(Instant::now() + Duration::from_secs(1));
                    }
                    continue;
                }
                event = root_watch.changed() => event,
                event = next(&mut services_watch) => event,
            };
            match event.event_type {
                zk::EventType::Session => match event.session_state {
                    zk::SessionState::Disconnected => {
                        if !paused {
                            warn!(session = %client.session_id(),
                                "disconnected from ZooKeeper; publishing nothing until it is back");
                            paused = true;
                            self.metrics.set_connected(false);
                            self.status.send_modify(|s| s.connected = false);
                        }
                    }
                    zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                        if paused {
                            info!(session = %client.session_id(),
                                "reconnected with the same session; reading everything again");
                            paused = false;
                            self.metrics.set_connected(true);
                            self.status.send_modify(|s| s.connected = true);
                            dirty.clear();
                            deadline = None;
                            self.resync(client, "reconnect").await?;
                        }
                    }
                    state => return Ok(End::SessionEnded(state_name(state))),
                },
                _ => {
                    if let Some(key) = self.classify(&event.path) {
                        dirty.insert(key);
                        deadline.get_or_insert_with(|| Instant::now() + self.config.debounce);
                    }
                }
            }
        }
    }

    /// Which key a changed path belongs to, if any.
    pub fn classify(&self, path: &str) -> Option<Key> {
        classify_path(&self.root, self.services_root.as_deref(), path)
    }

    /// Reads every key there is and every key published before, and publishes the differences.
    async fn resync(&mut self, client: &zk::Client, reason: &'static str) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut keys: BTreeSet<Key> = self.published.keys().cloned().collect();
        for name in children_or_empty(client, or_slash(&self.root)).await? {
            if name == "mapping" {
                let mapping = format!("{}/mapping", self.root);
                for interface in children_or_empty(client, &mapping).await? {
                    keys.insert(Key::Mapping(interface));
                }
            } else {
                keys.insert(Key::Providers(name.clone()));
                keys.insert(Key::Configurators(name));
            }
        }
        if let Some(services) = &self.services_root {
            for app in children_or_empty(client, services).await? {
                keys.insert(Key::Instances(app));
            }
        }
        let read = keys.len();
        let before = self.status.borrow().delivered;
        if let Err(keys) = self.flush(client, keys).await? {
            return Err(
                anyhow::Error::new(zk::Error::ConnectionLoss).context(format!(
                    "the full read stopped with {} keys unread",
                    keys.len()
                )),
            );
        }
        let published = self.status.borrow().delivered - before;
        self.metrics.resynced(reason);
        self.status.send_modify(|s| s.resyncs += 1);
        info!(reason, read, published, took = ?started.elapsed(), "full read of ZooKeeper done");
        Ok(())
    }

    /// Reads `keys` and publishes what changed. `Ok(Err(keys))` gives the keys back when the
    /// connection dropped; other ZooKeeper errors end the session.
    async fn flush(
        &mut self,
        client: &zk::Client,
        keys: BTreeSet<Key>,
    ) -> anyhow::Result<Result<(), BTreeSet<Key>>> {
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        let this = &*self;
        let reads: Vec<Result<Found, zk::Error>> =
            futures::stream::iter(keys.iter().cloned().map(|key| this.read(client, key)))
                .buffered(self.config.read_concurrency.max(1))
                .collect()
                .await;
        let mut changes: Vec<Change<Key>> = Vec::new();
        for read in reads {
            let found = match read {
                Ok(found) => found,
                Err(zk::Error::ConnectionLoss) => return Ok(Err(keys)),
                Err(e) => return Err(e.into()),
            };
            let change = match found.state {
                Some(state) if self.published.get(&found.key) != Some(&state.content) => {
                    Some((Some(state.content.clone()), state))
                }
                // Gone, and last published with something in it (an empty list already said
                // it; Curator's container nodes vanish some time after their last child).
                None if self.published.get(&found.key).is_some_and(|c| c != EMPTY) => {
                    let version = match ancestor_pzxid(client, &found.path).await {
                        Ok(v) => v,
                        Err(zk::Error::ConnectionLoss) => return Ok(Err(keys)),
                        Err(e) => return Err(e.into()),
                    };
                    Some((None, gone(&found.key, &found.path, version)))
                }
                _ => None,
            };
            if let Some((content, state)) = change {
                let outgoing = Outgoing::new(self.draft(&found.key, &state).build());
                changes.push((found.key, content, outgoing));
            }
        }
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
        Ok(Ok(()))
    }

    fn draft<'a>(&'a self, key: &'a Key, state: &'a State) -> Draft<'a> {
        let (event_type, subject) = match key {
            Key::Providers(s) => (EventType::ZookeeperProviders, s),
            Key::Configurators(s) => (EventType::ZookeeperConfigurators, s),
            Key::Instances(s) => (EventType::ZookeeperInstances, s),
            Key::Mapping(s) => (EventType::ZookeeperMapping, s),
        };
        Draft {
            source: &self.source,
            registry: &self.config.registry,
            event_type,
            subject,
            version: state.version,
            id_suffix: state.id_suffix,
            data: &state.data,
        }
    }

    fn path(&self, key: &Key) -> String {
        match key {
            Key::Providers(i) => format!("{}/{i}/providers", self.root),
            Key::Configurators(i) => format!("{}/{i}/configurators", self.root),
            Key::Instances(a) => format!(
                "{}/{a}",
                self.services_root
                    .as_deref()
                    .unwrap_or(DEFAULT_SERVICES_ROOT)
            ),
            Key::Mapping(i) => format!("{}/mapping/{i}", self.root),
        }
    }

    async fn read(&self, client: &zk::Client, key: Key) -> Result<Found, zk::Error> {
        let path = self.path(&key);
        let state = match key {
            Key::Providers(_) | Key::Configurators(_) => match client.get_children(&path).await {
                Ok((mut children, stat)) => {
                    children.sort_unstable();
                    let version = zxid(stat.pzxid);
                    let content = fingerprint(
                        &serde_json::to_string(&children).unwrap_or_default(),
                        children.is_empty(),
                    );
                    Some(State {
                        version,
                        id_suffix: None,
                        data: json!({"path": path, "pzxid": version, "children": children}),
                        content,
                    })
                }
                Err(zk::Error::NoNode) => None,
                Err(e) => return Err(e),
            },
            Key::Instances(_) => read_instances(client, &path).await?,
            Key::Mapping(_) => match client.get_data(&path).await {
                Ok((bytes, stat)) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let version = zxid(stat.mzxid);
                    Some(State {
                        version,
                        id_suffix: None,
                        content: fingerprint(&text, text.is_empty()),
                        data: json!({"path": path, "mzxid": version, "data": text}),
                    })
                }
                Err(zk::Error::NoNode) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(Found { key, path, state })
    }
}

/// The empty state of a node that no longer exists.
fn gone(key: &Key, path: &str, version: u64) -> State {
    let data = match key {
        Key::Mapping(_) => json!({"path": path, "mzxid": version, "data": ""}),
        _ => json!({"path": path, "pzxid": version, "children": []}),
    };
    State {
        version,
        id_suffix: None,
        data,
        content: String::new(),
    }
}

/// `/services/<app>`: the child list with each child's Curator JSON and mzxid.
async fn read_instances(client: &zk::Client, path: &str) -> Result<Option<State>, zk::Error> {
    let (mut names, stat) = match client.get_children(path).await {
        Ok(found) => found,
        Err(zk::Error::NoNode) => return Ok(None),
        Err(e) => return Err(e),
    };
    names.sort_unstable();
    let reads = futures::future::join_all(
        names
            .iter()
            .map(|name| client.get_data(&format!("{path}/{name}"))),
    )
    .await;
    let mut children = Vec::with_capacity(names.len());
    let mut content = Vec::with_capacity(names.len());
    let mut newest = 0;
    for (name, read) in names.iter().zip(reads) {
        let (bytes, child) = match read {
            Ok(found) => found,
            // Gone since the list: its deletion is another change, read again then.
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(e),
        };
        let data = match serde_json::from_slice::<Value>(&bytes) {
            Ok(object @ Value::Object(_)) => object,
            _ => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        };
        let mzxid = zxid(child.mzxid);
        newest = newest.max(mzxid);
        content.push(json!([name, data]));
        children.push(json!({"name": name, "mzxid": mzxid, "data": data}));
    }
    let version = zxid(stat.pzxid);
    Ok(Some(State {
        version,
        id_suffix: Some(newest),
        content: fingerprint(&Value::Array(content).to_string(), children.is_empty()),
        data: json!({"path": path, "pzxid": version, "children": children}),
    }))
}

/// The pzxid of the nearest ancestor of `path` that exists.
async fn ancestor_pzxid(client: &zk::Client, path: &str) -> Result<u64, zk::Error> {
    let mut current = path;
    loop {
        let parent = match current.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &current[..i],
        };
        if let Some(stat) = client.check_stat(parent).await? {
            return Ok(zxid(stat.pzxid));
        }
        if parent == "/" {
            return Ok(0);
        }
        current = parent;
    }
}

async fn children_or_empty(client: &zk::Client, path: &str) -> Result<Vec<String>, zk::Error> {
    match client.list_children(path).await {
        Ok(children) => Ok(children),
        Err(zk::Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn or_slash(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// The rest of `path` below `prefix` (`""` for `prefix` itself).
fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return path.strip_prefix('/');
    }
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

fn zxid(z: i64) -> u64 {
    u64::try_from(z).unwrap_or(0)
}

fn state_name(state: zk::SessionState) -> &'static str {
    match state {
        zk::SessionState::Expired => "expired",
        zk::SessionState::Closed => "closed",
        zk::SessionState::AuthFailed => "authentication failed (check --auth)",
        _ => "ended",
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next(watch: &mut Option<zk::PersistentWatcher>) -> zk::WatchedEvent {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// [`ZkBridge::classify`] without a bridge.
fn classify_path(root: &str, services_root: Option<&str>, path: &str) -> Option<Key> {
    if let Some(services) = services_root
        && let Some(rest) = below(path, services)
    {
        let app = rest.split('/').next().filter(|a| !a.is_empty())?;
        return Some(Key::Instances(app.to_owned()));
    }
    let rest = below(path, root)?;
    let mut segments = rest.split('/');
    let first = segments.next().filter(|s| !s.is_empty())?;
    let second = segments.next()?;
    if first == "mapping" {
        return (segments.next().is_none() && !second.is_empty())
            .then(|| Key::Mapping(second.to_owned()));
    }
    match second {
        "providers" => Some(Key::Providers(first.to_owned())),
        "configurators" => Some(Key::Configurators(first.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_state_they_change() {
        let classify = |path: &str| classify_path(&normalize("/dubbo/"), Some("/services"), path);
        let iface = "org.apache.dubbo.demo.DemoService";
        assert_eq!(
            classify(&format!(
                "/dubbo/{iface}/providers/dubbo%3A%2F%2F1.2.3.4%3A20880"
            )),
            Some(Key::Providers(iface.into()))
        );
        assert_eq!(
            classify(&format!("/dubbo/{iface}/providers")),
            Some(Key::Providers(iface.into()))
        );
        assert_eq!(
            classify(&format!("/dubbo/{iface}/configurators/override%3A%2F%2F")),
            Some(Key::Configurators(iface.into()))
        );
        assert_eq!(classify(&format!("/dubbo/{iface}/consumers/x")), None);
        assert_eq!(classify(&format!("/dubbo/{iface}")), None);
        assert_eq!(
            classify(&format!("/dubbo/mapping/{iface}")),
            Some(Key::Mapping(iface.into()))
        );
        assert_eq!(classify("/dubbo/mapping"), None);
        assert_eq!(
            classify("/services/demo-provider/10.0.0.1:20880"),
            Some(Key::Instances("demo-provider".into()))
        );
        assert_eq!(classify("/services"), None);
        assert_eq!(classify("/dubbox/a/providers"), None);
    }

    #[test]
    fn a_custom_or_empty_root_works() {
        assert_eq!(
            classify_path("/registry/prod", None, "/registry/prod/a.B/providers/x"),
            Some(Key::Providers("a.B".into()))
        );
        assert_eq!(
            classify_path("", Some("/services"), "/a.B/providers/x"),
            Some(Key::Providers("a.B".into()))
        );
        assert_eq!(
            classify_path("", Some("/services"), "/services/app/1.2.3.4:1"),
            Some(Key::Instances("app".into()))
        );
    }
}
