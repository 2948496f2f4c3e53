//! The typed path of `parse_json` never accepts what the `Value` path refuses, and reads what
//! both accept as the same document: checked on every single mutation of a rich document and on
//! random combinations of mutations of every recording.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use proptest::prelude::*;
use regsync_eureka::{parse_json, parse_json_fast, parse_json_slow, parse_json_str};
use regsync_model::eureka::EurekaDocument;
use serde_json::{Value, json};

/// How the two paths answered one input.
#[derive(Debug, Default)]
struct Tally {
    /// Both read the document (and read it the same).
    both: usize,
    /// The typed path handed over; the `Value` path read it.
    handed_over: usize,
    /// Both refused it (the typed path by handing over).
    refused: usize,
}

/// Checks the contract on `bytes`; `Err` describes a breach.
fn check(bytes: &[u8], tally: &mut Tally) -> Result<(), String> {
    let fast = parse_json_fast(bytes);
    let slow = parse_json_slow(bytes);
    let shown = || String::from_utf8_lossy(bytes).into_owned();
    match (&fast, &slow) {
        (Some(f), Ok(s)) if f == s => tally.both += 1,
        (Some(f), Ok(s)) => {
            return Err(format!(
                "the paths disagree on {}\nfast: {f:?}\nslow: {s:?}",
                shown()
            ));
        }
        (Some(f), Err(e)) => {
            return Err(format!(
                "the typed path accepted what the Value path refuses ({e}): {}\n{f:?}",
                shown()
            ));
        }
        (None, Ok(_)) => tally.handed_over += 1,
        (None, Err(_)) => tally.refused += 1,
    }
    // `parse_json` (and `parse_json_str`) give exactly what the `Value` path gives, errors
    // included.
    let full = outcome(parse_json(bytes));
    if full != outcome(slow) {
        return Err(format!("parse_json differs on {}: {full:?}", shown()));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let from_str = outcome(parse_json_str(text));
        if from_str != full {
            return Err(format!("parse_json_str differs on {text}: {from_str:?}"));
        }
    }
    Ok(())
}

fn outcome(r: regsync_model::Result<EurekaDocument>) -> Result<EurekaDocument, String> {
    r.map_err(|e| e.to_string())
}

/// Values a mutation writes, as raw JSON: wrong types, out-of-range and odd numbers, odd
/// spellings, and values only a full parse refuses (an overflowing number, a lone surrogate,
/// invalid UTF-8, nesting beyond the recursion limit, serde_json's private keys).
fn tokens() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        "null",
        "true",
        "false",
        "0",
        "-1",
        "-0",
        "1.5",
        "1e3",
        "70000",
        "65536",
        "18446744073709551616",
        "9223372036854775808",
        "1e400",
        "\"\"",
        "\"  \"",
        "\"abc\"",
        "\"BOGUS\"",
        "\"up\"",
        "\" Out_Of_Service \"",
        "\"TRUE\"",
        "\" false \"",
        "\"yes\"",
        "\"+5\"",
        "\" 12 \"",
        "\"-5\"",
        "\"65536\"",
        "\"0\"",
        "\"8080\"",
        "\"added\"",
        "\"REMOVED\"",
        "\"Amazon\"",
        "\"com.netflix.appinfo.AmazonInfo\"",
        "\"\\ud800\"",
        "\"\\u00e9\\n\"",
        "[]",
        "[1]",
        "[null]",
        "[{}]",
        "{}",
        "{\"a\":1,\"b\":[true,{\"c\":null}]}",
        "{\"$\":80}",
        "{\"$\":\"abc\",\"@enabled\":true}",
        "{\"$\":0,\"@enabled\":\"false\"}",
        "{\"$\":null,\"@enabled\":\"true\"}",
        "{\"@enabled\":\"true\"}",
        "{\"@class\":\"java.util.Collections$EmptyMap\"}",
        "{\"k\":1.25,\"n\":-3,\"b\":false,\"z\":null,\"o\":{}}",
        "{\"instance-id\":\"i-9\",\"availability-zone\":7}",
        "{\"registrationTimestamp\":\"-1\"}",
        "{\"name\":\"X\",\"instance\":{\"status\":\"UP\",\"hostName\":\"h\"}}",
        "{\"$serde_json::private::RawValue\":\"[1]\"}",
        "{\"$serde_json::private::Number\":\"1\"}",
        "{\"x\":1e400}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    t.push(b"\"\xff\"".to_vec());
    t.push(b"\"\xc3\xa9\"".to_vec());
    let mut deep = b"[".repeat(130);
    deep.extend(b"]".repeat(130));
    t.push(deep);
    t
}

