//! The shapes real Eureka servers write, one quirk per test.

use regsync_eureka::{max_last_updated, parse, parse_json_value, parse_xml};
use regsync_model::eureka::{EurekaDocument, EurekaInstance, InstanceStatus};
use serde_json::{Value, json};

fn instance_of(v: Value) -> EurekaInstance {
    match parse_json_value(&v).expect("should parse") {
        EurekaDocument::Instance(i) => i,
        other => panic!("expected one instance, got {other:?}"),
    }
}

fn base() -> Value {
    json!({"app": "FOO", "instanceId": "foo-1", "hostName": "foo.local", "ipAddr": "10.0.0.1",
           "status": "UP"})
}

fn with(mut v: Value, key: &str, field: Value) -> Value {
    v[key] = field;
    v
}

#[test]
fn a_port_number_may_be_a_number_or_a_numeric_string() {
    let number = instance_of(with(base(), "port", json!({"$": 8080, "@enabled": "true"})));
    let string = instance_of(with(
        base(),
        "port",
        json!({"$": "8080", "@enabled": "true"}),
    ));
    assert_eq!(number.port, Some(8080));
    assert_eq!(number, string);
}

#[test]
fn the_enabled_flag_may_be_a_string_or_a_boolean() {
    for (enabled, expected) in [
        (json!("true"), Some(443)),
        (json!(true), Some(443)),
        (json!("TRUE"), Some(443)),
        (json!("false"), None),
        (json!(false), None),
    ] {
        let i = instance_of(with(
            base(),
            "securePort",
            json!({"$": 443, "@enabled": enabled}),
        ));
        assert_eq!(i.secure_port, expected, "@enabled = {enabled}");
    }
}

#[test]
fn application_and_instance_may_each_be_a_single_object() {
    let inst = with(base(), "port", json!({"$": 8080, "@enabled": "true"}));
    let shapes = [
        json!({"applications": {"application": [{"name": "FOO", "instance": [inst.clone()]}]}}),
        json!({"applications": {"application": [{"name": "FOO", "instance": inst.clone()}]}}),
        json!({"applications": {"application": {"name": "FOO", "instance": [inst.clone()]}}}),
        json!({"applications": {"application": {"name": "FOO", "instance": inst.clone()}}}),
    ];
    let expected = instance_of(inst.clone());
    for shape in shapes {
        let EurekaDocument::Applications { applications, .. } = parse_json_value(&shape).unwrap()
        else {
            panic!("{shape}")
        };
        assert_eq!(applications.len(), 1, "{shape}");
        assert_eq!(applications[0].name, "FOO");
        assert_eq!(
            applications[0].instances,
            std::slice::from_ref(&expected),
            "{shape}"
        );
    }
    let EurekaDocument::Application(app) =
        parse_json_value(&json!({"application": {"name": "FOO", "instance": inst.clone()}}))
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(app.instances, std::slice::from_ref(&expected));
    assert_eq!(instance_of(json!({"instance": inst.clone()})), expected);
    assert_eq!(instance_of(inst), expected);
}

#[test]
fn an_application_without_instances_and_a_registry_without_applications_are_empty() {
    let doc = parse_json_value(&json!({"applications": {"versions__delta": "7",
        "apps__hashcode": "", "application": [{"name": "EMPTY", "instance": []}, {"name": "NONE"}]}}))
    .unwrap();
    let EurekaDocument::Applications {
        versions_delta,
        apps_hashcode,
        applications,
    } = &doc
    else {
        panic!("{doc:?}")
    };
    assert_eq!(
        (*versions_delta, apps_hashcode.as_deref()),
        (Some(7), Some(""))
    );
    assert!(applications.iter().all(|a| a.instances.is_empty()));
    assert_eq!(max_last_updated(&doc), 0);
    let empty = parse_json_value(&json!({"applications": {}})).unwrap();
    assert_eq!(
        empty,
        EurekaDocument::Applications {
            versions_delta: None,
            apps_hashcode: None,
            applications: vec![]
        }
    );
}

