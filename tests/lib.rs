//! Test harness shared by the end-to-end and golden tests: where the recordings are, how a
//! scenario is read, and how golden files are compared or regenerated (`UPDATE_GOLDEN=1`).

use std::path::{Path, PathBuf};

use regsync_convert::input::{RawDefaults, events_from_bytes};
use regsync_model::RegistryEvent;
use regsync_model::event::DEFAULT_MAX_PAYLOAD;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Every recorded scenario directory (`events/recordings/<source>/<scenario>`, raw payloads
/// excepted) with its name `<source>-<scenario>`, sorted.
pub fn scenarios() -> Vec<(String, std::path::PathBuf)> {
    let root = repo_root().join("events/recordings");
    let mut out = Vec::new();
    for source in std::fs::read_dir(&root).expect("events/recordings exists") {
        let source = source.expect("entry").path();
        if !source.is_dir() {
            continue;
        }
        for scenario in std::fs::read_dir(&source).expect("source dir") {
            let scenario = scenario.expect("entry").path();
            if scenario.is_dir() && scenario.file_name().is_some_and(|n| n != "raw") {
                let name = format!(
                    "{}-{}",
                    source.file_name().expect("name").to_string_lossy(),
                    scenario.file_name().expect("name").to_string_lossy()
                );
                out.push((name, scenario));
            }
        }
    }
    out.sort();
    out
}

/// The files of a scenario directory in order (`NNN-*`), skipping READMEs.
pub fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|x| x == "json" || x == "xml" || x == "txt")
        })
        .collect();
    files.sort();
    files
}

/// Every event of a scenario, in file order, the way `regsync convert` reads them.
pub fn scenario_events(dir: &Path) -> Vec<RegistryEvent> {
    let mut out = Vec::new();
    for (i, f) in scenario_files(dir).iter().enumerate() {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display()));
        let name = f
            .strip_prefix(repo_root())
            .unwrap_or(f)
            .display()
            .to_string();
        let events = events_from_bytes(
            &name,
            i as u64 + 1,
            &bytes,
            &RawDefaults::default(),
            DEFAULT_MAX_PAYLOAD,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        out.extend(events);
    }
    out
}

/// Compares `actual` with the golden file, or rewrites it when `UPDATE_GOLDEN=1`.
pub fn check_golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("golden files live in a directory"))
            .expect("create golden dir");
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "missing golden file {} ({e}); run UPDATE_GOLDEN=1 cargo test -p regsync-e2e",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{} differs from the output at line {}:\n  golden: {:?}\n  actual: {:?}\nreview and regenerate with UPDATE_GOLDEN=1 cargo test -p regsync-e2e",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}
