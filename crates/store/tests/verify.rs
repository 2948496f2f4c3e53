//! Checking a generation whole ([`Store::verify`]) and `latest` against its root, on a file://
//! store the store itself wrote: every kind of object (root, trie branch, trie leaf, service
//! object) truncated, with a bit flipped, or deleted is an error naming its key; an object that
//! hashes to its name but does not decode is one too; a `latest` whose generation is not its
//! root's is refused for reading and for publishing.

use std::path::Path;

use regsync_store::generations::{Change, Generation, LATEST, Node};
use regsync_store::{Error, Expect, Store};

/// More than a leaf holds, so the top of the trie is a branch over leaves.
const SERVICES: usize = 100;

async fn file_store(dir: &Path) -> Store {
    Store::open(&format!("file://{}", dir.display()))
        .await
        .expect("file store")
}

/// Publishes `SERVICES` services in one generation, then changes one in a second.
async fn published(store: &Store) -> Generation {
    let all: Vec<Change> = (0..SERVICES)
        .map(|i| (format!("svc/{i}"), Some(format!("object {i}").into_bytes())))
        .collect();
    for changes in [all, vec![("svc/1".into(), Some(b"changed".to_vec()))]] {
        store
            .update(1, move |_, _| {
                let c = changes.clone();
                async move { Ok(c) }
            })
            .await
            .expect("publish");
    }
    store.latest().await.expect("latest")
}

async fn node(store: &Store, key: &str) -> Node {
    let bytes = store.get_content(key).await.expect("read").expect("exists");
    serde_json::from_slice(&bytes).expect("a node")
}

