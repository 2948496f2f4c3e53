//! The contract every backend passes: the same assertions, run against `memory://`, `file://`
//! and (with a real S3-compatible server) `s3://`. Each function panics with a message naming
//! the broken rule.

use crate::{ETag, Error, Expect, Store};

/// Runs every check against `store`, which must be empty.
pub async fn run(store: &Store) {
    reads_what_was_written(store).await;
    create_if_absent_has_one_winner(store).await;
    replace_needs_the_current_version(store).await;
    lists_by_prefix_in_order(store).await;
    lists_with_modification_times(store).await;
    deletes_and_forgets(store).await;
    rejects_bad_keys(store).await;
    content_objects_are_checked_on_read(store).await;
}

async fn content_objects_are_checked_on_read(store: &Store) {
    let key = store
        .put_content(b"shard".to_vec())
        .await
        .expect("store content");
    assert_eq!(
        key,
        crate::content_key(b"shard"),
        "content is stored under its hash"
    );
    assert_eq!(
        store.put_content(b"shard".to_vec()).await.expect("again"),
        key,
        "same content twice is fine"
    );
    let read = store.get_content(&key).await.expect("read content");
    assert_eq!(
        read.as_deref(),
        Some(b"shard".as_slice()),
        "content reads back"
    );
    // Bytes that do not match their name: what a corrupted or tampered object looks like.
    let forged = crate::content_key(b"something else");
    store
        .put(&forged, b"shard".to_vec(), Expect::Absent)
        .await
        .expect("write forged object");
    let err = store
        .get_content(&forged)
        .await
        .expect_err("a corrupt object is never served");
    assert!(
        matches!(&err, Error::Corrupt { key, .. } if *key == forged),
        "the error names the key: {err}"
    );
}

async fn reads_what_was_written(store: &Store) {
    assert_eq!(
        store.get("a/missing").await.expect("get"),
        None,
        "a missing object reads as None"
    );
    let etag = store
        .put("a/one", b"hello".to_vec(), Expect::Absent)
        .await
        .expect("create");
    let obj = store
        .get("a/one")
        .await
        .expect("get")
        .expect("the object exists");
    assert_eq!(obj.bytes, b"hello", "reads return the written bytes");
    assert_eq!(
        obj.etag, etag,
        "reads return the version the write returned"
    );
    assert_eq!(
        store.head("a/one").await.expect("head"),
        Some(etag),
        "head agrees with get"
    );
}

async fn create_if_absent_has_one_winner(store: &Store) {
    store
        .put("b/immutable", b"first".to_vec(), Expect::Absent)
        .await
        .expect("create");
    let again = store
        .put("b/immutable", b"second".to_vec(), Expect::Absent)
        .await;
    assert!(
        matches!(again, Err(Error::Conflict { .. })),
        "a second create conflicts: {again:?}"
    );
    let obj = store
        .get("b/immutable")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(obj.bytes, b"first", "a lost create changes nothing");
}

async fn replace_needs_the_current_version(store: &Store) {
    let v1 = store
        .put("c/manifest", b"v1".to_vec(), Expect::Absent)
        .await
        .expect("create");
    let v2 = store
        .put("c/manifest", b"v2".to_vec(), Expect::Version(v1.clone()))
        .await
        .expect("replace");
    let stale = store
        .put("c/manifest", b"v3".to_vec(), Expect::Version(v1))
        .await;
    assert!(
        matches!(stale, Err(Error::Conflict { .. })),
        "a stale version conflicts: {stale:?}"
    );
    let missing = store
        .put("c/none", b"x".to_vec(), Expect::Version(ETag("0".into())))
        .await;
    assert!(
        matches!(missing, Err(Error::Conflict { .. })),
        "replacing a missing object conflicts"
    );
    let obj = store.get("c/manifest").await.expect("get").expect("exists");
    assert_eq!(
        (obj.bytes.as_slice(), obj.etag),
        (b"v2".as_slice(), v2),
        "the last good replace stays"
    );
}

async fn lists_by_prefix_in_order(store: &Store) {
    for k in ["d/2", "d/1", "d/sub/3", "e/1"] {
        store
            .put(k, k.as_bytes().to_vec(), Expect::Absent)
            .await
            .expect("create");
    }
    let keys = store.list("d/").await.expect("list");
    assert_eq!(
        keys,
        ["d/1", "d/2", "d/sub/3"],
        "list returns the prefix's keys, sorted"
    );
}

