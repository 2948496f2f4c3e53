//! Snapshot generations on top of the object store: a generation maps service keys to
//! content-addressed objects through a root and a hash trie of nodes (see [`Node`]). Publishing
//! a change writes the changed service objects, the trie nodes on their paths and a new root,
//! so its cost grows with the trie's depth (the logarithm of the number of services), not with
//! the number of services; then `latest` is swapped with a conditional write. A writer that
//! dies before the swap leaves only unreferenced objects; readers keep seeing the previous
//! generation. Old generations are removed by [`Store::gc`].
//!
//! See docs/store-layout.md. The store knows nothing of what a service object contains.

mod gc;
mod parallel;
mod read;
mod trie;
mod verify;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use gc::{DEFAULT_GRACE, DEFAULT_RETAIN, GcOptions, GcReport};
pub use trie::{LEAF_MAX, MAX_DEPTH, Nibble, Node};

use crate::{ETag, Error, Expect, Result, Store, content_key};
use trie::{Draft, Hash, Write, hash_of};

/// Key of the one mutable object: which root is current.
pub const LATEST: &str = "latest";
/// Format version of roots, trie nodes and `latest`.
pub const LAYOUT_FORMAT: u32 = 2;

/// `latest`: the current generation's number and root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    /// Layout format.
    pub format: u32,
    /// Generation number, 1 for the first.
    pub generation: u64,
    /// Content key of the root.
    pub root: String,
}

/// A generation's root: its trie and its parent.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Root {
    /// Layout format.
    pub format: u32,
    /// Generation number.
    pub generation: u64,
    /// Root of the previous generation (which garbage collection may have removed).
    pub parent: Option<String>,
    /// Content key of the trie's top node; `None` when the generation has no services.
    pub tree: Option<String>,
    /// Objects [`Store::prepare`] found already stored instead of writing them; [`Store::commit`]
    /// checks that they survived a concurrent garbage collection. Not part of the stored root.
    #[serde(skip)]
    reused: Reused,
}

/// Roots are equal when their stored content is.
impl PartialEq for Root {
    fn eq(&self, other: &Self) -> bool {
        (self.format, self.generation, &self.parent, &self.tree)
            == (other.format, other.generation, &other.parent, &other.tree)
    }
}

impl Eq for Root {}

/// Objects a prepared generation references that existed before it: their keys and bytes.
#[derive(Clone, Default)]
struct Reused(Vec<Write>);

impl fmt::Debug for Reused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// A generation as read: its pointer's version (for the conditional swap) and its root.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Version of `latest` when read; `None` before the first publish.
    pub etag: Option<ETag>,
    /// Generation number (0 before the first publish).
    pub number: u64,
    /// Content key of the root, if any.
    pub root_key: Option<String>,
    /// The root.
    pub root: Root,
    /// Trie nodes of this generation already read through it (and its clones): they are
    /// immutable, so a writer that reads its services and then prepares on the same
    /// generation walks each path from the store once.
    nodes: NodeMemo,
}

/// Generations are equal when what they name is.
impl PartialEq for Generation {
    fn eq(&self, other: &Self) -> bool {
        (&self.etag, self.number, &self.root_key, &self.root)
            == (&other.etag, other.number, &other.root_key, &other.root)
    }
}

impl Eq for Generation {}

impl Generation {
    /// The generation of a root read by hand (no version of `latest`: it cannot be committed
    /// on).
    pub fn from_root(root_key: String, root: Root) -> Self {
        Self {
            etag: None,
            number: root.generation,
            root_key: Some(root_key),
            root,
            nodes: NodeMemo::default(),
        }
    }

    fn empty() -> Self {
        Self {
            etag: None,
            number: 0,
            root_key: None,
            root: Root {
                format: LAYOUT_FORMAT,
                ..Root::default()
            },
            nodes: NodeMemo::default(),
        }
    }
}

/// Trie nodes already read, by key, shared by the clones of one [`Generation`].
#[derive(Clone, Default)]
struct NodeMemo(std::sync::Arc<std::sync::Mutex<BTreeMap<String, Node>>>);

impl NodeMemo {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Node>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl fmt::Debug for NodeMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeMemo({} nodes)", self.lock().len())
    }
}

/// A change to one service: its new object, or `None` to remove it.
pub type Change = (String, Option<Vec<u8>>);

/// One service's change, ready to apply: its path and its new object with the object's key.
struct Edit {
    service: String,
    hash: Hash,
    object: Option<Write>,
}

