//! Content hashes: the versions of entries and the tie-breaker between equal stamps.

use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

mod hasher;

/// Content version of `value`: the 64-bit XXH3 of a compact binary encoding of it (see
/// `hasher`), as 16 hex digits. A version only has to change when the content changes (istiod
/// compares it for equality), so a fast non-cryptographic hash is enough; maps are `BTreeMap`s
/// and lists are sorted by their producers, so equal values always hash equal.
pub fn hash_of<T: Serialize>(value: &T) -> String {
    let mut state = Xxh3::new();
    value
        .serialize(&mut hasher::Hasher(&mut state))
        .expect("hashing serializes every regsync model type");
    format!("{:016x}", state.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_hash_equal_and_different_shapes_differ() {
        let v = serde_json::json!({"a": [1, 2, "x".repeat(20_000)], "b": {"c": null}});
        assert_eq!(hash_of(&v), hash_of(&v.clone()));
        assert_ne!(hash_of(&v), hash_of(&serde_json::json!({"a": [1, 2]})));
        // Nesting and field boundaries are part of the encoding.
        assert_ne!(
            hash_of(&(vec![vec![1u8]], 2u8)),
            hash_of(&(vec![vec![1u8, 2]],))
        );
        assert_ne!(hash_of(&("ab", "c")), hash_of(&("a", "bc")));
        assert_ne!(hash_of(&Some(0u32)), hash_of(&0u32));
        assert_eq!(hash_of(&"x").len(), 16);
    }
}
