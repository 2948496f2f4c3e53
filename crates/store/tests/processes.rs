//! Writers in separate processes on one `file://` directory lose no update: the OS file lock
//! and rename hold across processes, not only across tasks.
//!
//! The test binary re-runs itself as the writer processes: `writer_process` does nothing unless
//! `REGSYNC_CAS_WRITER_DIR` is set, which only the parent test sets for its children.

use std::process::Command;

use regsync_store::{Expect, Store, testsuite};

const DIR_VAR: &str = "REGSYNC_CAS_WRITER_DIR";
const UPDATES: usize = 100;
const WRITERS: usize = 8;

#[tokio::test]
async fn writer_process() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let store = Store::open(&dir).await.expect("file store");
    for _ in 0..UPDATES {
        testsuite::increment(&store).await;
    }
}

#[tokio::test]
async fn eight_writer_processes_lose_no_update_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf8 path").to_owned();
    let store = Store::open(&path).await.expect("file store");
    store
        .put(testsuite::COUNTER, b"0".to_vec(), Expect::Absent)
        .await
        .expect("create counter");
    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = (0..WRITERS)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "writer_process", "--test-threads", "1"])
                .env(DIR_VAR, &path)
                .spawn()
                .expect("spawn a writer process")
        })
        .collect();
    for mut c in children {
        assert!(
            c.wait().expect("writer exits").success(),
            "a writer process failed"
        );
    }
    let lost = (WRITERS * UPDATES) as i64 - testsuite::counter(&store).await;
    println!("file:// with {WRITERS} processes x {UPDATES} updates: lost updates = {lost}");
    assert_eq!(lost, 0);
}
