//! The contract against a real S3-compatible server (moto, started by scripts/services.sh).
//! Runs with `--features it`; without `REGSYNC_IT_S3_ENDPOINT` it fails and says so.
#![cfg(feature = "it")]

use regsync_store::{Expect, RequestCounter, S3Store, Store, testsuite};

/// Environment variable naming the S3-compatible endpoint, e.g. `http://127.0.0.1:9000`.
const ENDPOINT: &str = "REGSYNC_IT_S3_ENDPOINT";

async fn store(bucket: &str) -> Store {
    store_counting(bucket, RequestCounter::default()).await
}

async fn store_counting(bucket: &str, counter: RequestCounter) -> Store {
    let endpoint = std::env::var(ENDPOINT).unwrap_or_else(|_| {
        panic!("{ENDPOINT} is not set: start the server with scripts/services.sh start moto")
    });
    let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "regsync-it");
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .interceptor(counter)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create the test bucket");
    Store::S3(S3Store::with_client(client, bucket, "snapshots/it"))
}

#[tokio::test]
async fn an_s3_compatible_server_keeps_the_contract() {
    testsuite::run(&store("regsync-contract").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_lose_no_update_in_s3() {
    let lost = testsuite::lost_updates(&store("regsync-concurrency").await, 8, 25).await;
    println!("s3://: lost updates = {lost}");
    assert_eq!(lost, 0);
}

#[tokio::test]
async fn the_request_counter_sees_every_request() {
    let counter = RequestCounter::default();
    let store = store_counting("regsync-counting", counter.clone()).await;
    let before = counter.get();
    let etag = store
        .put("counted", b"x".to_vec(), Expect::Absent)
        .await
        .expect("put");
    store.get("counted").await.expect("get");
    store
        .put("counted", b"y".to_vec(), Expect::Version(etag))
        .await
        .expect("replace");
    assert_eq!(
        counter.get() - before,
        3,
        "one put, one get, one conditional put"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generations_on_s3_lose_no_update_under_concurrent_writers() {
    const WRITERS: usize = 4;
    const UPDATES: usize = 10;
    let store = store("regsync-generations").await;
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..UPDATES {
                store
                    .update(1000, |s, base| async move {
                        let n = match s.read_service(&base, "s/counter").await? {
                            Some(b) => String::from_utf8_lossy(&b).parse::<usize>().unwrap_or(0),
                            None => 0,
                        };
                        Ok(vec![(
                            "s/counter".to_owned(),
                            Some((n + 1).to_string().into_bytes()),
                        )])
                    })
                    .await
                    .expect("update within the retry budget");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let latest = store.latest().await.expect("latest");
    let b = store
        .read_service(&latest, "s/counter")
        .await
        .expect("read")
        .expect("exists");
    let total: usize = String::from_utf8_lossy(&b).parse().expect("number");
    let lost = WRITERS * UPDATES - total;
    println!("s3:// generations: {WRITERS} writers x {UPDATES} updates, lost updates = {lost}");
    assert_eq!(lost, 0);
}
