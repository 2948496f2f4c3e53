//! `regsync snapshot digest` run as a user runs it, on a file:// store that `regsync replay`
//! built: the intact store gives the committed digest; the root, the trie node, a unit object
//! and an entry object, each truncated, with a bit flipped or deleted, give no digest, a
//! non-zero exit and an error naming the object; a `latest` whose generation is not its root's
//! stops both `snapshot digest` and `snapshot apply`.

#![allow(clippy::unwrap_used)] // a failed step in a helper is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::ROOT;

/// What a run of the binary gave: its exit code, stdout and stderr.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn regsync(args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Ran {
        code: out.status.code(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

fn store_in(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

fn json(dir: &Path, key: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(key)).unwrap()).unwrap()
}

fn digest(dir: &Path) -> Ran {
    regsync(&["snapshot", "digest", "--store", &store_in(dir)])
}

/// A store with the demo recording replayed into it.
fn demo_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let demo = format!("{ROOT}/events/recordings/demo.jsonl");
    let out = regsync(&["replay", &demo, "--store", &store_in(dir.path())]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    dir
}

/// The root, the top trie node, a unit object and an entry object of the latest generation.
fn one_of_each(dir: &Path) -> Vec<(&'static str, String)> {
    let root = json(dir, "latest")["root"].as_str().unwrap().to_owned();
    let top = json(dir, &root)["tree"].as_str().unwrap().to_owned();
    let leaf = json(dir, &top);
    // The demo's few services fit in one leaf.
    let services = leaf["leaf"].as_object().expect("the top node is a leaf");
    let object = |entry: bool| {
        services
            .iter()
            .find(|(service, _)| service.starts_with("entry/") == entry)
            .map(|(_, object)| object.as_str().unwrap().to_owned())
            .unwrap()
    };
    vec![
        ("root", root),
        ("trie leaf", top),
        ("unit object", object(false)),
        ("entry object", object(true)),
    ]
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Truncates an object, flips a bit in its middle, or deletes it.
fn damage(path: &Path, how: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    match how {
        "truncated" => bytes.truncate(middle),
        "bit flipped" => bytes[middle] ^= 0x10,
        _ => return std::fs::remove_file(path).unwrap(),
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_object_of_any_kind_gives_no_digest_and_names_the_object() {
    let intact = demo_store();
    let out = digest(intact.path());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let golden =
        std::fs::read_to_string(format!("{ROOT}/tests/golden/replay-demo.digest")).unwrap();
    assert!(
        out.stdout
            .starts_with(&format!("snapshot {} (", golden.trim())),
        "{}",
        out.stdout
    );

    for (what, key) in one_of_each(intact.path()) {
        for how in ["truncated", "bit flipped", "deleted"] {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(intact.path(), dir.path());
            damage(&dir.path().join(&key), how);

            let Ran {
                code,
                stdout,
                stderr,
            } = digest(dir.path());
            let context = format!("{what} {key} {how}: {stdout}{stderr}");
            assert_eq!(code, Some(1), "{context}");
            assert!(!stdout.contains("sha256:"), "{context}");
            assert!(stderr.contains(&key), "{context}");
            let wrong = if how == "deleted" {
                "missing"
            } else {
                "is corrupt"
            };
            assert!(stderr.contains(wrong), "{context}");
            assert!(stderr.contains("regsync replay"), "{context}");
        }
    }
}

#[test]
fn a_latest_that_disagrees_with_its_root_stops_digest_and_apply() {
    let dir = demo_store();
    let root = json(dir.path(), "latest")["root"]
        .as_str()
        .unwrap()
        .to_owned();
    let generation = json(dir.path(), &root)["generation"].as_u64().unwrap();
    let wrong = format!(r#"{{"format":2,"generation":3231,"root":"{root}"}}"#);
    std::fs::write(dir.path().join("latest"), &wrong).unwrap();
    let says = [
        "claims generation 3231".to_owned(),
        format!("{root} is generation {generation}"),
    ];

    let out = digest(dir.path());
    assert_eq!(out.code, Some(1));
    assert!(!out.stdout.contains("sha256:"));
    for s in &says {
        assert!(out.stderr.contains(s.as_str()), "{}", out.stderr);
    }

    let event = common::scenario_files("eureka-events/single-app")
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let apply = regsync(&[
        "snapshot",
        "apply",
        "--store",
        &store_in(dir.path()),
        event.to_str().unwrap(),
    ]);
    assert_eq!(apply.code, Some(1), "{}", apply.stdout);
    for s in &says {
        assert!(apply.stderr.contains(s.as_str()), "{}", apply.stderr);
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("latest")).unwrap(),
        wrong
    );
}
