//! The hash trie under a generation's root, as data: the stored [`Node`]s and the in-memory
//! [`Draft`] a change edits. No I/O here; `generations.rs` loads and writes the nodes.
//!
//! A service's place in the trie is given by the SHA-256 of its key: a branch at depth `d`
//! picks its child by the `d`-th hex digit (nibble) of that hash. Leaves hold up to
//! [`LEAF_MAX`] services; a fuller leaf splits into a branch. A change rewrites the nodes on the
//! paths of the services it touches and nothing else.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::{Error, Result, content_key};

/// Most services a leaf holds; a leaf that would hold more splits into a branch.
pub const LEAF_MAX: usize = 32;
/// Nibbles in a SHA-256, so the depth of a leaf is at most this and a branch's less.
pub const MAX_DEPTH: usize = 64;

/// SHA-256 of a service key: its path in the trie.
pub(crate) type Hash = [u8; 32];

/// The path of `service` in the trie.
pub(crate) fn hash_of(service: &str) -> Hash {
    Sha256::digest(service.as_bytes()).into()
}

/// One hex digit of a service key's hash: which child of a branch the service is under. Written
/// in JSON as a one-character string, `"0"` to `"f"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nibble(u8);

impl Nibble {
    /// The nibble of `hash` at `depth` (0 is the high half of the first byte), `None` past the
    /// last one.
    pub(crate) fn at(hash: &Hash, depth: usize) -> Option<Nibble> {
        let byte = hash.get(depth / 2)?;
        Some(Nibble(if depth.is_multiple_of(2) {
            byte >> 4
        } else {
            byte & 0x0f
        }))
    }

    /// The nibble's value, 0 to 15.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Nibble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl Serialize for Nibble {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Nibble {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_bytes() {
            [c @ b'0'..=b'9'] => Ok(Nibble(c - b'0')),
            [c @ b'a'..=b'f'] => Ok(Nibble(c - b'a' + 10)),
            _ => Err(serde::de::Error::custom(format!(
                "branch child {text:?} is not one lowercase hex digit"
            ))),
        }
    }
}

/// A trie node as stored, a content-addressed JSON object: `{"leaf":{service key: content key
/// of its object}}` or `{"branch":{nibble: content key of the child node}}`. Children and
/// services absent from a node are absent from the generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Node {
    /// Services and the content keys of their objects.
    Leaf(BTreeMap<String, String>),
    /// Child nodes by the nibble of the service hash at this node's depth.
    Branch(BTreeMap<Nibble, String>),
}

impl Node {
    /// The bytes stored for the node.
    pub(crate) fn encode(&self) -> Vec<u8> {
        super::encode(self)
    }
}

/// The child of a branch at `depth` that holds `hash`, or an error naming the branch if the
/// branch is deeper than a hash has nibbles (a forged or broken trie).
pub(crate) fn child_for<'a>(
    key: &str,
    children: &'a BTreeMap<Nibble, String>,
    hash: &Hash,
    depth: usize,
) -> Result<Option<&'a String>> {
    let nibble = Nibble::at(hash, depth).ok_or_else(|| too_deep(key))?;
    Ok(children.get(&nibble))
}

/// The error for a branch at or below [`MAX_DEPTH`].
pub(crate) fn too_deep(key: &str) -> Error {
    Error::Layout {
        key: key.to_owned(),
        why: format!("trie branch deeper than the {MAX_DEPTH} nibbles of a SHA-256"),
    }
}

/// A node to write: its content key and bytes.
pub(crate) type Write = (String, Vec<u8>);

/// A trie being edited. The nodes on the paths of the services a change touches are loaded
/// (`Leaf`, `Branch`) and remember the key they were loaded from (`base`), so a node that comes
/// out unchanged is not written again; everything else stays a key (`Stored`) and is neither
/// read nor written.
#[derive(Debug)]
pub(crate) enum Draft {
    /// No services.
    Empty,
    /// An untouched subtree, by key.
    Stored(String),
    /// A leaf: services and the content keys of their objects.
    Leaf {
        entries: BTreeMap<String, String>,
        base: Option<String>,
    },
    /// A branch: children by nibble.
    Branch {
        children: BTreeMap<Nibble, Draft>,
        base: Option<String>,
    },
}