/// Keys an insertion adds: every key either path reads, and a few it must not.
const KEYS: &[&str] = &[
    "applications",
    "application",
    "instance",
    "versions__delta",
    "apps__hashcode",
    "name",
    "app",
    "instanceId",
    "hostName",
    "ipAddr",
    "status",
    "overriddenStatus",
    "overriddenstatus",
    "port",
    "securePort",
    "metadata",
    "dataCenterInfo",
    "leaseInfo",
    "actionType",
    "lastUpdatedTimestamp",
    "lastDirtyTimestamp",
    "registrationTimestamp",
    "$",
    "@enabled",
    "@class",
    "availability-zone",
    "instance-id",
    "zone",
    "unknown",
    "$serde_json::private::RawValue",
    "$serde_json::private::Number",
];

/// A document using every field and quirk the parsers know.
fn rich() -> Value {
    let instance = |id: &str, updated: Value| {
        json!({
            "instanceId": id, "hostName": "h.local", "app": "FOO", "ipAddr": "10.0.0.1",
            "status": "UP", "overriddenStatus": "UNKNOWN", "overriddenstatus": "DOWN",
            "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": "8443", "@enabled": true},
            "countryId": 1,
            "dataCenterInfo": {"@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon",
                "metadata": {"instance-id": "i-1", "availability-zone": "eu-west-1a", "ami-id": "x"}},
            "leaseInfo": {"renewalIntervalInSecs": 30, "registrationTimestamp": "1000",
                "evictionTimestamp": 0},
            "metadata": {"@class": "java.util.LinkedHashMap", "zone": "z1", "port": 9090,
                "ratio": 0.5, "on": true, "none": null, "list": [1]},
            "homePageUrl": "http://h.local:8080/", "isCoordinatingDiscoveryServer": "false",
            "lastUpdatedTimestamp": updated, "lastDirtyTimestamp": 5, "actionType": "ADDED"
        })
    };
    json!({"applications": {
        "versions__delta": "3", "apps__hashcode": "UP_3_",
        "application": [
            {"name": "FOO", "instance": [instance("a", json!("10")), instance("b", json!(11))]},
            {"name": "BAR", "instance": {"hostName": "bar.local", "status": "down",
                "port": "81", "metadata": "", "dataCenterInfo": {"name": "MyOwn"}}},
            {"name": "foo", "instance": instance("a", json!(12))}
        ]
    }})
}

