//! Snapshot generations: publish, read, diff, concurrent writers, a writer that dies before the
//! swap, and a corrupted object.

use regsync_store::generations::Change;
use regsync_store::{Error, Store};

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