#[test]
fn overridden_status_is_read_in_both_spellings() {
    let jackson = instance_of(with(base(), "overriddenStatus", json!("OUT_OF_SERVICE")));
    let legacy = instance_of(with(base(), "overriddenstatus", json!("OUT_OF_SERVICE")));
    let absent = instance_of(base());
    assert_eq!(jackson.overridden_status, InstanceStatus::OutOfService);
    assert_eq!(jackson, legacy);
    assert_eq!(absent.overridden_status, InstanceStatus::Unknown);
    assert!(!jackson.is_routable() && absent.is_routable());
    let both = with(
        with(base(), "overriddenStatus", json!("DOWN")),
        "overriddenstatus",
        json!("UP"),
    );
    assert_eq!(instance_of(both).overridden_status, InstanceStatus::Down);
}

#[test]
fn the_class_key_is_dropped_and_scalar_metadata_is_stringified() {
    let i = instance_of(with(
        base(),
        "metadata",
        json!({"@class": "java.util.Collections$EmptyMap", "port": 9090, "secure": true,
               "name": "x", "nested": {"a": 1}, "list": [1], "nothing": null}),
    ));
    let pairs: Vec<(&str, &str)> = i
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(pairs, [("name", "x"), ("port", "9090"), ("secure", "true")]);
    let empty = instance_of(with(
        base(),
        "metadata",
        json!({"@class": "java.util.Collections$EmptyMap"}),
    ));
    assert!(empty.metadata.is_empty());
}

#[test]
fn timestamps_may_be_numbers_or_strings_and_default_to_zero() {
    let numbers = instance_of(with(
        with(
            with(base(), "lastUpdatedTimestamp", json!(1_700_000_000_001_u64)),
            "lastDirtyTimestamp",
            json!(1_700_000_000_000_u64),
        ),
        "leaseInfo",
        json!({"registrationTimestamp": 1_600_000_000_000_u64}),
    ));
    let strings = instance_of(with(
        with(
            with(base(), "lastUpdatedTimestamp", json!("1700000000001")),
            "lastDirtyTimestamp",
            json!("1700000000000"),
        ),
        "leaseInfo",
        json!({"registrationTimestamp": "1600000000000"}),
    ));
    assert_eq!(numbers, strings);
    assert_eq!(
        (
            numbers.last_updated_timestamp,
            numbers.last_dirty_timestamp,
            numbers.registration_timestamp
        ),
        (1_700_000_000_001, 1_700_000_000_000, 1_600_000_000_000)
    );
    let absent = instance_of(base());
    assert_eq!(
        (
            absent.last_updated_timestamp,
            absent.last_dirty_timestamp,
            absent.registration_timestamp
        ),
        (0, 0, 0)
    );
}

#[test]
fn versions_delta_may_be_a_number_or_a_string() {
    for delta in [json!(42), json!("42")] {
        let doc = parse_json_value(
            &json!({"applications": {"versions__delta": delta, "application": []}}),
        )
        .unwrap();
        assert!(
            matches!(
                doc,
                EurekaDocument::Applications {
                    versions_delta: Some(42),
                    ..
                }
            ),
            "{doc:?}"
        );
    }
}

#[test]
fn the_zone_comes_from_amazon_info_before_spring_metadata() {
    let both = with(
        with(base(), "metadata", json!({"zone": "spring-zone"})),
        "dataCenterInfo",
        json!({"@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon",
               "metadata": {"availability-zone": "us-east-1a", "instance-id": "i-1"}}),
    );
    let i = instance_of(both);
    assert_eq!(i.availability_zone.as_deref(), Some("us-east-1a"));
    // An explicit instanceId wins over the EC2 id.
    assert_eq!(i.instance_id, "foo-1");
    let spring = instance_of(with(base(), "metadata", json!({"zone": "spring-zone"})));
    assert_eq!(spring.availability_zone.as_deref(), Some("spring-zone"));
}

#[test]
fn a_missing_instance_id_falls_back_to_the_host_name() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("instanceId");
    assert_eq!(instance_of(v).instance_id, "foo.local");
}

#[test]
fn an_empty_or_non_ip_address_is_kept_as_is() {
    assert_eq!(instance_of(with(base(), "ipAddr", json!(""))).ip_addr, "");
    assert_eq!(
        instance_of(with(base(), "ipAddr", json!("not-an-ip"))).ip_addr,
        "not-an-ip"
    );
}

