//! Every backend passes the same contract suite, and concurrent writers lose nothing.

use regsync_store::{Store, testsuite};

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    testsuite::run(&Store::open("memory://").await.expect("memory store")).await;
}

#[tokio::test]
async fn the_file_store_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("file://{}", dir.path().display()))
        .await
        .expect("file store");
    testsuite::run(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_lose_no_update_in_memory() {
    let lost = testsuite::lost_updates(
        &Store::open("memory://").await.expect("memory store"),
        8,
        500,
    )
    .await;
    println!("memory://: lost updates = {lost}");
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_lose_no_update_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf8 path"))
        .await
        .expect("file store");
    let lost = testsuite::lost_updates(&store, 8, 100).await;
    println!("file://: lost updates = {lost}");
    assert_eq!(lost, 0);
}

#[tokio::test]
async fn unknown_urls_say_what_is_accepted() {
    let err = Store::open("ftp://x")
        .await
        .expect_err("ftp is not a store")
        .to_string();
    assert!(
        err.contains("memory://") && err.contains("file://") && err.contains("s3://"),
        "{err}"
    );
    let err = Store::open("s3:///prefix")
        .await
        .expect_err("no bucket")
        .to_string();
    assert!(err.contains("needs a bucket"), "{err}");
}
