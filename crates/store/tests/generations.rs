//! Snapshot generations: publish, read, diff, concurrent writers, a writer that dies before the
//! swap, corrupted objects, the trie's growth and cost per change, change detection, and
//! garbage collection.

use std::collections::BTreeSet;
use std::time::Duration;

use regsync_store::generations::{Change, GcOptions, Generation, LATEST, Node};
use regsync_store::{Error, Store};
use sha2::Digest as _;

async fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = Store::open(dir.path().to_str().expect("utf8"))
        .await
        .expect("file store");
    vec![
        (Store::open("memory://").await.expect("memory"), None),
        (file, Some(dir)),
    ]
}

fn set(service: &str, value: &str) -> Change {
    (service.to_owned(), Some(value.as_bytes().to_vec()))
}

/// Publishes fixed changes in one attempt.
async fn publish(
    store: &Store,
    changes: Vec<Change>,
) -> regsync_store::Result<regsync_store::generations::Generation> {
    store
        .update(1, |_, _| {
            let c = changes.clone();
            async move { Ok(c) }
        })
        .await
}

#[tokio::test]
async fn a_published_generation_reads_back_and_diffs_by_service() {
    for (store, _dir) in stores().await {
        let empty = store.latest().await.expect("latest");
        assert_eq!(empty.number, 0);
        let g1 = publish(
            &store,
            vec![set("eureka/ORDERS", "a"), set("dubbo/com.x.Greeter", "b")],
        )
        .await
        .expect("publish");
        let g2 = publish(
            &store,
            vec![
                set("eureka/ORDERS", "a2"),
                ("dubbo/com.x.Greeter".to_owned(), None),
            ],
        )
        .await
        .expect("publish");
        assert_eq!((g1.number, g2.number), (1, 2));
        let latest = store.latest().await.expect("latest");
        assert_eq!(latest, g2);
        assert_eq!(
            store
                .read_service(&latest, "eureka/ORDERS")
                .await
                .expect("read")
                .as_deref(),
            Some(b"a2".as_slice())
        );
        assert_eq!(
            store
                .read_service(&latest, "dubbo/com.x.Greeter")
                .await
                .expect("read"),
            None
        );
        assert_eq!(
            store
                .read_service(&g1, "dubbo/com.x.Greeter")
                .await
                .expect("read")
                .as_deref(),
            Some(b"b".as_slice())
        );
        let changed = store.changed_services(&g1, &g2).await.expect("diff");
        assert_eq!(
            changed.into_iter().collect::<Vec<_>>(),
            ["dubbo/com.x.Greeter", "eureka/ORDERS"]
        );
        assert!(
            store
                .changed_services(&g2, &g2)
                .await
                .expect("diff")
                .is_empty()
        );
    }
}

