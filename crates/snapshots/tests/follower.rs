//! The follower (what `regsync mcp serve` reads generations with): after each change it holds
//! exactly what a full read of the same generation gives, it reads everything only once, and it
//! reads everything again when the generation it read before has been collected.
#![allow(clippy::unwrap_used)]

use regsync_convert::ConvertConfig;
use regsync_model::Entry;
use regsync_snapshots::{Follower, apply, read, testkit};
use regsync_store::Store;
use regsync_store::generations::GcOptions;

/// The follower's entries of the latest generation, in the order a full read gives.
async fn followed(follower: &mut Follower, store: &Store) -> Vec<Entry> {
    let latest = store.latest().await.unwrap();
    let mut entries: Vec<Entry> = follower
        .read(store, &latest)
        .await
        .unwrap()
        .into_iter()
        .cloned()
        .collect();
    entries.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    entries
}

async fn full(store: &Store) -> Vec<Entry> {
    let latest = store.latest().await.unwrap();
    read(store, &latest).await.unwrap().entries
}

#[tokio::test]
async fn each_generation_followed_equals_a_full_read_and_only_the_first_reads_everything() {
    let store = Store::open("memory://").await.unwrap();
    let config = ConvertConfig::default();
    apply(&store, &[testkit::registry_at(40, 3, 1)], &config, 1)
        .await
        .unwrap();
    let mut follower = Follower::default();
    assert_eq!(followed(&mut follower, &store).await, full(&store).await);

    // Instances added to some services, then a registry with fewer applications (removals),
    // then one with more again (additions), each compared with a full read.
    for round in 0..12u64 {
        let event = match round {
            5 => testkit::registry_at(30, 3, 100),
            9 => testkit::registry_at(45, 2, 200),
            _ => testkit::instance_event(round as usize * 3, "10.200.0.1", 300 + round),
        };
        apply(&store, &[event], &config, 1).await.unwrap();
        let expected = full(&store).await;
        assert_eq!(
            followed(&mut follower, &store).await,
            expected,
            "round {round}"
        );
    }
    assert_eq!(full(&store).await.len(), 45);
    // The same generation again: nothing read, same entries.
    assert_eq!(followed(&mut follower, &store).await, full(&store).await);
    assert_eq!(
        follower.full_reads(),
        1,
        "only the first read reads everything"
    );
}

#[tokio::test]
async fn a_collected_previous_generation_means_one_full_read_and_the_right_entries() {
    let store = Store::open("memory://").await.unwrap();
    let config = ConvertConfig::default();
    apply(&store, &[testkit::registry_at(20, 2, 1)], &config, 1)
        .await
        .unwrap();
    let mut follower = Follower::default();
    followed(&mut follower, &store).await;
    for v in 0..3u64 {
        let ev = testkit::instance_event(v as usize, "10.201.0.1", 10 + v);
        apply(&store, &[ev], &config, 1).await.unwrap();
    }
    let report = store
        .gc(GcOptions {
            retain: 1,
            grace: std::time::Duration::ZERO,
            dry_run: false,
        })
        .await
        .unwrap();
    assert!(report.deleted > 0, "{report}");
    assert_eq!(followed(&mut follower, &store).await, full(&store).await);
    assert_eq!(
        follower.full_reads(),
        2,
        "the collected generation cannot be compared"
    );
    // And from there on it follows again.
    apply(
        &store,
        &[testkit::instance_event(7, "10.201.0.2", 99)],
        &config,
        1,
    )
    .await
    .unwrap();
    assert_eq!(followed(&mut follower, &store).await, full(&store).await);
    assert_eq!(follower.full_reads(), 2);
}
