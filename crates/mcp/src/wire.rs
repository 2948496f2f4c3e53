//! State-of-the-World responses without a copy per stream.
//!
//! A `DiscoveryResponse` to istiod carries the whole collection, so with 100k endpoints every
//! response is megabytes, and only `version_info`, `type_url` and `nonce` differ between
//! streams. Protobuf lets a message's fields come in any order and concatenates repeated fields,
//! so each generation encodes its `resources` fields (field 2) once ([`Rendered::encoded`]) and
//! each response is a small head (the 5-byte gRPC message prefix, then fields 1, 4 and 5)
//! followed by those shared bytes. Every stream sends the same allocation, reference-counted:
//! no per-stream clone or encode of the resources, and no per-stream encode buffer kept at the
//! size of the largest message sent.
//!
//! [`Rendered::encoded`]: crate::render::Rendered::encoded

use bytes::{BufMut, Bytes, BytesMut};
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

/// gRPC's message prefix: a compression flag and a big-endian u32 length.
const PREFIX: usize = 5;

/// One response, as gRPC frames it on the wire.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The gRPC message prefix and fields 1, 4 and 5.
    head: Bytes,
    /// Field 2 (`resources`), shared by every stream sending this generation.
    resources: Bytes,
}

impl Encoded {
    /// A `DiscoveryResponse` of `resources` (encoded field-2 entries, see
    /// [`crate::render::Rendered::encoded`]).
    ///
    /// # Panics
    /// If the message exceeds gRPC's 4 GiB frame limit.
    pub fn sotw(version_info: &str, type_url: &str, nonce: &str, resources: Bytes) -> Self {
        let fields = [(1, version_info), (4, type_url), (5, nonce)];
        let fields_len: usize = fields.iter().map(|(t, s)| string_len(*t, s)).sum();
        let len =
            u32::try_from(fields_len + resources.len()).expect("a gRPC message is under 4 GiB");
        let mut head = BytesMut::with_capacity(PREFIX + fields_len);
        head.put_u8(0);
        head.put_u32(len);
        for (tag, value) in fields {
            put_string(tag, value, &mut head);
        }
        Self {
            head: head.freeze(),
            resources,
        }
    }

    /// The bytes to write, in order: the head, then the shared resources (maybe empty).
    pub fn frames(self) -> (Bytes, Bytes) {
        (self.head, self.resources)
    }

    /// Length of the protobuf message (without gRPC's prefix).
    pub fn message_len(&self) -> usize {
        self.head.len() - PREFIX + self.resources.len()
    }

    /// The message decoded, for the plain tonic path and for tests.
    ///
    /// # Panics
    /// Never for what [`Encoded::sotw`] built.
    pub fn decode(&self) -> DiscoveryResponse {
        let mut message = BytesMut::with_capacity(self.message_len());
        message.put_slice(&self.head[PREFIX..]);
        message.put_slice(&self.resources);
        DiscoveryResponse::decode(message.freeze()).expect("an encoded DiscoveryResponse")
    }
}

/// Encoded length of string field `tag` (nothing when empty, as proto3 and prost do).
fn string_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        key_len(tag) + encoded_len_varint(s.len() as u64) + s.len()
    }
}

fn put_string(tag: u32, s: &str, buf: &mut BytesMut) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(s.len() as u64, buf);
        buf.put_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::render::Rendered;
    use crate::testkit::entry;
    use crate::types::SERVICE_ENTRY_V1ALPHA3;
    use std::collections::BTreeSet;

    #[test]
    fn shared_bytes_decode_to_the_response_prost_would_send() {
        let r = Rendered::new(
            7,
            &[
                entry("orders", "h1", &["10.0.0.1", "10.0.0.2"]),
                entry("users", "u1", &["10.0.0.3"]),
            ],
        )
        .unwrap();
        let nonce = "12-3";
        let e = Encoded::sotw(&r.version, SERVICE_ENTRY_V1ALPHA3, nonce, r.encoded.clone());
        let expected = DiscoveryResponse {
            version_info: "7".into(),
            resources: r.select(&BTreeSet::new()),
            type_url: SERVICE_ENTRY_V1ALPHA3.into(),
            nonce: nonce.into(),
            ..DiscoveryResponse::default()
        };
        assert_eq!(e.decode(), expected);
        assert_eq!(e.message_len(), expected.encoded_len());
        let (head, body) = e.frames();
        assert_eq!(head[0], 0, "not compressed");
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        assert_eq!(len, head.len() - PREFIX + body.len());
        // The body is the generation's own allocation, not a copy.
        assert_eq!(body.as_ptr(), r.encoded.as_ptr());

        // A subset, and an empty answer.
        let names = BTreeSet::from(["istio-system/users".to_owned()]);
        let (subset, count) = r.resources_field(&names);
        assert_eq!(count, 1);
        let e = Encoded::sotw("7", SERVICE_ENTRY_V1ALPHA3, nonce, subset);
        assert_eq!(e.decode().resources, r.select(&names));
        let empty = Encoded::sotw("0", "core/v1alpha1/MeshConfig", "1-1", Bytes::new());
        assert!(empty.decode().resources.is_empty());
    }
}
