//! Canonical encodings and the content hashes derived from them.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Canonical JSON: `serde_json` over types whose maps are `BTreeMap`s and whose lists are sorted
/// by the caller, so equal values always give equal bytes.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("regsync model types always serialize")
}

/// First 16 hex digits of the SHA-256 of `bytes`: a content version.
pub fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..8])
}

/// [`short_hash`] of the canonical JSON of `value`.
pub fn hash_of<T: Serialize>(value: &T) -> String {
    short_hash(&canonical_json(value))
}
