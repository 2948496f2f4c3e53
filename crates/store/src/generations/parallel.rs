//! Running many object requests at once, a bounded number at a time, so a batch costs about
//! one round trip per trie level rather than one per object.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::JoinSet;

use crate::{Error, Result, Store};

/// Most requests one batch has in flight.
pub(crate) const PARALLEL: usize = 32;

/// Runs `work(store, key, item)` for every `(key, item)`, at most [`PARALLEL`] at a time, and
/// returns each key with its result, in no particular order. The first error is returned and
/// the work still running is cancelled. The items are owned so that callers' futures stay
/// `Send` (an iterator borrowing from the caller, held across the awaits here, would not be).
pub(crate) async fn each<T, R, F, Fut>(
    store: &Store,
    items: Vec<(String, T)>,
    work: F,
) -> Result<Vec<(String, R)>>
where
    F: Fn(Store, String, T) -> Fut,
    Fut: Future<Output = Result<R>> + Send + 'static,
    R: Send + 'static,
{
    let mut items = items.into_iter();
    let mut running = JoinSet::new();
    let mut keys = HashMap::new();
    let mut out = Vec::new();
    loop {
        while running.len() < PARALLEL {
            let Some((key, item)) = items.next() else {
                break;
            };
            let handle = running.spawn(work(store.clone(), key.clone(), item));
            keys.insert(handle.id(), key);
        }
        let Some(joined) = running.join_next_with_id().await else {
            return Ok(out);
        };
        match joined {
            Ok((id, result)) => {
                let key = keys.remove(&id).unwrap_or_default();
                out.push((key, result?));
            }
            Err(e) => {
                return Err(Error::Io {
                    key: keys.remove(&e.id()).unwrap_or_default(),
                    source: std::io::Error::other(e),
                });
            }
        }
    }
}
