//! The `regsync` binary driven the way a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn regsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("regsync runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, content).expect("write input");
    p.display().to_string()
}

#[test]
fn help_teaches_the_commands_and_an_example() {
    let out = regsync(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(
        help.contains("convert") && help.contains("events") && help.contains("kubectl apply"),
        "{help}"
    );
    let convert_help = text(&regsync(&["convert", "--help"]).stdout);
    assert!(
        convert_help.contains("--keep-going") && convert_help.contains("JSON Lines"),
        "{convert_help}"
    );
}

#[test]
fn a_raw_eureka_response_becomes_kubectl_ready_yaml() {
    let out = regsync(&[
        "convert",
        "events/recordings/eureka/istio-pilot-testdata/001-apps.json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(
        yaml.contains("apiVersion: networking.istio.io/v1"),
        "{yaml}"
    );
    assert!(yaml.contains("kind: ServiceEntry"));
    assert!(
        yaml.contains("foo-bar-local.eureka"),
        "app FOO_BAR_LOCAL must become a DNS-safe host: {yaml}"
    );
    assert!(!yaml.contains("foo_bar"), "no `_` in hosts");
}

#[test]
fn json_output_is_a_kubernetes_list() {
    let out = regsync(&[
        "convert",
        "-o",
        "json",
        "events/recordings/dubbo-zk/raw/provider-znodes.txt",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["kind"], "List");
    let items = v["items"].as_array().expect("items");
    assert!(items.len() >= 4, "{v}");
    assert!(
        items
            .iter()
            .all(|i| i["spec"]["location"] == "MESH_INTERNAL")
    );
    let hosts: Vec<&str> = items
        .iter()
        .filter_map(|i| i["spec"]["hosts"][0].as_str())
        .collect();
    assert!(
        hosts.contains(&"org.apache.dubbo.samples.basic.api.complexservice-product-2-0-0.dubbo"),
        "{hosts:?}"
    );
    assert!(hosts.iter().all(|h| !h.contains(':') && !h.contains('_')));
}

#[test]
fn malformed_json_names_the_file_line_and_column_and_prints_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        &dir,
        "bad.json",
        b"{\"applications\": {\n  \"application\": [ }\n}",
    );
    let out = regsync(&["convert", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing half-written");
    let err = text(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("line 2"), "{err}");
}

#[test]
fn a_wrongly_typed_port_names_the_field_and_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = br#"{"application":{"name":"ORDERS","instance":[{"instanceId":"a","hostName":"a","app":"ORDERS","ipAddr":"10.0.0.1","status":"UP","port":{"$":"http","@enabled":"true"}}]}}"#;
    let f = write(&dir, "app.json", payload);
    let out = regsync(&["convert", &f]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("app.json")
            && err.contains("port")
            && err.contains("/application/instance/0/port"),
        "{err}"
    );
}

#[test]
fn an_out_of_range_dubbo_port_names_the_line_and_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(&dir, "providers.txt", b"dubbo://10.0.0.1:20880/com.example.A?interface=com.example.A\ndubbo://10.0.0.2:70000/com.example.A?interface=com.example.A\n");
    let out = regsync(&["convert", &f]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("port") && err.contains("70000"),
        "{err}"
    );
    let keep = regsync(&["convert", "--keep-going", "-o", "json", &f]);
    assert_eq!(keep.status.code(), Some(2));
}

#[test]
fn an_unknown_event_type_is_rejected_with_the_known_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(&dir, "ev.json", br#"{"specversion":"1.0","id":"1","source":"x","type":"io.regsync.nacos.v1","sourceversion":"1","data":{}}"#);
    let out = regsync(&["convert", &f]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("io.regsync.nacos.v1") && err.contains("io.regsync.zookeeper.providers.v1"),
        "{err}"
    );
}

#[test]
fn a_bad_ip_is_left_out_with_the_reason_and_the_rest_is_emitted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = |id: &str, ip: &str| {
        format!(
            r#"{{"instanceId":"{id}","hostName":"h","app":"ORDERS","ipAddr":"{ip}","status":"UP","port":{{"$":8080,"@enabled":"true"}}}}"#
        )
    };
    let payload = format!(
        r#"{{"application":{{"name":"ORDERS","instance":[{},{}]}}}}"#,
        inst("good", "10.0.0.1"),
        inst("bad", "10.0.0.300")
    );
    let f = write(&dir, "app.json", payload.as_bytes());
    let out = regsync(&["convert", "-o", "json", &f]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("10.0.0.300") && err.contains("ipAddr"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v["items"][0]["spec"]["endpoints"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_100_mb_payload_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.json");
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(100 * 1024 * 1024).expect("sparse 100 MB file");
    let out = regsync(&["convert", &path.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("exceeds the limit"), "{err}");
}

#[test]
fn events_validate_accepts_the_recordings_and_names_bad_fields() {
    let good = regsync(&[
        "events",
        "validate",
        "events/recordings/dubbo-zk/scale-down/001-providers-DemoService-two-providers.json",
    ]);
    assert!(
        good.status.success(),
        "{}{}",
        text(&good.stdout),
        text(&good.stderr)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(&dir, "bad.json", br#"{"specversion":"1.0","id":"1","source":"x","type":"io.regsync.zookeeper.providers.v1","subject":"a","sourceversion":"-1","data":{"path":"/dubbo/a/providers","pzxid":1,"children":[]}}"#);
    let bad = regsync(&["events", "validate", &f]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stdout).contains("sourceversion"),
        "{}",
        text(&bad.stdout)
    );
}
