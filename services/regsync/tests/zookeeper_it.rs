//! The ZooKeeper path against real Apache Dubbo 3.3 providers and a real Spring Cloud Zookeeper
//! application (`tests/peers/dubbo`), as processes: `regsync bridge zookeeper` → Kafka →
//! `regsync consume` → store → `regsync mcp serve` → an istiod-like client, and
//! `regsync up --zookeeper`.
//!
//! Every scenario runs its own ZooKeeper (`scripts/services.sh node zookeeper`): Dubbo's paths
//! are fixed by its interfaces and applications, and one scenario restarts the server. Every
//! step ends with the client's view equal to what ZooKeeper holds, read from ZooKeeper by this
//! file's own reading of Dubbo's layout ([`Zk::expected`]): live providers only, enabled, with
//! their weights. Each step prints its latency, from the change seen in ZooKeeper to the push
//! the client saw (`zookeeper latency:` lines).

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)] // a failed step in a helper is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pipeline::{Pipeline, free_port};
use common::{Proc, ROOT, signal, sigterm, unique};
use regsync_mcp::testkit::Istiod;
use serde_json::Value;
use zookeeper_client as zk;

const SE: &str = "networking.istio.io/v1/ServiceEntry";
/// JVMs starting together on a busy 2-core machine.
const JVM_START: Duration = Duration::from_secs(180);
/// The longest a change may take from ZooKeeper to the client.
const CHANGE: Duration = Duration::from_secs(60);
/// The test interfaces of `tests/peers/dubbo/provider`.
const GREETING: &str = "io.regsync.peers.dubbo.provider.GreetingService";
const ECHO: &str = "io.regsync.peers.dubbo.provider.EchoService";
/// Dubbo's children of its root that are not interfaces.
const NOT_INTERFACES: [&str; 3] = ["config", "mapping", "metadata"];

/// What the mesh routes to, by host: `protocol://address:port`, with `;w=N` when a weight is
/// set. Protocols: `dubbo`, `tri`, `http`.
type View = BTreeMap<String, BTreeSet<String>>;

/// A private ZooKeeper on a port of its own, restartable on its data.
struct Zk {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Proc>,
}

impl Zk {
    async fn start() -> Zk {
        let mut zk = Zk {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            server: None,
        };
        zk.run().await;
        zk
    }

