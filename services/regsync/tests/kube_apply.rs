//! `regsync apply` against a Kubernetes API exchange (`tests/kube/apply-exchange.json`), served
//! on 127.0.0.1 and reached through a kubeconfig, as a user runs it. No API server can run on
//! the build machines; the exchange is written from the API reference (its `about` says so).
//! The server answers each request with the recorded response for its method and path and
//! keeps what it received, so the tests check what regsync sent: server-side apply with field
//! manager `regsync` and force, the object itself, the owned-entries list, and the one prune.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: String,
    accept: String,
    authorization: String,
    body: Value,
}

impl Seen {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Recorded {
    exchanges: Vec<Value>,
    used: Vec<bool>,
    seen: Vec<Seen>,
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Serves `exchanges` on 127.0.0.1; returns the address and what it received.
async fn serve(exchanges: Vec<Value>) -> (String, Arc<Mutex<Recorded>>) {
    let state = Arc::new(Mutex::new(Recorded {
        used: vec![false; exchanges.len()],
        exchanges,
        seen: Vec::new(),
    }));
    let shared = state.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let seen = Seen {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    query: query_pairs(&uri),
                    content_type: header("content-type"),
                    accept: header("accept"),
                    authorization: header("authorization"),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                let mut s = state.lock().unwrap();
                let found = (0..s.exchanges.len()).find(|&i| {
                    !s.used[i]
                        && s.exchanges[i]["method"] == seen.method.as_str()
                        && s.exchanges[i]["path"] == seen.path.as_str()
                });
                s.seen.push(seen);
                match found {
                    Some(i) => {
                        s.used[i] = true;
                        let status = s.exchanges[i]["status"].as_u64().unwrap();
                        (
                            StatusCode::from_u16(u16::try_from(status).unwrap()).unwrap(),
                            [("content-type", "application/json")],
                            s.exchanges[i]["response"].to_string(),
                        )
                            .into_response()
                    }
                    None => (
                        StatusCode::NOT_FOUND,
                        [("content-type", "application/json")],
                        serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "reason": "NotFound", "code": 404,
                            "message": "not in the recorded exchange"})
                        .to_string(),
                    )
                        .into_response(),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn recorded_exchanges() -> Vec<Value> {
    let text =
        std::fs::read_to_string(repo().join("services/regsync/tests/kube/apply-exchange.json"))
            .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["exchanges"].as_array().unwrap().clone()
}

fn regsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .current_dir(repo())
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A store holding the dubbo-zk/app-level-only recording, and a kubeconfig for `server`.
fn setup(dir: &Path, server: &str) -> (String, String) {
    let store = format!("file://{}", dir.join("store").display());
    let scenario = "events/recordings/dubbo-zk/app-level-only";
    let mut files: Vec<String> = std::fs::read_dir(repo().join(scenario))
        .unwrap()
        .map(|e| format!("{scenario}/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mut args = vec!["snapshot", "apply", "--store", &store];
    args.extend(files.iter().map(String::as_str));
    let out = regsync(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: recorded\n  cluster:\n    server: {server}\n\
             users:\n- name: regsync-apply\n  user:\n    token: recorded-token\n\
             contexts:\n- name: recorded\n  context:\n    cluster: recorded\n    user: regsync-apply\n\
             current-context: recorded\n"
        ),
    )
    .unwrap();
    (store, kubeconfig.display().to_string())
}

/// Runs `regsync apply` off the runtime (the server runs on it).
async fn apply(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        regsync(&args)
    })
    .await
    .unwrap()
}

fn args(store: &str, kubeconfig: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["apply", "--store", store, "--kubeconfig", kubeconfig]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_writes_every_entry_by_server_side_apply_and_prunes_only_what_it_owns() {
    let dir = tempfile::tempdir().unwrap();
    let (server, recorded) = serve(recorded_exchanges()).await;
    let (store, kubeconfig) = setup(dir.path(), &server);
    let out = apply(args(&store, &kubeconfig, &[])).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));

