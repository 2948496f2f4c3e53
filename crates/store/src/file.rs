//! `file://DIR`: one file per object under a directory.
//!
//! - Every write goes to a temporary file in the target's directory, is flushed to disk, and is
//!   then moved into place, so a reader sees the old object or the new one, never a part.
//! - Create-if-absent hard-links the temporary file to the key: the link fails if the key exists,
//!   atomically, across processes.
//! - Replace-if-unchanged holds an exclusive lock on `DIR/.regsync.lock` (an OS file lock, so it
//!   also serializes writers in other processes) while it compares the current content's hash
//!   with the expected version and renames.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{ETag, Error, Expect, Object, ObjectInfo, Result};

/// Name of the lock file in the store's root.
pub const LOCK_FILE: &str = ".regsync.lock";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A store in a local directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

fn io(key: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        key: key.to_owned(),
        source,
    }
}

impl FileStore {
    /// A store rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { root: dir.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        key.split('/').fold(self.root.clone(), |p, s| p.join(s))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Object>> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => {
                let etag = ETag::of(&bytes);
                Ok(Some(Object { bytes, etag }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(key)(e)),
        }
    }

    pub(crate) async fn put(&self, key: &str, bytes: Vec<u8>, expect: Expect) -> Result<ETag> {
        let (root, path, owned) = (self.root.clone(), self.path(key), key.to_owned());
        blocking(key, move || {
            put_blocking(&root, &path, &owned, &bytes, &expect)
        })
        .await
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let found = self.find(prefix).await?;
        Ok(found.into_iter().map(|(key, _)| key).collect())
    }

    /// Like `list`, with each file's modification time and size. A file deleted between the
    /// directory walk and its `stat` is left out.
    pub(crate) async fn list_modified(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let found = self.find(prefix).await?;
        blocking(prefix, move || {
            let mut out = Vec::with_capacity(found.len());
            for (key, path) in found {
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(&key)(e)),
                };
                let modified = meta.modified().map_err(io(&key))?;
                let size = meta.len();
                out.push(ObjectInfo {
                    key,
                    modified,
                    size,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Deletes (unless `dry_run`) the temporary files a writer killed mid-write left behind
    /// (`.<name>.tmp-<pid>-<n>`, never keys) that are older than `grace`: how many, and
    /// their bytes. A live writer's temporary file is seconds old.
    pub(crate) async fn sweep_temp(
        &self,
        grace: std::time::Duration,
        dry_run: bool,
    ) -> Result<(usize, u64)> {
        let root = self.root.clone();
        blocking(".tmp-", move || {
            let mut stray = Vec::new();
            walk_temp(&root, &mut stray).map_err(io(".tmp-"))?;
            let now = std::time::SystemTime::now();
            let (mut count, mut bytes) = (0, 0);
            for path in stray {
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age >= grace);
                if !old {
                    continue;
                }
                if !dry_run {
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io(&path.display().to_string())(e)),
                    }
                }
                count += 1;
                bytes += meta.len();
            }
            Ok((count, bytes))
        })
        .await
    }

    /// The keys starting with `prefix`, sorted, with their paths.
    async fn find(&self, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
        let (root, wanted) = (self.root.clone(), prefix.to_owned());
        blocking(prefix, move || {
            let mut found = Vec::new();
            walk(&root, "", &mut found).map_err(io(&wanted))?;
            found.retain(|(k, _)| k.starts_with(&wanted));
            found.sort();
            Ok(found)
        })
        .await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(key)(e)),
        }
    }
}

/// Runs blocking file-system work off the async threads; `key` names it if the task is lost.
async fn blocking<T: Send + 'static>(
    key: &str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Io {
            key: key.to_owned(),
            source: std::io::Error::other(e),
        })?
}

fn put_blocking(
    root: &Path,
    path: &Path,
    key: &str,
    bytes: &[u8],
    expect: &Expect,
) -> Result<ETag> {
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(io(key))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = write_temp(&temp, bytes).and_then(|()| match expect {
        Expect::Absent => match std::fs::hard_link(&temp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Conflict {
                key: key.to_owned(),
            }),
            Err(e) => Err(io(key)(e)),
        },
        Expect::Version(expected) => {
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(root.join(LOCK_FILE))
                .map_err(io(key))?;
            lock.lock().map_err(io(key))?;
            let current = match std::fs::read(path) {
                Ok(b) => Some(ETag::of(&b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io(key)(e)),
            };
            if current.as_ref() != Some(expected) {
                return Err(Error::Conflict {
                    key: key.to_owned(),
                });
            }
            // The lock is released when `lock` drops, after the rename.
            std::fs::rename(&temp, path).map_err(io(key))
        }
    });
    // The temporary file is gone after a rename; after a link or a failure it is removed here.
    let _ = std::fs::remove_file(&temp);
    result.map(|()| ETag::of(bytes))
}

fn write_temp(temp: &Path, bytes: &[u8]) -> Result<()> {
    let key = temp.display().to_string();
    let mut f = std::fs::File::create(temp).map_err(|e| Error::Io {
        key: key.clone(),
        source: e,
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::Io { key, source: e })
}

/// Collects the keys under `dir` with their paths, skipping hidden names (temporary files, the
/// lock).
/// Every writer's temporary file under `dir`: hidden, with `.tmp-` in its name.
fn walk_temp(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            walk_temp(&entry.path(), out)?;
        } else if name.starts_with('.') && name.contains(".tmp-") {
            out.push(entry.path());
        }
    }
    Ok(())
}

fn walk(dir: &Path, prefix: &str, keys: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), &key, keys)?;
        } else {
            keys.push((key, entry.path()));
        }
    }
    Ok(())
}