async fn lists_with_modification_times(store: &Store) {
    let slack = std::time::Duration::from_secs(60);
    let before = std::time::SystemTime::now() - slack;
    store
        .put("g/timed", b"abc".to_vec(), Expect::Absent)
        .await
        .expect("create");
    let listed = store.list_modified("g/").await.expect("list with times");
    assert_eq!(listed.len(), 1, "one object under g/: {listed:?}");
    let info = &listed[0];
    assert_eq!(
        (info.key.as_str(), info.size),
        ("g/timed", 3),
        "listed with its key and size"
    );
    assert!(
        info.modified >= before && info.modified <= std::time::SystemTime::now() + slack,
        "the modification time is about now: {info:?}"
    );
    let keys = store.list("d/").await.expect("list");
    let timed: Vec<String> = store
        .list_modified("d/")
        .await
        .expect("list with times")
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(timed, keys, "both listings agree");
}

async fn deletes_and_forgets(store: &Store) {
    store
        .put("f/gone", b"x".to_vec(), Expect::Absent)
        .await
        .expect("create");
    store.delete("f/gone").await.expect("delete");
    assert_eq!(
        store.get("f/gone").await.expect("get"),
        None,
        "a deleted object is gone"
    );
    store
        .delete("f/gone")
        .await
        .expect("deleting a missing object is fine");
    store
        .put("f/gone", b"y".to_vec(), Expect::Absent)
        .await
        .expect("a deleted key can be created again");
}

async fn rejects_bad_keys(store: &Store) {
    for key in ["", "/abs", "a//b", "a/../b", "a/.hidden", "a\\b"] {
        let r = store.put(key, b"x".to_vec(), Expect::Absent).await;
        assert!(
            matches!(r, Err(Error::InvalidKey { .. })),
            "key {key:?} must be refused: {r:?}"
        );
    }
}

/// Key of the counter object the concurrency checks increment.
pub const COUNTER: &str = "concurrency/counter";

/// The counter's value (0 when it does not exist yet).
pub async fn counter(store: &Store) -> i64 {
    match store.get(COUNTER).await.expect("get") {
        Some(obj) => std::str::from_utf8(&obj.bytes)
            .expect("utf8")
            .parse()
            .expect("number"),
        None => 0,
    }
}

/// Adds one to the counter by read, then replace with the version read, retrying on conflict.
pub async fn increment(store: &Store) {
    loop {
        let obj = store
            .get(COUNTER)
            .await
            .expect("get")
            .expect("counter exists");
        let n: i64 = std::str::from_utf8(&obj.bytes)
            .expect("utf8")
            .parse()
            .expect("number");
        match store
            .put(
                COUNTER,
                (n + 1).to_string().into_bytes(),
                Expect::Version(obj.etag),
            )
            .await
        {
            Ok(_) => return,
            Err(Error::Conflict { .. }) => tokio::task::yield_now().await,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

/// `writers` tasks each [`increment`] the counter `updates` times. Returns how many increments
/// were lost.
pub async fn lost_updates(store: &Store, writers: usize, updates: usize) -> i64 {
    let _ = store.put(COUNTER, b"0".to_vec(), Expect::Absent).await;
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..updates {
                increment(&store).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    (writers * updates) as i64 - counter(store).await
}

#[cfg(feature = "s3")]
/// A client of the S3-compatible server at `endpoint` (static test credentials, path-style),
/// counting its requests with `counter`: another process's view of a bucket, with
/// `S3Store::with_client`.
pub fn s3_client(endpoint: &str, counter: crate::RequestCounter) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "regsync-test");
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .timeout_config(crate::s3::timeouts())
        .interceptor(counter)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[cfg(feature = "s3")]
/// A store in a fresh bucket of the S3-compatible server at `endpoint` (static test
/// credentials, path-style), counting its requests with `counter`; the bucket is created.
pub async fn s3_store(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
    counter: crate::RequestCounter,
) -> Store {
    let client = s3_client(endpoint, counter);
    create_bucket(&client, bucket)
        .await
        .unwrap_or_else(|e| panic!("cannot create bucket {bucket} at {endpoint}: {e}"));
    Store::S3(crate::S3Store::with_client(client, bucket, prefix))
}

/// Creates `bucket` on the server at `endpoint` (static test credentials); one that exists
/// and is ours already is fine.
pub async fn ensure_bucket(endpoint: &str, bucket: &str) -> Result<(), String> {
    create_bucket(
        &s3_client(endpoint, crate::RequestCounter::default()),
        bucket,
    )
    .await
}

/// A bucket we own already counts as created: AWS answers 200 in us-east-1 (so does moto),
/// SeaweedFS 409 BucketAlreadyOwnedByYou, as other regions of AWS do.
async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("{e:?}")),
    }
}
