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
