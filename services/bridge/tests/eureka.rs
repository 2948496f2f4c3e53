//! `regsync bridge eureka` against a local HTTP server that replays recorded responses of real
//! Eureka servers (events/recordings/eureka, provenance in events/README.md). No Eureka server
//! (a Java application) can be installed on the build machines, so the server side is these
//! recordings served as a Eureka server serves them.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use regsync_bridge::eureka::{EurekaBridge, EurekaConfig, Status};
use regsync_bridge::metrics::Metrics;
use serde_json::Value;
use support::{Running, file_sink, shutdown, wait_for};

const APPLICATION: &str = "io.regsync.eureka.application.v1";
const WAIT: Duration = Duration::from_secs(10);

fn recording(path: &str) -> Vec<u8> {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/recordings/eureka/"
    );
    std::fs::read(format!("{root}{path}")).unwrap()
}

/// What the fake server answers: `/apps` bodies in turn (the last one repeats) and one delta.
struct Served {
    apps: Vec<Vec<u8>>,
    delta: Vec<u8>,
    content_type: &'static str,
    basic_auth: Option<String>,
    /// Answer 503, as a failing server (or its load balancer) does.
    failing: bool,
    apps_calls: usize,
    delta_calls: usize,
}

type Shared = Arc<Mutex<Served>>;

fn served(apps: Vec<Vec<u8>>, delta: Vec<u8>) -> Shared {
    Arc::new(Mutex::new(Served {
        apps,
        delta,
        content_type: "application/json",
        basic_auth: None,
        failing: false,
        apps_calls: 0,
        delta_calls: 0,
    }))
}

fn authorized(served: &Served, headers: &HeaderMap) -> bool {
    served.basic_auth.as_ref().is_none_or(|expected| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str())
    })
}