/// `start_empty` publishes generation 1 with nothing in it on an empty store, and nothing on
/// a store that has a generation.
#[tokio::test]
async fn start_empty_publishes_an_empty_first_generation_only_once() {
    for (store, _dir) in stores().await {
        let first = store.start_empty().await.expect("start_empty");
        assert_eq!(first.number, 1);
        assert_eq!(store.latest().await.expect("latest").number, 1);
        let g2 = publish(&store, vec![set("eureka/ORDERS", "a")])
            .await
            .expect("publish");
        assert_eq!(g2.number, 2);
        let again = store.start_empty().await.expect("start_empty");
        assert_eq!(again.number, 2, "a store with generations is left alone");
        let changed = store.changed_services(&first, &g2).await.expect("diff");
        assert_eq!(changed.len(), 1, "{changed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_on_overlapping_services_lose_no_update() {
    const WRITERS: usize = 8;
    const UPDATES: usize = 40;
    const SERVICES: [&str; 4] = ["s/a", "s/b", "s/c", "s/d"];
    for (store, _dir) in stores().await {
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for u in 0..UPDATES {
                    // Each update bumps two of the four services, so writers overlap.
                    let touched = [SERVICES[(w + u) % 4], SERVICES[(w + u + 1) % 4]];
                    store
                        .update(1000, move |s, base| async move {
                            let mut changes = Vec::new();
                            for svc in touched {
                                let n = match s.read_service(&base, svc).await? {
                                    Some(b) => {
                                        String::from_utf8_lossy(&b).parse::<usize>().unwrap_or(0)
                                    }
                                    None => 0,
                                };
                                changes.push(set(svc, &(n + 1).to_string()));
                            }
                            Ok(changes)
                        })
                        .await
                        .expect("update within the retry budget");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
        let latest = store.latest().await.expect("latest");
        let mut total = 0;
        for svc in SERVICES {
            let b = store
                .read_service(&latest, svc)
                .await
                .expect("read")
                .expect("service exists");
            total += String::from_utf8_lossy(&b)
                .parse::<usize>()
                .expect("number");
        }
        let lost = (WRITERS * UPDATES * 2) as i64 - total as i64;
        println!(
            "{WRITERS} writers x {UPDATES} updates: generation {}, lost updates = {lost}",
            latest.number
        );
        assert_eq!(lost, 0);
        assert_eq!(
            latest.number,
            (WRITERS * UPDATES) as u64,
            "one generation per update"
        );
    }
}

#[tokio::test]
async fn a_writer_that_dies_before_the_swap_leaves_the_previous_generation_visible() {
    for (store, _dir) in stores().await {
        let g1 = publish(&store, vec![set("s/a", "1")])
            .await
            .expect("publish");
        // The dying writer: objects written, `latest` never swapped.
        let (_root_key, _root) = store
            .prepare(&g1, vec![set("s/a", "2"), set("s/b", "x")])
            .await
            .expect("prepare");
        let seen = store.latest().await.expect("latest");
        assert_eq!(seen, g1, "readers see the previous complete generation");
        assert_eq!(
            store
                .read_service(&seen, "s/a")
                .await
                .expect("read")
                .as_deref(),
            Some(b"1".as_slice())
        );
        let g2 = publish(&store, vec![set("s/a", "3")])
            .await
            .expect("the next writer succeeds");
        assert_eq!(g2.number, 2);
        assert_eq!(
            store.read_service(&g2, "s/b").await.expect("read"),
            None,
            "the dead writer's change never landed"
        );
    }
}

#[tokio::test]
async fn a_corrupted_service_object_is_reported_with_its_key_and_not_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf8"))
        .await
        .expect("file store");
    let g = publish(&store, vec![set("s/a", "healthy")])
        .await
        .expect("publish");
    let key = store.services(&g).await.expect("services")["s/a"].clone();
    std::fs::write(dir.path().join(&key), b"tampered").expect("corrupt the object on disk");
    let err = store
        .read_service(&g, "s/a")
        .await
        .expect_err("a corrupt object is not served");
    assert!(
        matches!(&err, Error::Corrupt { key: k, .. } if *k == key),
        "{err}"
    );
    assert!(err.to_string().contains(&key));
}

#[tokio::test]
async fn a_conflict_after_the_retry_budget_is_returned_as_retryable() {
    let store = Store::open("memory://").await.expect("memory");
    let err = store
        .update(1, |s, _| async move {
            // Another writer publishes between our read and our swap.
            publish(&s, vec![set("s/x", "other")]).await?;
            Ok(vec![set("s/x", "mine")])
        })
        .await
        .expect_err("one attempt, lost race");
    assert!(
        matches!(err, Error::Conflict { .. }) && err.is_retryable(),
        "{err}"
    );
}

/// Deterministic pseudo-random numbers for picking services.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn service(i: usize) -> String {
    format!("eureka/APP-{i:05}")
}

/// Publishes `n` services in one generation.
async fn publish_many(store: &Store, n: usize) -> Generation {
    let changes = (0..n).map(|i| set(&service(i), &format!("v{i}"))).collect();
    publish(store, changes).await.expect("publish many")
}

/// The top trie node of a generation.
async fn top_node(store: &Store, g: &Generation) -> Node {
    let key = g.root.tree.as_deref().expect("a tree");
    let bytes = store.get_content(key).await.expect("read").expect("exists");
    serde_json::from_slice(&bytes).expect("a node")
}

#[tokio::test]
async fn two_thousand_services_split_the_trie_and_read_back() {
    let store = Store::open("memory://").await.expect("memory");
    let g1 = publish_many(&store, 2000).await;
    assert!(
        matches!(top_node(&store, &g1).await, Node::Branch(_)),
        "2,000 services do not fit in one leaf"
    );
    let all = store.services(&g1).await.expect("services");
    assert_eq!(all.len(), 2000);
    assert!((0..2000).all(|i| all.contains_key(&service(i))));

    let mut rng = Lcg(7);
    for _ in 0..50 {
        let i = rng.below(2000);
        let read = store.read_service(&g1, &service(i)).await.expect("read");
        assert_eq!(read, Some(format!("v{i}").into_bytes()), "{}", service(i));
    }
    assert_eq!(
        store
            .read_service(&g1, "eureka/NOT-THERE")
            .await
            .expect("read"),
        None
    );

    let wanted: Vec<String> = (0..2000)
        .step_by(7)
        .map(service)
        .chain(["eureka/NOT-THERE".to_owned()])
        .collect();
    let batch = store.read_services(&g1, &wanted).await.expect("batch read");
    assert_eq!(
        batch.len(),
        wanted.len() - 1,
        "every existing service, once"
    );
    for (s, bytes) in &batch {
        let i: usize = s.trim_start_matches("eureka/APP-").parse().expect("index");
        assert_eq!(bytes, format!("v{i}").as_bytes());
    }

    let touched = [service(3), service(1234), service(1999)];
    let g2 = publish(
        &store,
        vec![
            set(&touched[0], "new"),
            set(&touched[1], "new"),
            (touched[2].clone(), None),
        ],
    )
    .await
    .expect("publish");
    let changed = store.changed_services(&g1, &g2).await.expect("diff");
    assert_eq!(changed, touched.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(store.services(&g2).await.expect("services").len(), 1999);
    assert_eq!(
        store.read_service(&g2, &touched[1]).await.expect("read"),
        Some(b"new".to_vec())
    );
}

#[tokio::test]
async fn diffs_work_across_leaves_that_split_and_branches_that_shrink() {
    for (store, _dir) in stores().await {
        let small = publish_many(&store, 20).await;
        assert!(matches!(top_node(&store, &small).await, Node::Leaf(_)));
        let added: Vec<Change> = (20..60).map(|i| set(&service(i), "x")).collect();
        let big = publish(&store, added).await.expect("grow");
        assert!(matches!(top_node(&store, &big).await, Node::Branch(_)));
        let expected: BTreeSet<String> = (20..60).map(service).collect();
        assert_eq!(
            store.changed_services(&small, &big).await.expect("diff"),
            expected,
            "a leaf against a branch"
        );
        assert_eq!(
            store.changed_services(&big, &small).await.expect("diff"),
            expected,
            "a branch against a leaf"
        );

        let removed: Vec<Change> = (10..60).map(|i| (service(i), None)).collect();
        let shrunk = publish(&store, removed).await.expect("shrink");
        let left = store.services(&shrunk).await.expect("services");
        assert_eq!(
            left.keys().cloned().collect::<Vec<_>>(),
            (0..10).map(service).collect::<Vec<_>>()
        );
        assert_eq!(
            store.changed_services(&big, &shrunk).await.expect("diff"),
            (10..60).map(service).collect::<BTreeSet<_>>()
        );
        assert_eq!(
            store.changed_services(&small, &shrunk).await.expect("diff"),
            (10..20).map(service).collect::<BTreeSet<_>>()
        );
        let gone: Vec<Change> = (0..10).map(|i| (service(i), None)).collect();
        let empty = publish(&store, gone).await.expect("empty");
        assert_eq!(empty.root.tree, None, "no services, no tree");
        assert!(store.services(&empty).await.expect("services").is_empty());
    }
}

/// Objects and bytes written by publishing `changes` (new objects plus the new `latest`).
async fn cost_of(store: &Store, changes: Vec<Change>) -> (usize, u64) {
    let before: BTreeSet<String> = store
        .list("")
        .await
        .expect("list")
        .into_iter()
        .filter(|k| k != LATEST)
        .collect();
    publish(store, changes).await.expect("publish");
    store
        .list_modified("")
        .await
        .expect("list")
        .into_iter()
        .filter(|o| !before.contains(&o.key))
        .fold((0, 0), |(n, b), o| (n + 1, b + o.size))
}

/// Average objects and bytes one service change writes in a store of `services` services, over
/// `samples` changes of 2 KB objects (services are a few KB).
async fn cost_per_change(services: usize, samples: usize) -> (f64, f64) {
    let store = Store::open("memory://").await.expect("memory");
    publish_many(&store, services).await;
    let mut rng = Lcg(services as u64);
    let (mut objects, mut bytes) = (0, 0);
    for n in 0..samples {
        let body = format!("{n:02}").repeat(1024);
        let (o, b) = cost_of(&store, vec![set(&service(rng.below(services)), &body)]).await;
        objects += o;
        bytes += b;
    }
    (
        objects as f64 / samples as f64,
        bytes as f64 / samples as f64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_change_costs_at_most_twice_as_much_at_20000_services_as_at_100() {
    let (small_objects, small_bytes) = cost_per_change(100, 20).await;
    let (large_objects, large_bytes) = cost_per_change(20_000, 20).await;
    println!(
        "one 2 KB service change: {small_objects:.1} objects / {small_bytes:.0} bytes at 100 \
         services, {large_objects:.1} objects / {large_bytes:.0} bytes at 20,000 services \
         (x{:.2} bytes)",
        large_bytes / small_bytes
    );
    assert!(
        large_bytes <= 2.0 * small_bytes,
        "bytes per change grew more than 2x: {small_bytes} -> {large_bytes}"
    );
    assert!(
        large_objects <= 2.0 * small_objects,
        "objects per change grew more than 2x: {small_objects} -> {large_objects}"
    );
}

#[tokio::test]
async fn republishing_the_same_object_writes_only_a_root() {
    let store = Store::open("memory://").await.expect("memory");
    publish_many(&store, 500).await;
    let (objects, _) = cost_of(&store, vec![set(&service(42), "v42")]).await;
    assert_eq!(objects, 2, "the new root and `latest`, nothing else");
}

#[tokio::test]
async fn changed_since_compares_the_version_of_latest() {
    for (store, _dir) in stores().await {
        let empty = store.latest().await.expect("latest");
        assert!(!store.changed_since(&empty).await.expect("head"));
        let g1 = publish(&store, vec![set("s/a", "1")])
            .await
            .expect("publish");
        assert!(store.changed_since(&empty).await.expect("head"));
        assert!(!store.changed_since(&g1).await.expect("head"));
        let read = store.latest().await.expect("latest");
        assert!(!store.changed_since(&read).await.expect("head"));
        publish(&store, vec![set("s/a", "2")])
            .await
            .expect("publish");
        assert!(store.changed_since(&g1).await.expect("head"));
    }
}

/// Publishes generation `n` of the GC scenario: 60 services, a few changed each time, one
/// added and one removed.
async fn publish_generation(store: &Store, n: usize) -> Generation {
    let mut changes: Vec<Change> = if n == 1 {
        (0..60).map(|i| set(&service(i), "g1")).collect()
    } else {
        (0..5)
            .map(|i| set(&service((n * 7 + i) % 60), &format!("g{n}")))
            .collect()
    };
    changes.push(set(&format!("extra/{n}"), "x"));
    if n > 1 {
        changes.push((format!("extra/{}", n - 1), None));
    }
    publish(store, changes).await.expect("publish")
}

#[tokio::test]
async fn gc_keeps_what_retained_generations_need_and_spares_young_objects() {
    for (store, _dir) in stores().await {
        let mut generations = Vec::new();
        for n in 1..=10 {
            generations.push(publish_generation(&store, n).await);
        }
        let contents: Vec<_> = {
            let mut all = Vec::new();
            for g in &generations[7..] {
                all.push(store.services(g).await.expect("services"));
            }
            all
        };
        let objects_before = store.list("objects/").await.expect("list").len();

        let options = |retain, grace, dry_run| GcOptions {
            retain,
            grace,
            dry_run,
        };
        let young = store
            .gc(options(3, Duration::from_secs(3600), false))
            .await
            .expect("gc");
        assert_eq!(young.retained, [10, 9, 8]);
        assert_eq!(young.deleted, 0, "everything is younger than an hour");
        assert!(young.kept_young > 0);
        let dry = store
            .gc(options(3, Duration::ZERO, true))
            .await
            .expect("dry run");
        assert_eq!(dry.deleted, young.kept_young, "{dry}");
        assert_eq!(
            store.list("objects/").await.expect("list").len(),
            objects_before,
            "neither deleted anything"
        );

        let report = store
            .gc(options(3, Duration::ZERO, false))
            .await
            .expect("gc");
        println!("{report}");
        assert_eq!(report.retained, [10, 9, 8]);
        assert_eq!(report.deleted, young.kept_young);
        assert!(report.deleted > 0 && report.deleted_bytes > 0);
        assert_eq!(
            store.list("objects/").await.expect("list").len(),
            objects_before - report.deleted
        );
        for (g, services) in generations[7..].iter().zip(&contents) {
            let keys: Vec<String> = services.keys().cloned().collect();
            let read = store.read_services(g, &keys).await.expect("read retained");
            assert_eq!(read.len(), keys.len(), "generation {}", g.number);
            for key in &keys {
                assert!(store.read_service(g, key).await.expect("read").is_some());
            }
            assert_eq!(&store.services(g).await.expect("services"), services);
        }
        let err = store
            .read_root(generations[6].root_key.as_deref().expect("root"))
            .await
            .expect_err("generation 7 is collected");
        assert!(matches!(err, Error::Layout { .. }), "{err}");
        let again = store
            .gc(options(3, Duration::ZERO, false))
            .await
            .expect("gc");
        assert_eq!(
            (again.deleted, again.marked),
            (0, report.marked),
            "a second pass finds nothing"
        );
    }
}

#[tokio::test]
async fn an_old_object_reused_while_gc_deletes_it_is_written_back_on_commit() {
    let store = Store::open("memory://").await.expect("memory");
    publish(&store, vec![set("s/a", "old")]).await.expect("g1");
    let g2 = publish(&store, vec![set("s/a", "new")]).await.expect("g2");
    // A writer prepares `s/a = old` again: the object still exists, unreferenced by g2.
    let (key, root) = store
        .prepare(&g2, vec![set("s/a", "old")])
        .await
        .expect("prepare");
    // A GC keeping only g2 deletes the old object before the writer commits.
    let report = store
        .gc(GcOptions {
            retain: 1,
            grace: Duration::ZERO,
            dry_run: false,
        })
        .await
        .expect("gc");
    assert!(report.deleted > 0);
    let g3 = store.commit(&g2, key, root).await.expect("commit");
    assert_eq!(
        store.read_service(&g3, "s/a").await.expect("readable"),
        Some(b"old".to_vec()),
        "commit wrote the vanished object back"
    );
    store
        .services(&g3)
        .await
        .expect("every node of g3 is there");
}

#[tokio::test]
async fn a_corrupted_trie_node_is_reported_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf8"))
        .await
        .expect("file store");
    let g1 = publish_many(&store, 100).await;
    let g2 = publish(&store, vec![set(&service(1), "changed")])
        .await
        .expect("publish");
    let top = g2.root.tree.clone().expect("tree");
    std::fs::write(dir.path().join(&top), b"{\"leaf\":{}}").expect("corrupt the node");
    let corrupt = |err: Error| matches!(&err, Error::Corrupt { key, .. } if *key == top);
    let err = store
        .read_service(&g2, &service(1))
        .await
        .expect_err("corrupt");
    assert!(corrupt(err));
    let err = store.changed_services(&g1, &g2).await.expect_err("corrupt");
    assert!(corrupt(err));
    let err = store
        .gc(GcOptions::default())
        .await
        .expect_err("gc refuses to guess what a corrupt node referenced");
    assert!(corrupt(err));
}

#[tokio::test]
async fn a_store_of_another_layout_format_is_refused_by_name() {
    let store = Store::open("memory://").await.expect("memory");
    store
        .put(
            LATEST,
            br#"{"format":1,"generation":3,"root":"objects/00"}"#.to_vec(),
            regsync_store::Expect::Absent,
        )
        .await
        .expect("an old pointer");
    let err = store.latest().await.expect_err("format 1");
    assert!(
        matches!(&err, Error::Layout { key, why } if key == LATEST && why.contains("format 1")),
        "{err}"
    );
}

/// The keys of the trie nodes on `service`'s path in `g`, top first.
async fn path_nodes(store: &Store, g: &Generation, service: &str) -> Vec<String> {
    let hash = hex::encode(sha2::Sha256::digest(service.as_bytes()));
    let mut path = Vec::new();
    let mut next = g.root.tree.clone();
    while let Some(key) = next {
        path.push(key.clone());
        let bytes = store.get_content(&key).await.expect("read").expect("node");
        next = match serde_json::from_slice(&bytes).expect("node") {
            Node::Leaf(_) => None,
            Node::Branch(children) => children
                .iter()
                .find(|(n, _)| n.to_string() == hash[path.len() - 1..path.len()])
                .map(|(_, k)| k.clone()),
        };
    }
    path
}

#[tokio::test]
async fn changed_services_reads_nothing_the_generations_share() {
    let store = Store::open("memory://").await.expect("memory");
    let g1 = publish_many(&store, 2000).await;
    let before = store.list("objects/").await.expect("list");
    let g2 = publish(&store, vec![set(&service(77), "changed")])
        .await
        .expect("publish");
    // Keep only what g1 does not share with g2: its root and the nodes on the changed path.
    let mut own = path_nodes(&store, &g1, &service(77)).await;
    assert!(own.len() >= 2, "2,000 services make a deeper trie");
    own.extend(g1.root_key.clone());
    for key in before.iter().filter(|k| !own.contains(k)) {
        store.delete(key).await.expect("delete");
    }
    assert_eq!(
        store.changed_services(&g1, &g2).await.expect("diff"),
        BTreeSet::from([service(77)])
    );
    assert!(
        store.services(&g2).await.is_err(),
        "the shared objects really are gone"
    );
}

/// Compiles only if every public operation's future can move between threads (`tokio::spawn`).
#[test]
fn store_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn check(s: &Store, g: &Generation, keys: &[String]) {
        send(&s.latest());
        send(&s.changed_since(g));
        send(&s.read_service(g, "s/a"));
        send(&s.read_services(g, keys));
        send(&s.services(g));
        send(&s.changed_services(g, g));
        send(&s.prepare(g, Vec::new()));
        send(&s.commit(g, String::new(), g.root.clone()));
        send(&s.gc(GcOptions::default()));
        send(&s.list_modified("objects/"));
    }
    let _ = check;
}

/// A writer reads its services, then prepares on the same generation: the trie nodes on the
/// path come from the first walk, not from the store again (the store has lost them here).
#[tokio::test]
async fn a_generation_walks_each_trie_path_from_the_store_once() {
    let store = Store::open("memory://").await.expect("memory");
    publish_many(&store, 2000).await;
    let g = store.latest().await.expect("latest");
    let wanted = vec![service(7)];
    let read = store.read_services(&g, &wanted).await.expect("read");
    assert_eq!(read[&service(7)], b"v7");
    let root = g.root_key.clone().expect("a root");
    for key in store.list("objects/").await.expect("list") {
        if key != root {
            store.delete(&key).await.expect("delete");
        }
    }
    store
        .prepare(&g, vec![set(&service(7), "v7b")])
        .await
        .expect("the path's nodes were read through this generation already");
    let fresh = store.latest().await.expect("latest");
    let err = store
        .read_services(&fresh, &wanted)
        .await
        .expect_err("a generation read anew walks the store again");
    assert!(matches!(err, Error::Layout { .. }), "{err}");
}

/// A writer killed between writing its temporary file and renaming it leaves `.NAME.tmp-PID-N`
/// behind, which no listing shows: GC removes those older than the grace period, and leaves a
/// live writer's young one, the lock file and every object alone.
#[tokio::test]
async fn gc_removes_temporary_files_of_dead_writers_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf8"))
        .await
        .expect("file store");
    publish_generation(&store, 1).await;
    let objects = dir.path().join("objects");
    let sub = std::fs::read_dir(&objects)
        .expect("objects/")
        .flatten()
        .find(|e| e.path().is_dir())
        .map_or(objects.clone(), |e| e.path());
    let stale = sub.join(".abc.tmp-4242-7");
    let young = sub.join(".def.tmp-4243-0");
    std::fs::write(&stale, vec![7u8; 1000]).expect("write");
    std::fs::write(&young, b"in flight").expect("write");
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .expect("open")
        .set_modified(hour_ago)
        .expect("set mtime");
    let keys_before = store.list("").await.expect("list");
    let dry = store
        .gc(GcOptions {
            retain: 10,
            grace: Duration::from_secs(3600),
            dry_run: true,
        })
        .await
        .expect("gc");
    assert_eq!((dry.stray_temp, dry.stray_temp_bytes), (1, 1000));
    assert!(stale.exists(), "a dry run deletes nothing");
    let report = store
        .gc(GcOptions {
            retain: 10,
            grace: Duration::from_secs(3600),
            dry_run: false,
        })
        .await
        .expect("gc");
    assert_eq!((report.stray_temp, report.stray_temp_bytes), (1, 1000));
    assert!(
        report.to_string().contains("stray temporary file"),
        "{report}"
    );
    assert!(!stale.exists(), "the dead writer's file is gone");
    assert!(young.exists(), "a live writer's file stays");
    assert_eq!(store.list("").await.expect("list"), keys_before);
}

/// Of several processes sharing a store, one holds the GC lease at a time; it renews it, and
/// another takes over once it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_holder_of_the_gc_lease_at_a_time_and_a_takeover_when_it_expires() {
    use regsync_store::lease::GC_LEASE;
    use std::time::SystemTime;
    for (store, _dir) in stores().await {
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(30);
        // Concurrent takers: exactly one wins.
        let takers: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.try_lease(GC_LEASE, &format!("p{i}"), ttl, t0).await },
                )
            })
            .collect();
        let mut won = Vec::new();
        for taker in takers {
            won.push(taker.await.expect("join").expect("lease"));
        }
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
        let holder = format!("p{}", won.iter().position(|w| *w).expect("a winner"));
        let other = if holder == "p0" { "p1" } else { "p0" };
        assert!(
            store
                .try_lease(GC_LEASE, &holder, ttl, t0)
                .await
                .expect("renew")
        );
        assert!(
            !store
                .try_lease(GC_LEASE, other, ttl, t0 + ttl / 2)
                .await
                .expect("held")
        );
        assert!(
            store
                .try_lease(GC_LEASE, other, ttl, t0 + ttl * 2)
                .await
                .expect("expired"),
            "an expired lease is taken over"
        );
        assert!(
            !store
                .try_lease(GC_LEASE, &holder, ttl, t0 + ttl * 2)
                .await
                .expect("lost")
        );
    }
}
