//! Eureka XML read into the JSON shape the Jackson codec writes, so one set of rules
//! normalizes both.
//!
//! The mapping is the one XStream's JSON writer uses: an element with neither attributes nor
//! child elements becomes its (trimmed) text; otherwise it becomes an object with `@name` for
//! each attribute, one key per child element (a repeated child becomes an array) and `$` for
//! the text when there are no child elements. `<port enabled="true">80</port>` thus becomes
//! `{"@enabled":"true","$":"80"}`, exactly what the JSON codec writes.
//!
//! The reader is iterative and refuses elements nested deeper than [`MAX_DEPTH`], so no input
//! can overflow the stack (neither here nor when the tree is dropped).

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use regsync_model::error::{Error, Position, Result};
use serde_json::{Map, Value};

use crate::line_column;

/// Deepest element nesting accepted (Eureka's own documents are 6 deep); `serde_json` stops
/// at the same depth.
pub(crate) const MAX_DEPTH: usize = 128;

/// Root elements a Eureka XML document can have; the same words are the JSON root keys.
const ROOTS: [&str; 3] = ["applications", "application", "instance"];

struct Element {
    name: String,
    /// Attributes (`@name`) and child elements, in document order.
    fields: Map<String, Value>,
    has_children: bool,
    text: String,
}

impl Element {
    fn into_value(self) -> Value {
        if self.fields.is_empty() {
            return Value::String(self.text.trim().to_owned());
        }
        let mut fields = self.fields;
        let text = self.text.trim();
        if !self.has_children && !text.is_empty() {
            fields.insert("$".to_owned(), Value::String(text.to_owned()));
        }
        Value::Object(fields)
    }
}

/// Reads `text` into `{"<root>": <tree>}`, refusing roots other than [`ROOTS`].
pub(crate) fn to_value(text: &str) -> Result<Value> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| syntax(text, reader.error_position(), e.to_string()))?;
        let here = reader.buffer_position();
        match event {
            Event::Start(start) => {
                let element = open(&start, text, here)?;
                if root.is_some() && stack.is_empty() {
                    return Err(syntax(text, here, "content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(syntax(
                        text,
                        here,
                        format!("elements are nested deeper than {MAX_DEPTH}"),
                    ));
                }
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = open(&start, text, here)?;
                close(element, &mut stack, &mut root, text, here)?;
            }
            Event::End(_) => {
                // quick-xml checks that end names match, so the stack is never empty here;
                // stay defensive all the same.
                let element = stack
                    .pop()
                    .ok_or_else(|| syntax(text, here, "unexpected end tag".into()))?;
                close(element, &mut stack, &mut root, text, here)?;
            }
            Event::Text(t) => append(&mut stack, &t.xml10_content(), text, here)?,
            Event::CData(c) => append(&mut stack, &c.xml10_content(), text, here)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => resolve_predefined_entity(&r)
                        .map(str::to_owned)
                        .ok_or_else(|| syntax(text, here, format!("unknown entity `&{};`", &*r)))?,
                    Err(e) => return Err(syntax(text, here, e.to_string())),
                };
                append(&mut stack, &resolved, text, here)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        let message = format!("unexpected end of document inside <{}>", open.name);
        return Err(syntax(text, reader.buffer_position(), message));
    }
    let Some((name, value)) = root else {
        return Err(syntax(
            text,
            reader.buffer_position(),
            "no root element".into(),
        ));
    };
    if !ROOTS.contains(&name.as_str()) {
        return Err(Error::invalid(
            "",
            "",
            "the root element must be <applications>, <application> or <instance>",
            format!("<{name}>"),
        ));
    }
    // `<applications/>` (an empty registry) reads as an empty string; it is an empty object.
    let value = match value {
        Value::String(s) if s.is_empty() => Value::Object(Map::new()),
        other => other,
    };
    let mut wrapped = Map::new();
    wrapped.insert(name, value);
    Ok(Value::Object(wrapped))
}

fn open(start: &BytesStart<'_>, text: &str, here: u64) -> Result<Element> {
    let name = start.name().into_inner().to_owned();
    let mut fields = Map::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| syntax(text, here, e.to_string()))?;
        let key = attr.key.into_inner();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| syntax(text, here, e.to_string()))?;
        fields.insert(format!("@{key}"), Value::String(value.into_owned()));
    }
    Ok(Element {
        name,
        fields,
        has_children: false,
        text: String::new(),
    })
}

