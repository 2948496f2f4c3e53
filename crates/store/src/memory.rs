//! `memory://`: a map behind a mutex, with the same conditional-write rules as the others.
//! An object's ETag is the store's write counter at its write (`m<n>`): it changes with every
//! write, which is all a version needs to be, and costs nothing to compute.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::{ETag, Error, Expect, Object, ObjectInfo, Result};

/// An in-process store. Clones share the same objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    objects: Arc<Mutex<Objects>>,
}

/// The objects, and the number of writes so far.
#[derive(Debug, Default)]
struct Objects {
    map: BTreeMap<String, Entry>,
    writes: u64,
}

/// A stored object and when it was written.
#[derive(Debug, Clone)]
struct Entry {
    object: Object,
    modified: SystemTime,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        // A panic while holding the lock cannot leave a half-written map: every change is a
        // single insert or remove.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Object> {
        self.lock().map.get(key).map(|e| e.object.clone())
    }

    pub(crate) fn put(&self, key: &str, bytes: Vec<u8>, expect: &Expect) -> Result<ETag> {
        let mut objects = self.lock();
        let current = objects.map.get(key).map(|e| &e.object.etag);
        let allowed = match expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        if !allowed {
            return Err(Error::Conflict {
                key: key.to_owned(),
            });
        }
        objects.writes += 1;
        let etag = ETag(format!("m{}", objects.writes));
        let object = Object {
            bytes,
            etag: etag.clone(),
        };
        let modified = SystemTime::now();
        objects
            .map
            .insert(key.to_owned(), Entry { object, modified });
        Ok(etag)
    }

    pub(crate) fn list(&self, prefix: &str) -> Vec<String> {
        self.list_modified(prefix)
            .into_iter()
            .map(|info| info.key)
            .collect()
    }

    pub(crate) fn list_modified(&self, prefix: &str) -> Vec<ObjectInfo> {
        self.lock()
            .map
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, e)| ObjectInfo {
                key: k.clone(),
                modified: e.modified,
                size: e.object.bytes.len() as u64,
            })
            .collect()
    }

    pub(crate) fn delete(&self, key: &str) {
        self.lock().map.remove(key);
    }
}
