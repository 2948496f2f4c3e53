//! Every CloudEvent under `events/recordings/` validates; raw payloads stay raw.

// Helpers here are test code too; clippy.toml allows unwrap in tests but cannot see them.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use regsync_events::{Layout, validate_file, validate_paths};
use serde_json::Value;

fn recordings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/recordings")
}

/// Directories of raw registry payloads (inputs to `regsync convert`), not CloudEvents.
const RAW_DIRS: &[&str] = &["eureka", "dubbo-zk/raw"];

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path)
            } else {
                out.push(path)
            }
        }
    }
    out.sort();
    out
}

fn is_raw(path: &Path) -> bool {
    let rel = path.strip_prefix(recordings()).unwrap();
    RAW_DIRS.iter().any(|d| rel.starts_with(d))
}

/// The scenario files: one CloudEvent each, `NNN-*.json`.
fn event_files() -> Vec<PathBuf> {
    files_under(&recordings())
        .into_iter()
        .filter(|p| !is_raw(p) && !is_recording(p))
        .collect()
}

/// Whole recordings (`*.jsonl` beside the scenario directories), as `regsync record` writes them.
fn is_recording(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "jsonl")
}

/// The scenarios `demo.jsonl` is made of, in order (see events/README.md).
const DEMO_SCENARIOS: &[&str] = &[
    "eureka-events/istio-pilot-testdata",
    "eureka-events/single-app",
    "dubbo-zk/dubbo27-providers",
    "dubbo-zk/dubbo3-tri-and-app-level",
];

#[test]
fn the_demo_recording_is_the_scenarios_it_names_one_per_line() {
    let path = recordings().join("demo.jsonl");
    let report = validate_file(&path);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.layout, Layout::Lines);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut expected = Vec::new();
    for scenario in DEMO_SCENARIOS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(recordings().join(scenario))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            expected
                .push(serde_json::from_str::<Value>(&std::fs::read_to_string(f).unwrap()).unwrap());
        }
    }
    assert_eq!(lines, expected);
}

#[test]
fn every_cloudevent_recording_validates() {
    let files = event_files();
    assert!(
        files.len() >= 20,
        "expected the recorded scenarios, found {}",
        files.len()
    );
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            name.len() > 4
                && name[..3].bytes().all(|b| b.is_ascii_digit())
                && name.ends_with(".json"),
            "{name}: not NNN-*.json"
        );
        let report = validate_file(path);
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.layout, Layout::Single, "{}", path.display());
        assert!(report.records[0].summary.is_some());
    }
}

#[test]
fn validating_the_event_directories_finds_every_file_and_no_problem() {
    let dirs: Vec<PathBuf> = ["eureka-events", "dubbo-zk"]
        .iter()
        .map(|d| recordings().join(d))
        .collect();
    let report = validate_paths(&dirs);
    // `dubbo-zk/raw` holds no .json CloudEvent but two .json payloads: validate them apart.
    let events: Vec<_> = report.files.iter().filter(|f| !is_raw(&f.path)).collect();
    assert_eq!(events.len(), event_files().len());
    assert!(events.iter().all(|f| f.is_ok()), "{report}");
}

#[test]
fn raw_payloads_are_not_cloudevents() {
    for path in files_under(&recordings()).into_iter().filter(|p| is_raw(p)) {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(&text) {
            assert!(
                !obj.contains_key("specversion"),
                "{}: a CloudEvent among raw payloads",
                path.display()
            );
        }
    }
}

#[test]
fn scenarios_are_numbered_without_gaps() {
    let mut by_dir = std::collections::BTreeMap::<PathBuf, Vec<u32>>::new();
    for path in event_files() {
        let n: u32 = path.file_name().unwrap().to_str().unwrap()[..3]
            .parse()
            .unwrap();
        by_dir
            .entry(path.parent().unwrap().to_owned())
            .or_default()
            .push(n);
    }
    for (dir, mut numbers) in by_dir {
        numbers.sort();
        let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
        assert_eq!(numbers, expected, "{}", dir.display());
    }
}