/// Hands a finished element to its parent, or makes it the root.
fn close(
    element: Element,
    stack: &mut [Element],
    root: &mut Option<(String, Value)>,
    text: &str,
    here: u64,
) -> Result<()> {
    let decode = is_metadata_key(stack);
    let Some(parent) = stack.last_mut() else {
        if root.is_some() {
            return Err(syntax(text, here, "content after the root element".into()));
        }
        *root = Some((element.name.clone(), element.into_value()));
        return Ok(());
    };
    let name = if decode {
        decode_name(&element.name)
    } else {
        element.name.clone()
    };
    let value = element.into_value();
    parent.has_children = true;
    match parent.fields.get_mut(&name) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = std::mem::take(existing);
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            parent.fields.insert(name, value);
        }
    }
    Ok(())
}

/// Whether the element being closed is a key of an instance's `<metadata>` map.
fn is_metadata_key(stack: &[Element]) -> bool {
    let mut ancestors = stack.iter().rev();
    let parent = ancestors.next().map(|e| e.name.as_str());
    let grandparent = ancestors.next().map(|e| e.name.as_str());
    parent == Some("metadata") && grandparent == Some("instance")
}

/// Undoes XStream's `XmlFriendlyNameCoder` with Eureka's defaults: `_-` was `$`, `__` was `_`.
fn decode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('_', Some('_')) => {
                chars.next();
                out.push('_');
            }
            ('_', Some('-')) => {
                chars.next();
                out.push('$');
            }
            (c, _) => out.push(c),
        }
    }
    out
}

fn append(stack: &mut [Element], content: &str, text: &str, here: u64) -> Result<()> {
    match stack.last_mut() {
        Some(element) => element.text.push_str(content),
        None if content.trim().is_empty() => {}
        None => return Err(syntax(text, here, "text outside the root element".into())),
    }
    Ok(())
}

fn syntax(text: &str, offset: u64, message: String) -> Error {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let (line, column) = line_column(text.as_bytes().get(..offset).unwrap_or_default());
    Error::Syntax {
        format: "XML",
        position: Position {
            pointer: String::new(),
            line: u32::try_from(line).ok(),
            column: u32::try_from(column).ok(),
        },
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_become_the_jackson_json_shape() {
        let v = to_value(
            r#"<instance><app>A</app><port enabled="true"> 80 </port>
               <metadata class="java.util.Collections$EmptyMap"/><x/></instance>"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"instance": {"app": "A", "port": {"@enabled": "true", "$": "80"},
                "metadata": {"@class": "java.util.Collections$EmptyMap"}, "x": ""}})
        );
    }

    #[test]
    fn repeated_children_become_an_array() {
        let v = to_value("<application><instance>a</instance><instance>b</instance><instance>c</instance></application>").unwrap();
        assert_eq!(v, json!({"application": {"instance": ["a", "b", "c"]}}));
    }

    #[test]
    fn entities_and_cdata_are_resolved() {
        let v = to_value("<instance><app>a&amp;b&#x41;<![CDATA[<c>]]></app></instance>").unwrap();
        assert_eq!(v, json!({"instance": {"app": "a&bA<c>"}}));
        let err = to_value("<instance><app>&foo;</app></instance>").unwrap_err();
        assert!(err.to_string().contains("unknown entity `&foo;`"), "{err}");
    }

    #[test]
    fn instance_metadata_keys_are_decoded_as_xstream_encodes_them() {
        let v = to_value(
            "<instance><metadata><a__b>1</a__b><c_-d>2</c_-d></metadata>\
             <dataCenterInfo><metadata><e__f>3</e__f></metadata></dataCenterInfo></instance>",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"instance": {"metadata": {"a_b": "1", "c$d": "2"},
                "dataCenterInfo": {"metadata": {"e__f": "3"}}}})
        );
        assert_eq!(decode_name("a_b__c_-"), "a_b_c$");
    }

    #[test]
    fn malformed_xml_reports_line_and_column() {
        let err = to_value("<applications>\n  <application>\n</applications>").unwrap_err();
        assert_eq!(err.kind(), "syntax");
        assert!(
            err.to_string().starts_with("malformed XML at line 3"),
            "{err}"
        );
        let err = to_value("<applications><application>").unwrap_err();
        assert!(err.to_string().contains("end of document"), "{err}");
        let err = to_value("<instance/><instance/>").unwrap_err();
        assert!(err.to_string().contains("after the root element"), "{err}");
        let err = to_value("   ").unwrap_err();
        assert!(err.to_string().contains("no root element"), "{err}");
    }

    #[test]
    fn an_unknown_root_element_is_refused() {
        let err = to_value("<html/>").unwrap_err();
        assert!(err.to_string().contains("<html>"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let deep = "<a>".repeat(100_000);
        let err = to_value(&deep).unwrap_err();
        assert!(err.to_string().contains("nested deeper than 128"), "{err}");
    }

    #[test]
    fn an_empty_applications_element_is_an_empty_registry() {
        assert_eq!(
            to_value("<applications/>").unwrap(),
            json!({"applications": {}})
        );
    }
}
