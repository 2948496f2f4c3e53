//! Reading a generation's ServiceEntries, what changed between two generations, and checking a
//! generation whole.

use std::collections::{BTreeMap, BTreeSet};

use regsync_model::snapshot::Rejection;
use regsync_model::{Entry, WorkloadEntry};
use regsync_store::generations::Generation;
use regsync_store::{Error, Result, Store};

use crate::unit::{ENTRY_PREFIX, EntryObject, OBJECT_FORMAT, Unit, UnitObject, fits};

/// The ServiceEntries of a generation, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Generation number.
    pub generation: u64,
    /// Entries, sorted by namespace and name.
    pub entries: Vec<Entry>,
    /// Rejections, sorted.
    pub rejected: Vec<Rejection>,
}

async fn entry_objects(
    store: &Store,
    generation: &Generation,
    keys: &[String],
) -> Result<BTreeMap<String, EntryObject>> {
    store
        .read_services(generation, keys)
        .await?
        .into_iter()
        .map(|(key, bytes)| {
            let o = serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
                key: key.clone(),
                why: e.to_string(),
            })?;
            Ok((key, o))
        })
        .collect()
}

/// The keys of every entry object of `generation`.
async fn entry_keys(store: &Store, generation: &Generation) -> Result<Vec<String>> {
    Ok(store
        .services(generation)
        .await?
        .into_keys()
        .filter(|k| k.starts_with(ENTRY_PREFIX))
        .collect())
}

/// Reads every entry of `generation`.
pub async fn read(store: &Store, generation: &Generation) -> Result<View> {
    let keys = entry_keys(store, generation).await?;
    let mut view = View {
        generation: generation.number,
        ..View::default()
    };
    for (_, o) in entry_objects(store, generation, &keys).await? {
        view.entries.extend(o.entry);
        view.rejected.extend(o.rejected);
    }
    view.entries
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    view.rejected.sort();
    Ok(view)
}

/// Reads generation after generation of one store, as a watcher does: the first read reads
/// every entry; each later one compares the tries of the generation read before and the new one
/// and reads only the entries that differ (objects are immutable), so a one-service change costs
/// a few requests however large the mesh. When the previous generation can no longer be compared
/// (collected, or unreadable), it reads everything again.
#[derive(Debug, Default)]
pub struct Follower {
    /// The generation last read, and its entries by service key.
    last: Option<(Generation, BTreeMap<String, Entry>)>,
    /// Reads that read every entry.
    full_reads: u64,
}

impl Follower {
    /// The entries of `generation`, in no particular order. On an error nothing is kept of
    /// this read: the next one starts from the generation read before.
    pub async fn read(&mut self, store: &Store, generation: &Generation) -> Result<Vec<&Entry>> {
        let incremental = match self.last.take() {
            Some((previous, entries)) if previous.root_key == generation.root_key => Some(entries),
            Some((previous, mut entries)) => {
                match Self::changes(store, &previous, generation).await {
                    Ok(changed) => {
                        for (key, entry) in changed {
                            match entry {
                                Some(e) => entries.insert(key, e),
                                None => entries.remove(&key),
                            };
                        }
                        Some(entries)
                    }
                    Err(_) => {
                        // Read everything below; put this back, so that if that read fails
                        // too, the next one still starts from here.
                        self.last = Some((previous, entries));
                        None
                    }
                }
            }
            None => None,
        };
        let entries = match incremental {
            Some(entries) => entries,
            None => {
                self.full_reads += 1;
                let keys = entry_keys(store, generation).await?;
                entry_objects(store, generation, &keys)
                    .await?
                    .into_iter()
                    .filter_map(|(k, o)| o.entry.map(|e| (k, e)))
                    .collect()
            }
        };
        let (_, entries) = self.last.insert((generation.clone(), entries));
        Ok(entries.values().collect())
    }

    /// How many reads read every entry (the first, and any after a failed comparison).
    pub fn full_reads(&self) -> u64 {
        self.full_reads
    }

    /// The entries that differ between `old` and `new`: `None` where `new` has none.
    async fn changes(
        store: &Store,
        old: &Generation,
        new: &Generation,
    ) -> Result<BTreeMap<String, Option<Entry>>> {
        let keys: Vec<String> = store
            .changed_services(old, new)
            .await?
            .into_iter()
            .filter(|k| k.starts_with(ENTRY_PREFIX))
            .collect();
        let mut read = entry_objects(store, new, &keys).await?;
        Ok(keys
            .into_iter()
            .map(|k| {
                let entry = read.remove(&k).and_then(|o| o.entry);
                (k, entry)
            })
            .collect())
    }
}

/// How one entry differs between two generations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryChange {
    /// Only in the newer generation.
    Added(Entry),
    /// Only in the older generation.
    Removed(Entry),
    /// In both, different: endpoints added and removed, and whether anything else changed.
    Changed {
        /// The older entry.
        old: Box<Entry>,
        /// The newer entry.
        new: Box<Entry>,
        /// Endpoints only in the newer entry.
        added: Vec<WorkloadEntry>,
        /// Endpoints only in the older entry.
        removed: Vec<WorkloadEntry>,
    },
}

