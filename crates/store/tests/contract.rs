//! Every backend passes the same contract suite, and concurrent writers lose nothing.

use regsync_store::{Store, testsuite};

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    testsuite::run(&Store::open("memory://").expect("memory store")).await;
}

#[tokio::test]
async fn the_file_store_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("file://{}", dir.path().display())).expect("file store");
    testsuite::run(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_lose_no_update_in_memory() {
    let lost =
        testsuite::lost_updates(&Store::open("memory://").expect("memory store"), 8, 500).await;
    println!("memory://: lost updates = {lost}");
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_lose_no_update_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf8 path")).expect("file store");
    let lost = testsuite::lost_updates(&store, 8, 100).await;
    println!("file://: lost updates = {lost}");
    assert_eq!(lost, 0);
}

#[test]
fn unknown_urls_say_what_is_accepted() {
    let err = Store::open("ftp://x")
        .expect_err("ftp is not a store")
        .to_string();
    assert!(
        err.contains("memory://") && err.contains("file://"),
        "{err}"
    );
    let err = Store::open("s3://bucket/prefix")
        .expect_err("not built yet")
        .to_string();
    assert!(err.contains("file://"), "{err}");
}
