//! Reading generations: one service, a batch of services, all of them, and what changed
//! between two generations. Trie nodes are read a level at a time, each at most once.

use std::collections::{BTreeMap, BTreeSet};

use super::trie::{MAX_DEPTH, Node, child_for, hash_of, too_deep};
use super::{Generation, decode, parallel};
use crate::{Error, Result, Store};

/// Services (with their paths) still to be found under a node.
type Wanted = Vec<(String, super::Hash)>;

impl Store {
    /// The object of `service` in `generation`, checked against its hash.
    pub async fn read_service(
        &self,
        generation: &Generation,
        service: &str,
    ) -> Result<Option<Vec<u8>>> {
        let hash = hash_of(service);
        let (mut next, mut depth) = (generation.root.tree.clone(), 0);
        while let Some(key) = next {
            match self.read_node(&key).await? {
                Node::Leaf(entries) => {
                    return match entries.get(service) {
                        None => Ok(None),
                        Some(object) => self.read_object(object, service).await.map(Some),
                    };
                }
                Node::Branch(children) => {
                    next = child_for(&key, &children, &hash, depth)?.cloned();
                    depth += 1;
                }
            }
        }
        Ok(None)
    }

    /// The objects of `services` in `generation` (those it has), reading every trie node and
    /// object needed once, a trie level at a time.
    pub async fn read_services(
        &self,
        generation: &Generation,
        services: &[String],
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        let objects = self.object_keys(generation, services).await?;
        // One read per object, however many services share it.
        let unique: BTreeMap<&String, &String> = objects.iter().map(|(s, k)| (k, s)).collect();
        // Owned up front: an iterator adapter held across awaits would make the future !Send.
        let unique: Vec<(String, String)> = unique
            .into_iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        let fetched = parallel::each(self, unique, |store, key, service| async move {
            store.read_object(&key, &service).await
        })
        .await?;
        let fetched: BTreeMap<String, Vec<u8>> = fetched.into_iter().collect();
        let mut out = BTreeMap::new();
        for (service, key) in objects {
            if let Some(bytes) = fetched.get(&key) {
                out.insert(service, bytes.clone());
            }
        }
        Ok(out)
    }

    /// The object keys of `services` in `generation` (those it has).
    async fn object_keys(
        &self,
        generation: &Generation,
        services: &[String],
    ) -> Result<BTreeMap<String, String>> {
        let mut found = BTreeMap::new();
        let Some(top) = generation.root.tree.clone() else {
            return Ok(found);
        };
        let unique: BTreeSet<&String> = services.iter().collect();
        let all: Wanted = unique
            .into_iter()
            .map(|s| (s.clone(), hash_of(s)))
            .collect();
        let mut level = BTreeMap::from([(top, all)]);
        let mut depth = 0;
        while !level.is_empty() {
            let mut nodes = self
                .get_nodes_of(generation, level.keys().cloned().collect())
                .await?;
            let mut next: BTreeMap<String, Wanted> = BTreeMap::new();
            for (key, wanted) in level {
                match take_node(&mut nodes, &key)? {
                    Node::Leaf(entries) => found.extend(
                        wanted
                            .into_iter()
                            .filter_map(|(s, _)| Some((s.clone(), entries.get(&s)?.clone()))),
                    ),
                    Node::Branch(children) => {
                        for (service, hash) in wanted {
                            if let Some(child) = child_for(&key, &children, &hash, depth)? {
                                next.entry(child.clone()).or_default().push((service, hash));
                            }
                        }
                    }
                }
            }
            level = next;
            depth += 1;
        }
        Ok(found)
    }

    /// Every service key of `generation` with its object key.
    pub async fn services(&self, generation: &Generation) -> Result<BTreeMap<String, String>> {
        match &generation.root.tree {
            None => Ok(BTreeMap::new()),
            Some(key) => {
                let node = self.read_node(key).await?;
                self.flatten(key.clone(), node, 0).await
            }
        }
    }

    /// Services whose objects differ between two generations. Subtrees with equal keys are
    /// skipped unread; where a leaf faces a branch, only that branch's subtree is read.
    pub async fn changed_services(
        &self,
        a: &Generation,
        b: &Generation,
    ) -> Result<BTreeSet<String>> {
        let mut changed = BTreeSet::new();
        let mut pairs = vec![(a.root.tree.clone(), b.root.tree.clone())];
        let mut depth = 0;
        while !pairs.is_empty() {
            pairs.retain(|(x, y)| x != y);
            let keys = pairs
                .iter()
                .flat_map(|(x, y)| [x, y])
                .flatten()
                .cloned()
                .collect();
            let nodes = self.get_nodes(keys).await?;
            let mut next = Vec::new();
            for (x, y) in pairs {
                let (x, y) = (with_node(&nodes, x)?, with_node(&nodes, y)?);
                next.extend(self.compare(x, y, depth, &mut changed).await?);
            }
            pairs = next;
            depth += 1;
        }
        Ok(changed)
    }

