//! Object storage for regsync snapshots. One interface, [`Store`], over three backends picked by
//! URL: `memory://` (tests), `file://DIR` (the embedded default) and `s3://bucket/prefix`.
//!
//! The store holds opaque objects under `/`-separated keys and offers the two conditional writes
//! the snapshot layout is built on: create-if-absent (S3 `If-None-Match: *`) for immutable
//! objects, and replace-if-unchanged (S3 `If-Match: <etag>`) for the small manifest that is
//! published last. A lost race is [`Error::Conflict`], never a silent overwrite.
//!
//! This crate knows nothing about snapshots or registries; it must not depend on the model.

mod cache;
mod content;
mod error;
mod file;
pub mod generations;
pub mod lease;
mod memory;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use sha2::{Digest, Sha256};

pub use cache::ContentCache;
pub use content::{CONTENT_PREFIX, content_key};
pub use error::{Error, Result};
pub use file::FileStore;
pub use memory::MemoryStore;
#[cfg(feature = "s3")]
pub use s3::{RequestCounter, S3Store};

/// An opaque version of an object's content; it changes whenever the content does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

impl ETag {
    /// The ETag of the file:// backend: the hex SHA-256 of the content (memory:// counts writes).
    pub fn of(bytes: &[u8]) -> Self {
        ETag(hex::encode(Sha256::digest(bytes)))
    }
}

/// An object and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The content.
    pub bytes: Vec<u8>,
    /// Its version.
    pub etag: ETag,
}

/// An object as listed: its key, when it was last written and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// When the object was last written, by the backend's clock: S3's `LastModified`, the
    /// file's modification time, the insert time in memory.
    pub modified: std::time::SystemTime,
    /// Its size in bytes.
    pub size: u64,
}

/// What a replace may overwrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Only if there is no object yet.
    Absent,
    /// Only if the object still has this version.
    Version(ETag),
}

/// A store, chosen by URL.
#[derive(Debug, Clone)]
pub enum Store {
    /// In-process, for tests.
    Memory(MemoryStore),
    /// A local directory.
    File(FileStore),
    /// An S3 bucket (or S3-compatible server) under a prefix.
    #[cfg(feature = "s3")]
    S3(S3Store),
}

impl Store {
    /// Opens `memory://`, `file://DIR` (absolute or relative), a bare directory path, or
    /// `s3://bucket/prefix` (standard AWS configuration; see [`S3Store::connect`]).
    pub async fn open(url: &str) -> Result<Self> {
        if url == "memory://" || url == "memory:" {
            return Ok(Store::Memory(MemoryStore::default()));
        }
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(Error::Url {
                    url: url.into(),
                    why: "file:// needs a directory, e.g. file:///var/lib/regsync".into(),
                });
            }
            return Ok(Store::File(FileStore::new(dir)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Url {
                    url: url.into(),
                    why: "s3:// needs a bucket, e.g. s3://my-bucket/regsync".into(),
                });
            }
            #[cfg(feature = "s3")]
            return Ok(Store::S3(S3Store::connect(bucket, prefix).await));
            #[cfg(not(feature = "s3"))]
            return Err(Error::Url {
                url: url.into(),
                why: format!(
                    "this build has no s3:// backend (bucket {bucket}, prefix {prefix:?}): \
                     build regsync-store with its `s3` feature"
                ),
            });
        }
        if url.contains("://") {
            return Err(Error::Url {
                url: url.into(),
                why: "expected memory://, file://DIR or s3://bucket/prefix".into(),
            });
        }
        Ok(Store::File(FileStore::new(url)))
    }

    /// Reads an object, `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Object>> {
        check_key(key)?;
        match self {
            Store::Memory(s) => Ok(s.get(key)),
            Store::File(s) => s.get(key).await,
            #[cfg(feature = "s3")]
            Store::S3(s) => s.get(key).await,
        }
    }

    /// The version of an object without its content, `None` if there is none.
    pub async fn head(&self, key: &str) -> Result<Option<ETag>> {
        check_key(key)?;
        match self {
            #[cfg(feature = "s3")]
            Store::S3(s) => s.head(key).await,
            _ => Ok(self.get(key).await?.map(|o| o.etag)),
        }
    }

    /// Writes `bytes` under `key` if the current object matches `expect`; returns the new version.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, expect: Expect) -> Result<ETag> {
        check_key(key)?;
        match self {
            Store::Memory(s) => s.put(key, bytes, &expect),
            Store::File(s) => s.put(key, bytes, expect).await,
            #[cfg(feature = "s3")]
            Store::S3(s) => s.put(key, bytes, expect).await,
        }
    }

    /// Every key that starts with `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        match self {
            Store::Memory(s) => Ok(s.list(prefix)),
            Store::File(s) => s.list(prefix).await,
            #[cfg(feature = "s3")]
            Store::S3(s) => s.list(prefix).await,
        }
    }

    /// Every object whose key starts with `prefix`, sorted by key, with its last write time and
    /// size (what garbage collection needs to spare young objects).
    pub async fn list_modified(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        match self {
            Store::Memory(s) => Ok(s.list_modified(prefix)),
            Store::File(s) => s.list_modified(prefix).await,
            #[cfg(feature = "s3")]
            Store::S3(s) => s.list_modified(prefix).await,
        }
    }

    /// Removes an object; removing a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        match self {
            Store::Memory(s) => {
                s.delete(key);
                Ok(())
            }
            Store::File(s) => s.delete(key).await,
            #[cfg(feature = "s3")]
            Store::S3(s) => s.delete(key).await,
        }
    }
}

/// Keys are relative and `/`-separated; no segment is empty or starts with `.` (which also rules
/// out `.` and `..`, and leaves hidden names to the backends' own files).
pub fn check_key(key: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::InvalidKey {
            key: key.to_owned(),
            why,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.starts_with('/') {
        return bad("must be relative");
    }
    if key.contains('\\') || key.contains('\0') {
        return bad("must not contain a backslash or NUL");
    }
    if key.split('/').any(|s| s.is_empty() || s.starts_with('.')) {
        return bad("empty segments and segments starting with `.` are not allowed");
    }
    Ok(())
}