/// One step along a path into a `Value`.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every value's path, the root's (empty) first.
fn paths(v: &Value) -> Vec<Vec<Step>> {
    fn walk(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    at.push(Step::Key(k.clone()));
                    walk(child, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    at.push(Step::Index(i));
                    walk(child, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn get_mut<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// A change to a document.
#[derive(Debug, Clone)]
enum Mutation {
    /// The value at the `path`-th path becomes the `token`-th token.
    Replace { path: usize, token: usize },
    /// The value at the `path`-th path is removed from its object or array.
    Remove { path: usize },
    /// `"key": token` is added as the first member of the `at`-th object (so a key already there
    /// repeats it and wins) or as its last member (so it repeats the key and wins).
    Insert {
        at: usize,
        key: usize,
        token: usize,
        last: bool,
    },
    /// The `at`-th byte becomes `byte`.
    Byte { at: usize, byte: u8 },
}

const BYTES: &[u8] = b"\",:}]{[0x \\\xff";

/// `base` with `mutations` applied: the tree ones first, then the textual ones.
fn mutate(base: &Value, mutations: &[Mutation], tokens: &[Vec<u8>]) -> Vec<u8> {
    let mut v = base.clone();
    let mut placeholders = Vec::new();
    for m in mutations {
        let all = paths(&v);
        match *m {
            Mutation::Replace { path, token } => {
                let path = &all[path % all.len()];
                let marker = format!("@@token{}@@", placeholders.len());
                placeholders.push((marker.clone(), token % tokens.len()));
                if let Some(slot) = get_mut(&mut v, path) {
                    *slot = Value::String(marker);
                }
            }
            Mutation::Remove { path } => {
                let path = &all[path % all.len()];
                if let Some((last, parent)) = path.split_last()
                    && let Some(parent) = get_mut(&mut v, parent)
                {
                    match (last, parent) {
                        (Step::Key(k), Value::Object(m)) => {
                            m.remove(k);
                        }
                        (Step::Index(i), Value::Array(items)) => {
                            items.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Insert { .. } | Mutation::Byte { .. } => {}
        }
    }
    let mut text = serde_json::to_vec(&v).expect("a Value serializes");
    for (marker, token) in &placeholders {
        text = replace(&text, format!("\"{marker}\"").as_bytes(), &tokens[*token]);
    }
    for m in mutations {
        match *m {
            Mutation::Insert {
                at,
                key,
                token,
                last,
            } => {
                let open = if last { b'}' } else { b'{' };
                let spots: Vec<usize> = (0..text.len()).filter(|&i| text[i] == open).collect();
                if spots.is_empty() {
                    continue;
                }
                let spot = spots[at % spots.len()];
                let mut member = format!("\"{}\":", KEYS[key % KEYS.len()]).into_bytes();
                member.extend(&tokens[token % tokens.len()]);
                if last {
                    let empty = spot > 0 && text[spot - 1] == b'{';
                    if !empty {
                        member.insert(0, b',');
                    }
                    text.splice(spot..spot, member);
                } else {
                    let empty = text.get(spot + 1) == Some(&b'}');
                    if !empty {
                        member.push(b',');
                    }
                    text.splice(spot + 1..spot + 1, member);
                }
            }
            Mutation::Byte { at, byte } => {
                if !text.is_empty() {
                    let at = at % text.len();
                    text[at] = byte;
                }
            }
            Mutation::Replace { .. } | Mutation::Remove { .. } => {}
        }
    }
    text
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend(&rest[..i]);
        out.extend(with);
        rest = &rest[i + needle.len()..];
    }
    out.extend(rest);
    out
}

fn recordings() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/recordings/eureka");
    let list = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .expect("the recordings are readable")
            .map(|entry| entry.expect("the recordings are readable").path())
            .collect()
    };
    let mut files: Vec<PathBuf> = list(&dir)
        .iter()
        .flat_map(|scenario| list(scenario))
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).expect("the recordings are readable");
            serde_json::from_slice(&bytes).expect("the recordings are JSON")
        })
        .collect()
}

#[test]
fn the_rich_document_is_read_by_the_typed_path() {
    let bytes = serde_json::to_vec(&rich()).unwrap();
    let fast = parse_json_fast(&bytes).expect("left to the slow path");
    assert_eq!(fast, parse_json_slow(&bytes).unwrap());
}

#[test]
fn every_single_replacement_or_removal_keeps_the_contract() {
    let base = rich();
    let tokens = tokens();
    let mut tally = Tally::default();
    for path in 0..paths(&base).len() {
        let removed = mutate(&base, &[Mutation::Remove { path }], &tokens);
        check(&removed, &mut tally).unwrap();
        for token in 0..tokens.len() {
            let replaced = mutate(&base, &[Mutation::Replace { path, token }], &tokens);
            check(&replaced, &mut tally).unwrap();
        }
    }
    // Not vacuous: most changes to a field nobody reads keep the document on the typed path.
    assert!(tally.both > 1000, "{tally:?}");
    assert!(tally.refused > 1000, "{tally:?}");
}

/// One application with one instance that has every nested object the parsers read.
fn compact() -> Value {
    json!({"application": {"name": "FOO", "instance": {
        "instanceId": "a", "hostName": "h", "app": "FOO", "status": "UP",
        "port": {"$": 80, "@enabled": "true"}, "securePort": {"$": 443},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.AmazonInfo",
            "metadata": {"instance-id": "i-1"}},
        "leaseInfo": {"registrationTimestamp": 1}, "metadata": {"zone": "z"},
        "lastUpdatedTimestamp": "2"
    }}})
}

#[test]
fn every_single_insertion_keeps_the_contract() {
    let tokens = tokens();
    let mut tally = Tally::default();
    for base in [compact(), json!({"applications": {"application": []}})] {
        let objects = serde_json::to_vec(&base)
            .unwrap()
            .iter()
            .filter(|&&b| b == b'{')
            .count();
        for at in 0..objects {
            for key in 0..KEYS.len() {
                for token in 0..tokens.len() {
                    // Appended, the member wins over an earlier one with its key; prepended,
                    // it loses (an invalid loser may only send the document to the slow path).
                    let last = Mutation::Insert {
                        at,
                        key,
                        token,
                        last: true,
                    };
                    check(&mutate(&base, &[last], &tokens), &mut tally).unwrap();
                    if token % 4 == at % 4 {
                        let first = Mutation::Insert {
                            at,
                            key,
                            token,
                            last: false,
                        };
                        check(&mutate(&base, &[first], &tokens), &mut tally).unwrap();
                    }
                }
            }
        }
    }
    assert!(tally.both > 1000, "{tally:?}");
    assert!(tally.refused > 1000, "{tally:?}");
}

#[test]
fn values_only_a_full_parse_refuses_are_never_accepted() {
    // serde_json's `IgnoredAny` lets all of these through; the `Value` path refuses them.
    let base = r#"{"instance":{"app":"A","instanceId":"a","status":"UP","x":XX}}"#;
    let mut deep = "[".repeat(130);
    deep.push_str(&"]".repeat(130));
    for bad in ["1e400", "\"\\ud800\"", "\"\\udc00\\ud800\"", &deep] {
        let bytes = base.replace("XX", bad);
        assert!(parse_json_slow(bytes.as_bytes()).is_err(), "{bytes}");
        assert_eq!(parse_json_fast(bytes.as_bytes()), None, "{bytes}");
    }
    let invalid_utf8 = base.replace("XX", "\"?\"").replace('?', "\u{1}");
    let mut invalid_utf8 = invalid_utf8.into_bytes();
    let at = invalid_utf8.iter().position(|&b| b == 1).unwrap();
    invalid_utf8[at] = 0xff;
    assert!(parse_json_slow(&invalid_utf8).is_err());
    assert_eq!(parse_json_fast(&invalid_utf8), None);
    // Just within the recursion limit, both read it.
    let within = base.replace("XX", &format!("{}{}", "[".repeat(120), "]".repeat(120)));
    assert!(parse_json_fast(within.as_bytes()).is_some());
    assert!(parse_json_slow(within.as_bytes()).is_ok());
}

#[test]
fn a_repeated_key_keeps_its_last_value_on_both_paths() {
    let doc = br#"{"instance":{"app":"A","instanceId":"a","status":"DOWN","status":"UP",
        "metadata":{"k":"v","k":[1],"j":[1],"j":"w","m":"x","m":null},
        "port":{"$":1,"$":"2","@enabled":"false","@enabled":true},
        "leaseInfo":{"registrationTimestamp":5},"leaseInfo":null}}"#;
    let fast = parse_json_fast(doc).expect("left to the slow path");
    assert_eq!(fast, parse_json_slow(doc).unwrap());
    let EurekaDocument::Instance(i) = fast else {
        panic!("{fast:?}")
    };
    let metadata: Vec<(&str, &str)> = i
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(metadata, [("j", "w")]);
    assert_eq!((i.port, i.registration_timestamp), (Some(2), 0));
}