/// A sealed subtree: gone, a leaf not yet written (its parent may merge it), or a node key.
enum Sealed {
    Empty,
    Leaf {
        entries: BTreeMap<String, String>,
        base: Option<String>,
    },
    Ref(String),
}

impl Draft {
    /// A draft of the trie whose top node is `tree`.
    pub(crate) fn new(tree: Option<String>) -> Draft {
        tree.map_or(Draft::Empty, Draft::Stored)
    }

    /// The stored node on `hash`'s path that must be loaded before the path can be edited.
    pub(crate) fn unloaded_on(&self, hash: &Hash) -> Option<&str> {
        let (mut node, mut depth) = (self, 0);
        loop {
            match node {
                Draft::Stored(key) => return Some(key),
                Draft::Branch { children, .. } => {
                    node = children.get(&Nibble::at(hash, depth)?)?;
                    depth += 1;
                }
                Draft::Empty | Draft::Leaf { .. } => return None,
            }
        }
    }

    /// Replaces the stored node on `hash`'s path by its content, taken from `nodes`.
    pub(crate) fn load_on(
        &mut self,
        hash: &Hash,
        depth: usize,
        nodes: &mut BTreeMap<String, Node>,
    ) -> Result<()> {
        match self {
            Draft::Stored(key) => {
                let key = key.clone();
                if let Some(node) = nodes.remove(&key) {
                    *self = Draft::loaded(key, node, depth)?;
                }
                Ok(())
            }
            Draft::Branch { children, .. } => {
                match Nibble::at(hash, depth).and_then(|n| children.get_mut(&n)) {
                    Some(child) => child.load_on(hash, depth + 1, nodes),
                    None => Ok(()),
                }
            }
            Draft::Empty | Draft::Leaf { .. } => Ok(()),
        }
    }

    /// The draft of a node read from `key` at `depth`.
    fn loaded(key: String, node: Node, depth: usize) -> Result<Draft> {
        Ok(match node {
            Node::Leaf(entries) => Draft::Leaf {
                entries,
                base: Some(key),
            },
            Node::Branch(_) if depth >= MAX_DEPTH => return Err(too_deep(&key)),
            Node::Branch(children) => Draft::Branch {
                children: children
                    .into_iter()
                    .map(|(n, k)| (n, Draft::Stored(k)))
                    .collect(),
                base: Some(key),
            },
        })
    }

    /// Sets `service` (whose hash is `hash`) to the object `value`, or removes it when `None`;
    /// returns the content key it had. The path must be loaded.
    pub(crate) fn set(
        &mut self,
        hash: &Hash,
        depth: usize,
        service: String,
        value: Option<String>,
    ) -> Result<Option<String>> {
        match self {
            Draft::Empty => {
                if let Some(v) = value {
                    let entries = BTreeMap::from([(service, v)]);
                    *self = Draft::Leaf {
                        entries,
                        base: None,
                    };
                }
                Ok(None)
            }
            Draft::Leaf { entries, .. } => Ok(match value {
                Some(v) => entries.insert(service, v),
                None => entries.remove(&service),
            }),
            Draft::Branch { children, base } => {
                let Some(nibble) = Nibble::at(hash, depth) else {
                    return Err(too_deep(base.as_deref().unwrap_or(&service)));
                };
                let child = children.entry(nibble).or_insert(Draft::Empty);
                child.set(hash, depth + 1, service, value)
            }
            Draft::Stored(key) => Err(Error::Layout {
                key: key.clone(),
                why: "trie node edited before it was loaded".into(),
            }),
        }
    }

