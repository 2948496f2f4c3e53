//! What the fuzz targets share: the text form of their inputs (a message of header lines, an
//! empty line and a body, so seeds are real requests and records a person can read) and the
//! oracle every decoded event must pass.

use regsync_model::RegistryEvent;
use regsync_model::event::EventData;

/// Largest body a decoder is given: the webhook's default limit.
pub const MAX_BYTES: usize = 1024 * 1024;

/// A message: the first line, header lines `name: value` (split at the first `:`, one leading
/// space dropped), then after the first empty line the body, byte for byte. Header lines and
/// the first line are bytes (a Kafka header value need not be UTF-8).
pub struct Message<'a> {
    /// The first line.
    pub first: &'a [u8],
    /// The headers in order.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Splits `data`; every input is some message.
    pub fn parse(data: &'a [u8]) -> Self {
        let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&data[..i], &data[i + 2..]),
            None => (data, &data[data.len()..]),
        };
        let mut lines = head.split(|b| *b == b'\n');
        let first = lines.next().unwrap_or_default();
        let headers = lines
            .map(|line| match line.iter().position(|b| *b == b':') {
                Some(i) => {
                    let value = &line[i + 1..];
                    (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &line[line.len()..]),
            })
            .collect();
        Message {
            first,
            headers,
            body,
        }
    }
}

/// Text of bytes, invalid UTF-8 replaced (HTTP header values reach the webhook as text).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The body a binary-mode transport carries for `event`: its data as it arrived.
pub fn data_bytes(event: &RegistryEvent) -> Vec<u8> {
    match &event.data {
        EventData::Json(raw) => raw.get().as_bytes().to_vec(),
        EventData::Text(t) => t.as_bytes().to_vec(),
    }
}

/// The oracle for any event a decoder accepted: it is the same event when a producer forwards
/// it in structured mode (its JSON) and in binary mode (attributes as `prefix` headers, data as
/// the body), as the bridges and the webhook's clients do.
pub fn assert_forwards_unchanged(event: &RegistryEvent) {
    let json = event.to_json();
    let structured = RegistryEvent::from_value(json.clone())
        .unwrap_or_else(|e| panic!("its structured form does not decode ({e}): {json}"));
    assert_eq!(structured.to_json(), json, "structured mode changes it");
    for prefix in ["ce-", "ce_"] {
        let headers: Vec<(String, String)> = event
            .binary_headers()
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect();
        let body = data_bytes(event);
        let binary = RegistryEvent::from_binary(
            |name| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            },
            prefix,
            Some(&event.data_content_type),
            &body,
            usize::MAX,
        )
        .unwrap_or_else(|e| panic!("its binary form ({prefix}) does not decode ({e}): {json}"));
        assert_eq!(binary.to_json(), json, "binary mode ({prefix}) changes it");
    }
}
