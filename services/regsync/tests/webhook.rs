//! `regsync webhook` run as a user runs it, and held to the same contract table as the
//! `ingest-webhook` Lambda handler (regsync_pipeline::testkit).

#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::Proc;
use regsync_pipeline::testkit::{Case, MAX_BODY_BYTES, cases, fingerprint};
use regsync_store::Store;

struct Server {
    _child: Proc,
    url: String,
}

impl Server {
    /// Sends a contract case's request to the server's `/events`.
    async fn send(&self, client: &reqwest::Client, case: &Case) -> reqwest::Response {
        let mut req = client.request(
            case.request.method.parse().unwrap(),
            format!("{}{}", self.url.trim_end_matches('/'), case.request.path),
        );
        for (k, v) in &case.request.headers {
            req = req.header(k, v);
        }
        req.body(case.request.body.clone()).send().await.unwrap()
    }
}

fn start(store: &str) -> Server {
    start_with(store, &[])
}

fn start_with(store: &str, args: &[&str]) -> Server {
    let mut args = args.to_vec();
    let max = MAX_BODY_BYTES.to_string();
    args.extend(["--max-body-bytes", &max]);
    let (child, addr) = common::start_webhook(store, &args, None);
    Server {
        _child: child,
        url: format!("http://{addr}/"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_meets_every_case_of_the_webhook_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let server = start(&url);
    let store = Store::open(&url).await.unwrap();
    let client = reqwest::Client::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut failures = Vec::new();
    for case in cases(now) {
        let before = fingerprint(&store).await;
        let resp = server.send(&client, &case).await;
        let status = resp.status().as_u16();
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{}",
            case.name
        );
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        let after = fingerprint(&store).await;
        if let Err(e) = case.check(status, &body, &before, &after) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs `regsync ARGS`; its stdout, or a failed test with its stderr.
fn regsync(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "regsync {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_archive_accepted_requests_are_kept_and_replay_into_the_live_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().join("store").display());
    let archive = format!("file://{}", dir.path().join("archive").display());
    let server = start_with(&store, &["--archive", &archive]);
    let client = reqwest::Client::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut accepted = Vec::new();
    for case in cases(now) {
        let resp = server.send(&client, &case).await;
        if resp.status().as_u16() == 202 {
            accepted.push(case.request.body.clone());
        }
    }
    assert!(
        accepted.len() >= 3,
        "the contract has accepted cases: {}",
        accepted.len()
    );
    // An object per accepted request (the same body twice in a second is one); refused requests
    // are not kept.
    let kept = Store::open(&archive)
        .await
        .unwrap()
        .list("archive/webhook/")
        .await
        .unwrap();
    let distinct: std::collections::BTreeSet<_> = accepted.iter().collect();
    assert!(
        (distinct.len()..=accepted.len()).contains(&kept.len()),
        "{} accepted ({} distinct), kept {kept:?}",
        accepted.len(),
        distinct.len()
    );

    let rebuilt = format!("file://{}", dir.path().join("rebuilt").display());
    let replayed = regsync(&["replay", &archive, "--store", &rebuilt]);
    let live = regsync(&["snapshot", "digest", "--store", &store]);
    let digest = |text: &str| {
        text.lines()
            .rev()
            .find_map(|l| {
                l.strip_prefix("snapshot ")
                    .map(|r| r.split(' ').next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("no digest in {text}"))
    };
    assert_eq!(
        digest(&replayed),
        digest(&live),
        "replay:\n{replayed}\nlive:\n{live}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_far_over_the_limit_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&format!("file://{}", dir.path().display()));
    let resp = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "application/cloudevents+json")
        .body(vec![b' '; 8 * MAX_BODY_BYTES])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["field"], "body");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&(8 * MAX_BODY_BYTES).to_string())
    );
}

#[test]
fn without_a_secret_the_server_refuses_to_start_and_says_how_to_fix_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["webhook", "--listen", "127.0.0.1:0", "--store", "memory://"])
        .env_remove("REGSYNC_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REGSYNC_WEBHOOK_SECRET"), "{err}");
}