    /// Turns the edited trie into nodes: returns the key of the top node (`None` when no
    /// service is left) and adds every node to write to `writes`, leaves before their branches.
    pub(crate) fn seal(self, writes: &mut Vec<Write>) -> Option<String> {
        self.seal_at(0, writes).write(writes)
    }

    fn seal_at(self, depth: usize, writes: &mut Vec<Write>) -> Sealed {
        match self {
            Draft::Empty => Sealed::Empty,
            Draft::Stored(key) => Sealed::Ref(key),
            Draft::Leaf { entries, .. } if entries.is_empty() => Sealed::Empty,
            Draft::Leaf { entries, base } if entries.len() > LEAF_MAX && depth < MAX_DEPTH => {
                split(entries, base, depth).seal_at(depth, writes)
            }
            Draft::Leaf { entries, base } => Sealed::Leaf { entries, base },
            Draft::Branch { children, base } => seal_branch(children, base, depth, writes),
        }
    }
}

/// A branch at `depth` holding `entries` in leaves one level down (which may split further when
/// sealed). Only called above [`MAX_DEPTH`], where every hash has a nibble.
fn split(entries: BTreeMap<String, String>, base: Option<String>, depth: usize) -> Draft {
    let mut children: BTreeMap<Nibble, Draft> = BTreeMap::new();
    for (service, key) in entries {
        let nibble = Nibble::at(&hash_of(&service), depth).unwrap_or(Nibble(0));
        let child = children.entry(nibble).or_insert_with(|| Draft::Leaf {
            entries: BTreeMap::new(),
            base: None,
        });
        if let Draft::Leaf { entries, .. } = child {
            entries.insert(service, key);
        }
    }
    Draft::Branch { children, base }
}

/// Seals a branch's children; drops the branch if none is left, merges it into one leaf if its
/// children are all small leaves known here, or else writes it.
fn seal_branch(
    children: BTreeMap<Nibble, Draft>,
    base: Option<String>,
    depth: usize,
    writes: &mut Vec<Write>,
) -> Sealed {
    let sealed: Vec<(Nibble, Sealed)> = children
        .into_iter()
        .map(|(n, child)| (n, child.seal_at(depth + 1, writes)))
        .filter(|(_, s)| !matches!(s, Sealed::Empty))
        .collect();
    if sealed.is_empty() {
        return Sealed::Empty;
    }
    if let Some(entries) = merged(&sealed) {
        return Sealed::Leaf { entries, base };
    }
    let refs: BTreeMap<Nibble, String> = sealed
        .into_iter()
        .filter_map(|(n, s)| Some((n, s.write(writes)?)))
        .collect();
    Sealed::Ref(write_node(&Node::Branch(refs), base.as_deref(), writes))
}

/// The services of `children` as one leaf, if they are all leaves and fit in one.
fn merged(children: &[(Nibble, Sealed)]) -> Option<BTreeMap<String, String>> {
    let mut all = BTreeMap::new();
    for (_, child) in children {
        let Sealed::Leaf { entries, .. } = child else {
            return None;
        };
        if all.len() + entries.len() > LEAF_MAX {
            return None;
        }
        all.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Some(all)
}

impl Sealed {
    /// Writes a pending leaf; returns the subtree's key, `None` when it is empty.
    fn write(self, writes: &mut Vec<Write>) -> Option<String> {
        match self {
            Sealed::Empty => None,
            Sealed::Ref(key) => Some(key),
            Sealed::Leaf { entries, base } => {
                Some(write_node(&Node::Leaf(entries), base.as_deref(), writes))
            }
        }
    }
}

/// The key of `node`; adds it to `writes` unless it is the node already stored in its place.
fn write_node(node: &Node, base: Option<&str>, writes: &mut Vec<Write>) -> String {
    let bytes = node.encode();
    let key = content_key(&bytes);
    if base != Some(key.as_str()) {
        writes.push((key.clone(), bytes));
    }
    key
}