    let r = recorded.lock().unwrap();
    assert!(
        r.used.iter().all(|u| *u),
        "every recorded request was made: {:?}",
        r.seen
    );
    assert_eq!(r.seen.len(), 4, "and nothing else: {:?}", r.seen);
    let methods: Vec<&str> = r.seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["PATCH", "PATCH", "GET", "DELETE"]);
    assert!(
        r.seen
            .iter()
            .all(|s| s.authorization == "Bearer recorded-token")
    );

    // The objects sent are the ones `regsync export -o json` prints, applied by regsync.
    let export = regsync(&["export", "--store", &store, "-o", "json"]);
    let list: Value = serde_json::from_slice(&export.stdout).unwrap();
    for (patch, item) in r.seen[..2].iter().zip(list["items"].as_array().unwrap()) {
        assert_eq!(patch.content_type, "application/apply-patch+yaml");
        assert_eq!(patch.param("fieldManager"), Some("regsync"));
        assert_eq!(patch.param("force"), Some("true"));
        assert_eq!(patch.param("dryRun"), None);
        assert_eq!(&patch.body, item, "the object applied is the exported one");
        assert!(
            patch
                .path
                .ends_with(item["metadata"]["name"].as_str().unwrap()),
            "{}",
            patch.path
        );
    }
    let list_req = &r.seen[2];
    assert_eq!(
        list_req.param("labelSelector"),
        Some("app.kubernetes.io/managed-by=regsync")
    );
    assert!(
        list_req.accept.contains("PartialObjectMetadataList"),
        "{}",
        list_req.accept
    );
    assert!(
        r.seen[3]
            .path
            .ends_with("/serviceentries/org.apache.dubbo.samples.api.demoservice.dubbo")
    );
    assert!(
        stdout.contains("serviceentry dubbo/org.apache.dubbo.samples.api.demoservice.dubbo pruned")
            && stdout.contains("2 applied, 1 pruned"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_every_write_as_a_server_side_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let (server, recorded) = serve(recorded_exchanges()).await;
    let (store, kubeconfig) = setup(dir.path(), &server);
    let out = apply(args(&store, &kubeconfig, &["--dry-run"])).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    let r = recorded.lock().unwrap();
    let writes: Vec<&Seen> = r.seen.iter().filter(|s| s.method != "GET").collect();
    assert_eq!(writes.len(), 3, "{:?}", r.seen);
    for s in writes {
        // A PATCH says so in its query; a DELETE in its DeleteOptions body (both documented).
        let dry =
            s.param("dryRun") == Some("All") || s.body["dryRun"] == serde_json::json!(["All"]);
        assert!(dry, "{} {} {:?} {}", s.method, s.path, s.query, s.body);
    }
    assert!(stdout.contains("(server dry run)"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_apply_names_the_object_and_the_permission_and_prunes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut exchanges = recorded_exchanges();
    // The API server's answer when the Role lacks patch (its Status, as the API reference shows).
    exchanges[0]["status"] = 403.into();
    exchanges[0]["response"] = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "serviceentries.networking.istio.io \"org.apache.dubbo.samples.api.greetingsservice.dubbo\" is forbidden: User \"system:serviceaccount:istio-mcp:regsync-apply\" cannot patch resource \"serviceentries\" in API group \"networking.istio.io\" in the namespace \"dubbo\"",
        "reason": "Forbidden",
        "details": {"name": "org.apache.dubbo.samples.api.greetingsservice.dubbo", "group": "networking.istio.io", "kind": "serviceentries"},
        "code": 403
    });
    let (server, recorded) = serve(exchanges).await;
    let (store, kubeconfig) = setup(dir.path(), &server);
    let out = apply(args(&store, &kubeconfig, &[])).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("apply dubbo/org.apache.dubbo.samples.api.greetingsservice.dubbo")
            && stderr.contains("cannot patch resource")
            && stderr.contains("infra/k8s/apply/rbac"),
        "{stderr}"
    );
    let r = recorded.lock().unwrap();
    assert!(
        r.seen.iter().all(|s| s.method != "DELETE"),
        "nothing is pruned after a failure: {:?}",
        r.seen
    );
}

#[test]
fn without_a_reachable_kubeconfig_it_says_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let store = format!("file://{}", dir.path().join("store").display());
    let out = regsync(&[
        "apply",
        "--store",
        &store,
        "--kubeconfig",
        missing.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no-such-kubeconfig"), "{stderr}");
}
