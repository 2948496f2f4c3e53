//! The contract against a real S3-compatible server (SeaweedFS, started by scripts/services.sh).
//! Runs with `--features it`; without `REGSYNC_IT_S3_ENDPOINT` it fails and says so.
#![cfg(feature = "it")]

use regsync_store::generations::GcOptions;
use regsync_store::{Expect, RequestCounter, Store, testsuite};

/// Environment variable naming the S3-compatible endpoint, e.g. `http://127.0.0.1:9000`.
const ENDPOINT: &str = "REGSYNC_IT_S3_ENDPOINT";

async fn store(bucket: &str) -> Store {
    store_counting(bucket, RequestCounter::default()).await
}

async fn store_counting(bucket: &str, counter: RequestCounter) -> Store {
    let endpoint = std::env::var(ENDPOINT).unwrap_or_else(|_| {
        panic!("{ENDPOINT} is not set: start the server with scripts/services.sh start seaweedfs")
    });
    testsuite::s3_store(&endpoint, bucket, "snapshots/it", counter).await
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
    let (before, before_bytes) = (counter.get(), counter.body_bytes());
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
    assert_eq!(
        counter.body_bytes() - before_bytes,
        2,
        "two one-byte bodies"
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

#[tokio::test]
async fn changed_since_on_s3_is_one_head_request() {
    let counter = RequestCounter::default();
    let store = store_counting("regsync-changed-since", counter.clone()).await;
    let g = store
        .update(1, |_, _| async {
            Ok(vec![("s/a".to_owned(), Some(b"1".to_vec()))])
        })
        .await
        .expect("publish");
    let before = counter.get();
    assert!(!store.changed_since(&g).await.expect("head"));
    assert_eq!(counter.get() - before, 1, "one HeadObject");
    store
        .update(1, |_, _| async {
            Ok(vec![("s/a".to_owned(), Some(b"2".to_vec()))])
        })
        .await
        .expect("publish");
    assert!(store.changed_since(&g).await.expect("head"));
}

#[tokio::test]
async fn gc_on_s3_keeps_the_retained_generation_and_spares_young_objects() {
    let store = store("regsync-gc").await;
    let mut last = None;
    for n in 0..3 {
        let changes = (0..40)
            .map(|i| {
                let value = if i < 5 {
                    format!("{n}")
                } else {
                    "same".to_owned()
                };
                (format!("s/{i}"), Some(value.into_bytes()))
            })
            .collect::<Vec<_>>();
        last = Some(
            store
                .update(1000, |_, _| {
                    let c = changes.clone();
                    async move { Ok(c) }
                })
                .await
                .expect("publish"),
        );
    }
    let latest = last.expect("published");
    let listed = store.list_modified("objects/").await.expect("list");
    assert!(
        listed.iter().all(
            |o| o.modified <= std::time::SystemTime::now() + std::time::Duration::from_secs(60)
        ),
        "LastModified is read"
    );
    let young = store
        .gc(GcOptions {
            retain: 1,
            grace: std::time::Duration::from_secs(3600),
            dry_run: false,
        })
        .await
        .expect("gc");
    assert_eq!(young.deleted, 0, "{young}");
    let report = store
        .gc(GcOptions {
            retain: 1,
            grace: std::time::Duration::ZERO,
            dry_run: false,
        })
        .await
        .expect("gc");
    println!("s3:// gc: {report}");
    assert_eq!(report.retained, [latest.number]);
    assert!(report.deleted > 0, "{report}");
    let services = store.services(&latest).await.expect("services");
    let keys: Vec<String> = services.keys().cloned().collect();
    let read = store.read_services(&latest, &keys).await.expect("read");
    assert_eq!(read.len(), 40, "the retained generation reads back whole");
    assert_eq!(
        store.list("objects/").await.expect("list").len(),
        listed.len() - report.deleted
    );
}

#[tokio::test]
async fn content_read_or_written_once_is_not_read_again_and_writes_always_go_out() {
    let counter = RequestCounter::default();
    let store = store_counting("regsync-content-cache", counter.clone()).await;
    let key = store.put_content(b"node".to_vec()).await.expect("put");
    let before = counter.get();
    for _ in 0..3 {
        assert_eq!(
            store.get_content(&key).await.expect("get").as_deref(),
            Some(b"node".as_slice())
        );
    }
    assert_eq!(counter.get() - before, 0, "written here: read from memory");

    // A store with its own cache (another process's) reads it once.
    let Store::S3(s3) = &store else {
        unreachable!("an S3 store")
    };
    let other_view = Store::S3(
        s3.clone()
            .with_cache(regsync_store::ContentCache::default()),
    );
    let before = counter.get();
    for _ in 0..3 {
        other_view.get_content(&key).await.expect("get");
    }
    assert_eq!(counter.get() - before, 1, "one GET, then memory");

    // A write is sent even when the content is cached (GC may have removed the object).
    let before = counter.get();
    store
        .put_content(b"node".to_vec())
        .await
        .expect("put again");
    assert_eq!(counter.get() - before, 1);
}