    /// Compares two nodes in the same place of two tries, adding the services that differ to
    /// `changed`; returns the child pairs to compare next when both are branches.
    async fn compare(
        &self,
        x: Option<(String, Node)>,
        y: Option<(String, Node)>,
        depth: usize,
        changed: &mut BTreeSet<String>,
    ) -> Result<Vec<(Option<String>, Option<String>)>> {
        match (x, y) {
            (None, None) => {}
            (Some((key, node)), None) | (None, Some((key, node))) => {
                changed.extend(self.flatten(key, node, depth).await?.into_keys());
            }
            (Some((_, Node::Leaf(a))), Some((_, Node::Leaf(b)))) => differing(&a, &b, changed),
            (Some((ka, Node::Branch(a))), Some((_, Node::Branch(b)))) => {
                if depth >= MAX_DEPTH {
                    return Err(too_deep(&ka));
                }
                let nibbles: BTreeSet<_> = a.keys().chain(b.keys()).collect();
                return Ok(nibbles
                    .into_iter()
                    .map(|n| (a.get(n).cloned(), b.get(n).cloned()))
                    .collect());
            }
            (Some((_, Node::Leaf(leaf))), Some((key, branch)))
            | (Some((key, branch)), Some((_, Node::Leaf(leaf)))) => {
                let flat = self.flatten(key, branch, depth).await?;
                differing(&leaf, &flat, changed);
            }
        }
        Ok(Vec::new())
    }

    /// Every service under `node` (read from `key` at `depth`) with its object key.
    pub(crate) async fn flatten(
        &self,
        key: String,
        node: Node,
        depth: usize,
    ) -> Result<BTreeMap<String, String>> {
        let mut all = BTreeMap::new();
        let (mut level, mut depth) = (vec![(key, node)], depth);
        while !level.is_empty() {
            let mut children = BTreeSet::new();
            for (key, node) in level {
                match node {
                    Node::Leaf(entries) => all.extend(entries),
                    Node::Branch(_) if depth >= MAX_DEPTH => return Err(too_deep(&key)),
                    Node::Branch(c) => children.extend(c.into_values()),
                }
            }
            level = self.get_nodes(children).await?.into_iter().collect();
            depth += 1;
        }
        Ok(all)
    }

    /// Reads and decodes a trie node; a missing one is [`Error::Layout`].
    pub(crate) async fn read_node(&self, key: &str) -> Result<Node> {
        let bytes = self.get_content(key).await?.ok_or_else(|| Error::Layout {
            key: key.to_owned(),
            why: "missing trie node".into(),
        })?;
        decode(key, &bytes)
    }

    /// Reads the trie nodes `keys`, many at a time.
    pub(crate) async fn get_nodes(&self, keys: BTreeSet<String>) -> Result<BTreeMap<String, Node>> {
        let nodes = parallel::each(
            self,
            keys.into_iter().map(|k| (k, ())).collect(),
            |store, key, ()| async move { store.read_node(&key).await },
        )
        .await?;
        Ok(nodes.into_iter().collect())
    }

    /// [`Store::get_nodes`] for nodes of `generation`, reading from the store only those not
    /// read through it before.
    pub(crate) async fn get_nodes_of(
        &self,
        generation: &Generation,
        keys: BTreeSet<String>,
    ) -> Result<BTreeMap<String, Node>> {
        let mut found = BTreeMap::new();
        let mut missing = BTreeSet::new();
        {
            let memo = generation.nodes.lock();
            for key in keys {
                match memo.get(&key) {
                    Some(node) => {
                        found.insert(key, node.clone());
                    }
                    None => {
                        missing.insert(key);
                    }
                }
            }
        }
        let read = self.get_nodes(missing).await?;
        generation
            .nodes
            .lock()
            .extend(read.iter().map(|(k, n)| (k.clone(), n.clone())));
        found.extend(read);
        Ok(found)
    }

    /// Reads the object of `service`; a missing one is [`Error::Layout`].
    pub(super) async fn read_object(&self, key: &str, service: &str) -> Result<Vec<u8>> {
        self.get_content(key).await?.ok_or_else(|| Error::Layout {
            key: key.to_owned(),
            why: format!("missing object of service {service}"),
        })
    }
}

/// Takes the node read for `key` out of `nodes`.
fn take_node(nodes: &mut BTreeMap<String, Node>, key: &str) -> Result<Node> {
    nodes.remove(key).ok_or_else(|| not_read(key))
}

/// A node a level's batch read did not return (it always does, or fails).
fn not_read(key: &str) -> Error {
    Error::Layout {
        key: key.to_owned(),
        why: "trie node not read".into(),
    }
}

/// `key` with its node from `nodes`.
fn with_node(
    nodes: &BTreeMap<String, Node>,
    key: Option<String>,
) -> Result<Option<(String, Node)>> {
    let Some(key) = key else {
        return Ok(None);
    };
    match nodes.get(&key) {
        Some(node) => Ok(Some((key, node.clone()))),
        None => Err(not_read(&key)),
    }
}

/// Adds to `changed` the services whose object keys differ between `a` and `b`.
fn differing(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    changed: &mut BTreeSet<String>,
) {
    let services: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    changed.extend(
        services
            .into_iter()
            .filter(|s| a.get(*s) != b.get(*s))
            .cloned(),
    );
}
