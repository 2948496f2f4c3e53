//! The webhook contract table, run straight against the core (the Lambda handler and the HTTP
//! server run the same table in their own tests).

#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

use std::time::{SystemTime, UNIX_EPOCH};

use regsync_pipeline::Pipeline;
use regsync_pipeline::testkit::{MAX_BODY_BYTES, SECRET, cases, fingerprint};
use regsync_pipeline::webhook::{
    ACCEPT_V1, Registries, Request, SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook, handle,
    sign_request, sign_v1,
};
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A structured EUREKA_ADDED event for `registry`, signed (v2) for `now`.
fn structured_for(registry: &str, now: u64) -> Request {
    let mut event: serde_json::Value =
        serde_json::from_str(regsync_pipeline::testkit::EUREKA_ADDED).unwrap();
    event["registry"] = registry.into();
    let mut req = Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![("content-type".into(), "application/cloudevents+json".into())],
        body: event.to_string().into_bytes(),
    };
    sign_request(SECRET, now, &mut req);
    req
}

#[tokio::test]
async fn v1_signatures_pass_only_when_the_receiver_accepts_them_and_never_over_a_reformatted_timestamp()
 {
    let p = Pipeline::with_store(Store::open("memory://").await.unwrap());
    let now = unix_now();
    let mut req = structured_for("eureka", now);
    let v1 = sign_v1(SECRET, now, &req.body);
    req.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case(SIGNATURE_HEADER));
    req.headers.push((SIGNATURE_HEADER.into(), v1));
    let strict = Webhook::new(SECRET, MAX_BODY_BYTES);
    let r = handle(&p, &strict, &req, now).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body["error"].as_str().unwrap().contains(ACCEPT_V1),
        "the refusal says how to accept v1: {}",
        r.body
    );
    let mut lenient = Webhook::new(SECRET, MAX_BODY_BYTES);
    lenient.accept_v1 = true;
    let mut zero = req.clone();
    zero.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case(TIMESTAMP_HEADER));
    zero.headers
        .push((TIMESTAMP_HEADER.into(), format!("0{now}")));
    assert_eq!(handle(&p, &lenient, &zero, now).await.status, 401);
    let r = handle(&p, &lenient, &req, now).await;
    assert_eq!(r.status, 202, "{}", r.body);
}

#[tokio::test]
async fn only_allowed_registries_are_taken() {
    let now = unix_now();
    // Explicit list.
    let p = Pipeline::with_store(Store::open("memory://").await.unwrap());
    let mut hook = Webhook::new(SECRET, MAX_BODY_BYTES);
    hook.registries = Registries::parse("eureka-prod, dubbo").unwrap();
    let r = handle(&p, &hook, &structured_for("attacker", now), now).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (403, Some("registry"))
    );
    assert!(
        r.body["error"].as_str().unwrap().contains("eureka-prod"),
        "{}",
        r.body
    );
    let r = handle(&p, &hook, &structured_for("eureka-prod", now), now).await;
    assert_eq!(r.status, 202, "{}", r.body);
    // Default: the conversion rules' namespaces.
    let mut p = Pipeline::with_store(Store::open("memory://").await.unwrap());
    p.convert
        .namespaces
        .insert("eureka-prod".into(), "spring".into());
    let hook = Webhook::new(SECRET, MAX_BODY_BYTES);
    let r = handle(&p, &hook, &structured_for("eureka-staging", now), now).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let fingerprint_before = fingerprint(&p.store).await;
    assert!(
        fingerprint_before.is_empty(),
        "a refused request writes nothing"
    );
    let r = handle(&p, &hook, &structured_for("eureka-prod", now), now).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(Registries::parse("Bad Name").is_err());
    assert!(Registries::parse(" , ").is_err());
    assert_eq!(Registries::parse("*").unwrap(), Registries::Any);
}
