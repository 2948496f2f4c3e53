//! The sharded snapshot in object storage renders exactly what the whole-state conversion
//! renders, whatever the batching and order: every recorded scenario is applied event by event,
//! in one batch, in uneven batches and backwards, to a fresh store, and the entries and
//! rejections read back are compared with `regsync_convert::apply` over all events at once.

use regsync_convert::config::DuplicateHostPolicy;
use regsync_convert::{ConvertConfig, apply as convert_all};
use regsync_e2e::{scenario_events, scenarios};
use regsync_model::{RegistryEvent, Snapshot};
use regsync_snapshots::{View, apply, read};
use regsync_store::Store;

/// Applies `events` in batches of the given sizes (cycled) and reads the result back.
async fn through_store(events: &[RegistryEvent], sizes: &[usize], config: &ConvertConfig) -> View {
    let store = Store::open("memory://").await.expect("memory store");
    let mut rest = events;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let (batch, tail) = rest.split_at(n);
        apply(&store, batch, config, 1).await.expect("apply");
        rest = tail;
        i += 1;
    }
    read(&store, &store.latest().await.expect("latest"))
        .await
        .expect("read")
}

async fn check(name: &str, events: &[RegistryEvent], config: &ConvertConfig) -> usize {
    let whole = convert_all(&Snapshot::empty(), events, config).snapshot;
    let mut backwards = events.to_vec();
    backwards.reverse();
    for (how, evs, sizes) in [
        ("one by one", events, &[1][..]),
        ("one batch", events, &[usize::MAX][..]),
        ("uneven batches", events, &[2, 1, 3][..]),
        ("backwards", &backwards[..], &[1][..]),
    ] {
        let view = through_store(evs, sizes, config).await;
        assert_eq!(view.entries, whole.entries, "{name}, {how}: entries differ");
        assert_eq!(
            view.rejected, whole.rejected,
            "{name}, {how}: rejections differ"
        );
    }
    whole.entries.len()
}

#[tokio::test]
async fn every_scenario_renders_the_same_through_the_store() {
    let mut entries = 0;
    let mut all = Vec::new();
    for (name, dir) in scenarios() {
        let events = scenario_events(&dir);
        entries += check(&name, &events, &ConvertConfig::default()).await;
        all.extend(events);
    }
    assert!(
        entries >= 10,
        "the recordings render many entries, got {entries}"
    );
    // Every scenario at once: applications and interfaces from many sources in one state.
    check("all scenarios", &all, &ConvertConfig::default()).await;
}

/// The same applications in two registries share hosts, so one unit's change re-renders the
/// other registry's unit too; both duplicate-host policies.
#[tokio::test]
async fn hosts_shared_by_two_registries_merge_the_same_way() {
    let mut events = Vec::new();
    for (name, dir) in scenarios() {
        if !name.starts_with("eureka-events-") && !name.starts_with("dubbo-zk-") {
            continue;
        }
        for registry in ["east", "west"] {
            let mut evs = scenario_events(&dir);
            for e in &mut evs {
                e.registry = registry.to_owned();
                e.id = format!("{registry}-{}", e.id);
            }
            events.extend(evs);
        }
    }
    let merge = ConvertConfig::default();
    check("two registries, merge", &events, &merge).await;
    let merged = convert_all(&Snapshot::empty(), &events, &merge).snapshot;
    assert!(
        merged
            .entries
            .iter()
            .any(|e| e.annotations.values().any(|v| v == "east,west")),
        "some entry should hold both registries' endpoints"
    );
    let prefer = ConvertConfig {
        duplicate_hosts: DuplicateHostPolicy::Prefer {
            order: vec!["west".into()],
        },
        ..ConvertConfig::default()
    };
    let whole = convert_all(&Snapshot::empty(), &events, &prefer).snapshot;
    assert!(
        whole
            .rejected
            .iter()
            .any(|r| r.reasons.iter().any(|x| x.contains("prefer"))),
        "the prefer policy should shadow east's endpoints"
    );
    check("two registries, prefer", &events, &prefer).await;
}
