//! The Eureka path against a real Netflix Eureka server (Spring Cloud Netflix,
//! `tests/peers/eureka/server`) and real Spring Cloud applications (`tests/peers/eureka/client`),
//! as processes: `regsync bridge eureka` → Kafka → `regsync consume` → store → `regsync mcp serve`
//! → an istiod-like client, and `regsync up --eureka`. Every scenario ends with the client's view
//! equal to the server's own `/eureka/apps/{APP}`, UP instances only, and prints the latency of
//! each step, from the registry call to the push the client saw (`eureka latency:` lines).
//!
//! Servers: the shared one of `scripts/services.sh start eureka` (read-only cache off, 2 s leases
//! evicted every second) where a scenario only adds and removes its own application, and a
//! server of the scenario's own (`scripts/services.sh node eureka-server`) where it restarts,
//! stops, secures or reconfigures the server.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)] // a failed step in a helper is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pipeline::{Pipeline, free_port};
use common::{Proc, ROOT, unique};
use regsync_mcp::testkit::Istiod;
use serde_json::{Value, json};

const SE: &str = "networking.istio.io/v1/ServiceEntry";
/// A JVM starting on a busy 2-core machine.
const JVM_START: Duration = Duration::from_secs(150);
/// The longest a change may take from the registry to the client.
const CHANGE: Duration = Duration::from_secs(60);

/// The test settings of `scripts/services.sh start eureka`: no read-only response cache,
/// leases evicted every second whatever their share, self-preservation off.
const TEST_SETTINGS: [(&str, &str); 5] = [
    ("eureka.server.enable-self-preservation", "false"),
    ("eureka.server.use-read-only-response-cache", "false"),
    ("eureka.server.eviction-interval-timer-in-ms", "1000"),
    ("eureka.server.renewal-percent-threshold", "0"),
    (
        "eureka.server.expected-client-renewal-interval-seconds",
        "1",
    ),
];

/// A Eureka server and a REST client of it.
struct Eureka {
    /// Its service URL, `http://127.0.0.1:PORT/eureka`.
    url: String,
    port: u16,
    auth: Option<(String, String)>,
    /// The server process when it is the scenario's own.
    child: Option<Proc>,
    args: Vec<String>,
    http: reqwest::Client,
}

impl Eureka {
    /// The shared server of `scripts/services.sh start eureka`.
    fn shared() -> Eureka {
        let url = std::env::var("REGSYNC_IT_EUREKA_URL").expect(
            "REGSYNC_IT_EUREKA_URL is not set: run `eval \"$(scripts/services.sh start eureka)\"` first",
        );
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        Eureka {
            url,
            port,
            auth: None,
            child: None,
            args: Vec::new(),
            http: reqwest::Client::new(),
        }
    }

    /// A client of the server at `url` (no process of its own).
    fn shared_with(url: &str) -> Eureka {
        Eureka {
            url: url.to_owned(),
            port: 0,
            auth: None,
            child: None,
            args: Vec::new(),
            http: reqwest::Client::new(),
        }
    }

    /// A server of the scenario's own on a free port: the test settings, with `overrides`
    /// replacing or adding properties (Spring Boot would join a property given twice).
    async fn own(overrides: &[(&str, &str)]) -> Eureka {
        Eureka::own_on(free_port(), overrides).await
    }

    /// [`Eureka::own`] on `port`.
    async fn own_on(port: u16, overrides: &[(&str, &str)]) -> Eureka {
        let mut settings: BTreeMap<&str, &str> = TEST_SETTINGS.into_iter().collect();
        settings.extend(overrides.iter().copied());
        let auth = match (
            settings.get("spring.security.user.name"),
            settings.get("spring.security.user.password"),
        ) {
            (Some(user), Some(password)) => Some(((*user).to_owned(), (*password).to_owned())),
            _ => None,
        };
        let mut server = Eureka {
            url: format!("http://127.0.0.1:{port}/eureka"),
            port,
            auth,
            child: None,
            args: settings.iter().map(|(k, v)| format!("--{k}={v}")).collect(),
            http: reqwest::Client::new(),
        };
        server.start().await;
        server
    }

