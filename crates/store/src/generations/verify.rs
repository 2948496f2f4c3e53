//! Checking a generation whole: every object it references is read once and checked against
//! its name, so that what is named as a generation's content is content that is really there.

use std::collections::BTreeMap;

use super::{Generation, parallel};
use crate::{Error, Result, Store};

impl Store {
    /// Every service of `generation` with its object key, after reading and checking every
    /// object the generation references: its root, its trie nodes (a batch of concurrent reads
    /// per level) and its service objects (each once however many services share it, at most
    /// [`parallel::PARALLEL`] at a time). Each object's bytes are hashed against its name,
    /// roots and nodes are decoded, and `check(object_key, service, bytes)` is called for every
    /// service naming a service object (the store does not know what they hold).
    ///
    /// A missing object is [`Error::Layout`], one whose bytes do not hash to its name
    /// [`Error::Corrupt`], one that does not decode [`Error::Layout`]; each names the object's
    /// key. A root whose generation is not `generation`'s number is [`Error::Layout`] too.
    pub async fn verify<C>(
        &self,
        generation: &Generation,
        check: C,
    ) -> Result<BTreeMap<String, String>>
    where
        C: Fn(&str, &str, &[u8]) -> Result<()> + Clone + Send + 'static,
    {
        if let Some(key) = &generation.root_key {
            let root = self.read_root(key).await?;
            if root.generation != generation.number {
                return Err(Error::Layout {
                    key: key.clone(),
                    why: format!(
                        "root of generation {} expected, found the root of generation {}",
                        generation.number, root.generation
                    ),
                });
            }
        }
        let services = self.services(generation).await?;
        let mut objects: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (service, object) in &services {
            objects
                .entry(object.clone())
                .or_default()
                .push(service.clone());
        }
        parallel::each(
            self,
            objects.into_iter().collect(),
            |store, key, services| {
                let check = check.clone();
                async move {
                    let bytes = store.read_object(&key, &services.join(", ")).await?;
                    services
                        .iter()
                        .try_for_each(|service| check(&key, service, &bytes))
                }
            },
        )
        .await?;
        Ok(services)
    }
}
