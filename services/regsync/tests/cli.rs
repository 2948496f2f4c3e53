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
    // The example is printed as written, one command per line, so it can be copied.
    assert!(
        help.lines()
            .any(|l| l.trim() == "regsync convert apps.json | kubectl apply -f -"),
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
    assert!(
        err.contains("exceeds the limit") && err.contains("split it"),
        "{err}"
    );
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

/// `regsync snapshot apply|ls|get|diff` against a directory store, as an operator would.
#[test]
fn snapshot_commands_publish_list_print_and_diff_generations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("file://{}", dir.path().join("store").display());
    let scenario = "events/recordings/dubbo-zk/app-level-only";
    let files: Vec<String> = std::fs::read_dir(repo().join(scenario))
        .expect("scenario")
        .map(|e| {
            format!(
                "{scenario}/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .filter(|f| f.ends_with(".json"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // One generation per file: mapping, one instance, scale-up, second mapping, scale-down.
    for (i, f) in files.iter().enumerate() {
        let out = regsync(&["snapshot", "apply", "--store", &store, f]);
        assert!(out.status.success(), "{f}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with(&format!("generation {}:", i + 1)),
            "{}",
            text(&out.stdout)
        );
    }
    // Applying the same file again publishes nothing new.
    let again = regsync(&["snapshot", "apply", "--store", &store, &files[4]]);
    assert!(
        text(&again.stdout).starts_with("generation 5:"),
        "{}",
        text(&again.stdout)
    );

    let ls = text(&regsync(&["snapshot", "ls", "--store", &store]).stdout);
    let numbers: Vec<&str> = ls
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(numbers, ["5", "4", "3", "2", "1"], "{ls}");

    let get = regsync(&["snapshot", "get", "--store", &store]);
    assert!(get.status.success(), "{}", text(&get.stderr));
    let yaml = text(&get.stdout);
    let expected =
        std::fs::read_to_string(repo().join("tests/golden/dubbo-zk-app-level-only.yaml"))
            .expect("golden");
    assert_eq!(
        yaml, expected,
        "the store's latest generation is the golden conversion"
    );
    let g3 = text(
        &regsync(&[
            "snapshot", "get", "--store", &store, "-g", "3", "-o", "json",
        ])
        .stdout,
    );
    // `regsync export` prints the same objects, for `kubectl apply -f -`.
    let export = regsync(&["export", "--store", &store]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    assert_eq!(text(&export.stdout), expected, "export is the golden YAML");
    assert!(
        text(&export.stdout).contains("app.kubernetes.io/managed-by: regsync"),
        "export labels what regsync owns"
    );
    let export_g3 = regsync(&["export", "--store", &store, "-g", "3", "-o", "json"]);
    assert_eq!(text(&export_g3.stdout), g3, "export -g 3 -o json");
    let list: serde_json::Value = serde_json::from_str(&g3).expect("json list");
    let items = list["items"].as_array().expect("items");
    assert_eq!(
        items.len(),
        1,
        "generation 3 has only GreetingsService: {g3}"
    );
    assert_eq!(
        items[0]["spec"]["endpoints"].as_array().map(Vec::len),
        Some(2)
    );

    let diff = regsync(&["snapshot", "diff", "--store", &store, "3", "5"]);
    assert_eq!(diff.status.code(), Some(1), "differences exit 1");
    let d = text(&diff.stdout);
    assert!(
        d.contains("+ dubbo/org.apache.dubbo.samples.api.timeservice.dubbo (1 endpoints)"),
        "{d}"
    );
    assert!(
        d.contains("~ dubbo/org.apache.dubbo.samples.api.greetingsservice.dubbo"),
        "{d}"
    );
    assert!(d.contains("    - 30.221.146.35:20880"), "{d}");
    let same = regsync(&["snapshot", "diff", "--store", &store, "5"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stdout));
    let json = text(&regsync(&["snapshot", "diff", "--store", &store, "2", "3", "--json"]).stdout);
    let v: serde_json::Value = serde_json::from_str(&json).expect("diff json");
    assert_eq!(
        v["changed"][0]["addedEndpoints"][0]["address"], "30.221.146.36",
        "{json}"
    );

    // Keep two generations; the others' objects go, what 4 and 5 need stays.
    let dry = regsync(&[
        "snapshot",
        "gc",
        "--store",
        &store,
        "--retain",
        "2",
        "--grace",
        "0s",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let gc = regsync(&[
        "snapshot", "gc", "--store", &store, "--retain", "2", "--grace", "0s",
    ]);
    assert!(gc.status.success(), "{}", text(&gc.stderr));
    let ls = text(&regsync(&["snapshot", "ls", "--store", &store]).stdout);
    assert_eq!(ls.lines().count(), 3, "header and generations 5, 4: {ls}");
    let g4 = regsync(&["snapshot", "get", "--store", &store, "-g", "4"]);
    assert!(g4.status.success(), "{}", text(&g4.stderr));
    assert_eq!(text(&g4.stdout).matches("kind: ServiceEntry").count(), 2);
    let gone = regsync(&["snapshot", "get", "--store", &store, "-g", "2"]);
    assert!(!gone.status.success());
    assert!(
        text(&gone.stderr).contains("no longer retained"),
        "{}",
        text(&gone.stderr)
    );
    let kept = regsync(&["snapshot", "gc", "--store", &store, "--retain", "2"]);
    assert!(kept.status.success(), "{}", text(&kept.stderr));
    let bad = regsync(&["snapshot", "gc", "--store", &store, "--grace", "soon"]);
    assert!(
        text(&bad.stderr).contains("use e.g. 250ms, 30s, 15m, 1h or 2d"),
        "{}",
        text(&bad.stderr)
    );

    let missing = regsync(&["snapshot", "get", "--store", &store, "-g", "9"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("the latest generation is 5"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn snapshot_apply_refuses_invalid_events_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let store = format!("file://{}", store_dir.display());
    let bad = write(
        &dir,
        "bad.json",
        br#"{"specversion":"1.0","id":"x","source":"zk","type":"io.regsync.zookeeper.mapping.v1","subject":"com.x.Api","registry":"dubbo","sourceversion":"5","datacontenttype":"application/json","data":{"path":"/dubbo/mapping/com.x.Api","mzxid":"five","data":"app"}}"#,
    );
    let out = regsync(&[
        "snapshot",
        "apply",
        "--store",
        &store,
        "events/recordings/dubbo-zk/app-level-only/001-mapping-GreetingsService.json",
        &bad,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("mzxid") && err.contains("nothing applied"),
        "{err}"
    );
    assert!(
        !store_dir.join("latest").exists(),
        "nothing may be published"
    );
}
