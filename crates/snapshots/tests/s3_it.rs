//! The sharded snapshot on a real S3-compatible server (SeaweedFS, started by scripts/services.sh):
//! concurrent writers lose nothing, GC keeps what retained generations need, and the request
//! count of one change is what the SDK interceptor saw. Runs with `--features it`; without
//! `REGSYNC_IT_S3_ENDPOINT` it fails and says so.
#![cfg(feature = "it")]

use regsync_convert::ConvertConfig;
use regsync_snapshots::{apply, read, testkit};
use regsync_store::generations::GcOptions;
use regsync_store::{RequestCounter, Store, testsuite};

const ENDPOINT: &str = "REGSYNC_IT_S3_ENDPOINT";

async fn store(bucket: &str, counter: RequestCounter) -> Store {
    let endpoint = std::env::var(ENDPOINT).unwrap_or_else(|_| {
        panic!("{ENDPOINT} is not set: start the server with scripts/services.sh start seaweedfs")
    });
    testsuite::s3_store(&endpoint, bucket, "snapshots", counter).await
}

/// A second store on the bucket `store` created, as another process would open it.
fn reader(bucket: &str, counter: RequestCounter) -> Store {
    let endpoint = std::env::var(ENDPOINT).expect("checked by store()");
    let client = testsuite::s3_client(&endpoint, counter);
    Store::S3(regsync_store::S3Store::with_client(
        client,
        bucket,
        "snapshots",
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_s3_lose_nothing_and_gc_keeps_what_is_retained() {
    const WRITERS: usize = 4;
    const UPDATES: usize = 10;
    let counter = RequestCounter::default();
    let store = store("regsync-snapshots-it", counter.clone()).await;
    let config = ConvertConfig::default();
    apply(&store, &[testkit::registry(4, 1)], &config, 1)
        .await
        .expect("populate");
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = store.clone();
            tokio::spawn(async move {
                for u in 0..UPDATES {
                    let ev = testkit::instance_event(
                        u % 4,
                        &format!("10.9.{w}.{}", u + 1),
                        1 + u as u64,
                    );
                    apply(&s, &[ev], &ConvertConfig::default(), 100)
                        .await
                        .expect("apply");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    let latest = store.latest().await.expect("latest");
    let view = read(&store, &latest).await.expect("read");
    let endpoints: usize = view.entries.iter().map(|e| e.spec.endpoints.len()).sum();
    let lost = 4 + WRITERS * UPDATES - endpoints;
    println!("s3: {WRITERS} writers x {UPDATES} updates: lost updates = {lost}");
    assert_eq!(lost, 0);

    let report = store
        .gc(GcOptions {
            retain: 3,
            grace: std::time::Duration::ZERO,
            dry_run: false,
        })
        .await
        .expect("gc");
    assert!(report.deleted > 0, "{report}");
    assert_eq!(read(&store, &latest).await.expect("read after gc"), view);

    let before = counter.get();
    apply(
        &store,
        &[testkit::instance_event(0, "10.9.9.9", 99)],
        &config,
        1,
    )
    .await
    .expect("one change");
    let requests = counter.get() - before;
    println!("s3: one service change took {requests} requests");
    assert!(
        requests > 3,
        "reads, writes and the swap were all counted: {requests}"
    );
}

#[tokio::test]
async fn following_a_one_service_change_on_s3_reads_a_few_objects_not_the_mesh() {
    const SERVICES: usize = 200;
    let store = store("regsync-snapshots-follow", RequestCounter::default()).await;
    let config = ConvertConfig::default();
    apply(&store, &[testkit::registry(SERVICES, 2)], &config, 1)
        .await
        .expect("populate");
    // The reader is another process (`regsync mcp serve`): its own client, its own cache.
    let counter = RequestCounter::default();
    let reader = reader("regsync-snapshots-follow", counter.clone());
    let mut follower = regsync_snapshots::Follower::default();
    let latest = reader.latest().await.expect("latest");
    let before = counter.get();
    follower.read(&reader, &latest).await.expect("first read");
    let first = counter.get() - before;

    apply(
        &store,
        &[testkit::instance_event(3, "10.9.9.9", 99)],
        &config,
        1,
    )
    .await
    .expect("one change");
    let latest = reader.latest().await.expect("latest");
    let before = counter.get();
    let entries = follower
        .read(&reader, &latest)
        .await
        .expect("followed read");
    let followed = counter.get() - before;
    assert_eq!(entries.len(), SERVICES);
    println!(
        "s3, {SERVICES} services: first read {first} requests; after a one-service change {followed}"
    );
    assert!(
        first >= SERVICES as u64,
        "the first read reads every entry: {first}"
    );
    assert!(
        followed * 10 < first,
        "a one-service change reads its trie path and its object: {followed} (first read {first})"
    );
}
