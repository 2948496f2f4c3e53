//! Huge or pathological input ends in an error or a document, quickly and without a panic or a
//! stack overflow.

use std::time::{Duration, Instant};

use regsync_eureka::{parse, parse_xml};
use regsync_model::eureka::EurekaDocument;

const HUNDRED_MB: usize = 100 * 1024 * 1024;
/// Generous for a debug build on a busy machine; a hang or a quadratic path blows far past it.
const BUDGET: Duration = Duration::from_secs(20);

fn assert_quick(what: &str, start: Instant) {
    let took = start.elapsed();
    assert!(took < BUDGET, "{what} took {took:?}");
}

#[test]
fn a_hundred_megabytes_of_nested_arrays_is_a_syntax_error() {
    let mut input = br#"{"applications":{"application":"#.to_vec();
    input.resize(HUNDRED_MB, b'[');
    let start = Instant::now();
    let result = parse(&input);
    assert_quick("nested arrays", start);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), "syntax");
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

#[test]
fn a_hundred_megabyte_string_parses_or_fails_without_panicking() {
    let head = br#"{"applications":{"application":[{"name":"FOO","instance":{"app":"FOO","instanceId":"a","status":"UP","metadata":{"blob":""#;
    let tail = br#""}}}]}}"#;
    let mut input = Vec::with_capacity(HUNDRED_MB);
    input.extend_from_slice(head);
    input.resize(HUNDRED_MB - tail.len(), b'x');
    input.extend_from_slice(tail);
    let start = Instant::now();
    let result = parse(&input);
    assert_quick("long string", start);
    let doc = result.unwrap();
    let EurekaDocument::Applications { applications, .. } = doc else {
        panic!("not applications")
    };
    let blob = applications[0].instances[0]
        .metadata
        .get("blob")
        .map(String::len);
    assert_eq!(blob, Some(HUNDRED_MB - head.len() - tail.len()));
}

#[test]
fn many_empty_applications_are_refused_at_the_first() {
    // Each `{}` becomes a JSON value before normalization starts, so keep the count modest:
    // memory, not time, is what this shape costs.
    let mut input = br#"{"applications":{"application":["#.to_vec();
    for _ in 0..1_000_000 {
        input.extend_from_slice(b"{},");
    }
    input.extend_from_slice(b"{}]}}");
    let start = Instant::now();
    let result = parse(&input);
    assert_quick("many objects", start);
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing field `name` at /applications/application/0"
    );
}

#[test]
fn a_hundred_megabytes_of_nested_xml_is_refused() {
    let input = "<a>".repeat(HUNDRED_MB / 3);
    let start = Instant::now();
    let result = parse_xml(&input);
    assert_quick("nested xml", start);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), "syntax");
}

#[test]
fn many_xml_instances_parse() {
    let instance = "<instance><instanceId>i</instanceId><app>FOO</app><status>UP</status>\
                    <port enabled=\"true\">80</port></instance>";
    let input = format!(
        "<applications><application><name>FOO</name>{}</application></applications>",
        instance.repeat(20_000)
    );
    let start = Instant::now();
    let result = parse(input.as_bytes());
    assert_quick("many xml instances", start);
    let doc = result.unwrap();
    // All share one id, so they collapse into one.
    let EurekaDocument::Applications { applications, .. } = doc else {
        panic!("not applications")
    };
    assert_eq!(applications[0].instances.len(), 1);
}

#[test]
fn garbage_after_a_valid_document_is_refused() {
    assert_eq!(
        parse(b"{\"applications\":{}} x").unwrap_err().kind(),
        "syntax"
    );
    assert_eq!(parse(b"<applications/> x").unwrap_err().kind(), "syntax");
}
