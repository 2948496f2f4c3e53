//! Content-addressed objects an S3 store has read or written, kept in memory: they are
//! immutable and named by their hash, so a copy is as good as a read. A long-running writer
//! (`regsync consume`, a warm Lambda) reads back the root, trie nodes and service objects it
//! wrote for the previous batch; a watcher compares the generation it read before with the new
//! one. Without the cache each of those is a GET.
//!
//! Only reads are saved: a write is always sent, since garbage collection may have removed an
//! object that is still cached. Bounded by bytes; the least recently used go first.

use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;

/// Default budget: every entry object of a 100k-endpoint mesh (about 20 MiB) plus its trie.
pub const DEFAULT_BUDGET_BYTES: usize = 32 << 20;

/// Verified bytes by content key, shared by the clones of one store.
#[derive(Debug, Clone)]
pub struct ContentCache {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    objects: LruCache<String, Arc<[u8]>>,
    bytes: usize,
    budget: usize,
    hits: u64,
}

impl Default for ContentCache {
    fn default() -> Self {
        Self::with_budget(DEFAULT_BUDGET_BYTES)
    }
}

impl ContentCache {
    /// A cache holding at most `budget` bytes of objects (0 keeps nothing).
    pub fn with_budget(budget: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                objects: LruCache::unbounded(),
                bytes: 0,
                budget,
                hits: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bytes of `key`, if held.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut inner = self.lock();
        let bytes = inner.objects.get(key).map(|b| b.to_vec());
        if bytes.is_some() {
            inner.hits += 1;
        }
        bytes
    }

    /// Keeps `bytes`, which the caller has checked against `key`.
    pub fn insert(&self, key: &str, bytes: &[u8]) {
        let mut inner = self.lock();
        if bytes.len() > inner.budget || inner.objects.contains(key) {
            return;
        }
        inner.bytes += bytes.len();
        inner.objects.put(key.to_owned(), Arc::from(bytes));
        while inner.bytes > inner.budget {
            match inner.objects.pop_lru() {
                Some((_, old)) => inner.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// Reads answered from memory so far.
    pub fn hits(&self) -> u64 {
        self.lock().hits
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_fits_and_drops_the_least_recently_used() {
        let cache = ContentCache::with_budget(10);
        cache.insert("a", b"1234");
        cache.insert("b", b"5678");
        assert_eq!(cache.get("a").as_deref(), Some(b"1234".as_slice()));
        cache.insert("c", b"9012");
        assert_eq!(cache.get("b"), None, "b was least recently used");
        assert_eq!(cache.get("a").as_deref(), Some(b"1234".as_slice()));
        assert_eq!(cache.get("c").as_deref(), Some(b"9012".as_slice()));
        assert_eq!(cache.bytes(), 8);
        assert_eq!(cache.hits(), 3);
        cache.insert("big", &[0; 11]);
        assert_eq!(cache.get("big"), None, "larger than the budget: not kept");
    }
}
