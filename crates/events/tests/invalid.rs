//! Invalid events fail, and the report names the field and the line.

// Helpers here are test code too; clippy.toml allows unwrap in tests but cannot see them.
#![allow(clippy::unwrap_used)]

use regsync_events::{
    Error, Layout, ProblemKind, validate_event_value, validate_file, validate_text,
};
use serde_json::{Value, json};

fn providers() -> Value {
    json!({
        "specversion": "1.0", "id": "1", "source": "zookeeper://127.0.0.1:2181/dubbo",
        "type": "io.regsync.zookeeper.providers.v1", "subject": "org.example.Demo",
        "datacontenttype": "application/json", "registry": "dubbo", "sourceversion": "42",
        "data": {"path": "/dubbo/org.example.Demo/providers", "pzxid": 42, "children": ["dubbo%3A%2F%2F10.0.0.1%3A20880%2Forg.example.Demo"]}
    })
}

fn eureka_instance() -> Value {
    json!({
        "specversion": "1.0", "id": "e1", "source": "http://127.0.0.1:8761/eureka",
        "type": "io.regsync.eureka.instance.v1", "subject": "FOO", "time": "2016-03-11T16:49:48.223Z",
        "registry": "eureka", "sourceversion": "1457714988223",
        "data": {"instance": {"app": "FOO", "hostName": "localhost", "ipAddr": "192.168.56.1", "status": "UP",
                 "port": {"$": 8080, "@enabled": "true"}, "lastUpdatedTimestamp": "1457714988223", "actionType": "ADDED"}}
    })
}

