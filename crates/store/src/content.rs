//! Content-addressed objects: immutable blobs stored under the hex SHA-256 of their bytes, the
//! building block of snapshot generations. Writing the same bytes twice is harmless (the second
//! create conflicts on identical content, which counts as success); reading checks the hash, so
//! a corrupted object is reported with its key and never returned.

use sha2::{Digest, Sha256};

use crate::{ContentCache, Error, Expect, Result, Store};

/// Where content-addressed objects live under the store's root.
pub const CONTENT_PREFIX: &str = "objects/";

/// The key of `bytes`: `objects/<hex sha256>`.
pub fn content_key(bytes: &[u8]) -> String {
    format!("{CONTENT_PREFIX}{}", hex::encode(Sha256::digest(bytes)))
}

impl Store {
    /// Stores `bytes` under their content key and returns it; storing existing content is a no-op.
    pub async fn put_content(&self, bytes: Vec<u8>) -> Result<String> {
        let key = content_key(&bytes);
        // Always written: garbage collection may have removed an object that is still cached.
        let cache = self.content_cache().cloned();
        let kept = cache.as_ref().map(|_| bytes.clone());
        match self.put(&key, bytes, Expect::Absent).await {
            Ok(_) | Err(Error::Conflict { .. }) => {
                if let (Some(cache), Some(bytes)) = (cache, kept) {
                    cache.insert(&key, &bytes);
                }
                Ok(key)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a content-addressed object and checks its bytes against its key.
    pub async fn get_content(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(bytes) = self.content_cache().and_then(|c| c.get(key)) {
            return Ok(Some(bytes));
        }
        let Some(obj) = self.get(key).await? else {
            return Ok(None);
        };
        let expected = key.strip_prefix(CONTENT_PREFIX).unwrap_or(key);
        let actual = hex::encode(Sha256::digest(&obj.bytes));
        if actual != expected {
            return Err(Error::Corrupt {
                key: key.to_owned(),
                actual,
            });
        }
        if let Some(cache) = self.content_cache() {
            cache.insert(key, &obj.bytes);
        }
        Ok(Some(obj.bytes))
    }

    /// The in-memory copies of content-addressed objects: S3 stores keep one (reads there cost
    /// a request each); directories and memory stores do not.
    pub fn content_cache(&self) -> Option<&ContentCache> {
        match self {
            #[cfg(feature = "s3")]
            Store::S3(s) => Some(s.content_cache()),
            Store::Memory(_) | Store::File(_) => None,
        }
    }
}
