//! Writers of the sharded snapshot, through the real apply path: concurrent writers (tasks on
//! memory:// and file://, processes on file://) lose no update; a writer process killed
//! between its object writes and the swap of `latest` leaves the previous generation intact;
//! a corrupted object is reported with its key and never served.
//!
//! The test binary re-runs itself as the writer processes (`writer_process`, `crash_writer`):
//! they are ignored, so they never run (nor count) as tests of their own; their parent runs
//! them with `--ignored --exact` and their environment variable set.

use std::process::{Command, Stdio};

use regsync_convert::ConvertConfig;
use regsync_snapshots::{apply, read, testkit};
use regsync_store::{Error, Store};

const WRITERS: usize = 8;
/// Updates per writer; `REGSYNC_TEST_UPDATES` lowers it for quick local runs.
fn updates() -> usize {
    std::env::var("REGSYNC_TEST_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}
/// Services the writers share: every service gets updates from every writer.
const SERVICES: usize = 8;
const ATTEMPTS: u32 = 1_000;

/// Update `u` of writer `w` registers its own instance in service `u % SERVICES`.
async fn write_updates(store: &Store, w: usize) {
    let config = ConvertConfig::default();
    for u in 0..updates() {
        let app = u % SERVICES;
        let ip = format!("10.{w}.{}.{}", u / 250, u % 250 + 1);
        let ev = testkit::instance_event(app, &ip, 1 + u as u64);
        apply(store, &[ev], &config, ATTEMPTS)
            .await
            .unwrap_or_else(|e| panic!("writer {w} update {u}: {e}"));
    }
}

/// Endpoints missing from the latest generation, out of every update written.
async fn lost_updates(store: &Store) -> usize {
    let view = read(store, &store.latest().await.expect("latest"))
        .await
        .expect("read");
    let seen: usize = view.entries.iter().map(|e| e.spec.endpoints.len()).sum();
    assert_eq!(view.entries.len(), SERVICES);
    (WRITERS * updates()) - seen
}

async fn tasks_lose_nothing(store: Store, name: &str) {
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = store.clone();
            tokio::spawn(async move { write_updates(&s, w).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer task");
    }
    let lost = lost_updates(&store).await;
    println!(
        "{name}: {WRITERS} writer tasks x {} updates on {SERVICES} shared services: lost updates = {lost}",
        updates()
    );
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_writer_tasks_lose_no_update_in_memory() {
    tasks_lose_nothing(Store::open("memory://").await.expect("memory"), "memory://").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_writer_tasks_lose_no_update_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf8"))
        .await
        .expect("file store");
    tasks_lose_nothing(store, "file://").await;
}

const WRITER_VAR: &str = "REGSYNC_SNAPSHOT_WRITER";

/// Arguments of this test binary that run only the ignored test `name`.
fn child_args(name: &str) -> [&str; 5] {
    ["--ignored", "--exact", name, "--test-threads", "1"]
}

#[tokio::test]
#[ignore = "a writer process of eight_writer_processes_lose_no_update_in_a_directory"]
async fn writer_process() {
    let spec = std::env::var(WRITER_VAR).expect("REGSYNC_SNAPSHOT_WRITER, set by the parent test");
    let (dir, w) = spec.split_once('#').expect("DIR#WRITER");
    let store = Store::open(dir).await.expect("file store");
    write_updates(&store, w.parse().expect("writer number")).await;
}

#[tokio::test]
async fn eight_writer_processes_lose_no_update_in_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf8").to_owned();
    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            Command::new(&exe)
                .args(child_args("writer_process"))
                .env(WRITER_VAR, format!("{path}#{w}"))
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
            "a writer failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Store::open(&path).await.expect("file store");
    let lost = lost_updates(&store).await;
    println!(
        "file:// with {WRITERS} writer processes x {} updates: lost updates = {lost}",
        updates()
    );
    assert_eq!(lost, 0);
}

const CRASH_VAR: &str = "REGSYNC_SNAPSHOT_CRASH_DIR";

/// Plans and writes every object of a change, then dies before swapping `latest`.
#[tokio::test]
#[ignore = "the dying writer of a_writer_killed_before_the_swap_leaves_the_previous_generation"]
async fn crash_writer() {
    let dir = std::env::var(CRASH_VAR).expect("REGSYNC_SNAPSHOT_CRASH_DIR, set by the parent test");
    let store = Store::open(&dir).await.expect("file store");
    let base = store.latest().await.expect("latest");
    let ev = testkit::instance_event(0, "10.99.0.1", 99);
    let mut plan = regsync_snapshots::apply::plan(&store, &base, &[ev], &ConvertConfig::default())
        .await
        .expect("plan");
    assert!(!plan.changes.is_empty());
    store
        .prepare(&base, std::mem::take(&mut plan.changes))
        .await
        .expect("objects written");
    std::process::abort();
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn a_writer_killed_before_the_swap_leaves_the_previous_generation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf8").to_owned();
    let store = Store::open(&path).await.expect("file store");
    let config = ConvertConfig::default();
    let g1 = apply(&store, &[testkit::registry(3, 2)], &config, 1)
        .await
        .expect("first generation")
        .generation;
    let before = read(&store, &g1).await.expect("read");
    let files_before = files_under(dir.path());

    let status = Command::new(std::env::current_exe().expect("test binary"))
        .args(child_args("crash_writer"))
        .env(CRASH_VAR, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the crashing writer");
    assert!(!status.success(), "the writer must die");
    assert!(
        files_under(dir.path()) > files_before,
        "the dead writer had written its objects"
    );

    let seen = store.latest().await.expect("latest");
    assert_eq!(seen.number, g1.number, "readers still see generation 1");
    assert_eq!(read(&store, &seen).await.expect("read"), before);

    let next = apply(
        &store,
        &[testkit::instance_event(0, "10.99.0.1", 99)],
        &config,
        1,
    )
    .await
    .expect("the next writer succeeds");
    assert_eq!(next.generation.number, 2);
    let after = read(&store, &next.generation).await.expect("read");
    let endpoints: usize = after.entries.iter().map(|e| e.spec.endpoints.len()).sum();
    assert_eq!(endpoints, 7, "six registered plus the new one");
}

#[tokio::test]
async fn a_corrupted_entry_is_reported_with_its_key_and_never_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf8"))
        .await
        .expect("file store");
    let config = ConvertConfig::default();
    let g = apply(&store, &[testkit::registry(2, 1)], &config, 1)
        .await
        .expect("publish")
        .generation;
    let services = store.services(&g).await.expect("services");
    let key = services["entry/service-0.eureka"].clone();
    std::fs::write(dir.path().join(&key), b"{\"format\":1,\"units\":[]}").expect("tamper");
    let err = read(&store, &g).await.expect_err("never served");
    assert!(
        matches!(&err, Error::Corrupt { key: k, .. } if *k == key),
        "{err}"
    );
    assert!(err.to_string().contains(&key), "{err}");
    // A writer touching that service refuses too, rather than building on a bad object.
    let err = apply(
        &store,
        &[testkit::instance_event(0, "10.0.0.9", 5)],
        &config,
        1,
    )
    .await
    .expect_err("a writer does not build on a corrupt object");
    assert!(err.to_string().contains(&key), "{err}");
}
