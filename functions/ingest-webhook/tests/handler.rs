//! The handler driven as Lambda drives it: `LambdaEvent::new` on HTTP payload 2.0 events, the
//! files in `events/lambda/` and every case of the shared webhook contract table.

#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use ingest_webhook::{Context, handle};
use lambda_runtime::LambdaEvent;
use regsync_pipeline::config::STORE_URL;
use regsync_pipeline::testkit::{MAX_BODY_BYTES, SECRET, cases, fingerprint};
use regsync_pipeline::webhook::{
    self, MAX_BODY_BYTES as MAX_BODY_VAR, Request, SECRET as SECRET_VAR, SECRET_ARN,
    SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use serde_json::{Value, json};

const LAMBDA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/lambda");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn context(store: &str) -> Context {
    let store = store.to_owned();
    Context::from_lookup(move |k| match k {
        STORE_URL => Some(store.clone()),
        SECRET_VAR => Some(String::from_utf8(SECRET.to_vec()).unwrap()),
        MAX_BODY_VAR => Some(MAX_BODY_BYTES.to_string()),
        _ => None,
    })
    .await
    .unwrap()
}

/// The payload a Function URL sends for `req` (payload format 2.0): header names in lower case,
/// a repeated header's values joined with commas.
fn payload(req: &Request) -> ApiGatewayV2httpRequest {
    let mut headers = serde_json::Map::<String, Value>::new();
    for (k, v) in &req.headers {
        let joined = match headers.get(&k.to_ascii_lowercase()) {
            Some(Value::String(first)) => format!("{first},{v}"),
            _ => v.clone(),
        };
        headers.insert(k.to_ascii_lowercase(), json!(joined));
    }
    let body = String::from_utf8(req.body.clone()).unwrap();
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abcdefghij", "requestId": "r-1",
            "routeKey": "$default", "stage": "$default", "timeEpoch": 0,
            "http": {"method": req.method, "path": req.path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1"}
        },
        "body": body,
        "isBase64Encoded": false,
    }))
    .unwrap()
}

fn status_and_body(r: &ApiGatewayV2httpResponse) -> (u16, Value) {
    let Some(Body::Text(text)) = &r.body else {
        panic!("responses are JSON text: {r:?}")
    };
    assert_eq!(r.headers["content-type"], "application/json");
    (
        u16::try_from(r.status_code).unwrap(),
        serde_json::from_str(text).unwrap(),
    )
}

#[tokio::test]
async fn the_lambda_handler_meets_every_case_of_the_webhook_contract() {
    let ctx = context("memory://").await;
    let mut failures = Vec::new();
    for case in cases(now()) {
        let before = fingerprint(&ctx.pipeline.store).await;
        let event = LambdaEvent::new(payload(&case.request), lambda_runtime::Context::default());
        let response = handle(&ctx, event).await.unwrap();
        let (status, body) = status_and_body(&response);
        let after = fingerprint(&ctx.pipeline.store).await;
        if let Err(e) = case.check(status, &body, &before, &after) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Loads a payload file and signs it again for now (the files are expired on purpose).
fn resigned(name: &str) -> ApiGatewayV2httpRequest {
    let mut event: ApiGatewayV2httpRequest =
        serde_json::from_slice(&std::fs::read(format!("{LAMBDA}/{name}")).unwrap()).unwrap();
    let mut request = ingest_webhook::request(&event);
    webhook::sign_request(SECRET, now(), &mut request);
    for (k, v) in request.headers {
        event.headers.insert(
            aws_lambda_events::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    event
}

#[tokio::test]
async fn the_payload_files_are_accepted_once_signed_for_now() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&format!("file://{}", dir.path().display())).await;
    for name in [
        "webhook-function-url-structured.json",
        "webhook-apigw-v2-raw-eureka.json",
    ] {
        let event = LambdaEvent::new(resigned(name), lambda_runtime::Context::default());
        let (status, body) = status_and_body(&handle(&ctx, event).await.unwrap());
        assert_eq!(status, 202, "{name}: {body}");
        assert_eq!(body["outcomes"][0]["outcome"], "applied", "{name}: {body}");
    }
    let generation = regsync_snapshots::generation(&ctx.pipeline.store, None)
        .await
        .unwrap();
    let view = regsync_snapshots::read(&ctx.pipeline.store, &generation)
        .await
        .unwrap();
    assert!(!view.entries.is_empty());
}

/// `scripts/make-lambda-events.py --sign`, which functions/README.md gives for `cargo lambda
/// invoke`, signs (v2) exactly as the function checks.
#[tokio::test]
async fn the_python_signer_of_the_readme_signs_as_the_function_checks() {
    let ctx = context("memory://").await;
    for name in [
        "webhook-function-url-structured.json",
        "webhook-apigw-v2-raw-eureka.json",
    ] {
        let out = std::process::Command::new("python3")
            .arg(format!("{LAMBDA}/../../scripts/make-lambda-events.py"))
            .arg("--sign")
            .arg(format!("{LAMBDA}/{name}"))
            .env(
                "REGSYNC_WEBHOOK_SECRET",
                std::str::from_utf8(SECRET).unwrap(),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let event: ApiGatewayV2httpRequest = serde_json::from_slice(&out.stdout).unwrap();
        let (status, body) = status_and_body(
            &handle(&ctx, LambdaEvent::new(event, Default::default()))
                .await
                .unwrap(),
        );
        assert_eq!(status, 202, "{name}: {body}");
    }
}

#[tokio::test]
async fn the_payload_files_as_committed_are_refused_as_expired() {
    let ctx = context("memory://").await;
    let file = format!("{LAMBDA}/webhook-function-url-structured.json");
    let event: ApiGatewayV2httpRequest =
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert!(event.headers.contains_key(SIGNATURE_HEADER));
    let response = handle(&ctx, LambdaEvent::new(event, Default::default()))
        .await
        .unwrap();
    let (status, body) = status_and_body(&response);
    assert_eq!(
        (status, body["field"].as_str()),
        (401, Some(TIMESTAMP_HEADER))
    );
}

#[tokio::test]
async fn a_missing_secret_is_named_at_cold_start() {
    let err = Context::from_lookup(|k| (k == STORE_URL).then(|| "memory://".to_owned()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(SECRET_VAR) && err.contains(SECRET_ARN),
        "{err}"
    );
}
