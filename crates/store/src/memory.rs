//! `memory://`: a map behind a mutex, with the same conditional-write rules as the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::{ETag, Error, Expect, Object, Result};

/// An in-process store. Clones share the same objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    objects: Arc<Mutex<BTreeMap<String, Object>>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Object>> {
        // A panic while holding the lock cannot leave a half-written map: every change is a
        // single insert or remove.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Object> {
        self.lock().get(key).cloned()
    }

    pub(crate) fn put(&self, key: &str, bytes: Vec<u8>, expect: &Expect) -> Result<ETag> {
        let mut objects = self.lock();
        let current = objects.get(key).map(|o| &o.etag);
        let allowed = match expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        if !allowed {
            return Err(Error::Conflict {
                key: key.to_owned(),
            });
        }
        let etag = ETag::of(&bytes);
        objects.insert(
            key.to_owned(),
            Object {
                bytes,
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }

    pub(crate) fn list(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .range(prefix.to_owned()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub(crate) fn delete(&self, key: &str) {
        self.lock().remove(key);
    }
}
