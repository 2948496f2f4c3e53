//! Writers in separate processes on one `file://` directory lose no update: the OS file lock
//! and rename hold across processes, not only across tasks.
//!
//! The test binary re-runs itself as the writer processes: `writer_process` is ignored, so it
//! never runs (nor counts) as a test of its own; the parent runs it with `--ignored --exact`
//! and `REGSYNC_CAS_WRITER_DIR` set.

use std::process::{Command, Stdio};

use regsync_store::{Expect, Store, testsuite};

const DIR_VAR: &str = "REGSYNC_CAS_WRITER_DIR";
const UPDATES: usize = 100;
const WRITERS: usize = 8;
/// Runs only `writer_process` of this test binary.
const CHILD_ARGS: [&str; 5] = [
    "--ignored",
    "--exact",
    "writer_process",
    "--test-threads",
    "1",
];

#[tokio::test]
#[ignore = "a writer process of eight_writer_processes_lose_no_update_in_a_directory"]
async fn writer_process() {
    let dir = std::env::var(DIR_VAR).expect("REGSYNC_CAS_WRITER_DIR, set by the parent test");
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
                .args(CHILD_ARGS)
                .env(DIR_VAR, &path)
                // Shown only when it fails: a child's own `test result` line is not a test of
                // this run.
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a writer process")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("writer exits");
        assert!(
            out.status.success(),
            "a writer process failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lost = (WRITERS * UPDATES) as i64 - testsuite::counter(&store).await;
    println!("file:// with {WRITERS} processes x {UPDATES} updates: lost updates = {lost}");
    assert_eq!(lost, 0);
}