#[test]
fn a_bare_instance_and_unusual_roots_are_left_to_the_slow_path() {
    for doc in [
        r#"{"app":"A","instanceId":"a","status":"UP"}"#,
        r#"{"foo":1}"#,
        r#"[{"instance":{"app":"A","instanceId":"a","status":"UP"}}]"#,
        r#"{"instance":{"instanceId":"a","status":"UP"}}"#,
    ] {
        assert_eq!(parse_json_fast(doc.as_bytes()), None, "{doc}");
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<usize>()).prop_map(|(path, token)| Mutation::Replace { path, token }),
        1 => any::<usize>().prop_map(|path| Mutation::Remove { path }),
        2 => (any::<usize>(), any::<usize>(), any::<usize>(), any::<bool>())
            .prop_map(|(at, key, token, last)| Mutation::Insert { at, key, token, last }),
        1 => (any::<usize>(), proptest::sample::select(BYTES)).prop_map(|(at, byte)| Mutation::Byte { at, byte }),
    ]
}

/// Every JSON recording and the rich document.
static BASES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut bases = recordings();
    bases.push(rich());
    bases
});
static TOKENS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(tokens);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn mutated_documents_keep_the_contract(
        base in 0usize..10,
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let base = &BASES[base % BASES.len()];
        let bytes = mutate(base, &mutations, &TOKENS);
        check(&bytes, &mut Tally::default()).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_text_keeps_the_contract(text in "[{}\\[\\]\":, $@a-zA-Z0-9_.-]{0,200}") {
        check(text.as_bytes(), &mut Tally::default()).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_wrapped_text_keeps_the_contract(
        wrapper in proptest::sample::select(&["applications", "application", "instance"][..]),
        body in "[{}\\[\\]\":, $@a-zA-Z0-9_.-]{0,200}",
    ) {
        let text = format!("{{\"{wrapper}\":{body}}}");
        check(text.as_bytes(), &mut Tally::default()).map_err(TestCaseError::fail)?;
    }
}
