//! Eureka payloads to normalized [`EurekaDocument`]s: the JSON every Eureka server version
//! writes (Jackson and the old XStream/Jettison codec) and the XML codec.
//!
//! This crate owns the wire quirks (single objects where arrays are expected, ports as
//! `{"$": .., "@enabled": ..}` with numbers or strings, `overriddenStatus` vs legacy
//! `overriddenstatus`, timestamps as strings, `@class` keys, `instanceId` fallbacks) so that
//! nothing downstream sees them. It does no I/O and holds no state; fetching payloads from a
//! server is someone else's job. It must not depend on AWS, Kubernetes, gRPC or Kafka crates.
//!
//! Every error is a [`regsync_model::Error`] naming the field and its position: a JSON pointer
//! into the document (for XML, the same pointer over the element tree, with `@name` for an
//! attribute and `$` for an element's text), or a line and column for syntax errors.

#![warn(missing_docs)]

mod fast;
mod json;
mod merge;
mod xml;

use regsync_model::Result;
use regsync_model::error::{Error, Position};
use regsync_model::eureka::{EurekaDocument, EurekaInstance};
use serde_json::Value;

/// Parses a Eureka payload, JSON or XML, chosen by its first non-whitespace byte
/// (`<` means XML, anything else JSON). A leading UTF-8 byte order mark is ignored.
pub fn parse(bytes: &[u8]) -> Result<EurekaDocument> {
    let bytes = strip_bom(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                let offset = e.valid_up_to();
                let (line, column) = bytes.get(..offset).map_or((1, 1), line_column);
                Error::Syntax {
                    format: "XML",
                    position: Position {
                        pointer: String::new(),
                        line: u32::try_from(line).ok(),
                        column: u32::try_from(column).ok(),
                    },
                    message: format!("invalid UTF-8: {e}"),
                }
            })?;
            parse_xml(text)
        }
        _ => parse_json(bytes),
    }
}

/// Parses a Eureka JSON payload: `{"applications":{..}}` (a full `/eureka/apps` or a
/// `/eureka/apps/delta`), `{"application":{..}}`, `{"instance":{..}}` or a bare InstanceInfo.
/// A leading UTF-8 byte order mark is ignored.
///
/// Syntax errors carry the line and column; see [`parse_json_value`] for everything else.
///
/// The three wrapped shapes are read straight from the bytes into the model. Anything that
/// path is unsure of (a bare InstanceInfo, any invalid or unusual value) is parsed again into a
/// [`serde_json::Value`] and normalized by [`parse_json_value`], which accepts it or names the
/// exact field that is wrong. Either way the result is the one [`parse_json_value`] gives.
pub fn parse_json(bytes: &[u8]) -> Result<EurekaDocument> {
    let bytes = strip_bom(bytes);
    match fast::from_slice(bytes) {
        Some(doc) => Ok(doc),
        None => slow_json(bytes),
    }
}

/// [`parse_json`] over text, for instance a [`serde_json::value::RawValue`] cut out of a
/// larger document: the same result as `parse_json(text.as_bytes())`.
pub fn parse_json_str(text: &str) -> Result<EurekaDocument> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match fast::from_str(text) {
        Some(doc) => Ok(doc),
        None => slow_json(text.as_bytes()),
    }
}

/// The typed path of [`parse_json`] alone: `None` where it would hand over to
/// [`parse_json_slow`]. Public for tests that compare the two paths.
#[doc(hidden)]
pub fn parse_json_fast(bytes: &[u8]) -> Option<EurekaDocument> {
    fast::from_slice(strip_bom(bytes))
}

/// The `Value` path of [`parse_json`] alone, which also gives its errors. Public for tests that
/// compare the two paths.
#[doc(hidden)]
pub fn parse_json_slow(bytes: &[u8]) -> Result<EurekaDocument> {
    slow_json(strip_bom(bytes))
}

/// The `Value` path over bytes whose byte order mark is already stripped.
fn slow_json(bytes: &[u8]) -> Result<EurekaDocument> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::json(&e))?;
    parse_json_value(&value)
}

/// Normalizes an already parsed Eureka JSON payload (the shapes [`parse_json`] accepts).
///
/// Within an `applications` document, applications with the same name (compared without
/// regard to ASCII case, as Eureka keys them) are merged into the first one; within an
/// application, instances with the same id are deduplicated, keeping the one with the greater
/// `(lastUpdatedTimestamp, lastDirtyTimestamp)` (the earlier one on a tie).
pub fn parse_json_value(v: &Value) -> Result<EurekaDocument> {
    json::document(v)
}

/// Parses a Eureka XML payload: an `<applications>`, `<application>` or `<instance>` root
/// element, as the XStream codec writes them (`<port enabled="true">8080</port>`,
/// `<metadata class="java.util.Collections$EmptyMap"/>`, `<overriddenstatus>`).
///
/// The element tree is read into the same shape the JSON codec writes and normalized by the
/// same rules, so the same data gives the same document either way. Metadata keys are decoded
/// as XStream encodes element names (`__` is `_`, `_-` is `$`). Entities other than the five
/// predefined ones and character references are refused; a DTD is ignored, never expanded.
pub fn parse_xml(text: &str) -> Result<EurekaDocument> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value = xml::to_value(text)?;
    json::document(&value)
}

/// The greatest `lastUpdatedTimestamp` of any instance in `doc`, 0 when it has none.
pub fn max_last_updated(doc: &EurekaDocument) -> u64 {
    fn max_of(instances: &[EurekaInstance]) -> u64 {
        instances
            .iter()
            .map(|i| i.last_updated_timestamp)
            .max()
            .unwrap_or(0)
    }
    match doc {
        EurekaDocument::Instance(i) => i.last_updated_timestamp,
        EurekaDocument::Application(a) => max_of(&a.instances),
        EurekaDocument::Applications { applications, .. } => applications
            .iter()
            .map(|a| max_of(&a.instances))
            .max()
            .unwrap_or(0),
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// 1-based line and column (in characters) of the end of `before`.
pub(crate) fn line_column(before: &[u8]) -> (usize, usize) {
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let tail = before.get(line_start..).unwrap_or_default();
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    let column = tail.iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_lines_and_characters() {
        assert_eq!(line_column(b""), (1, 1));
        assert_eq!(line_column(b"ab"), (1, 3));
        assert_eq!(line_column(b"ab\ncd"), (2, 3));
        assert_eq!(line_column("a\n\u{e9}x".as_bytes()), (2, 3));
    }

    #[test]
    fn the_first_non_whitespace_byte_picks_the_codec() {
        let xml = parse(
            b"  \n<instance><app>A</app><hostName>h</hostName><status>UP</status></instance>",
        );
        assert!(matches!(xml, Ok(EurekaDocument::Instance(_))), "{xml:?}");
        let json = parse(br#" {"instance":{"app":"A","hostName":"h","status":"UP"}}"#);
        assert_eq!(xml.ok(), json.ok());
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let doc = parse(b"\xef\xbb\xbf{\"app\":\"A\",\"hostName\":\"h\",\"status\":\"UP\"}");
        assert!(doc.is_ok(), "{doc:?}");
    }

    #[test]
    fn xml_that_is_not_utf8_is_a_syntax_error_with_a_position() {
        let err = parse(b"<instance>\n<app>\xff</app></instance>").unwrap_err();
        assert_eq!(err.kind(), "syntax");
        assert!(err.to_string().contains("line 2 column 6"), "{err}");
    }
}
