//! `--state FILE`: what a bridge last published, kept across its restarts.
//!
//! A bridge publishes whole states and compares each read with what it last published. After a
//! restart it would know nothing, and an interface or application that disappeared entirely
//! while it was stopped (a Dubbo 3 `/services/<app>` container node removed by ZooKeeper after
//! its last instance left, an app gone from Eureka) would never be announced as gone. With a
//! state file the bridge starts from what it published before, so the first full read sees
//! the disappearance and publishes the empty state.
//!
//! The file holds, per key, a fingerprint of the published content (xxh3, not the content), and
//! the bridge's `source`: a state file written for another registry is refused rather than
//! read as if every one of its services had vanished.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// A fingerprint of published content; `EMPTY` for an empty state.
pub fn fingerprint(content: &str, empty: bool) -> String {
    if empty {
        EMPTY.to_owned()
    } else {
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(content.as_bytes()))
    }
}

/// The fingerprint of an empty state (no providers, no instances, no applications).
pub const EMPTY: &str = "empty";

/// How a key is written in the state file.
pub trait StateKey {
    /// The key as text.
    fn state_key(&self) -> String;
}

impl StateKey for String {
    fn state_key(&self) -> String {
        self.clone()
    }
}

/// The state file of one bridge.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
    source: String,
}

impl StateFile {
    /// The state file at `path` for the bridge whose events have `source`.
    pub fn new(path: &Path, source: &str) -> Self {
        StateFile {
            path: path.to_owned(),
            source: source.to_owned(),
        }
    }

    /// What was published, by key; empty when the file does not exist yet.
    pub fn load(&self) -> anyhow::Result<HashMap<String, String>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read --state {}", self.path.display()));
            }
        };
        let value: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "--state {} is not a regsync bridge state file (JSON)",
                self.path.display()
            )
        })?;
        let source = value["source"].as_str().unwrap_or_default();
        if source != self.source {
            bail!(
                "--state {} was written by the bridge of {source:?}, not {:?}: give each bridge its own state file",
                self.path.display(),
                self.source
            );
        }
        let Some(published) = value["published"].as_object() else {
            bail!("--state {}: no \"published\" object", self.path.display());
        };
        Ok(published
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect())
    }

    /// Replaces the file with `published`, atomically (a temporary file renamed over it).
    pub async fn save(
        &self,
        published: impl Iterator<Item = (String, &String)>,
    ) -> anyhow::Result<()> {
        let map: serde_json::Map<String, Value> = published
            .map(|(k, v)| (k, Value::String(v.clone())))
            .collect();
        let text =
            serde_json::to_vec(&json!({"format": 1, "source": self.source, "published": map}))?;
        let tmp = self.path.with_extension("tmp");
        let write = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &text).await?;
            file.sync_all().await?;
            tokio::fs::rename(&tmp, &self.path).await
        };
        write
            .await
            .with_context(|| format!("cannot write --state {}", self.path.display()))
    }

    /// Saves `published`, or logs why it could not: the state file is then behind, which only
    /// matters if the bridge restarts before the next save.
    pub async fn save_or_warn<K: StateKey>(&self, published: &HashMap<K, String>) {
        if let Err(e) = self
            .save(published.iter().map(|(k, v)| (k.state_key(), v)))
            .await
        {
            tracing::warn!(error = %format!("{e:#}"),
                "the state file is behind; a restart may miss what vanishes meanwhile");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_state_file_round_trips_and_refuses_another_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let file = StateFile::new(&path, "zookeeper://zk-a:2181/dubbo");
        assert!(
            file.load().unwrap().is_empty(),
            "no file yet: nothing published"
        );
        let published: HashMap<String, String> = [
            ("providers/a.B".to_owned(), fingerprint("[\"x\"]", false)),
            ("providers/c.D".to_owned(), fingerprint("[]", true)),
        ]
        .into();
        file.save(published.iter().map(|(k, v)| (k.clone(), v)))
            .await
            .unwrap();
        assert_eq!(file.load().unwrap(), published);
        let other = StateFile::new(&path, "zookeeper://zk-b:2181/dubbo");
        let e = other.load().unwrap_err().to_string();
        assert!(
            e.contains("zk-a") && e.contains("its own state file"),
            "{e}"
        );
        std::fs::write(&path, "not json").unwrap();
        let e = file.load().unwrap_err().to_string();
        assert!(e.contains("--state") && e.contains("state.json"), "{e}");
    }
}