#[test]
fn the_same_app_listed_twice_is_merged_keeping_the_newest_instance() {
    let inst = |id: &str, host: &str, updated: &str, dirty: &str| {
        json!({"app": "FOO", "instanceId": id, "hostName": host, "status": "UP",
               "lastUpdatedTimestamp": updated, "lastDirtyTimestamp": dirty})
    };
    let doc = parse_json_value(&json!({"applications": {"application": [
        {"name": "FOO", "instance": [inst("a", "a-old", "10", "5"), inst("b", "b", "10", "5")]},
        {"name": "BAR", "instance": inst("c", "c", "1", "1")},
        {"name": "FOO", "instance": [inst("a", "a-new", "11", "1"), inst("d", "d", "10", "5")]},
        {"name": "foo", "instance": inst("b", "b-stale", "9", "9")},
    ]}}))
    .unwrap();
    let EurekaDocument::Applications { applications, .. } = &doc else {
        panic!()
    };
    let summary: Vec<(&str, Vec<&str>)> = applications
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.instances.iter().map(|i| i.host_name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("FOO", vec!["a-new", "b", "d"]), ("BAR", vec!["c"])]
    );
    assert_eq!(max_last_updated(&doc), 11);
}

#[test]
fn xml_and_json_give_the_same_document_for_the_same_data() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<applications>
  <versions__delta>5</versions__delta>
  <apps__hashcode>DOWN_1_UP_1_</apps__hashcode>
  <application>
    <name>FOO</name>
    <instance>
      <instanceId>foo-1</instanceId>
      <hostName>foo.local</hostName>
      <app>FOO</app>
      <ipAddr>10.0.0.1</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">8080</port>
      <securePort enabled="false">443</securePort>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name>
      </dataCenterInfo>
      <leaseInfo><registrationTimestamp>1000</registrationTimestamp></leaseInfo>
      <metadata>
        <zone>z1</zone>
        <management.port>9090</management.port>
        <note>a &amp; b</note>
      </metadata>
      <lastUpdatedTimestamp>2000</lastUpdatedTimestamp>
      <lastDirtyTimestamp>1500</lastDirtyTimestamp>
      <actionType>MODIFIED</actionType>
    </instance>
    <instance>
      <instanceId>foo-2</instanceId>
      <hostName>foo2.local</hostName>
      <app>FOO</app>
      <ipAddr></ipAddr>
      <status>DOWN</status>
      <port>8081</port>
      <metadata class="java.util.Collections$EmptyMap"/>
    </instance>
  </application>
</applications>"#;
    let json = json!({"applications": {
    "versions__delta": 5, "apps__hashcode": "DOWN_1_UP_1_",
    "application": [{"name": "FOO", "instance": [
        {"instanceId": "foo-1", "hostName": "foo.local", "app": "FOO", "ipAddr": "10.0.0.1",
         "status": "UP", "overriddenStatus": "UNKNOWN",
         "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": 443, "@enabled": "false"},
         "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
         "leaseInfo": {"registrationTimestamp": 1000},
         "metadata": {"zone": "z1", "management.port": "9090", "note": "a & b"},
         "lastUpdatedTimestamp": "2000", "lastDirtyTimestamp": "1500", "actionType": "MODIFIED"},
        {"instanceId": "foo-2", "hostName": "foo2.local", "app": "FOO", "ipAddr": "",
         "status": "DOWN", "port": {"$": "8081"},
         "metadata": {"@class": "java.util.Collections$EmptyMap"}}
    ]}]}});
    let from_xml = parse_xml(xml).unwrap();
    let from_json = parse_json_value(&json).unwrap();
    assert_eq!(from_xml, from_json);
    assert_eq!(parse(xml.as_bytes()).unwrap(), from_json);
    let EurekaDocument::Applications { applications, .. } = &from_xml else {
        panic!()
    };
    let foo1 = &applications[0].instances[0];
    assert_eq!(foo1.availability_zone.as_deref(), Some("z1"));
    assert_eq!(foo1.metadata.get("note").map(String::as_str), Some("a & b"));
    assert_eq!(applications[0].instances[1].port, Some(8081));
}

#[test]
fn xml_single_application_and_instance_roots_parse() {
    let app = parse_xml("<application><name>FOO</name><instance><instanceId>x</instanceId><app>FOO</app><status>UP</status></instance></application>").unwrap();
    assert!(
        matches!(&app, EurekaDocument::Application(a) if a.name == "FOO" && a.instances.len() == 1),
        "{app:?}"
    );
    let inst = parse_xml(
        "<instance><instanceId>x</instanceId><app>FOO</app><status>STARTING</status></instance>",
    )
    .unwrap();
    assert!(
        matches!(&inst, EurekaDocument::Instance(i) if i.status == InstanceStatus::Starting),
        "{inst:?}"
    );
}
