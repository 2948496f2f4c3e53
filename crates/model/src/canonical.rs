//! Canonical encodings and the content hashes derived from them.

use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

/// Canonical JSON: `serde_json` over types whose maps are `BTreeMap`s and whose lists are sorted
/// by the caller, so equal values always give equal bytes.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("regsync model types always serialize")
}

/// Feeds written bytes straight into a hasher, so hashing never builds the encoding in memory.
struct HashWriter(Xxh3);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Content version of `value`: the 64-bit XXH3 of its canonical JSON, as 16 hex digits,
/// streamed into the hasher. A version only has to change when the content changes (istiod
/// compares it for equality), so a fast non-cryptographic hash is enough.
pub fn hash_of<T: Serialize>(value: &T) -> String {
    // serde_json writes many tiny fragments; batch them before they reach the hasher.
    let mut w = std::io::BufWriter::with_capacity(16 * 1024, HashWriter(Xxh3::new()));
    serde_json::to_writer(&mut w, value).expect("regsync model types always serialize");
    let HashWriter(hasher) = w
        .into_inner()
        .unwrap_or_else(|_| unreachable!("hashing never fails"));
    format!("{:016x}", hasher.digest())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

    #[test]
    fn streaming_the_hash_equals_hashing_the_encoding() {
        let v = serde_json::json!({"a": [1, 2, "x".repeat(20_000)], "b": {"c": null}});
        assert_eq!(
            hash_of(&v),
            format!("{:016x}", xxh3_64(&canonical_json(&v)))
        );
        assert_ne!(hash_of(&v), hash_of(&serde_json::json!({"a": [1, 2]})));
    }
}
