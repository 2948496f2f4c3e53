//! `regsync replay` run as a user runs it: the committed recordings into a file store, a
//! directory of dead letters, Ctrl-C and a hard kill in the middle and the resumed run, --until,
//! --dry-run --diff; with the `it` feature also from a Kafka topic (Apache Kafka) into S3 (SeaweedFS).

#![allow(clippy::unwrap_used)] // a failed step in a helper is a failed test

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Proc, ROOT};
use regsync_pipeline::replay::Checkpoint;

fn regsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `snapshot sha256:... (generation N)` line of a replay.
fn digest_of(out: &Output) -> String {
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("snapshot "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {stdout:?} / {}", text(&out.stderr)))
        .to_owned()
}

fn demo() -> String {
    format!("{ROOT}/events/recordings/demo.jsonl")
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join("tests/golden").join(name)).unwrap()
}

fn store_in(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

#[test]
fn the_demo_recording_replays_into_the_committed_snapshot_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    let out = regsync(&["replay", &demo(), "--store", &store]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("replayed 8 of 8 records") && stdout.contains("8 applied, 0 stale"),
        "{stdout}"
    );
    assert_eq!(digest_of(&out), golden("replay-demo.digest").trim());
    let get = regsync(&["snapshot", "get", "--store", &store]);
    assert_eq!(text(&get.stdout), golden("replay-demo.yaml"));
    // `snapshot digest` names the live store's content the same way, to audit it by a replay.
    let live = regsync(&["snapshot", "digest", "--store", &store]);
    assert!(live.status.success(), "{}", text(&live.stderr));
    assert_eq!(digest_of(&live), digest_of(&out));
    // An empty store is generation 0 with nothing in it: the digest of no services.
    let empty = tempfile::tempdir().unwrap();
    let none = regsync(&["snapshot", "digest", "--store", &store_in(empty.path())]);
    assert!(none.status.success(), "{}", text(&none.stderr));
    assert_eq!(
        text(&none.stdout),
        "snapshot sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 (generation 0)\n"
    );

    // The same command again: the checkpoint says it is done, nothing is published.
    let again = regsync(&["replay", &demo(), "--store", &store]);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("0 generation(s) published; 8 skipped"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(digest_of(&again), digest_of(&out));
    // --restart replays it all again: every event is stale, still nothing published.
    let restart = regsync(&["replay", &demo(), "--store", &store, "--restart"]);
    assert!(
        text(&restart.stdout).contains("0 applied, 8 stale, 0 rejected; 0 generation(s)"),
        "{}",
        text(&restart.stdout)
    );
}

/// A recording long enough to interrupt: the demo's services, each instance re-registered with
/// a newer version many times.
fn long_recording(dir: &Path, copies: usize) -> String {
    let demo = std::fs::read_to_string(demo()).unwrap();
    let mut out = String::new();
    for i in 0..copies {
        for line in demo.lines() {
            let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
            let version: u64 = event["sourceversion"].as_str().unwrap().parse().unwrap();
            // Later copies are newer observations of the same state.
            let newer = version + i as u64;
            event["sourceversion"] = newer.to_string().into();
            // ZooKeeper events carry their version in the data too.
            if event["data"].get("pzxid").is_some() {
                event["data"]["pzxid"] = newer.into();
            } else if event["data"].get("mzxid").is_some() {
                event["data"]["mzxid"] = newer.into();
            }
            event["id"] = format!("{}-copy{i}", event["id"].as_str().unwrap()).into();
            out.push_str(&event.to_string());
            out.push('\n');
        }
    }
    let path = dir.join("long.jsonl");
    std::fs::write(&path, out).unwrap();
    path.display().to_string()
}

/// The one replay checkpoint in the file store at `store_dir`, waiting until there is one (read
/// again while it is being replaced).
fn checkpoint(store_dir: &Path) -> Checkpoint {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<_> = std::fs::read_dir(store_dir.join("replay"))
            .into_iter()
            .flatten()
            .filter_map(|f| Some(f.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        if let [one] = files.as_slice()
            && let Ok(c) = serde_json::from_slice(&std::fs::read(one).unwrap_or_default())
        {
            return c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no readable checkpoint: {files:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_interrupted_replay_resumes_and_ends_with_the_same_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let recording = long_recording(dir.path(), 40);
    let whole = dir.path().join("whole");
    let out = regsync(&[
        "replay",
        &recording,
        "--store",
        &store_in(&whole),
        "--batch",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = digest_of(&out);

    // Ctrl-C: the batch in hand finishes, the checkpoint is saved, exit 130.
    let target = dir.path().join("target");
    let store = store_in(&target);
    let child = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["replay", &recording, "--store", &store, "--batch", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    checkpoint(&target);
    common::signal(&child, "-INT");
    let stopped = child.wait_with_output().unwrap();
    let stderr = text(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted after") && stderr.contains("run the same command again"),
        "{stderr}"
    );

    let interrupted = checkpoint(&target);
    assert!(
        interrupted.done < interrupted.total,
        "Ctrl-C stopped the replay before its end: {interrupted:?}"
    );

    // A hard kill of the resumed run, once it has checkpointed a batch of its own (so the kill
    // lands mid-replay, not before it started): only what a checkpoint names is skipped next
    // time.
    let mut resumed = Proc(
        Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(["replay", &recording, "--store", &store, "--batch", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while checkpoint(&target).done == interrupted.done {
        assert!(
            std::time::Instant::now() < deadline,
            "the resumed run made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    resumed.kill().unwrap();
    let killed = resumed.wait().unwrap();
    assert_eq!(
        killed.signal(),
        Some(9),
        "SIGKILL ended the resumed run, not its end: {killed:?}"
    );
    let at_kill = checkpoint(&target);
    assert!(
        interrupted.done < at_kill.done && at_kill.done < at_kill.total,
        "killed mid-replay: {at_kill:?} after {interrupted:?}"
    );

    let last = regsync(&["replay", &recording, "--store", &store, "--batch", "1"]);
    assert!(last.status.success(), "{}", text(&last.stderr));
    let said = text(&last.stderr);
    assert!(
        said.contains(&format!(
            "resuming after {} of {} records",
            at_kill.done, at_kill.total
        )),
        "{said}"
    );
    assert_eq!(digest_of(&last), expected);
    let (a, b) = (
        regsync(&["snapshot", "get", "--store", &store]),
        regsync(&["snapshot", "get", "--store", &store_in(&whole)]),
    );
    assert_eq!(text(&a.stdout), text(&b.stdout));
}

#[test]
fn until_rebuilds_the_state_as_of_a_moment() {
    // added 06:27:41.357, marked DOWN 06:28:11.357, deleted later.
    let files: Vec<String> = common::scenario_files("eureka-events/instance-lifecycle")
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut recording = String::new();
    for f in &files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        recording.push_str(&v.to_string());
        recording.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lifecycle.jsonl");
    std::fs::write(&path, recording).unwrap();
    let path = path.display().to_string();

    let at = |until: &str, name: &str| {
        let store = store_in(&dir.path().join(name));
        let out = regsync(&["replay", &path, "--store", &store, "--until", until]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (
            text(&out.stdout),
            text(&regsync(&["snapshot", "get", "--store", &store]).stdout),
        )
    };
    let (said, up) = at("2020-12-03T06:28:00Z", "up");
    assert!(
        said.contains("left out by --until: 2 later, 0 without a time"),
        "{said}"
    );
    assert!(up.contains("address: 10.8.30.55"), "{up}");
    let (_, down) = at("2020-12-03T07:28:12+01:00", "down");
    assert!(!down.contains("10.8.30.55"), "{down}");

    let bad = regsync(&["replay", &path, "--until", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("\"yesterday\" is not an RFC 3339 time"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn a_dry_run_diff_shows_what_would_change_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    let first = format!(
        "{ROOT}/events/recordings/dubbo-zk/scale-down/001-providers-DemoService-two-providers.json"
    );
    assert!(
        regsync(&["replay", &first, "--store", &store])
            .status
            .success()
    );
    let before = regsync(&["snapshot", "ls", "--store", &store]);

    let rest = format!(
        "{ROOT}/events/recordings/dubbo-zk/scale-down/002-providers-DemoService-one-removed.json"
    );
    let out = regsync(&[
        "replay",
        &rest,
        &demo(),
        "--store",
        &store,
        "--dry-run",
        "--diff",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(dry run: nothing written)"), "{stdout}");
    // One DemoService provider leaves; the demo's services are added.
    assert!(stdout.contains("~ dubbo/"), "{stdout}");
    assert!(stdout.contains("    - "), "{stdout}");
    assert!(stdout.contains("+ eureka/"), "{stdout}");
    let after = regsync(&["snapshot", "ls", "--store", &store]);
    assert_eq!(text(&before.stdout), text(&after.stdout));
    assert!(
        !dir.path().join("replay").exists() || {
            // Only the first replay's checkpoint.
            std::fs::read_dir(dir.path().join("replay"))
                .unwrap()
                .count()
                == 1
        }
    );
}

#[test]
fn dead_letters_in_a_store_replay_and_bad_records_are_named() {
    use regsync_pipeline::{DeadLetter, KafkaRecord, Rejection};
    let dir = tempfile::tempdir().unwrap();
    let letters = dir.path().join("dead-letter");
    let event = std::fs::read(format!(
        "{ROOT}/events/recordings/eureka-events/single-app/001-application.json"
    ))
    .unwrap();
    let good = DeadLetter::new(
        &KafkaRecord {
            topic: "registry-events".into(),
            partition: 0,
            offset: 41,
            timestamp_ms: None,
            key: None,
            value: Some(event),
            headers: vec![],
        },
        Rejection::new(
            "too_large",
            None,
            "over REGSYNC_MAX_RECORD_BYTES at the time",
        ),
    );
    let bad = DeadLetter::new(
        &KafkaRecord {
            topic: "registry-events".into(),
            partition: 0,
            offset: 42,
            timestamp_ms: None,
            key: None,
            value: Some(b"{\"specversion\":\"1.0\"}".to_vec()),
            headers: vec![],
        },
        Rejection::new("missing_field", Some("id"), "no id"),
    );
    for letter in [&good, &bad] {
        let path = dir.path().join(letter.object_key());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec_pretty(letter).unwrap()).unwrap();
    }
    let store = store_in(&dir.path().join("store"));
    let out = regsync(&["replay", &store_in(&letters), "--store", &store]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not replayed: ") && stderr.contains("registry-events/0@42"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("1 applied, 0 stale, 1 rejected"));
    let get = text(&regsync(&["snapshot", "get", "--store", &store]).stdout);
    assert!(get.contains("kind: ServiceEntry"), "{get}");
}

#[test]
fn help_teaches_sources_and_a_missing_file_says_what_a_source_is() {
    let help = text(&regsync(&["replay", "--help"]).stdout);
    for needle in [
        "kafka://",
        "s3://",
        "--until",
        "--dry-run",
        "resumes",
        "Examples:",
    ] {
        assert!(help.contains(needle), "{needle} missing from {help}");
    }
    let out = regsync(&["replay", "/nonexistent.jsonl", "--store", "memory://"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read /nonexistent.jsonl; a SOURCE is a file"),
        "{}",
        text(&out.stderr)
    );
}

/// A topic on the real broker replayed into the real S3-compatible server.
#[cfg(feature = "it")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_topic_replays_into_s3() {
    use common::{create_topic, produce, structured, unique};
    let topic = unique("replay");
    create_topic(&topic, 2).await;
    let mut records = Vec::new();
    for line in std::fs::read_to_string(demo()).unwrap().lines() {
        records.push(structured(line.as_bytes()));
    }
    records.push(("junk".into(), Some(b"not an event".to_vec()), vec![]));
    produce(&topic, &records).await;
    let endpoint = std::env::var("REGSYNC_IT_S3_ENDPOINT").expect(
        "REGSYNC_IT_S3_ENDPOINT is not set: run `eval \"$(scripts/services.sh start seaweedfs)\"` first",
    );
    let bucket = unique("replay").to_lowercase();
    // Creates the bucket.
    regsync_store::testsuite::s3_store(&endpoint, &bucket, "x", Default::default()).await;
    let source = format!("kafka://{}/{topic}", common::brokers());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args([
                "replay",
                &source,
                "--store",
                &format!("s3://{bucket}/rebuilt"),
            ])
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{topic}/")), "{stderr}");
    assert_eq!(digest_of(&out), golden("replay-demo.digest").trim());
}