/// The edits of a batch of changes; a service changed twice takes its last change.
fn edits(changes: Vec<Change>) -> Vec<Edit> {
    let last: BTreeMap<String, Option<Vec<u8>>> = changes.into_iter().collect();
    last.into_iter()
        .map(|(service, bytes)| Edit {
            hash: hash_of(&service),
            object: bytes.map(|b| (content_key(&b), b)),
            service,
        })
        .collect()
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Layout {
        key: key.to_owned(),
        why: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("layout types always serialize")
}

/// Refuses layout objects written in another format.
fn check_format(key: &str, format: u32) -> Result<()> {
    if format == LAYOUT_FORMAT {
        return Ok(());
    }
    Err(Error::Layout {
        key: key.to_owned(),
        why: format!("layout format {format}; this build reads format {LAYOUT_FORMAT}"),
    })
}

impl Store {
    /// The current generation (an empty one before the first publish). A `latest` whose
    /// generation number is not its root's is [`Error::Layout`] naming both.
    pub async fn latest(&self) -> Result<Generation> {
        let Some(obj) = self.get(LATEST).await? else {
            return Ok(Generation::empty());
        };
        let pointer: Pointer = decode(LATEST, &obj.bytes)?;
        check_format(LATEST, pointer.format)?;
        let root = self.read_root(&pointer.root).await?;
        if root.generation != pointer.generation {
            // Publishing on top would number the next generation after the wrong one.
            let agreed = Pointer {
                generation: root.generation,
                ..pointer.clone()
            };
            return Err(Error::Layout {
                key: LATEST.to_owned(),
                why: format!(
                    "it claims generation {} but its root {} is generation {}; nothing is \
                     published on top of it: if that root is the current one, write {LATEST} \
                     again as {}",
                    pointer.generation,
                    pointer.root,
                    root.generation,
                    String::from_utf8_lossy(&encode(&agreed))
                ),
            });
        }
        Ok(Generation {
            etag: Some(obj.etag),
            number: pointer.generation,
            ..Generation::from_root(pointer.root, root)
        })
    }

    /// Whether `latest` has moved on from `generation`: one HEAD of `latest`, compared by ETag.
    /// A generation not read from `latest` (no ETag) counts as changed once anything is
    /// published.
    pub async fn changed_since(&self, generation: &Generation) -> Result<bool> {
        Ok(self.head(LATEST).await? != generation.etag)
    }

    /// Reads and checks a root; a missing one is [`Error::Layout`].
    pub async fn read_root(&self, key: &str) -> Result<Root> {
        self.find_root(key).await?.ok_or_else(|| Error::Layout {
            key: key.to_owned(),
            why: "missing root (garbage-collected, or never written)".into(),
        })
    }

    /// Reads and checks a root, `None` if it is missing.
    pub(crate) async fn find_root(&self, key: &str) -> Result<Option<Root>> {
        let Some(bytes) = self.get_content(key).await? else {
            return Ok(None);
        };
        let root: Root = decode(key, &bytes)?;
        check_format(key, root.format)?;
        Ok(Some(root))
    }

    /// Writes the objects of a new generation on top of `base` and returns its root key, without
    /// publishing it. A writer that stops after this leaves nothing visible.
    ///
    /// Reads the trie nodes on the changed services' paths (one batch per level) and writes
    /// the changed service objects, the new nodes on those paths and the root; an object equal
    /// to the one already in its place is not written again.
    pub async fn prepare(&self, base: &Generation, changes: Vec<Change>) -> Result<(String, Root)> {
        let edits = edits(changes);
        let mut draft = self.load_paths(base, &edits).await?;
        let mut writes = Vec::new();
        for edit in edits {
            let key = edit.object.as_ref().map(|(k, _)| k.clone());
            let old = draft.set(&edit.hash, 0, edit.service, key)?;
            if let Some((key, bytes)) = edit.object
                && old.as_ref() != Some(&key)
            {
                writes.push((key, bytes));
            }
        }
        let mut root = Root {
            format: LAYOUT_FORMAT,
            generation: base.number + 1,
            parent: base.root_key.clone(),
            tree: draft.seal(&mut writes),
            reused: Reused::default(),
        };
        let bytes = encode(&root);
        let key = content_key(&bytes);
        // Nothing references the new objects until `latest` does, so they go up all at once.
        writes.push((key.clone(), bytes));
        root.reused = Reused(self.put_new(writes).await?);
        Ok((key, root))
    }

    /// A draft of the trie `tree` with the nodes on every edit's path loaded, level by level.
    async fn load_paths(&self, base: &Generation, edits: &[Edit]) -> Result<Draft> {
        let mut draft = Draft::new(base.root.tree.clone());
        loop {
            let wanted: std::collections::BTreeSet<String> = edits
                .iter()
                .filter_map(|e| draft.unloaded_on(&e.hash))
                .map(str::to_owned)
                .collect();
            if wanted.is_empty() {
                return Ok(draft);
            }
            let mut nodes = self.get_nodes_of(base, wanted).await?;
            for edit in edits {
                draft.load_on(&edit.hash, 0, &mut nodes)?;
            }
        }
    }

    /// Creates the content-addressed objects `writes` and returns those that already existed,
    /// with their bytes.
    async fn put_new(&self, writes: Vec<Write>) -> Result<Vec<Write>> {
        let unique: BTreeMap<String, Vec<u8>> = writes.into_iter().collect();
        let unique = unique.into_iter().collect();
        let existed = parallel::each(self, unique, |store, key, bytes| async move {
            match store.put(&key, bytes.clone(), Expect::Absent).await {
                Ok(_) => Ok(None),
                Err(Error::Conflict { .. }) => Ok(Some(bytes)),
                Err(e) => Err(e),
            }
        })
        .await?;
        Ok(existed
            .into_iter()
            .filter_map(|(key, bytes)| Some((key, bytes?)))
            .collect())
    }

    /// Makes a prepared root current, if `latest` is still at `base`; otherwise [`Error::Conflict`].
    ///
    /// Then checks the objects `prepare` reused rather than wrote (an old unreferenced object
    /// a concurrent [`Store::gc`] may have been deleting) and writes back any that vanished; an
    /// error there is returned although the generation is published.
    pub async fn commit(
        &self,
        base: &Generation,
        root_key: String,
        mut root: Root,
    ) -> Result<Generation> {
        let reused = std::mem::take(&mut root.reused);
        let pointer = Pointer {
            format: LAYOUT_FORMAT,
            generation: root.generation,
            root: root_key.clone(),
        };
        let expect = match &base.etag {
            Some(e) => Expect::Version(e.clone()),
            None => Expect::Absent,
        };
        let etag = self.put(LATEST, encode(&pointer), expect).await?;
        self.restore_vanished(reused).await?;
        Ok(Generation {
            etag: Some(etag),
            ..Generation::from_root(root_key, root)
        })
    }

    /// Writes back the objects of `reused` that are gone (one HEAD each).
    async fn restore_vanished(&self, reused: Reused) -> Result<()> {
        parallel::each(self, reused.0, |store, key, bytes| async move {
            if store.head(&key).await?.is_some() {
                return Ok(());
            }
            match store.put(&key, bytes, Expect::Absent).await {
                Ok(_) | Err(Error::Conflict { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await?;
        Ok(())
    }

    /// Publishes an empty generation 1 when the store has no generation yet, so that readers
    /// (the MCP server) can tell "the registry is empty" from "nothing was published"; returns
    /// the latest generation either way. A writer that got there first wins.
    pub async fn start_empty(&self) -> Result<Generation> {
        let base = self.latest().await?;
        if base.number > 0 {
            return Ok(base);
        }
        let (key, root) = self.prepare(&base, Vec::new()).await?;
        match self.commit(&base, key, root).await {
            Err(Error::Conflict { .. }) => self.latest().await,
            other => other,
        }
    }

    /// Reads the latest generation, asks `changes` what to change on top of it, and publishes;
    /// on a conflict with another writer it starts over, up to `attempts` times, with a short
    /// jittered pause, then returns the conflict (retryable). When there is nothing to change,
    /// nothing is published and the generation read is returned.
    pub async fn update<F, Fut>(&self, attempts: u32, mut changes: F) -> Result<Generation>
    where
        F: FnMut(Store, Generation) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Change>>>,
    {
        let mut attempt = 0;
        loop {
            let base = self.latest().await?;
            let wanted = changes(self.clone(), base.clone()).await?;
            if wanted.is_empty() {
                return Ok(base);
            }
            let (key, root) = self.prepare(&base, wanted).await?;
            match self.commit(&base, key, root).await {
                Err(Error::Conflict { .. }) if attempt + 1 < attempts => {
                    attempt += 1;
                    tokio::time::sleep(jitter(attempt)).await;
                }
                other => return other,
            }
        }
    }
}

/// A pause that grows with the attempt and is spread out so that racing writers part ways.
fn jitter(attempt: u32) -> std::time::Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let ceiling_us = 200u64 << attempt.min(6);
    std::time::Duration::from_micros(u64::from(nanos) % ceiling_us)
}
