//! Unusable input is refused with an error naming the field, where it is and what it was.

use regsync_eureka::{parse, parse_json, parse_json_value, parse_xml};
use regsync_model::Error;
use serde_json::{Value, json};

fn two_instances(second_port: Value) -> Value {
    json!({"applications": {"application": [{"name": "FOO", "instance": [
        {"app": "FOO", "instanceId": "a", "status": "UP", "port": {"$": 80, "@enabled": "true"}},
        {"app": "FOO", "instanceId": "b", "status": "UP", "port": second_port}
    ]}]}})
}

fn error_of(v: Value) -> Error {
    parse_json_value(&v).expect_err("should be refused")
}

fn invalid_parts(err: &Error) -> (&str, &str, &str) {
    match err {
        Error::Invalid {
            field,
            position,
            got,
            ..
        } => (field, &position.pointer, got),
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn malformed_json_reports_line_and_column() {
    let err = parse_json(b"{\"applications\": {\n  \"application\": [,]\n}}").unwrap_err();
    let Error::Syntax {
        format, position, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*format, "JSON");
    assert_eq!((position.line, position.column), (Some(2), Some(19)));
    assert!(
        err.to_string()
            .starts_with("malformed JSON at line 2 column 19: "),
        "{err}"
    );
    let truncated = parse(b"{\"applications\": {").unwrap_err();
    assert_eq!(truncated.kind(), "syntax");
    assert_eq!(parse(b"").unwrap_err().kind(), "syntax");
}

#[test]
fn a_non_numeric_port_names_the_field_and_the_value() {
    let err = error_of(two_instances(json!({"$": "abc", "@enabled": "true"})));
    assert_eq!(
        err.to_string(),
        "invalid field `port` at /applications/application/0/instance/1/port/$: \
         must be a port number (got string \"abc\")"
    );
}

#[test]
fn a_port_out_of_range_is_refused() {
    let err = error_of(two_instances(json!({"$": 70000, "@enabled": "true"})));
    assert_eq!(
        invalid_parts(&err),
        (
            "port",
            "/applications/application/0/instance/1/port/$",
            "number 70000"
        )
    );
    assert!(err.to_string().contains("1..=65535"), "{err}");
    for bad in [json!(0), json!(-1), json!(80.5), json!("65536")] {
        let err = error_of(two_instances(json!({"$": bad, "@enabled": true})));
        assert_eq!(err.kind(), "invalid_field", "{bad}: {err}");
    }
}

#[test]
fn a_port_that_is_neither_an_object_nor_a_number_is_refused() {
    let err = error_of(two_instances(json!([8080])));
    assert_eq!(
        invalid_parts(&err),
        (
            "port",
            "/applications/application/0/instance/1/port",
            "array of 1"
        )
    );
    let err = error_of(two_instances(json!("http")));
    assert_eq!(
        invalid_parts(&err),
        (
            "port",
            "/applications/application/0/instance/1/port",
            "string \"http\""
        )
    );
}

#[test]
fn an_enabled_flag_that_is_not_a_boolean_is_refused() {
    let err = error_of(two_instances(json!({"$": 80, "@enabled": "yes"})));
    assert_eq!(
        invalid_parts(&err),
        (
            "port",
            "/applications/application/0/instance/1/port/@enabled",
            "string \"yes\""
        )
    );
}

#[test]
fn a_status_of_the_wrong_type_or_unknown_name_is_refused() {
    let err = error_of(json!({"instance": {"app": "FOO", "instanceId": "a", "status": 5}}));
    assert_eq!(
        err.to_string(),
        "invalid field `status` at /instance/status: must be one of UP, DOWN, STARTING, \
         OUT_OF_SERVICE, UNKNOWN (got number 5)"
    );
    let err =
        error_of(json!({"instance": {"app": "FOO", "instanceId": "a", "status": "SLEEPING"}}));
    assert_eq!(
        invalid_parts(&err),
        ("status", "/instance/status", "string \"SLEEPING\"")
    );
    let err = error_of(
        json!({"app": "FOO", "instanceId": "a", "status": "UP", "overriddenstatus": "MAYBE"}),
    );
    assert_eq!(
        invalid_parts(&err),
        ("overriddenstatus", "/overriddenstatus", "string \"MAYBE\"")
    );
}

#[test]
fn a_missing_status_is_refused() {
    let err = error_of(
        json!({"application": {"name": "FOO", "instance": {"app": "FOO", "instanceId": "a"}}}),
    );
    assert_eq!(
        err.to_string(),
        "missing field `status` at /application/instance"
    );
}

#[test]
fn an_unknown_action_type_is_refused() {
    let err = error_of(
        json!({"instance": {"app": "FOO", "instanceId": "a", "status": "UP", "actionType": "REMOVED"}}),
    );
    assert_eq!(
        invalid_parts(&err),
        ("actionType", "/instance/actionType", "string \"REMOVED\"")
    );
}

#[test]
fn bad_timestamps_and_versions_are_refused() {
    let err = error_of(
        json!({"instance": {"app": "FOO", "instanceId": "a", "status": "UP", "lastUpdatedTimestamp": "soon"}}),
    );
    assert_eq!(
        invalid_parts(&err),
        (
            "lastUpdatedTimestamp",
            "/instance/lastUpdatedTimestamp",
            "string \"soon\""
        )
    );
    let err = error_of(
        json!({"instance": {"app": "FOO", "instanceId": "a", "status": "UP", "leaseInfo": {"registrationTimestamp": -1}}}),
    );
    assert_eq!(
        invalid_parts(&err),
        (
            "registrationTimestamp",
            "/instance/leaseInfo/registrationTimestamp",
            "number -1"
        )
    );
    let err = error_of(json!({"applications": {"versions__delta": "v1"}}));
    assert_eq!(
        invalid_parts(&err),
        (
            "versions__delta",
            "/applications/versions__delta",
            "string \"v1\""
        )
    );
}

#[test]
fn wrong_container_types_name_their_position() {
    let err = error_of(json!({"applications": []}));
    assert_eq!(
        invalid_parts(&err),
        ("applications", "/applications", "array of 0")
    );
    let err = error_of(json!({"applications": {"application": "FOO"}}));
    assert_eq!(
        invalid_parts(&err),
        ("application", "/applications/application", "string \"FOO\"")
    );
    let err = error_of(json!({"applications": {"application": [{"name": "A"}, 7]}}));
    assert_eq!(
        invalid_parts(&err),
        ("application", "/applications/application/1", "number 7")
    );
    let err = error_of(json!({"application": {"name": "A", "instance": [null]}}));
    assert_eq!(
        invalid_parts(&err),
        ("instance", "/application/instance/0", "null")
    );
    let err = error_of(json!({"instance": {"app": "A", "instanceId": 12, "status": "UP"}}));
    assert_eq!(
        invalid_parts(&err),
        ("instanceId", "/instance/instanceId", "number 12")
    );
    let err = error_of(
        json!({"instance": {"app": "A", "instanceId": "a", "status": "UP", "leaseInfo": 3}}),
    );
    assert_eq!(
        invalid_parts(&err),
        ("leaseInfo", "/instance/leaseInfo", "number 3")
    );
}

#[test]
fn a_missing_application_name_or_instance_app_is_refused() {
    let err = error_of(json!({"applications": {"application": [{"instance": []}]}}));
    assert_eq!(
        err.to_string(),
        "missing field `name` at /applications/application/0"
    );
    let err = error_of(json!({"instance": {"instanceId": "a", "status": "UP"}}));
    assert_eq!(err.to_string(), "missing field `app` at /instance");
}

#[test]
fn xml_errors_name_the_element_path() {
    let err = parse_xml(
        "<applications><application><name>A</name><instance><instanceId>a</instanceId>\
         <status>UP</status><port enabled=\"true\">99999</port></instance></application></applications>",
    )
    .unwrap_err();
    assert_eq!(
        invalid_parts(&err),
        (
            "port",
            "/applications/application/instance/port/$",
            "string \"99999\""
        )
    );
    let err = parse_xml("<instance><app>A</app><instanceId>a</instanceId><status>UP</status><port enabled=\"maybe\">80</port></instance>").unwrap_err();
    assert_eq!(
        invalid_parts(&err),
        ("port", "/instance/port/@enabled", "string \"maybe\"")
    );
}

#[test]
fn malformed_xml_reports_line_and_column() {
    let err = parse(b"<applications>\n  <application>\n    <name>A</nam>\n").unwrap_err();
    let Error::Syntax {
        format, position, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*format, "XML");
    assert_eq!(position.line, Some(3), "{err}");
    assert!(position.column.is_some());
    let err = parse(b"<applications attr=\"unterminated></applications>").unwrap_err();
    assert_eq!(err.kind(), "syntax");
}
