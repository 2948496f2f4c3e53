//! Writers in separate processes on one `file://` directory lose no update: the OS file lock
//! and rename hold across processes, not only across tasks.
//!
//! The test binary re-runs itself as the writer processes: `writer_process` does nothing unless
//! `REGSYNC_CAS_WRITER_DIR` is set, which only the parent test sets for its children.

use std::process::Command;

use regsync_store::{Error, Expect, Store};

const DIR_VAR: &str = "REGSYNC_CAS_WRITER_DIR";
const UPDATES: usize = 100;
const WRITERS: usize = 8;
const KEY: &str = "concurrency/counter";

#[tokio::test]
async fn writer_process() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let store = Store::open(&dir).await.expect("file store");
    for _ in 0..UPDATES {
        loop {
            let obj = store.get(KEY).await.expect("get").expect("counter exists");
            let n: usize = std::str::from_utf8(&obj.bytes)
                .expect("utf8")
                .parse()
                .expect("number");
            match store
                .put(
                    KEY,
                    (n + 1).to_string().into_bytes(),
                    Expect::Version(obj.etag),
                )
                .await
            {
                Ok(_) => break,
                Err(Error::Conflict { .. }) => std::thread::yield_now(),
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    }
}

#[tokio::test]
async fn eight_writer_processes_lose_no_update_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf8 path").to_owned();
    let store = Store::open(&path).await.expect("file store");
    store
        .put(KEY, b"0".to_vec(), Expect::Absent)
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
    let obj = store.get(KEY).await.expect("get").expect("counter exists");
    let total: usize = std::str::from_utf8(&obj.bytes)
        .expect("utf8")
        .parse()
        .expect("number");
    let lost = WRITERS * UPDATES - total;
    println!("file:// with {WRITERS} processes x {UPDATES} updates: lost updates = {lost}");
    assert_eq!(lost, 0);
}
