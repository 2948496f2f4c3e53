//! The webhook contract table, run straight against the core (the Lambda handler and the HTTP
//! server run the same table in their own tests).

#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

use std::time::{SystemTime, UNIX_EPOCH};

use regsync_pipeline::Pipeline;
use regsync_pipeline::testkit::{MAX_BODY_BYTES, SECRET, cases, fingerprint};
use regsync_pipeline::webhook::{Webhook, handle};
use regsync_store::Store;

#[tokio::test]
async fn the_core_meets_every_case_of_the_webhook_contract() {
    let p = Pipeline::with_store(Store::open("memory://").await.unwrap());
    let hook = Webhook::new(SECRET, MAX_BODY_BYTES);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut failures = Vec::new();
    for case in cases(now) {
        let before = fingerprint(&p.store).await;
        let r = handle(&p, &hook, &case.request, now).await;
        let after = fingerprint(&p.store).await;
        if let Err(e) = case.check(r.status, &r.body, &before, &after) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_store_that_fails_gets_503_with_retry_after_and_writes_nothing() {
    // A file store under a path that is a regular file cannot be written.
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let store = Store::open(&format!("file://{}/store", blocker.display()))
        .await
        .unwrap();
    let p = Pipeline::with_store(store);
    let hook = Webhook::new(SECRET, MAX_BODY_BYTES);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first = cases(now).remove(0);
    let r = handle(&p, &hook, &first.request, now).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.retry_after, Some(1));
    assert_eq!(r.body["kind"], "StoreUnavailable");
}
