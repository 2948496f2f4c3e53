//! `regsync webhook` run as a user runs it, and held to the same contract table as the
//! `ingest-webhook` Lambda handler (regsync_pipeline::testkit).

#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::Proc;
use regsync_pipeline::testkit::{MAX_BODY_BYTES, SECRET, cases, fingerprint};
use regsync_store::Store;

struct Server {
    _child: Proc,
    url: String,
}

fn start(store: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["webhook", "--listen", "127.0.0.1:0", "--store", store])
        .args(["--max-body-bytes", &MAX_BODY_BYTES.to_string()])
        .env(
            "REGSYNC_WEBHOOK_SECRET",
            std::str::from_utf8(SECRET).unwrap(),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    Server {
        _child: Proc(child),
        url,
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
        let mut req = client.request(
            case.request.method.parse().unwrap(),
            format!("{}events", server.url),
        );
        for (k, v) in &case.request.headers {
            req = req.header(k, v);
        }
        let resp = req.body(case.request.body.clone()).send().await.unwrap();
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
