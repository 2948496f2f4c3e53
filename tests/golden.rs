//! Golden tests: every recorded scenario → snapshot → kubectl YAML, compared byte for byte with
//! `tests/golden/`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p regsync-e2e` and review.

use regsync_convert::{ConvertConfig, Outcome, apply, validate::validate_entry};
use regsync_e2e::{check_golden, repo_root, scenario_events, scenarios};
use regsync_model::Snapshot;

#[test]
fn every_recorded_scenario_matches_its_golden_snapshot_and_yaml() {
    let scenarios = scenarios();
    assert!(
        scenarios.len() >= 8,
        "expected the committed scenarios, found {}",
        scenarios.len()
    );
    let golden = repo_root().join("tests/golden");
    let mut total_entries = 0;
    for (name, dir) in scenarios {
        let events = scenario_events(&dir);
        let applied = apply(&Snapshot::empty(), &events, &ConvertConfig::default());
        for (o, e) in applied.outcomes.iter().zip(&events) {
            assert!(
                !matches!(o, Outcome::Rejected(_)),
                "{name}: event {} rejected: {o:?}",
                e.id
            );
        }
        total_entries += applied.snapshot.entries.len();
        for entry in &applied.snapshot.entries {
            assert_eq!(
                validate_entry(entry),
                Ok(()),
                "{name}: emitted an invalid entry"
            );
        }
        let snapshot = serde_json::to_string_pretty(&applied.snapshot).expect("serialize") + "\n";
        check_golden(&golden.join(format!("{name}.snapshot.json")), &snapshot);
        check_golden(
            &golden.join(format!("{name}.yaml")),
            &regsync_kube::to_yaml(&applied.snapshot.entries),
        );
    }
    assert!(
        total_entries >= 10,
        "the recordings should render many entries, got {total_entries}"
    );
}

/// The committed demo recording, replayed through the function core in batches of any size,
/// gives the committed snapshot byte for byte: the same ServiceEntries and the same digest of
/// every stored object.
#[test]
fn the_demo_recording_replays_into_the_committed_snapshot() {
    use regsync_pipeline::Pipeline;
    use regsync_pipeline::replay::{self, Options};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bytes = std::fs::read(repo_root().join("events/recordings/demo.jsonl")).expect("demo");
    let golden = repo_root().join("tests/golden");
    let mut digests = Vec::new();
    for batch in [1, 3, 1000] {
        let (yaml, digest) = rt.block_on(async {
            let store = regsync_store::Store::open("memory://")
                .await
                .expect("store");
            let pipeline = Pipeline::with_store(store.clone());
            let items = replay::items_from_bytes("demo.jsonl", &bytes, usize::MAX);
            let options = Options {
                batch,
                ..Options::default()
            };
            let report = replay::replay(&pipeline, items, &options, &mut |_| {}, &|| false)
                .await
                .expect("replay");
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            assert_eq!(report.applied, report.total, "batch {batch}");
            let generation = store.latest().await.expect("latest");
            let view = regsync_snapshots::read(&store, &generation)
                .await
                .expect("read");
            (
                regsync_kube::to_yaml(&view.entries),
                replay::digest(&store, &generation).await.expect("digest"),
            )
        });
        check_golden(&golden.join("replay-demo.yaml"), &yaml);
        digests.push(digest);
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    check_golden(
        &golden.join("replay-demo.digest"),
        &format!("{}\n", digests[0]),
    );
}