/// One object of each kind in `g`: its root, its top (a branch), a leaf under it, and a service
/// object that leaf names.
async fn one_of_each(store: &Store, g: &Generation) -> [(&'static str, String); 4] {
    let top = g.root.tree.clone().expect("a tree");
    let Node::Branch(children) = node(store, &top).await else {
        panic!("{SERVICES} services make the top a branch");
    };
    let leaf = children.into_values().next().expect("a child");
    let Node::Leaf(services) = node(store, &leaf).await else {
        panic!("{SERVICES} services make one level of leaves");
    };
    let object = services.into_values().next().expect("a service");
    [
        ("root", g.root_key.clone().expect("a root")),
        ("branch", top),
        ("leaf", leaf),
        ("service object", object),
    ]
}

/// What a reader checking the store from scratch gets: `latest`, then the generation whole.
async fn check(store: &Store) -> regsync_store::Result<usize> {
    let g = store.latest().await?;
    Ok(store.verify(&g, |_, _, _| Ok(())).await?.len())
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate,
    FlipABit,
    Delete,
}

fn damage(path: &Path, how: Damage) {
    let mut bytes = std::fs::read(path).expect("read the object");
    let middle = bytes.len() / 2;
    match how {
        Damage::Truncate => bytes.truncate(middle),
        Damage::FlipABit => bytes[middle] ^= 0x04,
        Damage::Delete => return std::fs::remove_file(path).expect("delete the object"),
    }
    std::fs::write(path, bytes).expect("write the damaged object");
}

#[tokio::test]
async fn every_kind_of_object_damaged_in_every_way_is_an_error_naming_its_key() {
    for how in [Damage::Truncate, Damage::FlipABit, Damage::Delete] {
        for kind in 0..4 {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = file_store(dir.path()).await;
            let g = published(&store).await;
            assert_eq!(check(&store).await.expect("intact"), SERVICES);
            let (what, key) = one_of_each(&store, &g).await[kind].clone();
            damage(&dir.path().join(&key), how);
            let err = check(&store)
                .await
                .expect_err("a damaged object fails the check");
            let named = match (&err, how) {
                (Error::Corrupt { key: k, .. }, Damage::Truncate | Damage::FlipABit) => *k == key,
                (Error::Layout { key: k, why }, Damage::Delete) => {
                    *k == key && why.contains("missing")
                }
                _ => false,
            };
            assert!(named, "{how:?} {what} {key}: {err}");
            assert!(err.to_string().contains(&key), "{err}");
        }
    }
}

#[tokio::test]
async fn every_service_naming_a_shared_object_is_checked() {
    let store = Store::open("memory://").await.expect("memory");
    let same = b"same bytes".to_vec();
    store
        .update(1, move |_, _| {
            let c = vec![
                ("a".into(), Some(same.clone())),
                ("b".into(), Some(same.clone())),
            ];
            async move { Ok(c) }
        })
        .await
        .expect("publish");
    let g = store.latest().await.expect("latest");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    store
        .verify(&g, move |_, service, _| {
            log.lock().expect("lock").push(service.to_owned());
            Ok(())
        })
        .await
        .expect("verify");
    let mut seen = seen.lock().expect("lock").clone();
    seen.sort();
    assert_eq!(seen, ["a", "b"]);
}

#[tokio::test]
async fn a_node_that_hashes_to_its_name_but_does_not_decode_is_named() {
    let store = Store::open("memory://").await.expect("memory");
    let bad = store
        .put_content(br#"{"neither":{}}"#.to_vec())
        .await
        .expect("put");
    let root = store
        .put_content(
            format!(r#"{{"format":2,"generation":1,"parent":null,"tree":"{bad}"}}"#).into_bytes(),
        )
        .await
        .expect("put");
    let pointer = format!(r#"{{"format":2,"generation":1,"root":"{root}"}}"#);
    store
        .put(LATEST, pointer.into_bytes(), Expect::Absent)
        .await
        .expect("put");
    let err = check(&store).await.expect_err("does not decode");
    assert!(
        matches!(&err, Error::Layout { key, why } if *key == bad && why.contains("unknown variant")),
        "{err}"
    );
}

#[tokio::test]
async fn a_latest_whose_generation_is_not_its_roots_is_refused_for_reading_and_publishing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = file_store(dir.path()).await;
    let g = published(&store).await;
    assert_eq!(g.number, 2);
    let root = g.root_key.clone().expect("a root");
    let wrong = format!(r#"{{"format":2,"generation":3231,"root":"{root}"}}"#);
    std::fs::write(dir.path().join(LATEST), &wrong).expect("rewrite latest");

    let err = store.latest().await.expect_err("mismatch");
    let why = match &err {
        Error::Layout { key, why } if key == LATEST => why.clone(),
        other => panic!("{other}"),
    };
    assert!(
        why.contains("claims generation 3231") && why.contains(&format!("{root} is generation 2")),
        "{why}"
    );
    // A writer does not publish generation 3232 (or 3) on top of it.
    let err = store
        .update(1, |_, _| async {
            Ok(vec![("svc/new".into(), Some(b"x".to_vec()))])
        })
        .await
        .expect_err("no publish on a mismatched latest");
    assert!(
        matches!(&err, Error::Layout { key, .. } if key == LATEST),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(LATEST)).expect("latest"),
        wrong
    );
    // Nor does garbage collection guess which generations to keep.
    assert!(store.gc(Default::default()).await.is_err());
}

#[tokio::test]
async fn a_root_of_another_generation_than_the_one_asked_for_is_named() {
    let store = Store::open("memory://").await.expect("memory");
    let g = published(&store).await;
    let parent = g.root.parent.clone().expect("a parent");
    let older = store
        .read_root(&parent)
        .await
        .expect("root of generation 1");
    // The parent's root, taken for generation 2.
    let mut forged = Generation::from_root(parent.clone(), older);
    forged.number = 2;
    let err = store
        .verify(&forged, |_, _, _| Ok(()))
        .await
        .expect_err("root of generation 1");
    assert!(
        matches!(&err, Error::Layout { key, why } if *key == parent && why.contains("generation 1")),
        "{err}"
    );
}