    async fn run(&mut self) {
        let child = Command::new(format!("{ROOT}/scripts/services.sh"))
            .args(["node", "zookeeper"])
            .arg(self.dir.path())
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.server = Some(Proc(child));
        let started = Instant::now();
        while zk::Client::connect(&self.connect()).await.is_err() {
            assert!(started.elapsed() < JVM_START, "ZooKeeper did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit (its data stays).
    fn stop(&mut self) {
        if let Some(mut p) = self.server.take() {
            sigterm(&p.0);
            p.0.wait().unwrap();
        }
    }

    fn connect(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn client(&self) -> zk::Client {
        zk::Client::connect(&self.connect()).await.unwrap()
    }

    async fn children(&self, client: &zk::Client, path: &str) -> Vec<String> {
        match client.list_children(path).await {
            Ok(c) => c,
            Err(zk::Error::NoNode) => Vec::new(),
            Err(e) => panic!("list {path}: {e}"),
        }
    }

    async fn data(&self, client: &zk::Client, path: &str) -> Option<String> {
        match client.get_data(path).await {
            Ok((d, _)) => Some(String::from_utf8_lossy(&d).into_owned()),
            Err(zk::Error::NoNode) => None,
            Err(e) => panic!("read {path}: {e}"),
        }
    }

    /// Creates `path` (persistent, parents too), as Dubbo Admin writes a rule.
    async fn create(&self, path: &str) {
        let client = self.client().await;
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let (parent, _) = path.rsplit_once('/').unwrap();
        client.mkdir(parent, &options).await.ok();
        client.create(path, b"", &options).await.unwrap();
    }

    async fn delete(&self, path: &str) {
        self.client().await.delete(path, None).await.unwrap();
    }

    /// The interface-level provider URLs of `interface`, decoded.
    async fn providers(&self, interface: &str) -> Vec<String> {
        let client = self.client().await;
        self.children(&client, &format!("/dubbo/{interface}/providers"))
            .await
            .iter()
            .map(|c| decode(c))
            .collect()
    }

    /// The children of `/services/<app>`.
    async fn instances(&self, app: &str) -> Vec<String> {
        let client = self.client().await;
        self.children(&client, &format!("/services/{app}")).await
    }

    /// What ZooKeeper says the mesh should route to, read as Dubbo and Spring Cloud do:
    /// - interface-level providers (`dubbo://`, `tri://`) by interface, group and version,
    ///   after the interface's `override://` configurators (address `0.0.0.0` or the
    ///   provider's; `disabled=true` removes, `weight=N` sets), weight 0 removed, and Dubbo's
    ///   default weight 100 where another provider of the host has a weight;
    /// - Dubbo 3 instances of the applications `/dubbo/mapping/<interface>` names, on the
    ///   interface's plain host, unless the same address and port registered at interface level;
    /// - every other application under `/services` on `lower(app).zookeeper`: `port` as http
    ///   (Dubbo's own `dubbo.endpoints` when present), Spring Cloud's `instance_status` UP only.
    async fn expected(&self) -> View {
        let client = self.client().await;
        let mut out = View::new();
        let mut mapped = BTreeSet::new();
        // Interfaces registered at interface level, and those only mapped (instance level).
        let mut interfaces: BTreeSet<String> =
            self.children(&client, "/dubbo").await.into_iter().collect();
        interfaces.extend(self.children(&client, "/dubbo/mapping").await);
        for interface in interfaces {
            if NOT_INTERFACES.contains(&interface.as_str()) {
                continue;
            }
            let overrides: Vec<Url> = self
                .children(&client, &format!("/dubbo/{interface}/configurators"))
                .await
                .iter()
                .map(|c| Url::parse(&decode(c)))
                .collect();
            let mut registered = BTreeSet::new();
            for raw in self
                .children(&client, &format!("/dubbo/{interface}/providers"))
                .await
            {
                let mut url = Url::parse(&decode(&raw));
                if !matches!(url.protocol.as_str(), "dubbo" | "tri") {
                    continue;
                }
                registered.insert(url.address.clone());
                let (host, port) = url.address.split_once(':').unwrap();
                for o in &overrides {
                    let (o_host, o_port) = o.address.split_once(':').unwrap_or((&o.address, ""));
                    if o.protocol == "override"
                        && (o_host == "0.0.0.0" || o_host == host)
                        && (o_port.is_empty() || o_port == "0" || o_port == port)
                    {
                        for (k, v) in &o.params {
                            if !matches!(k.as_str(), "category" | "dynamic" | "enabled") {
                                url.params.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
                if url.param("disabled") == "true" || url.param("enabled") == "false" {
                    continue;
                }
                let weight = url.param("weight");
                if weight == "0" {
                    continue;
                }
                let host = dubbo_host(&interface, url.param("group"), url.param("version"));
                out.entry(host)
                    .or_default()
                    .insert(endpoint(&url.protocol, &url.address, weight));
            }
            let Some(apps) = self
                .data(&client, &format!("/dubbo/mapping/{interface}"))
                .await
            else {
                continue;
            };
            for app in apps.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                mapped.insert(app.to_owned());
                for (address, protocol) in self.dubbo_endpoints(&client, app).await {
                    if !registered.contains(&address) {
                        out.entry(dubbo_host(&interface, "", ""))
                            .or_default()
                            .insert(endpoint(&protocol, &address, ""));
                    }
                }
            }
        }
        for app in self.children(&client, "/services").await {
            if mapped.contains(&app) {
                continue;
            }
            for name in self.children(&client, &format!("/services/{app}")).await {
                let Some(data) = self.data(&client, &format!("/services/{app}/{name}")).await
                else {
                    continue;
                };
                let inst: Value = serde_json::from_str(&data).unwrap();
                let meta = &inst["payload"]["metadata"];
                if meta["instance_status"].as_str().is_some_and(|s| s != "UP") {
                    continue;
                }
                let host = format!("{}.zookeeper", app.to_lowercase());
                let address = inst["address"].as_str().unwrap();
                let set = out.entry(host).or_default();
                match meta["dubbo.endpoints"].as_str() {
                    Some(eps) => {
                        for (port, protocol) in endpoints_of(eps) {
                            set.insert(endpoint(&protocol, &format!("{address}:{port}"), ""));
                        }
                    }
                    None => {
                        let port = inst["port"].as_u64().unwrap();
                        set.insert(endpoint("http", &format!("{address}:{port}"), ""));
                    }
                }
            }
        }
        out.retain(|_, eps| !eps.is_empty());
        // Dubbo's default weight, 100, for the unweighted providers of a host where some
        // provider has a weight (istio's default would be 1).
        for eps in out.values_mut() {
            if eps.iter().any(|e| e.contains(";w=")) {
                *eps = eps
                    .iter()
                    .map(|e| {
                        if e.contains(";w=") {
                            e.clone()
                        } else {
                            format!("{e};w=100")
                        }
                    })
                    .collect();
            }
        }
        out
    }

    /// `(address:port, protocol)` of every Dubbo 3 instance of `app`.
    async fn dubbo_endpoints(&self, client: &zk::Client, app: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for name in self.children(client, &format!("/services/{app}")).await {
            let Some(data) = self.data(client, &format!("/services/{app}/{name}")).await else {
                continue;
            };
            let inst: Value = serde_json::from_str(&data).unwrap();
            let address = inst["address"].as_str().unwrap();
            let eps = inst["payload"]["metadata"]["dubbo.endpoints"]
                .as_str()
                .unwrap();
            for (port, protocol) in endpoints_of(eps) {
                out.push((format!("{address}:{port}"), protocol));
            }
        }
        out
    }
}

/// A Dubbo URL as the test reads it: protocol, `host:port` and parameters.
struct Url {
    protocol: String,
    address: String,
    params: BTreeMap<String, String>,
}

impl Url {
    fn parse(url: &str) -> Url {
        let (protocol, rest) = url.split_once("://").unwrap();
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let address = path.split('/').next().unwrap().to_owned();
        let params = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Url {
            protocol: protocol.to_owned(),
            address,
            params,
        }
    }

    fn param(&self, key: &str) -> &str {
        self.params.get(key).map_or("", String::as_str)
    }
}

/// A znode name percent-decoded once, as Dubbo's `URL.decode`.
fn decode(name: &str) -> String {
    form_urlencoded::parse(format!("x={name}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

fn endpoints_of(json: &str) -> Vec<(u64, String)> {
    let eps: Vec<Value> = serde_json::from_str(json).unwrap();
    eps.iter()
        .map(|e| {
            (
                e["port"].as_u64().unwrap(),
                e["protocol"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn endpoint(protocol: &str, address: &str, weight: &str) -> String {
    if weight.is_empty() {
        format!("{protocol}://{address}")
    } else {
        format!("{protocol}://{address};w={weight}")
    }
}

/// The README's Dubbo host rule, written out for the interfaces of this test.
fn dubbo_host(interface: &str, group: &str, version: &str) -> String {
    let mut host = interface.to_lowercase();
    for part in [group, version] {
        if !part.is_empty() {
            host.push('-');
            host.push_str(&part.replace('.', "-"));
        }
    }
    host + ".dubbo"
}

/// What the client routes to, in the form of [`Zk::expected`].
fn view(istiod: &Istiod) -> View {
    let mut out = View::new();
    for (_, se) in istiod.stores.get(SE).into_iter().flat_map(|s| s.values()) {
        for host in &se.hosts {
            let set = out.entry(host.clone()).or_default();
            for e in &se.endpoints {
                for (name, number) in &e.ports {
                    let port = se.ports.iter().find(|p| &p.name == name).unwrap();
                    let protocol = match port.protocol.as_str() {
                        "TCP" if name.starts_with("tcp-dubbo-") => "dubbo",
                        "GRPC" => "tri",
                        "HTTP" => "http",
                        other => other,
                    };
                    let weight = if e.weight == 0 {
                        String::new()
                    } else {
                        e.weight.to_string()
                    };
                    set.insert(endpoint(
                        protocol,
                        &format!("{}:{number}", e.address),
                        &weight,
                    ));
                }
            }
        }
    }
    out.retain(|_, eps| !eps.is_empty());
    out
}

/// Steps `istiod` until its view equals what ZooKeeper holds and `done` accepts that, then
/// prints two times from `since`: until ZooKeeper last changed (what a provider itself took,
/// e.g. to re-register after a rule), and until the client held it. On every step, every
/// endpoint the client lost must be gone from ZooKeeper too (the view is read first, ZooKeeper
/// after): no early removal.
async fn until_matches(
    istiod: &mut Istiod,
    zk: &Zk,
    step: (&str, &str),
    since: Instant,
    done: impl Fn(&View) -> bool,
) -> View {
    let (scenario, step) = step;
    let mut seen = View::new();
    let mut last: Option<(View, Duration)> = None;
    loop {
        let now = view(istiod);
        let expected = zk.expected().await;
        if last.as_ref().is_none_or(|(v, _)| *v != expected) {
            last = Some((expected.clone(), since.elapsed()));
        }
        for (host, eps) in &seen {
            for ep in eps {
                let kept = now.get(host).is_some_and(|s| s.contains(ep));
                let live = expected.get(host).is_some_and(|s| s.contains(ep));
                assert!(
                    kept || !live,
                    "{step}: the client dropped {ep} of {host} while ZooKeeper still holds it"
                );
            }
        }
        if now == expected && done(&expected) {
            println!(
                "zookeeper latency: {scenario}: {step}: zookeeper {} ms, client {} ms",
                last.map_or(0, |(_, t)| t.as_millis()),
                since.elapsed().as_millis()
            );
            return expected;
        }
        assert!(
            since.elapsed() < CHANGE,
            "{step}: after {CHANGE:?} the client holds\n{now:#?}\nand ZooKeeper\n{expected:#?}"
        );
        seen = now;
        istiod.step(Duration::from_millis(100)).await;
    }
}

/// Waits until ZooKeeper satisfies `check` (a provider has registered, a session has gone):
/// the time it did.
async fn until_zk<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Instant
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return Instant::now();
        }
        assert!(started.elapsed() < timeout, "{what}: not after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Dubbo provider (`tests/peers/dubbo/provider`) registering in `zk`.
fn provider(zk: &Zk, app: &str, mode: &str, protocols: &[String], services: &[&str]) -> Proc {
    let mut cmd = Command::new(format!("{ROOT}/scripts/services.sh"));
    cmd.args([
        "node",
        "dubbo-provider",
        "--app",
        app,
        "--register-mode",
        mode,
    ])
    .args(["--zookeeper", &zk.connect(), "--session", "4000"]);
    for p in protocols {
        cmd.args(["--protocol", p]);
    }
    for s in services {
        cmd.args(["--service", s]);
    }
    Proc(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A Spring Cloud Zookeeper application (`tests/peers/dubbo/sc-zookeeper`) on `ip:port`.
fn spring_app(zk: &Zk, app: &str, id: &str, ip: &str, port: u16) -> Proc {
    Proc(
        Command::new(format!("{ROOT}/scripts/services.sh"))
            .args(["node", "sc-zookeeper", app, &port.to_string(), id, ip])
            .arg(zk.connect())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// `regsync bridge zookeeper --connect ZK` through Kafka, with a guard that lets whole
/// applications go.
async fn zookeeper_pipeline(zk: &Zk) -> Pipeline {
    Pipeline::kafka(
        &["zookeeper", "--connect", &zk.connect()],
        &["--guard-max-loss", "100"],
    )
    .await
}

/// How many provider URLs of `interface` on `port` ZooKeeper holds.
async fn registered(zk: &Zk, interface: &str, port: u16) -> usize {
    let at = format!(":{port}/");
    zk.providers(interface)
        .await
        .iter()
        .filter(|u| u.contains(&at))
        .count()
}

/// Providers in each register mode, with `dubbo` and `tri` from one process and two groups and
/// versions of one interface; then one stopped gracefully and one killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo_providers_in_every_register_mode_through_kafka() {
    let zk = Zk::start().await;
    let pipeline = zookeeper_pipeline(&zk).await;
    let (p_dubbo, p_tri, p_inst, p_all) = (free_port(), free_port(), free_port(), free_port());
    let u = unique("modes");
    let (iface_app, inst_app, all_app) = (
        format!("{u}-iface"),
        format!("{u}-inst"),
        format!("{u}-all"),
    );
    let mut interface_level = provider(
        &zk,
        &iface_app,
        "interface",
        &[format!("dubbo:{p_dubbo}"), format!("tri:{p_tri}")],
        &["greeting", "greeting:blue:2.0.0:50", "echo"],
    );
    let _instance_level = provider(
        &zk,
        &inst_app,
        "instance",
        &[format!("dubbo:{p_inst}")],
        &["echo"],
    );
    let mut both = provider(
        &zk,
        &all_app,
        "all",
        &[format!("tri:{p_all}")],
        &["greeting"],
    );
    let since = until_zk("every provider registered", JVM_START, || async {
        registered(&zk, GREETING, p_dubbo).await == 2
            && registered(&zk, GREETING, p_tri).await == 2
            && registered(&zk, ECHO, p_tri).await == 1
            && registered(&zk, GREETING, p_all).await == 1
            && zk.instances(&inst_app).await.len() == 1
            && zk.instances(&all_app).await.len() == 1
            && {
                let c = zk.client().await;
                let m = zk.data(&c, &format!("/dubbo/mapping/{ECHO}")).await;
                m.is_some_and(|m| m.contains(&inst_app))
            }
    })
    .await;
    assert!(interface_level.0.try_wait().unwrap().is_none());
    let mut istiod = pipeline.istiod().await;
    let all = until_matches(&mut istiod, &zk, ("modes", "registered"), since, |_| true).await;
    // The shapes this scenario is for are really there.
    let greeting = &all[&dubbo_host(GREETING, "", "")];
    assert!(
        greeting.iter().any(|e| e.starts_with("dubbo://")),
        "{all:#?}"
    );
    assert!(greeting.iter().any(|e| e.starts_with("tri://")), "{all:#?}");
    assert!(
        greeting.iter().any(|e| e.ends_with(&format!(":{p_all}"))),
        "{all:#?}"
    );
    assert_eq!(
        all[&dubbo_host(GREETING, "blue", "2.0.0")].len(),
        2,
        "{all:#?}"
    );
    assert!(
        all[&dubbo_host(ECHO, "", "")]
            .iter()
            .any(|e| e.ends_with(&format!(":{p_inst}"))),
        "the instance-level provider is reached through the mapping: {all:#?}"
    );
    assert!(
        !all.keys().any(|h| h.ends_with(".zookeeper")),
        "a mapped Dubbo application is no Curator discovery entry: {all:#?}"
    );

    // Stopped gracefully: Dubbo's shutdown hook deletes its znodes.
    sigterm(&interface_level.0);
    let since = until_zk("the stopped provider unregistered", CHANGE, || async {
        registered(&zk, GREETING, p_dubbo).await == 0 && registered(&zk, ECHO, p_tri).await == 0
    })
    .await;
    until_matches(&mut istiod, &zk, ("modes", "SIGTERM"), since, |_| true).await;

    // Killed: its ephemeral znodes stay until its 4 s sessions expire; the endpoint must stay
    // as long (until_matches checks) and go then. A Dubbo 3 provider in mode `all` holds two
    // sessions, the registry's and service discovery's: ZooKeeper expires sessions on its tick
    // (2 s here), so its provider URLs and its instance may go up to a tick apart.
    signal(&both.0, "-KILL");
    both.0.wait().unwrap();
    let killed = Instant::now();
    let since = until_zk("the killed provider's sessions expired", CHANGE, || async {
        registered(&zk, GREETING, p_all).await == 0 && zk.instances(&all_app).await.is_empty()
    })
    .await;
    println!(
        "zookeeper latency: modes: session of the killed provider expired after {} ms",
        killed.elapsed().as_millis()
    );
    let end = until_matches(&mut istiod, &zk, ("modes", "kill -9"), since, |_| true).await;
    assert!(
        !end.values()
            .flatten()
            .any(|e| e.ends_with(&format!(":{p_all}"))),
        "{end:#?}"
    );
}

/// Weight and disable changed through Dubbo's own dynamic configuration: `override://` rules
/// under the interface's `configurators`, as Dubbo Admin writes them. The provider honours
/// them too (it re-registers with the new weight), and the client follows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo_admin_overrides_change_weight_and_disable_a_provider() {
    let zk = Zk::start().await;
    let pipeline = zookeeper_pipeline(&zk).await;
    let (p1, p2) = (free_port(), free_port());
    let app = unique("admin");
    let _a = provider(
        &zk,
        &format!("{app}-a"),
        "interface",
        &[format!("dubbo:{p1}")],
        &["greeting"],
    );
    let _b = provider(
        &zk,
        &format!("{app}-b"),
        "interface",
        &[format!("dubbo:{p2}")],
        &["greeting"],
    );
    let since = until_zk("both providers registered", JVM_START, || async {
        registered(&zk, GREETING, p1).await == 1 && registered(&zk, GREETING, p2).await == 1
    })
    .await;
    let mut istiod = pipeline.istiod().await;
    let all = until_matches(&mut istiod, &zk, ("overrides", "registered"), since, |_| {
        true
    })
    .await;
    let host = dubbo_host(GREETING, "", "");
    let address = all[&host]
        .iter()
        .find(|e| e.ends_with(&format!(":{p1}")))
        .unwrap()
        .trim_start_matches("dubbo://")
        .to_owned();

    let rule = |params: &str| {
        format!(
            "/dubbo/{GREETING}/configurators/{}",
            form_urlencoded::byte_serialize(
                format!("override://{address}/{GREETING}?category=configurators&dynamic=false&enabled=true&{params}")
                    .as_bytes()
            )
            .collect::<String>()
        )
    };
    let weight = rule("weight=25");
    zk.create(&weight).await;
    let since = Instant::now();
    until_matches(&mut istiod, &zk, ("overrides", "weight=25"), since, |v| {
        v[&host].iter().any(|e| e.ends_with(&format!(":{p1};w=25")))
    })
    .await;

    let disable = rule("disabled=true");
    zk.create(&disable).await;
    let since = Instant::now();
    until_matches(&mut istiod, &zk, ("overrides", "disabled"), since, |v| {
        !v[&host].iter().any(|e| e.contains(&format!(":{p1}")))
    })
    .await;

    zk.delete(&disable).await;
    zk.delete(&weight).await;
    let since = Instant::now();
    until_matches(
        &mut istiod,
        &zk,
        ("overrides", "rules removed"),
        since,
        |v| v[&host].iter().any(|e| e.ends_with(&format!(":{p1}"))),
    )
    .await;
}

/// A Spring Cloud Zookeeper application under `/services/<app>`: a Curator discovery entry,
/// `lower(app).zookeeper`; an instance taken OUT_OF_SERVICE through Spring's own
/// `serviceregistry` endpoint leaves it and comes back; SIGTERM deregisters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_cloud_zookeeper_instances_come_change_and_go() {
    let zk = Zk::start().await;
    let pipeline = zookeeper_pipeline(&zk).await;
    let app = unique("Orders");
    let (port1, port2) = (free_port(), free_port());
    let mut one = spring_app(&zk, &app, &format!("{app}-1"), "127.0.0.81", port1);
    let _two = spring_app(&zk, &app, &format!("{app}-2"), "127.0.0.82", port2);
    let since = until_zk("both instances registered", JVM_START, || async {
        zk.instances(&app).await.len() == 2
    })
    .await;
    let mut istiod = pipeline.istiod().await;
    let host = format!("{}.zookeeper", app.to_lowercase());
    let all = until_matches(&mut istiod, &zk, ("spring", "registered"), since, |_| true).await;
    assert_eq!(
        all[&host],
        BTreeSet::from([
            format!("http://127.0.0.81:{port1}"),
            format!("http://127.0.0.82:{port2}")
        ])
    );

    let registry = format!("http://127.0.0.81:{port1}/actuator/serviceregistry");
    let http = reqwest::Client::new();
    for (status, expect) in [("OUT_OF_SERVICE", 1), ("UP", 2)] {
        let r = http
            .post(&registry)
            .header("content-type", "application/json")
            .body(format!("{{\"status\":\"{status}\"}}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{status}: {}", r.status());
        let since = Instant::now();
        until_matches(&mut istiod, &zk, ("spring", status), since, |v| {
            v.get(&host).map_or(0, BTreeSet::len) == expect
        })
        .await;
    }

    sigterm(&one.0);
    one.0.wait().unwrap();
    let since = until_zk("the stopped instance deregistered", CHANGE, || async {
        zk.instances(&app).await.len() == 1
    })
    .await;
    until_matches(&mut istiod, &zk, ("spring", "SIGTERM"), since, |_| true).await;
}

/// ZooKeeper restarts under live providers and a Spring Cloud application: their sessions
/// outlive the outage, so nothing may leave the client, and the state after equals ZooKeeper's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_restart_loses_nothing() {
    let mut zk = Zk::start().await;
    let pipeline = zookeeper_pipeline(&zk).await;
    let port = free_port();
    let app = unique("restart");
    let _p = provider(
        &zk,
        &format!("{app}-dubbo"),
        "all",
        &[format!("dubbo:{port}")],
        &["echo"],
    );
    let _s = spring_app(
        &zk,
        &format!("{app}-web"),
        "web-1",
        "127.0.0.83",
        free_port(),
    );
    let since = until_zk("registered", JVM_START, || async {
        registered(&zk, ECHO, port).await == 1
            && zk.instances(&format!("{app}-web")).await.len() == 1
    })
    .await;
    let mut istiod = pipeline.istiod().await;
    let before = until_matches(&mut istiod, &zk, ("restart", "registered"), since, |_| true).await;

    zk.stop();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(2) {
        assert_eq!(
            view(&istiod),
            before,
            "the client lost something during the outage"
        );
        istiod.step(Duration::from_millis(100)).await;
    }
    zk.run().await;
    let since = Instant::now();
    let after = until_matches(
        &mut istiod,
        &zk,
        ("restart", "after the restart"),
        since,
        |_| true,
    )
    .await;
    assert_eq!(after, before, "the sessions outlived the outage");
}

/// `regsync up --zookeeper`: a Dubbo 3 instance-level provider and a Spring Cloud application
/// through the bridge `up` runs itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_and_spring_apps_through_regsync_up() {
    let zk = Zk::start().await;
    let pipeline = Pipeline::up(&["--zookeeper", &zk.connect()]);
    let port = free_port();
    let app = unique("up");
    let _p = provider(
        &zk,
        &format!("{app}-dubbo"),
        "instance",
        &[format!("tri:{port}")],
        &["greeting"],
    );
    let _s = spring_app(
        &zk,
        &format!("{app}-web"),
        "web-1",
        "127.0.0.84",
        free_port(),
    );
    let since = until_zk("registered", JVM_START, || async {
        zk.instances(&format!("{app}-dubbo")).await.len() == 1
            && zk.instances(&format!("{app}-web")).await.len() == 1
    })
    .await;
    let mut istiod = pipeline.istiod().await;
    let all = until_matches(&mut istiod, &zk, ("up", "registered"), since, |v| {
        v.keys().any(|h| h.ends_with(".zookeeper")) && v.keys().any(|h| h.ends_with(".dubbo"))
    })
    .await;
    assert!(all.contains_key(&dubbo_host(GREETING, "", "")), "{all:#?}");
}