    async fn start(&mut self) {
        let child = Command::new(format!("{ROOT}/scripts/services.sh"))
            .args(["node", "eureka-server", &self.port.to_string()])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(Proc(child));
        let started = Instant::now();
        loop {
            let answered = self
                .http
                .get(format!("{}/apps", self.url))
                .send()
                .await
                .is_ok();
            if answered {
                return;
            }
            let child = &mut self.child.as_mut().unwrap().0;
            assert!(
                child.try_wait().unwrap().is_none(),
                "the Eureka server on port {} exited: scripts/services.sh node eureka-server {} {}",
                self.port,
                self.port,
                self.args.join(" ")
            );
            assert!(
                started.elapsed() < JVM_START,
                "the Eureka server did not start"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// `kill -9` of the server's JVM (the scenario's own server only).
    fn kill(&mut self) {
        let mut child = self.child.take().expect("a server of the scenario's own");
        // services.sh execs java, so the child is the JVM itself.
        child.0.kill().unwrap();
        child.0.wait().unwrap();
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self
            .http
            .request(method, format!("{}/{path}", self.url))
            .header("accept", "application/json");
        match &self.auth {
            Some((user, password)) => r.basic_auth(user, Some(password)),
            None => r,
        }
    }

    async fn expect_2xx(&self, what: &str, r: reqwest::RequestBuilder) {
        let response = r.send().await.unwrap();
        let status = response.status();
        assert!(
            status.is_success(),
            "{what}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Registers an instance through the REST API, as a non-Java client does, with a lease of
    /// an hour (nothing renews it).
    async fn register(&self, app: &str, id: &str, ip: &str, port: u16, metadata: &[(&str, &str)]) {
        self.register_leased(app, id, (ip, port), metadata, 3600)
            .await;
    }

    /// [`Eureka::register`] with a lease of `lease_seconds` (renewals expected every second).
    async fn register_leased(
        &self,
        app: &str,
        id: &str,
        (ip, port): (&str, u16),
        metadata: &[(&str, &str)],
        lease_seconds: u32,
    ) {
        let metadata: serde_json::Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        let body = json!({"instance": {
            "instanceId": id, "hostName": ip, "app": app.to_uppercase(), "ipAddr": ip,
            "status": "UP", "port": {"$": port, "@enabled": "true"},
            "securePort": {"$": 443, "@enabled": "false"},
            "dataCenterInfo": {
                "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                "name": "MyOwn"
            },
            "leaseInfo": {"durationInSecs": lease_seconds, "renewalIntervalInSecs": 1},
            "metadata": metadata, "vipAddress": app, "secureVipAddress": app,
        }});
        self.expect_2xx(
            "register",
            self.request(
                reqwest::Method::POST,
                &format!("apps/{}", app.to_uppercase()),
            )
            .header("content-type", "application/json")
            .body(body.to_string()),
        )
        .await;
    }

    /// `PUT /apps/{APP}/{id}/status?value=STATUS`, the override an operator (or Spring Boot's
    /// `/actuator/serviceregistry`) sets.
    async fn set_status(&self, app: &str, id: &str, status: &str) {
        let path = format!("apps/{}/{id}/status?value={status}", app.to_uppercase());
        self.expect_2xx("status", self.request(reqwest::Method::PUT, &path))
            .await;
    }

    /// `PUT /apps/{APP}/{id}/metadata?key=value`.
    async fn set_metadata(&self, app: &str, id: &str, key: &str, value: &str) {
        let path = format!("apps/{}/{id}/metadata?{key}={value}", app.to_uppercase());
        self.expect_2xx("metadata", self.request(reqwest::Method::PUT, &path))
            .await;
    }

    /// `PUT /apps/{APP}/{id}`: a heartbeat renewing the lease.
    async fn renew(&self, app: &str, id: &str) {
        let path = format!("apps/{}/{id}", app.to_uppercase());
        self.expect_2xx("renew", self.request(reqwest::Method::PUT, &path))
            .await;
    }

    /// "Renews threshold" and "Renews (last min)" from the server's dashboard: self-preservation
    /// lets leases expire only while the second is above the first.
    async fn renewals(&self) -> (u64, u64) {
        let html = self
            .http
            .get(self.url.trim_end_matches("/eureka"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let cell = |label: &str| -> u64 {
            let after = &html[html
                .find(label)
                .unwrap_or_else(|| panic!("no {label:?}: {html}"))..];
            let value = after.split("<td>").nth(1).unwrap();
            // FreeMarker groups digits: "1,200".
            value[..value.find('<').unwrap()]
                .trim()
                .replace(',', "")
                .parse()
                .unwrap()
        };
        (cell("Renews threshold"), cell("Renews (last min)"))
    }

    /// `DELETE /apps/{APP}/{id}`: what a client sends on a graceful shutdown.
    async fn cancel(&self, app: &str, id: &str) {
        let path = format!("apps/{}/{id}", app.to_uppercase());
        self.expect_2xx("cancel", self.request(reqwest::Method::DELETE, &path))
            .await;
    }

    /// The server's own view: `ip:port` of the application's UP instances.
    async fn up_instances(&self, app: &str) -> BTreeSet<String> {
        let response = self
            .request(
                reqwest::Method::GET,
                &format!("apps/{}", app.to_uppercase()),
            )
            .send()
            .await
            .unwrap();
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return BTreeSet::new();
        }
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        let instances = match &body["application"]["instance"] {
            Value::Array(all) => all.clone(),
            Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        instances
            .iter()
            .filter(|i| i["status"] == "UP")
            .map(|i| format!("{}:{}", i["ipAddr"].as_str().unwrap(), i["port"]["$"]))
            .collect()
    }
}

/// A Spring Cloud application (`tests/peers/eureka/client`) registering itself with `server`
/// on an address of its own: renewals every second, a 2 s lease.
fn spring_app(server: &str, app: &str, id: &str, ip: &str, port: u16, props: &[&str]) -> Proc {
    Proc(
        Command::new(format!("{ROOT}/scripts/services.sh"))
            .args(["node", "eureka-client", app, &port.to_string(), id, ip])
            .args(props)
            .env("REGSYNC_IT_EUREKA_URL", server)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// What the client routes to for an application: `ip:port` of each endpoint, by its HTTP port.
fn view(istiod: &Istiod, app: &str) -> BTreeSet<String> {
    let Some((_, se)) = istiod
        .stores
        .get(SE)
        .and_then(|s| s.get(&format!("eureka/{}.eureka", app.to_lowercase())))
    else {
        return BTreeSet::new();
    };
    let Some(http) = se.ports.iter().find(|p| p.protocol == "HTTP") else {
        return BTreeSet::new();
    };
    se.endpoints
        .iter()
        .filter_map(|e| {
            e.ports
                .get(&http.name)
                .map(|n| format!("{}:{n}", e.address))
        })
        .collect()
}

/// `regsync bridge eureka --url URLS --interval 1s BRIDGE_ARGS` through Kafka
/// ([`Pipeline::kafka`]).
async fn eureka_pipeline(urls: &str, bridge_args: &[&str], mcp_args: &[&str]) -> Pipeline {
    let mut bridge = vec!["eureka", "--url", urls, "--interval", "1s"];
    bridge.extend_from_slice(bridge_args);
    Pipeline::kafka(&bridge, mcp_args).await
}

/// A scenario on `app` of `server`, with a client of `pipeline` ([`Pipeline::istiod`]).
async fn scenario<'a>(
    pipeline: &Pipeline,
    name: &'static str,
    server: &'a Eureka,
    app: &str,
) -> Scenario<'a> {
    Scenario {
        name,
        istiod: pipeline.istiod().await,
        server,
        app: app.to_owned(),
    }
}

/// Steps `istiod` until `check` holds on its view of `app`, for at most `timeout`; each step
/// also checks `always` (what must never be lost). Returns the time since `since`.
async fn until_view(
    istiod: &mut Istiod,
    app: &str,
    since: Instant,
    timeout: Duration,
    mut check: impl FnMut(&BTreeSet<String>) -> bool,
    always: &BTreeSet<String>,
) -> Duration {
    loop {
        let now = view(istiod, app);
        assert!(
            always.is_subset(&now),
            "the client lost {:?} (it holds {now:?})",
            always.difference(&now).collect::<Vec<_>>()
        );
        if check(&now) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < timeout,
            "{app}: the client still holds {now:?} after {timeout:?}"
        );
        istiod.step(Duration::from_millis(200)).await;
    }
}

/// Steps `istiod` for `time`, failing if its view of `app` loses anything of `always`.
async fn keeps(istiod: &mut Istiod, app: &str, always: &BTreeSet<String>, time: Duration) {
    let since = Instant::now();
    while since.elapsed() < time {
        let now = view(istiod, app);
        assert!(
            always.is_subset(&now),
            "the client lost some of {always:?}: {now:?}"
        );
        istiod.step(Duration::from_millis(200)).await;
    }
}

/// Waits until the server's UP instances of `app` satisfy `server_done`, then until the client
/// holds exactly those; prints both times from `since` (the registry call) and returns the set.
async fn until_server_view(
    istiod: &mut Istiod,
    server: &Eureka,
    app: &str,
    step: (&str, &str),
    since: Instant,
    server_done: impl Fn(&BTreeSet<String>) -> bool,
) -> BTreeSet<String> {
    let (scenario, step) = step;
    let expected = loop {
        let now = server.up_instances(app).await;
        if server_done(&now) {
            break now;
        }
        assert!(
            since.elapsed() < CHANGE,
            "{step}: the server still lists {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let on_server = since.elapsed();
    let took = until_view(
        istiod,
        app,
        since,
        CHANGE,
        |v| *v == expected,
        &BTreeSet::new(),
    )
    .await;
    println!(
        "eureka latency: {scenario}: {step}: server {} ms, client {} ms",
        on_server.as_millis(),
        took.as_millis()
    );
    // The server still agrees (nothing resurrected, nothing lost in between).
    assert_eq!(server.up_instances(app).await, expected, "{step}");
    expected
}

/// One scenario's client, server and application, stepped through registry changes.
struct Scenario<'a> {
    name: &'static str,
    istiod: Istiod,
    server: &'a Eureka,
    app: String,
}

impl Scenario<'_> {
    /// [`until_server_view`] for this scenario's application.
    async fn step(
        &mut self,
        step: &str,
        since: Instant,
        server_done: impl Fn(&BTreeSet<String>) -> bool,
    ) -> BTreeSet<String> {
        until_server_view(
            &mut self.istiod,
            self.server,
            &self.app,
            (self.name, step),
            since,
            server_done,
        )
        .await
    }
}

/// Waits for the server to list `app`'s instance `ip` as UP (a Spring Cloud application has
/// registered): the time it did.
async fn until_registered(server: &Eureka, app: &str, ip: &str, client: &mut Proc) -> Instant {
    let started = Instant::now();
    loop {
        if server
            .up_instances(app)
            .await
            .iter()
            .any(|i| i.starts_with(&format!("{ip}:")))
        {
            return Instant::now();
        }
        assert!(
            client.0.try_wait().unwrap().is_none(),
            "the Spring Cloud application {app} ({ip}) exited"
        );
        assert!(
            started.elapsed() < JVM_START,
            "{app} ({ip}) never registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two Spring Cloud instances of one application come and go through every kind of change a
/// real deployment makes, through Kafka; after each, the client holds the server's UP set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_cloud_instances_register_change_and_leave_through_kafka() {
    let server = Eureka::shared();
    let app = unique("orders");
    let pipeline = eureka_pipeline(&server.url, &[], &["--guard-max-loss", "100"]).await;
    let (ip1, ip2) = ("127.0.0.71", "127.0.0.72");
    let (port1, port2) = (free_port(), free_port());

    // An application starts.
    let mut first = spring_app(
        &server.url,
        &app,
        &format!("{app}-1"),
        ip1,
        port1,
        &[
            "--eureka.instance.metadata-map.version=v1",
            "--eureka.instance.metadata-map.zone=zone-a",
        ],
    );
    let since = until_registered(&server, &app, ip1, &mut first).await;
    let mut sc = scenario(&pipeline, "kafka", &server, &app).await;
    let has = |ip: &'static str| move |s: &BTreeSet<String>| s.iter().any(|i| i.starts_with(ip));
    let one = sc.step("register", since, has(ip1)).await;
    assert_eq!(one, BTreeSet::from([format!("{ip1}:{port1}")]));
    let (_, se) = &sc.istiod.stores[SE][&format!("eureka/{}.eureka", app.to_lowercase())];
    assert_eq!(se.endpoints[0].labels["version"], "v1");
    assert_eq!(se.endpoints[0].locality, "zone-a");

    // A second instance, another zone and version, on another port.
    let mut second = spring_app(
        &server.url,
        &app,
        &format!("{app}-2"),
        ip2,
        port2,
        &[
            "--eureka.instance.metadata-map.version=v2",
            "--eureka.instance.metadata-map.zone=zone-b",
        ],
    );
    let since = until_registered(&server, &app, ip2, &mut second).await;
    let two = sc.step("second instance", since, has(ip2)).await;
    assert_eq!(two.len(), 2, "{two:?}");

    // Metadata changes on the server (PUT .../metadata): the label follows.
    let since = Instant::now();
    server
        .set_metadata(&app, &format!("{app}-2"), "version", "v3")
        .await;
    let entry = format!("eureka/{}.eureka", app.to_lowercase());
    let took = until_view(&mut sc.istiod, &app, since, CHANGE, |_| true, &two).await;
    let mut labelled = took;
    while !sc.istiod.stores[SE][&entry]
        .1
        .endpoints
        .iter()
        .any(|e| e.labels.get("version").map(String::as_str) == Some("v3"))
    {
        assert!(since.elapsed() < CHANGE, "the new version label never came");
        sc.istiod.step(Duration::from_millis(200)).await;
        labelled = since.elapsed();
    }
    println!(
        "eureka latency: {}: metadata: {} ms",
        sc.name,
        labelled.as_millis()
    );

    // OUT_OF_SERVICE takes the first instance out of the mesh; UP brings it back.
    let since = Instant::now();
    server
        .set_status(&app, &format!("{app}-1"), "OUT_OF_SERVICE")
        .await;
    let out = sc.step("out of service", since, |s| s.len() == 1).await;
    assert_eq!(out, BTreeSet::from([format!("{ip2}:{port2}")]));
    let since = Instant::now();
    server.set_status(&app, &format!("{app}-1"), "UP").await;
    let back = sc.step("back in service", since, |s| s.len() == 2).await;
    assert_eq!(back, two);

    // A graceful shutdown: Spring Cloud cancels its lease on SIGTERM. A renewal in flight as
    // the lease is cancelled gets 404 and the client registers again before its JVM exits
    // (seen in CI: the server listed the instance again after the client had dropped it);
    // such a lease runs out within 2 s and one eviction run. So the step waits until the JVM
    // has exited and the server has listed only the first instance for longer than that.
    let since = Instant::now();
    common::sigterm(&second.0);
    let calm = std::cell::Cell::new(None::<Instant>);
    let exiting = std::cell::RefCell::new(&mut second.0);
    let left = sc
        .step("graceful shutdown", since, |s| {
            let exited = exiting.borrow_mut().try_wait().unwrap().is_some();
            if s.len() != 1 || !exited {
                calm.set(None);
                return false;
            }
            let from = calm.get().unwrap_or_else(Instant::now);
            calm.set(Some(from));
            from.elapsed() > Duration::from_millis(3500)
        })
        .await;
    assert_eq!(left, one, "only the first instance is left");
    second.0.wait().unwrap();

    // kill -9: no cancel; the 2 s lease runs out and the server evicts the instance.
    let since = Instant::now();
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let gone = sc.step("kill -9, evicted", since, BTreeSet::is_empty).await;
    assert!(gone.is_empty());
}

/// Instances registered through the REST API (what non-Java clients and sidecars do) come,
/// change and go through `regsync up --eureka`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_registrations_come_change_and_go_through_regsync_up() {
    let server = Eureka::shared();
    let app = unique("billing");
    let pipeline = Pipeline::up(&["--eureka", &server.url, "--eureka-interval", "1s"]);
    let ids = [format!("{app}-a"), format!("{app}-b"), format!("{app}-c")];
    let since = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let ip = format!("127.0.1.{}", i + 1);
        server
            .register(&app, id, &ip, 8080, &[("version", "v1")])
            .await;
    }
    let mut sc = scenario(&pipeline, "up", &server, &app).await;
    let all = sc.step("three registered", since, |s| s.len() == 3).await;
    let since = Instant::now();
    server.set_status(&app, &ids[0], "OUT_OF_SERVICE").await;
    sc.step("out of service", since, |s| s.len() == 2).await;
    let since = Instant::now();
    server.set_status(&app, &ids[0], "UP").await;
    sc.step("back in service", since, |s| s == &all).await;
    let since = Instant::now();
    server.cancel(&app, &ids[1]).await;
    let left = sc.step("cancel", since, |s| s.len() == 2).await;
    assert!(!left.contains("127.0.1.2:8080"), "{left:?}");
    for id in [&ids[0], &ids[2]] {
        server.cancel(&app, id).await;
    }
}

/// The bridge asking for XML (`--accept xml`, Eureka's own codec) reads the real server's XML
/// into the same ServiceEntry as JSON: ports, labels and the zone as locality.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_from_the_real_server_reads_like_json() {
    let server = Eureka::shared();
    let app = unique("catalog");
    let pipeline = eureka_pipeline(
        &server.url,
        &["--accept", "xml"],
        &["--guard-max-loss", "100"],
    )
    .await;
    let since = Instant::now();
    server
        .register(
            &app,
            &format!("{app}-1"),
            "127.0.2.1",
            9090,
            &[("version", "v7"), ("zone", "zone-x")],
        )
        .await;
    server
        .register(
            &app,
            &format!("{app}-2"),
            "127.0.2.2",
            9091,
            &[("version", "v7")],
        )
        .await;
    let mut sc = scenario(&pipeline, "xml", &server, &app).await;
    sc.step("two registered", since, |s| s.len() == 2).await;
    let (_, se) = &sc.istiod.stores[SE][&format!("eureka/{}.eureka", app.to_lowercase())];
    let first = se
        .endpoints
        .iter()
        .find(|e| e.address == "127.0.2.1")
        .unwrap();
    assert_eq!(first.labels["version"], "v7");
    assert_eq!(first.locality, "zone-x");
    let since = Instant::now();
    server.cancel(&app, &format!("{app}-1")).await;
    sc.step("cancel", since, |s| s.len() == 1).await;
    server.cancel(&app, &format!("{app}-2")).await;
}

/// A server restart empties its registry until the clients' next heartbeats find their
/// leases gone (404) and register again. What the bridge reads meanwhile is a mass drop that
/// the MCP guard (its default 50 %) holds: the client never loses the instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_is_ridden_out_without_losing_an_instance() {
    let mut server = Eureka::own(&[]).await;
    let app = unique("restart");
    let ip = "127.0.0.81";
    let port = free_port();
    let pipeline = eureka_pipeline(&server.url, &[], &[]).await;
    let mut client = spring_app(&server.url, &app, &format!("{app}-1"), ip, port, &[]);
    let since = until_registered(&server, &app, ip, &mut client).await;
    let mut istiod = pipeline.istiod().await;
    let before = until_server_view(
        &mut istiod,
        &server,
        &app,
        ("restart", "register"),
        since,
        |s| s.len() == 1,
    )
    .await;

    let since = Instant::now();
    server.kill();
    server.start().await;
    let restarted = since.elapsed();
    // The client re-registers on its first heartbeat answered 404.
    let back = until_registered(&server, &app, ip, &mut client).await;
    let took = until_view(&mut istiod, &app, since, CHANGE, |v| *v == before, &before).await;
    // A few more polls: whatever the bridge read while the registry was empty, the client
    // keeps the instance.
    keeps(&mut istiod, &app, &before, Duration::from_secs(5)).await;
    println!(
        "eureka latency: restart: server back in {} ms, re-registered at {} ms, client steady ({} ms); the guard held an empty registry: {}",
        restarted.as_millis(),
        (back - since).as_millis(),
        took.as_millis(),
        pipeline
            .mcp_log
            .contains("mass-deregistration guard: holding"),
    );
    assert_eq!(server.up_instances(&app).await, view(&istiod, &app));
    client.0.kill().unwrap();
}

/// Two servers replicating to each other; the bridge is given both. When the one in use is
/// killed, the bridge fails over to its peer, which has every instance by replication, and
/// changes made on the peer arrive. Nothing is lost on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_fails_over_to_the_peer_and_loses_nothing() {
    let (port_a, port_b) = (free_port(), free_port());
    let url = |p: u16| format!("http://127.0.0.1:{p}/eureka/");
    // eureka.server.my-url: both peers are 127.0.0.1, which Eureka would otherwise take for
    // itself and not replicate to.
    let (peer_b, me_a) = (url(port_b), url(port_a));
    let (peer_a, me_b) = (url(port_a), url(port_b));
    let settings_a = [
        ("eureka.client.service-url.defaultZone", peer_b.as_str()),
        ("eureka.server.my-url", me_a.as_str()),
    ];
    let settings_b = [
        ("eureka.client.service-url.defaultZone", peer_a.as_str()),
        ("eureka.server.my-url", me_b.as_str()),
    ];
    let (mut a, b) = tokio::join!(
        Eureka::own_on(port_a, &settings_a),
        Eureka::own_on(port_b, &settings_b),
    );
    let app = unique("payments");
    let since = Instant::now();
    for i in 1..=3 {
        a.register(
            &app,
            &format!("{app}-{i}"),
            &format!("127.0.3.{i}"),
            8080,
            &[],
        )
        .await;
    }
    // Replication to the peer.
    while b.up_instances(&app).await.len() < 3 {
        assert!(since.elapsed() < CHANGE, "the peer never got the instances");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pipeline = eureka_pipeline(&format!("{},{}", a.url, b.url), &[], &[]).await;
    let mut sc = scenario(&pipeline, "failover", &b, &app).await;
    let all = sc.step("three registered", since, |s| s.len() == 3).await;

    let since = Instant::now();
    a.kill();
    // On the peer: one leaves, one arrives.
    b.cancel(&app, &format!("{app}-3")).await;
    b.register(&app, &format!("{app}-4"), "127.0.3.4", 8080, &[])
        .await;
    let kept: BTreeSet<String> = all
        .iter()
        .filter(|i| !i.starts_with("127.0.3.3:"))
        .cloned()
        .collect();
    let took = until_view(
        &mut sc.istiod,
        &app,
        since,
        CHANGE,
        |v| v.contains("127.0.3.4:8080") && !v.contains("127.0.3.3:8080"),
        &kept,
    )
    .await;
    println!(
        "eureka latency: failover: server killed to the peer's changes at the client: {} ms",
        took.as_millis()
    );
    assert_eq!(view(&sc.istiod, &app), b.up_instances(&app).await);
    assert!(
        pipeline
            .bridge_log
            .contains("failed over to another Eureka server"),
        "the bridge did not say it failed over"
    );
}

/// The server's delta queue keeps changes for `retention-time-in-m-s-in-delta-queue` (3 min by
/// default; 3 s here). A bridge paused longer than that (SIGSTOP: a long GC, a frozen VM) finds
/// the changes gone from the delta; one instance cancelled and another registered leave
/// `apps__hashcode` (counts per status) unchanged, so the hash cannot tell. The bridge fetches
/// the full registry when its last poll is older than --max-delta-gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_gone_from_the_delta_queue_while_the_bridge_was_paused_are_reconciled() {
    let server = Eureka::own(&[
        ("eureka.server.retention-time-in-m-s-in-delta-queue", "3000"),
        ("eureka.server.delta-retention-timer-interval-in-ms", "500"),
        // The delta payload is cached apart from the queue: without this it is served for
        // 180 s after the changes left the queue.
        (
            "eureka.server.response-cache-auto-expiration-in-seconds",
            "1",
        ),
    ])
    .await;
    let app = unique("inventory");
    let since = Instant::now();
    server
        .register(&app, &format!("{app}-a"), "127.0.4.1", 8080, &[])
        .await;
    server
        .register(&app, &format!("{app}-b"), "127.0.4.2", 8080, &[])
        .await;
    let pipeline = eureka_pipeline(
        &server.url,
        &[
            "--max-delta-gap",
            &std::env::var("MUTANT_MAX_DELTA_GAP").unwrap_or("2s".into()),
        ],
        &["--guard-max-loss", "100"],
    )
    .await;
    let mut sc = scenario(&pipeline, "delta retention", &server, &app).await;
    sc.step("two registered", since, |s| s.len() == 2).await;

    common::signal(pipeline.bridge(), "-STOP");
    server.cancel(&app, &format!("{app}-a")).await;
    server
        .register(&app, &format!("{app}-c"), "127.0.4.3", 8080, &[])
        .await;
    // Until the delta no longer has either change.
    let paused = Instant::now();
    loop {
        let delta = server
            .request(reqwest::Method::GET, "apps/delta")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !delta.contains(&app.to_uppercase()) {
            break;
        }
        assert!(
            paused.elapsed() < CHANGE,
            "the delta queue kept the changes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let since = Instant::now();
    common::signal(pipeline.bridge(), "-CONT");
    let now = sc.step("resumed", since, |s| s.len() == 2).await;
    assert!(now.contains("127.0.4.3:8080") && !now.contains("127.0.4.1:8080"));
    assert!(
        pipeline.bridge_log.contains("delta_gap"),
        "no full fetch logged"
    );
}

/// A server behind Spring Security's basic auth: the bridge with --basic-auth reads it; with a
/// wrong password it says which flag to check and publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_on_the_server() {
    let server = Eureka::own(&[
        ("regsync.basic-auth", "true"),
        ("spring.security.user.name", "regsync"),
        ("spring.security.user.password", "s3cret"),
    ])
    .await;
    let app = unique("secured");
    let since = Instant::now();
    server
        .register(&app, &format!("{app}-1"), "127.0.5.1", 8080, &[])
        .await;

    let wrong = eureka_pipeline(&server.url, &["--basic-auth", "regsync:wrong"], &[]).await;
    let pipeline = eureka_pipeline(&server.url, &["--basic-auth", "regsync:s3cret"], &[]).await;
    let mut sc = scenario(&pipeline, "basic auth", &server, &app).await;
    sc.step("registered", since, |s| s.len() == 1).await;
    let started = Instant::now();
    while !wrong
        .bridge_log
        .contains("401 Unauthorized (check --basic-auth)")
    {
        assert!(started.elapsed() < CHANGE, "no 401 reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!wrong.store.path().join("store/latest").exists());
}

/// Self-preservation left on (the default): 10 instances renew every 500 ms until the server
/// counts a full minute of renewals above its threshold, then 8 stop, as in a partition or a
/// crash of most clients. Their leases expire; eviction takes at most 15 % of the registry per
/// pass (renewal-percent-threshold 0.85), so regsync sees the loss arrive in steps. The MCP guard
/// counts it from the most endpoints of its window and holds it at half: the client keeps at
/// least 5 endpoints until an operator releases the loss, and then holds exactly the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_preservation_on_and_most_clients_gone_the_guard_holds_the_drop() {
    let server = Eureka::own(&[
        ("eureka.server.enable-self-preservation", "true"),
        ("eureka.server.renewal-percent-threshold", "0.85"),
    ])
    .await;
    let app = unique("fleet");
    let ids: Vec<String> = (1..=10).map(|i| format!("{app}-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let ip = format!("127.0.6.{}", i + 1);
        server.register_leased(&app, id, (&ip, 8080), &[], 2).await;
    }
    let alive = Arc::new(Mutex::new(ids.clone()));
    let heartbeats = {
        let server = Eureka::shared_with(&server.url);
        let alive = alive.clone();
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                let now: Vec<String> = alive.lock().unwrap().clone();
                for id in &now {
                    server.renew(&app, id).await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let pipeline = eureka_pipeline(&server.url, &[], &[]).await;
    let mut sc = scenario(&pipeline, "self-preservation", &server, &app).await;
    let all = sc
        .step("ten registered", Instant::now(), |s| s.len() == 10)
        .await;

    // Until a full minute of renewals is counted above the threshold.
    let started = Instant::now();
    loop {
        let (threshold, last_min) = server.renewals().await;
        if last_min > threshold && threshold > 0 {
            println!("self-preservation: renews threshold {threshold}, last minute {last_min}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "renewals never passed the threshold ({last_min} <= {threshold})"
        );
        sc.istiod.step(Duration::from_millis(500)).await;
    }

    // 8 of 10 stop renewing.
    let since = Instant::now();
    alive.lock().unwrap().truncate(2);
    let mut fewest_on_server = all.len();
    let mut fewest_at_client = all.len();
    let mut held_seen = false;
    while since.elapsed() < Duration::from_secs(30) {
        fewest_on_server = fewest_on_server.min(server.up_instances(&app).await.len());
        let at_client = view(&sc.istiod, &app).len();
        fewest_at_client = fewest_at_client.min(at_client);
        assert!(
            at_client >= 5,
            "the client lost more than half: {at_client} of 10 endpoints left"
        );
        held_seen |= pipeline
            .mcp_log
            .contains("mass-deregistration guard: holding");
        if fewest_on_server <= 2 && held_seen {
            break;
        }
        sc.istiod.step(Duration::from_millis(200)).await;
    }
    println!(
        "eureka latency: self-preservation: after {} ms the server lists {fewest_on_server} of 10 UP, the client keeps at least {fewest_at_client}; held: {held_seen}",
        since.elapsed().as_millis()
    );
    assert!(
        fewest_on_server <= 4,
        "the server evicted too little ({fewest_on_server} of 10 left) to test the guard"
    );
    assert!(held_seen, "the guard never held the loss");

    // The operator releases it: the client holds exactly the server's UP instances.
    let released = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["mcp", "release", "--store"])
        .arg(format!(
            "file://{}",
            pipeline.store.path().join("store").display()
        ))
        .args(["--admin", &pipeline.admin])
        .output()
        .unwrap();
    assert!(
        released.status.success(),
        "{}",
        String::from_utf8_lossy(&released.stderr)
    );
    let since = Instant::now();
    let left = sc.step("released", since, |s| s.len() <= 4).await;
    assert!(left.len() >= 2, "the two renewing instances stay: {left:?}");
    heartbeats.abort();
}

/// The server's read-only response cache left on, as by default: reads are answered from a
/// copy refreshed every `response-cache-update-interval-ms` (30 s), so a change reaches the
/// bridge, and the client, up to that much later. The figures go beside the test settings' in
/// the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_read_only_cache_changes_arrive_within_its_update_interval() {
    let server = Eureka::own(&[("eureka.server.use-read-only-response-cache", "true")]).await;
    let app = unique("cached");
    server
        .register(&app, &format!("{app}-0"), "127.0.7.10", 8080, &[])
        .await;
    let pipeline = eureka_pipeline(&server.url, &[], &["--guard-max-loss", "100"]).await;
    let mut sc = scenario(&pipeline, "default cache", &server, &app).await;
    sc.step("first", Instant::now(), |s| s.len() == 1).await;
    let since = Instant::now();
    server
        .register(&app, &format!("{app}-1"), "127.0.7.11", 8080, &[])
        .await;
    sc.step("register", since, |s| s.len() == 2).await;
    let since = Instant::now();
    server.cancel(&app, &format!("{app}-1")).await;
    sc.step("cancel", since, |s| s.len() == 1).await;
}
