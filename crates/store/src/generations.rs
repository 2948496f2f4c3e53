//! Snapshot generations on top of the object store: a generation maps service keys to
//! content-addressed objects, through a root and a fixed number of pages, so publishing a
//! change writes the changed service objects, their pages and a new root, whatever the number
//! of services; then `latest` is swapped with a conditional write. A writer that dies before the
//! swap leaves only unreferenced objects; readers keep seeing the previous generation.
//!
//! See docs/store-layout.md. The store knows nothing of what a service object contains.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ETag, Error, Expect, Result, Store};

/// Key of the one mutable object: which root is current.
pub const LATEST: &str = "latest";
/// Number of pages a root fans out to; fixed so a root's size never grows with the mesh.
pub const PAGES: u16 = 64;
/// Format version of roots, pages and `latest`.
pub const LAYOUT_FORMAT: u32 = 1;

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

/// A generation's root: its pages and its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Root {
    /// Layout format.
    pub format: u32,
    /// Generation number.
    pub generation: u64,
    /// Root of the previous generation.
    pub parent: Option<String>,
    /// Page index → content key of the page; empty pages are left out.
    pub pages: BTreeMap<u16, String>,
}

/// One page: the services that hash to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Page {
    /// Service key → content key of its object.
    pub services: BTreeMap<String, String>,
}

/// A generation as read: its pointer's version (for the conditional swap) and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Version of `latest` when read; `None` before the first publish.
    pub etag: Option<ETag>,
    /// Generation number (0 before the first publish).
    pub number: u64,
    /// Content key of the root, if any.
    pub root_key: Option<String>,
    /// The root.
    pub root: Root,
}

/// A change to one service: its new object, or `None` to remove it.
pub type Change = (String, Option<Vec<u8>>);

/// The page a service key belongs to.
pub fn page_of(service: &str) -> u16 {
    let d = Sha256::digest(service.as_bytes());
    u16::from_be_bytes([d[0], d[1]]) % PAGES
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

impl Store {
    /// The current generation (an empty one before the first publish).
    pub async fn latest(&self) -> Result<Generation> {
        let Some(obj) = self.get(LATEST).await? else {
            return Ok(Generation {
                etag: None,
                number: 0,
                root_key: None,
                root: Root {
                    format: LAYOUT_FORMAT,
                    ..Root::default()
                },
            });
        };
        let pointer: Pointer = decode(LATEST, &obj.bytes)?;
        let root = self.read_root(&pointer.root).await?;
        Ok(Generation {
            etag: Some(obj.etag),
            number: pointer.generation,
            root_key: Some(pointer.root),
            root,
        })
    }

    /// Reads and checks a root.
    pub async fn read_root(&self, key: &str) -> Result<Root> {
        let bytes = self.get_content(key).await?.ok_or_else(|| Error::Layout {
            key: key.to_owned(),
            why: "missing root".into(),
        })?;
        decode(key, &bytes)
    }

    async fn read_page(&self, root: &Root, page: u16) -> Result<Page> {
        match root.pages.get(&page) {
            None => Ok(Page::default()),
            Some(key) => {
                let bytes = self.get_content(key).await?.ok_or_else(|| Error::Layout {
                    key: key.clone(),
                    why: "missing page".into(),
                })?;
                decode(key, &bytes)
            }
        }
    }

    /// The object of `service` in `generation`, checked against its hash.
    pub async fn read_service(
        &self,
        generation: &Generation,
        service: &str,
    ) -> Result<Option<Vec<u8>>> {
        let page = self.read_page(&generation.root, page_of(service)).await?;
        match page.services.get(service) {
            None => Ok(None),
            Some(key) => self.get_content(key).await,
        }
    }

    /// Every service key of `generation` with its object key.
    pub async fn services(&self, generation: &Generation) -> Result<BTreeMap<String, String>> {
        let mut all = BTreeMap::new();
        for page in generation.root.pages.keys() {
            all.extend(self.read_page(&generation.root, *page).await?.services);
        }
        Ok(all)
    }

    /// Services whose objects differ between two generations; pages with equal keys are not read.
    pub async fn changed_services(
        &self,
        a: &Generation,
        b: &Generation,
    ) -> Result<BTreeSet<String>> {
        let mut changed = BTreeSet::new();
        let pages: BTreeSet<u16> = a
            .root
            .pages
            .keys()
            .chain(b.root.pages.keys())
            .copied()
            .collect();
        for p in pages {
            if a.root.pages.get(&p) == b.root.pages.get(&p) {
                continue;
            }
            let (pa, pb) = (
                self.read_page(&a.root, p).await?,
                self.read_page(&b.root, p).await?,
            );
            let keys: BTreeSet<&String> = pa.services.keys().chain(pb.services.keys()).collect();
            changed.extend(
                keys.into_iter()
                    .filter(|k| pa.services.get(*k) != pb.services.get(*k))
                    .cloned(),
            );
        }
        Ok(changed)
    }

    /// Writes the objects of a new generation on top of `base` and returns its root key, without
    /// publishing it. A writer that stops after this leaves nothing visible.
    pub async fn prepare(&self, base: &Generation, changes: Vec<Change>) -> Result<(String, Root)> {
        let mut by_page: BTreeMap<u16, Vec<Change>> = BTreeMap::new();
        for change in changes {
            by_page.entry(page_of(&change.0)).or_default().push(change);
        }
        let mut root = Root {
            format: LAYOUT_FORMAT,
            generation: base.number + 1,
            parent: base.root_key.clone(),
            pages: base.root.pages.clone(),
        };
        for (p, changes) in by_page {
            let mut page = self.read_page(&base.root, p).await?;
            for (service, object) in changes {
                match object {
                    Some(bytes) => {
                        let key = self.put_content(bytes).await?;
                        page.services.insert(service, key);
                    }
                    None => {
                        page.services.remove(&service);
                    }
                }
            }
            if page.services.is_empty() {
                root.pages.remove(&p);
            } else {
                root.pages.insert(p, self.put_content(encode(&page)).await?);
            }
        }
        let key = self.put_content(encode(&root)).await?;
        Ok((key, root))
    }

    /// Makes a prepared root current, if `latest` is still at `base`; otherwise [`Error::Conflict`].
    pub async fn commit(
        &self,
        base: &Generation,
        root_key: String,
        root: Root,
    ) -> Result<Generation> {
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
        Ok(Generation {
            etag: Some(etag),
            number: root.generation,
            root_key: Some(root_key),
            root,
        })
    }

    /// Reads the latest generation, asks `changes` what to change on top of it, and publishes;
    /// on a conflict with another writer it starts over, up to `attempts` times, with a short
    /// jittered pause, then returns the conflict (retryable).
    pub async fn update<F, Fut>(&self, attempts: u32, mut changes: F) -> Result<Generation>
    where
        F: FnMut(Store, Generation) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Change>>>,
    {
        let mut attempt = 0;
        loop {
            let base = self.latest().await?;
            let wanted = changes(self.clone(), base.clone()).await?;
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