/// The entries that differ between two generations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Per host, in host order.
    pub changes: Vec<EntryChange>,
    /// Store keys whose objects differ (units and entries), read from differing pages only.
    pub objects_changed: usize,
}

/// Compares the entries of two generations, reading only the objects that differ.
pub async fn diff(store: &Store, old: &Generation, new: &Generation) -> Result<Diff> {
    let changed = store.changed_services(old, new).await?;
    let keys: Vec<String> = changed
        .iter()
        .filter(|k| k.starts_with(ENTRY_PREFIX))
        .cloned()
        .collect();
    let (mut a, mut b) = (
        entry_objects(store, old, &keys).await?,
        entry_objects(store, new, &keys).await?,
    );
    let mut changes = Vec::new();
    for key in &keys {
        let before = a.remove(key).and_then(|o| o.entry);
        let after = b.remove(key).and_then(|o| o.entry);
        match (before, after) {
            (None, None) => {}
            (None, Some(e)) => changes.push(EntryChange::Added(e)),
            (Some(e), None) => changes.push(EntryChange::Removed(e)),
            (Some(o), Some(n)) if o == n => {}
            (Some(o), Some(n)) => {
                let old_eps: BTreeSet<&WorkloadEntry> = o.spec.endpoints.iter().collect();
                let new_eps: BTreeSet<&WorkloadEntry> = n.spec.endpoints.iter().collect();
                let added = new_eps.difference(&old_eps).map(|e| (*e).clone()).collect();
                let removed = old_eps.difference(&new_eps).map(|e| (*e).clone()).collect();
                changes.push(EntryChange::Changed {
                    old: Box::new(o),
                    new: Box::new(n),
                    added,
                    removed,
                });
            }
        }
    }
    Ok(Diff {
        changes,
        objects_changed: changed.len(),
    })
}

/// One generation in the history of `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Generation number.
    pub number: u64,
    /// Content key of its root.
    pub root: String,
}

/// The generations reachable from `latest` through parent links, newest first, at most `limit`;
/// the walk stops at the first root garbage collection removed.
pub async fn history(store: &Store, limit: usize) -> Result<Vec<Listed>> {
    let latest = store.latest().await?;
    let mut out = Vec::new();
    let mut next = latest.root_key.clone();
    while let Some(key) = next {
        if out.len() >= limit {
            break;
        }
        let root = match store.read_root(&key).await {
            Ok(r) => r,
            Err(Error::Layout { .. }) if !out.is_empty() => break,
            Err(e) => return Err(e),
        };
        out.push(Listed {
            number: root.generation,
            root: key,
        });
        next = root.parent;
    }
    Ok(out)
}

/// Generation `number` (the latest when `None`), found by following parent links from `latest`.
pub async fn generation(store: &Store, number: Option<u64>) -> Result<Generation> {
    let latest = store.latest().await?;
    let Some(wanted) = number.filter(|n| *n != latest.number) else {
        return Ok(latest);
    };
    let not_found = |why: String| Error::Layout {
        key: format!("generation {wanted}"),
        why,
    };
    if wanted > latest.number {
        return Err(not_found(format!(
            "the latest generation is {}",
            latest.number
        )));
    }
    let mut next = latest.root.parent.clone();
    while let Some(key) = next {
        let root = store.read_root(&key).await.map_err(|e| {
            not_found(format!(
                "no longer retained (garbage-collected; `regsync snapshot ls` lists what is): {e}"
            ))
        })?;
        if root.generation == wanted {
            return Ok(Generation::from_root(key, root));
        }
        next = root.parent.clone();
    }
    Err(not_found("not in the history of latest".into()))
}

/// Every service key of `generation` with its object key, after reading each object the
/// generation references once and checking it ([`Store::verify`]): hashed against its name, and
/// decoded as what its service key says it holds (a unit or an entry of this build's format).
pub async fn verify(store: &Store, generation: &Generation) -> Result<BTreeMap<String, String>> {
    store.verify(generation, check_object).await
}

/// Whether `bytes`, object `object` of `service`, is what the service key says it holds.
fn check_object(object: &str, service: &str, bytes: &[u8]) -> Result<()> {
    let unusable = |why: String| Error::Layout {
        key: object.to_owned(),
        why: format!("the object of {service} {why}"),
    };
    let format = if service.starts_with(ENTRY_PREFIX) {
        serde_json::from_slice::<EntryObject>(bytes)
            .map_err(|e| unusable(format!("does not decode as an entry: {e}")))?
            .format
    } else if let Some(unit) = Unit::parse(service) {
        let o: UnitObject = serde_json::from_slice(bytes)
            .map_err(|e| unusable(format!("does not decode as a {} unit: {e}", unit.kind())))?;
        if !fits(&unit, &o.slice) {
            return Err(unusable(format!("holds a {} unit", o.slice.kind())));
        }
        o.format
    } else {
        return Err(unusable(
            "has a key that names neither a unit nor an entry".into(),
        ));
    };
    if format != OBJECT_FORMAT {
        return Err(unusable(format!(
            "is format {format}; this build reads format {OBJECT_FORMAT}"
        )));
    }
    Ok(())
}