/// Schema errors for `v`, as `pointer: message` lines.
fn errors(v: &Value) -> Vec<String> {
    validate_event_value(v)
        .expect_err("must be invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn report(v: &Value) -> String {
    let r = validate_text("ev.json", &serde_json::to_string_pretty(v).unwrap());
    assert!(!r.is_ok());
    r.to_string()
}

#[test]
fn the_samples_are_valid() {
    validate_event_value(&providers()).unwrap();
    validate_event_value(&eureka_instance()).unwrap();
    assert!(validate_text("ev.json", &providers().to_string()).is_ok());
    assert!(validate_text("ev.json", &eureka_instance().to_string()).is_ok());
}

#[test]
fn a_wrongly_typed_attribute_is_named() {
    let mut v = providers();
    v["id"] = json!(7);
    let errs = errors(&v);
    assert_eq!(errs, vec![r#"/id: 7 is not of type "string""#], "{errs:?}");
    println!("{}", report(&v));
}

#[test]
fn a_bad_sourceversion_is_named() {
    for bad in [
        json!("v3"),
        json!(""),
        json!(42),
        json!("123456789012345678901"),
    ] {
        let mut v = providers();
        v["sourceversion"] = bad.clone();
        let errs = errors(&v);
        assert!(
            errs.iter().all(|e| e.starts_with("/sourceversion: ")),
            "{bad}: {errs:?}"
        );
    }
    // Twenty digits pass the schema but not u64: the model says so.
    let mut v = providers();
    v["sourceversion"] = json!("99999999999999999999");
    let text = report(&v);
    assert!(
        text.contains("ev.json:1: /sourceversion: invalid field `sourceversion`"),
        "{text}"
    );
}

#[test]
fn an_unknown_type_is_named() {
    let mut v = providers();
    v["type"] = json!("io.regsync.nacos.v1");
    let errs = errors(&v);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("/type: ") && errs[0].contains("io.regsync.nacos.v1"),
        "{errs:?}"
    );
}

#[test]
fn a_negative_pzxid_is_named() {
    let mut v = providers();
    v["data"]["pzxid"] = json!(-1);
    let errs = errors(&v);
    assert_eq!(
        errs,
        vec!["/data/pzxid: -1 is less than the minimum of 0"],
        "{errs:?}"
    );
}

#[test]
fn missing_data_is_named() {
    let mut v = providers();
    v.as_object_mut().unwrap().remove("data");
    let errs = errors(&v);
    assert_eq!(
        errs,
        vec![r#"(root): "data" is a required property"#],
        "{errs:?}"
    );
    let text = report(&v);
    assert!(
        text.contains("ev.json:1: (root): \"data\" is a required property"),
        "{text}"
    );
    assert!(
        !text.contains("missing field"),
        "the model's duplicate is not repeated: {text}"
    );
}

#[test]
fn a_missing_subject_is_named_for_per_service_types() {
    let mut v = providers();
    v.as_object_mut().unwrap().remove("subject");
    assert_eq!(
        errors(&v),
        vec![r#"(root): "subject" is a required property"#]
    );
}

#[test]
fn data_is_checked_against_its_type() {
    let mut v = providers();
    v["data"]["children"] = json!(["dubbo://10.0.0.1:20880/org.example.Demo"]);
    let errs = errors(&v);
    assert!(
        errs.len() == 1 && errs[0].starts_with("/data/children/0: "),
        "{errs:?}"
    );

    let mut v = providers();
    v["data"]["path"] = json!("/dubbo/org.example.Demo/consumers");
    assert!(errors(&v)[0].starts_with("/data/path: "));

    let mut v = providers();
    v["data"]["pzxId"] = json!(1);
    assert!(
        errors(&v)[0].contains("pzxId"),
        "unknown members of ZooKeeper data are refused"
    );

    let mut v = eureka_instance();
    v["data"]["instance"]["port"]["$"] = json!("http");
    assert_eq!(errors(&v).len(), 1);
    assert!(
        errors(&v)[0].starts_with("/data/instance/port/$: "),
        "{:?}",
        errors(&v)
    );

    let mut v = eureka_instance();
    v["data"]["instance"]["status"] = json!("RUNNING");
    assert!(errors(&v)[0].starts_with("/data/instance/status: "));

    let mut v = eureka_instance();
    v["data"] = json!({"instance": {"app": "FOO"}});
    let errs = errors(&v);
    assert!(
        errs.iter()
            .any(|e| e.contains("\"hostName\" is a required property")),
        "{errs:?}"
    );
}

#[test]
fn eureka_xml_must_be_text_and_json_must_not_be() {
    let mut v = eureka_instance();
    v["datacontenttype"] = json!("application/xml");
    let errs = errors(&v);
    assert!(
        errs.len() == 1 && errs[0].starts_with("/data: "),
        "{errs:?}"
    );
    v["data"] = json!("<instance><app>FOO</app></instance>");
    validate_event_value(&v).unwrap();

    let mut v = providers();
    v["datacontenttype"] = json!("application/xml");
    assert!(errors(&v)[0].starts_with("/datacontenttype: "));
}

#[test]
fn a_bad_time_registry_or_attribute_name_is_named() {
    let mut v = eureka_instance();
    v["time"] = json!("yesterday");
    assert!(errors(&v)[0].starts_with("/time: "));
    let mut v = eureka_instance();
    v["registry"] = json!("Eureka_Prod");
    assert!(errors(&v)[0].starts_with("/registry: "));
    let mut v = eureka_instance();
    v["sourceVersion"] = json!("1");
    let errs = errors(&v);
    assert!(errs.iter().any(|e| e.contains("sourceVersion")), "{errs:?}");
    let mut v = eureka_instance();
    v["data_base64"] = json!("e30=");
    assert!(errors(&v).iter().any(|e| e.starts_with("/data_base64: ")));
}

#[test]
fn attributes_that_disagree_with_data_are_reported() {
    let mut v = providers();
    v["sourceversion"] = json!("41");
    v["subject"] = json!("org.example.Other");
    let r = validate_text("ev.json", &v.to_string());
    let problems = &r.records[0].problems;
    assert_eq!(problems.len(), 2, "{r}");
    assert!(problems.iter().all(|p| p.kind == ProblemKind::Consistency));
    assert_eq!(problems[0].pointer, "/sourceversion");
    assert_eq!(problems[1].pointer, "/subject");

    let mut v = eureka_instance();
    v["sourceversion"] = json!("1457714988224");
    let r = validate_text("ev.json", &v.to_string());
    assert!(
        r.to_string()
            .contains("lastUpdatedTimestamp is 1457714988223"),
        "{r}"
    );
}

#[test]
fn a_bad_json_line_is_reported_with_its_line_number() {
    let good = providers().to_string();
    let mut bad_type = providers();
    bad_type["data"]["pzxid"] = json!(-5);
    let text = format!(
        "{good}\n\n{good}\n{{\"specversion\": \"1.0\",\n{}\n",
        bad_type
    );
    let r = validate_text("batch.jsonl", &text);
    assert_eq!(r.layout, Layout::Lines);
    assert_eq!(r.records.len(), 4);
    let lines: Vec<(usize, bool)> = r.records.iter().map(|x| (x.line, x.is_valid())).collect();
    assert_eq!(lines, vec![(1, true), (3, true), (4, false), (5, false)]);
    let out = r.to_string();
    assert!(
        out.starts_with("batch.jsonl:4: (root): malformed JSON at column"),
        "{out}"
    );
    assert!(
        out.contains("batch.jsonl:5: /data/pzxid: -5 is less than the minimum of 0"),
        "{out}"
    );

    // The same content in a .json file is recognized as JSON lines too.
    let r = validate_text("batch.json", &text);
    assert_eq!((r.layout, r.invalid_records()), (Layout::Lines, 2));
}

#[test]
fn an_array_reports_the_line_each_event_starts_on() {
    let mut bad = providers();
    bad["registry"] = json!("Not A Label");
    let text = serde_json::to_string_pretty(&json!([providers(), bad])).unwrap();
    let r = validate_text("batch.json", &text);
    assert_eq!(r.layout, Layout::Array);
    let second = text.lines().position(|l| l == "  },").unwrap() + 2;
    assert_eq!(r.records[1].line, second);
    assert!(
        r.to_string()
            .starts_with(&format!("batch.json:{second}: /registry: ")),
        "{r}"
    );
}

#[test]
fn files_that_are_not_events_say_why() {
    let r = validate_text("x.json", "{\"a\": ");
    assert!(
        matches!(r.error, Some(Error::Syntax { line: 1, .. })),
        "{r}"
    );
    assert!(r.to_string().starts_with("x.json:1:"), "{r}");
    assert!(matches!(
        validate_text("x.json", " \n").error,
        Some(Error::Empty)
    ));
    assert!(matches!(
        validate_text("x.json", "[]").error,
        Some(Error::Empty)
    ));
    let r = validate_file(std::path::Path::new("/nonexistent/regsync/events.json"));
    assert_eq!(r.error.as_ref().map(Error::kind), Some("read"));
    assert!(r.to_string().contains("cannot read the file: "), "{r}");
    let r = validate_text("x.json", "[1]");
    assert!(
        r.to_string()
            .contains("x.json:1: (root): 1 is not of type \"object\""),
        "{r}"
    );
}

#[test]
fn validate_file_reads_json_lines_from_disk() {
    let dir = std::env::temp_dir().join(format!("regsync-events-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.jsonl");
    std::fs::write(&path, format!("{}\nnot json\n", providers())).unwrap();
    let report = regsync_events::validate_paths(std::slice::from_ref(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report.files.len(), 1);
    assert_eq!(report.invalid_records(), 1);
    let text = report.to_string();
    assert!(
        text.contains("events.jsonl:2: (root): malformed JSON"),
        "{text}"
    );
    assert!(
        text.ends_with("checked 2 events in 1 file: 1 invalid (1 problem)"),
        "{text}"
    );
}