async fn apps(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut served = shared.lock().unwrap();
    if served.failing {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if !authorized(&served, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body = served.apps[served.apps_calls.min(served.apps.len() - 1)].clone();
    served.apps_calls += 1;
    ([(header::CONTENT_TYPE, served.content_type)], body).into_response()
}

async fn delta(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut served = shared.lock().unwrap();
    if served.failing {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if !authorized(&served, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    served.delta_calls += 1;
    (
        [(header::CONTENT_TYPE, served.content_type)],
        served.delta.clone(),
    )
        .into_response()
}

/// Serves `shared` as a Eureka server at `http://ADDR/eureka`; the task ends the server.
async fn eureka_server(shared: Shared) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/eureka/apps/", get(apps))
        .route("/eureka/apps/delta", get(delta))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

async fn start(urls: Vec<String>, basic_auth: Option<&str>) -> Running<Status> {
    start_with(urls, basic_auth, None).await
}

async fn start_with(
    urls: Vec<String>,
    basic_auth: Option<&str>,
    state: Option<std::path::PathBuf>,
) -> Running<Status> {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let (sink, path) = file_sink(dir.path(), &metrics).await;
    let mut config = EurekaConfig::new(urls);
    config.interval = Duration::from_millis(50);
    config.timeout = Duration::from_secs(2);
    config.basic_auth = basic_auth.map(str::to_owned);
    config.state = state;
    let bridge = EurekaBridge::new(config, sink, metrics).unwrap();
    let status = bridge.status();
    let (stop, signal) = shutdown();
    let task = tokio::spawn(bridge.run(signal));
    Running {
        stop,
        status,
        events: path,
        task,
        dir,
    }
}

/// The events of `app`, in publish order.
fn of_app<'a>(events: &'a [Value], app: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == APPLICATION && e["subject"] == app)
        .collect()
}

fn instances(event: &Value) -> &Vec<Value> {
    event["data"]["application"]["instance"].as_array().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_publishes_the_changed_application_whole() {
    // Steeltoe's recorded server: FOO registered, then the delta that modifies its hostName.
    let shared = served(
        vec![recording("steeltoe-add-then-modify/001-apps.json")],
        recording("steeltoe-add-then-modify/002-delta.json"),
    );
    let (addr, _server) = eureka_server(shared.clone()).await;
    let mut bridge = start(vec![format!("http://{addr}/eureka")], None).await;
    let modified = wait_for("FOO with the modified host", WAIT, || {
        of_app(&bridge.events(), "FOO")
            .last()
            .filter(|e| instances(e)[0]["hostName"] == "modified-host")
            .map(|e| (*e).clone())
    })
    .await;
    // The same delta is served again and again: it changes nothing more.
    bridge.status.wait_for(|s| s.deltas >= 5).await.unwrap();
    let all = bridge.stop().await;
    let foo = of_app(&all, "FOO");
    assert_eq!(
        foo.len(),
        2,
        "the full state at start, then the modification: {foo:#?}"
    );
    assert_eq!(instances(foo[0])[0]["hostName"], "localhost");
    assert!(
        modified["sourceversion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > foo[0]["sourceversion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
    );
    // apps__hashcode matched every time: one full fetch only.
    assert_eq!(shared.lock().unwrap().apps_calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hashcode_mismatch_forces_a_full_fetch_and_publishes_what_went() {
    // The registry first holds Istio's recorded 34 instances; then only Steeltoe's FOO. The
    // delta shows FOO's change but not the 34 cancellations (they fell out of the delta
    // window), and its apps__hashcode UP_1_ is the server's true count: applied to the copy it
    // gives UP_35_, so the bridge must fetch everything again, as DiscoveryClient does.
    let shared = served(
        vec![
            recording("istio-pilot-testdata/001-apps.json"),
            recording("steeltoe-add-then-modify/001-apps.json"),
        ],
        recording("steeltoe-add-then-modify/002-delta.json"),
    );
    let (addr, _server) = eureka_server(shared.clone()).await;
    let istio: Value =
        serde_json::from_slice(&recording("istio-pilot-testdata/001-apps.json")).unwrap();
    let istio_apps: Vec<String> = istio["applications"]["application"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    let mut bridge = start(vec![format!("http://{addr}/eureka")], None).await;
    bridge
        .status
        .wait_for(|s| s.full_fetches >= 2 && s.deltas >= 3)
        .await
        .unwrap();
    let all = bridge.stop().await;
    assert_eq!(
        shared.lock().unwrap().apps_calls,
        2,
        "one full fetch at start, one on the mismatch"
    );
    for app in &istio_apps {
        let published = of_app(&all, app);
        assert_eq!(
            published.len(),
            2,
            "{app}: its instances, then none: {published:#?}"
        );
        assert!(!instances(published[0]).is_empty());
        assert!(
            instances(published[1]).is_empty(),
            "{app} is gone after the full fetch"
        );
    }
    let foo = of_app(&all, "FOO");
    // Never the half-applied copy: FOO first as the full fetch had it, then modified.
    assert_eq!(foo.len(), 2, "{foo:#?}");
    assert_eq!(instances(foo[0])[0]["hostName"], "localhost");
    assert_eq!(instances(foo[1])[0]["hostName"], "modified-host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_fails_over_when_the_first_url_is_down_and_when_the_one_in_use_fails() {
    let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down_addr = down.local_addr().unwrap();
    drop(down);
    let recorded = || {
        served(
            vec![recording("steeltoe-add-then-modify/001-apps.json")],
            recording("steeltoe-add-then-modify/002-delta.json"),
        )
    };
    let first_shared = recorded();
    let (first, _first_task) = eureka_server(first_shared.clone()).await;
    let second_shared = recorded();
    let (second, _second_task) = eureka_server(second_shared.clone()).await;
    let urls = vec![
        format!("http://{down_addr}/eureka"),
        format!("http://{first}/eureka/"),
        format!("http://{second}/eureka"),
    ];
    let mut bridge = start(urls, None).await;
    wait_for("an event from the second URL", WAIT, || {
        (!of_app(&bridge.events(), "FOO").is_empty()).then_some(())
    })
    .await;
    assert_eq!(bridge.status.borrow().url_in_use, 1);
    first_shared.lock().unwrap().failing = true;
    bridge.status.wait_for(|s| s.url_in_use == 2).await.unwrap();
    let deltas = second_shared.lock().unwrap().delta_calls;
    wait_for("deltas from the third URL", WAIT, || {
        (second_shared.lock().unwrap().delta_calls > deltas + 2).then_some(())
    })
    .await;
    let all = bridge.stop().await;
    // Failing over changes nothing that is published: the registry did not change.
    let foo = of_app(&all, "FOO");
    assert_eq!(foo.len(), 2, "{foo:#?}");
    assert_eq!(instances(foo[1])[0]["hostName"], "modified-host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_and_basic_auth_from_the_url() {
    // Netflix Karyon's canned XML registry, from a server that insists on basic auth.
    let shared = served(
        vec![recording("karyon-xml/002-apps-two-apps.xml")],
        recording("karyon-xml/002-apps-two-apps.xml"),
    );
    {
        let mut served = shared.lock().unwrap();
        served.content_type = "application/xml";
        // base64("regsync:s3cret/") with the slash percent-encoded in the URL below.
        served.basic_auth = Some("Basic cmVnc3luYzpzM2NyZXQv".to_owned());
    }
    let (addr, _server) = eureka_server(shared.clone()).await;
    let mut bridge = start(
        vec![format!("http://regsync:s3cret%2F@{addr}/eureka")],
        None,
    )
    .await;
    bridge
        .status
        .wait_for(|s| s.full_fetches >= 1)
        .await
        .unwrap();
    let all = bridge.stop().await;
    let apps: Vec<&str> = all.iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert_eq!(
        apps.len(),
        2,
        "both applications of the XML document: {apps:?}"
    );
    for event in &all {
        assert!(!instances(event).is_empty());
        assert_eq!(event["datacontenttype"], "application/json");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_reported_and_nothing_is_published() {
    let shared = served(
        vec![recording("steeltoe-add-then-modify/001-apps.json")],
        recording("steeltoe-add-then-modify/002-delta.json"),
    );
    shared.lock().unwrap().basic_auth = Some("Basic cmVnc3luYzpyaWdodA==".to_owned());
    let (addr, _server) = eureka_server(shared.clone()).await;
    let mut bridge = start(vec![format!("http://{addr}/eureka")], Some("regsync:wrong")).await;
    bridge
        .status
        .wait_for(|s| s.failed_polls >= 2)
        .await
        .unwrap();
    let all = bridge.stop().await;
    assert!(all.is_empty(), "{all:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_state_file_an_application_gone_while_the_bridge_was_stopped_is_announced() {
    let shared = served(
        vec![recording("steeltoe-add-then-modify/001-apps.json")],
        recording("steeltoe-add-then-modify/002-delta.json"),
    );
    let (addr, _server) = eureka_server(shared.clone()).await;
    let url = format!("http://{addr}/eureka");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut bridge = start_with(vec![url.clone()], None, Some(state.clone())).await;
    bridge
        .status
        .wait_for(|s| s.full_fetches >= 1)
        .await
        .unwrap();
    assert_eq!(of_app(&bridge.stop().await, "FOO").len(), 1);

    // While the bridge is stopped FOO leaves; the registry now holds Spring Cloud's recording.
    shared.lock().unwrap().apps = vec![recording("spring-cloud-jackson/001-apps.json")];
    let mut bridge = start_with(vec![url], None, Some(state)).await;
    bridge
        .status
        .wait_for(|s| s.full_fetches >= 1)
        .await
        .unwrap();
    let all = bridge.stop().await;
    let foo = of_app(&all, "FOO");
    assert_eq!(foo.len(), 1, "{all:#?}");
    assert!(instances(foo[0]).is_empty(), "FOO is announced gone");
    assert_eq!(of_app(&all, "EUREKACONSUMER").len(), 1);
}
