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
    // Issue 22: it said "payload of 16777217 bytes", what was read, not the file's size.
    assert!(
        err.contains(&format!(
            "{}: 104857600 bytes (100.0 MiB), over the limit of 16777216 bytes (16.0 MiB); split it",
            path.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("--max-bytes") && !err.contains("16777217"),
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

/// `regsync ARGS` run from `dir`, with neither a store nor a data directory in the environment.
fn regsync_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .current_dir(dir)
        .env_remove("REGSYNC_STORE")
        .env_remove("REGSYNC_DATA_DIR")
        .output()
        .expect("regsync runs")
}

/// A temporary directory by its real path (the one `getcwd` gives the process run in it).
fn real_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().canonicalize().expect("canonical tempdir");
    (dir, path)
}

/// A `file://` store in a new temporary directory, not created yet.
fn temp_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("file://{}", dir.path().join("store").display());
    (dir, store)
}

/// Issue 22: `snapshot get` and `export` used to print nothing and exit 0 on a store nothing was
/// published to, e.g. the default one in the wrong directory.
#[test]
fn get_and_export_say_there_is_no_snapshot_where_and_what_to_do() {
    let (_dir, cwd) = real_tempdir();
    let empty = cwd.join("empty");
    std::fs::create_dir(&empty).expect("empty store dir");
    let empty_url = format!("file://{}", empty.display());
    let default_url = format!("file://{}", cwd.join(".regsync/store").display());
    for (store, url) in [(None, &default_url), (Some(&empty_url), &empty_url)] {
        for command in [&["snapshot", "get"][..], &["export"]] {
            let mut args = command.to_vec();
            if let Some(store) = store {
                args.extend(["--store", store]);
            }
            let out = regsync_in(&cwd, &args);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?}");
            // The store is named by its absolute URL, and the ways to fill it are commands to copy.
            assert!(err.contains(&format!("no snapshot in {url}")), "{err}");
            assert!(
                err.contains("`regsync up`")
                    && err.contains(&format!("regsync snapshot apply --store {url} FILE...")),
                "{err}"
            );
        }
    }
}

/// Kills the child when dropped, so a failed assertion leaves no `regsync up` behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 22: `regsync up` suggests a command to try in another terminal; it must work whatever
/// directory that terminal is in.
#[test]
fn the_command_regsync_up_suggests_works_from_another_directory() {
    use std::io::BufRead as _;
    let (_here_dir, here) = real_tempdir();
    let (_elsewhere_dir, elsewhere) = real_tempdir();
    let mut up = Killed(
        Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(["up", "--webhook-listen", "127.0.0.1:0"])
            .args([
                "--mcp-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .current_dir(&here)
            .env_remove("REGSYNC_DATA_DIR")
            .env_remove("REGSYNC_WEBHOOK_SECRET")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("regsync up starts"),
    );
    let stdout = up.0.stdout.take().expect("stdout");
    let try_line = std::io::BufReader::new(stdout)
        .lines()
        .map(|l| l.expect("a line of regsync up"))
        .find(|l| l.starts_with("try:"))
        .expect("regsync up prints what to try");
    drop(up);
    let suggested = try_line["try:".len()..]
        .split('|')
        .next()
        .unwrap_or_default();
    let words: Vec<&str> = suggested.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"regsync"), "{try_line}");
    let out = regsync_in(&elsewhere, &words[1..]);
    assert!(
        out.status.success(),
        "{suggested} in another directory: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("kind: ServiceEntry"));
}

/// Every help of the command tree (the top, then each subcommand listed under `Commands:`) asked
/// with `flag` (`-h` or `--help`), with its command, as a user with an 80-column terminal sees it.
fn every_help(flag: &str) -> Vec<(String, String)> {
    let mut todo = vec![Vec::<String>::new()];
    let mut helps = Vec::new();
    while let Some(path) = todo.pop() {
        let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(&path)
            .arg(flag)
            .env("COLUMNS", "80")
            .output()
            .expect("regsync runs");
        assert!(out.status.success(), "{path:?}: {}", text(&out.stderr));
        let help = text(&out.stdout);
        let listed = help
            .lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name != "help");
        for name in listed {
            todo.push([path.clone(), vec![name.to_owned()]].concat());
        }
        helps.push((format!("regsync {} {flag}", path.join(" ")), help));
    }
    helps
}

/// Whether `line` starts a shell command: `NAME=VALUE`, a lowercase program name or a comment.
fn is_shell_line(line: &str) -> bool {
    let line = line.trim_start();
    let word: String = line
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let rest = &line[word.len()..];
    line.starts_with('#')
        || (!word.is_empty() && rest.starts_with('=') && !word.contains('-'))
        || (word.starts_with(|c: char| c.is_ascii_lowercase())
            && (rest.is_empty() || rest.starts_with(' ')))
}

/// The example command lines of a help text and what is wrong with them. An example is the
/// indented block after a line ending in `:` whose first line runs regsync, curl, kubectl or
/// `export`. Copying it must give whole commands: a line ending in `\` continues on a line
/// indented deeper; any other line is followed by the next command at the example's
/// indentation, or by a blank line.
fn examples(help: &str) -> (std::collections::BTreeSet<usize>, Vec<String>) {
    let lines: Vec<&str> = help.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let starts_example = |l: &str| {
        ["regsync ", "curl ", "kubectl ", "export "]
            .iter()
            .any(|p| l.trim_start().starts_with(p))
    };
    let mut example_lines = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for (i, lead) in lines.iter().enumerate() {
        let Some(first) = lines.get(i + 1) else {
            continue;
        };
        if !lead.ends_with(':') || indent(first) == 0 || !starts_example(first) {
            continue;
        }
        let base = indent(first);
        let mut continued = false;
        for (j, line) in lines.iter().enumerate().skip(i + 1) {
            if line.trim().is_empty() {
                break;
            }
            let whole = if continued {
                indent(line) > base
            } else {
                indent(line) == base && is_shell_line(line)
            };
            if !whole {
                problems.push(format!("{line:?} after {:?}", lines[j - 1]));
                continued = false;
                break;
            }
            example_lines.insert(j);
            continued = line.ends_with('\\');
        }
        if continued {
            problems.push(format!("nothing continues {:?}", lines[i + 1]));
        }
    }
    (example_lines, problems)
}

/// Issue 22: `--help` wrapped example commands at the terminal width (100 columns at most), so
/// copying one ran half a command. Examples now stay as written and prose is wrapped at 100.
#[test]
fn every_help_keeps_example_commands_whole_and_prose_within_100_columns() {
    let helps = every_help("--help");
    let names: Vec<&str> = helps.iter().map(|(n, _)| n.as_str()).collect();
    for needed in ["snapshot", "mcp serve", "consume"] {
        let name = format!("regsync {needed} --help");
        assert!(
            names.contains(&name.as_str()),
            "{name} not reached: {names:?}"
        );
    }
    let mut problems = Vec::new();
    let mut examples_seen = 0;
    for (name, help) in helps.iter().chain(&every_help("-h")) {
        let (example_lines, broken) = examples(help);
        examples_seen += example_lines.len();
        problems.extend(broken.into_iter().map(|p| format!("{name}: {p}")));
        if name.ends_with("-h") {
            continue; // clap fits the summaries to the terminal
        }
        for (i, line) in help.lines().enumerate() {
            if !example_lines.contains(&i) && line.chars().count() > 100 {
                problems.push(format!("{name}: prose over 100 columns: {line:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        examples_seen > 30,
        "only {examples_seen} example lines found"
    );
}

/// The check above catches what the wrapping did: a command cut at a space, the rest on the
/// next line without the example's indentation.
#[test]
fn the_example_check_catches_a_wrapped_command() {
    let whole =
        "Examples:\n  regsync consume --brokers b:9092 \\\n      -X a=b\n  regsync up\n\nUsage: x";
    assert_eq!(examples(whole).1, Vec::<String>::new());
    assert_eq!(examples(whole).0.len(), 3);
    let wrapped = "Examples:\n  regsync consume --brokers b:9092 --store\nfile:///tmp/store\n";
    assert_eq!(examples(wrapped).1.len(), 1, "{wrapped}");
    let lost = "Examples:\n  regsync consume --brokers b:9092 \\\n  --store file:///x\n";
    assert_eq!(examples(lost).1.len(), 1, "{lost}");
}

/// Issue 22: `snapshot get --help` offered `-o snapshot`, which then failed.
#[test]
fn get_and_export_offer_only_the_formats_that_work() {
    let (_dir, store) = temp_store();
    let apply = regsync(&[
        "snapshot",
        "apply",
        "--store",
        &store,
        "events/recordings/dubbo-zk/scale-down/001-providers-DemoService-two-providers.json",
    ]);
    assert!(apply.status.success(), "{}", text(&apply.stderr));
    for command in [&["snapshot", "get"][..], &["export"]] {
        let help = text(&regsync(&[command, &["--help"][..]].concat()).stdout);
        let offered: Vec<&str> = help
            .lines()
            .skip_while(|l| l.trim() != "Possible values:")
            .skip(1)
            .map_while(|l| l.trim().strip_prefix("- "))
            .filter_map(|l| l.split(':').next())
            .collect();
        assert_eq!(offered, ["yaml", "json"], "{help}");
        for format in offered {
            let out = regsync(&[command, &["--store", &store, "-o", format][..]].concat());
            assert!(
                out.status.success(),
                "{command:?} -o {format}: {}",
                text(&out.stderr)
            );
            assert!(text(&out.stdout).contains("ServiceEntry"));
        }
        let refused = regsync(&[command, &["--store", &store, "-o", "snapshot"][..]].concat());
        assert_eq!(refused.status.code(), Some(2), "a usage error");
        assert!(
            text(&refused.stderr).contains("[possible values: yaml, json]"),
            "{}",
            text(&refused.stderr)
        );
    }
}

/// Issue 22: a dry run reported "1 generation(s) published".
#[test]
fn a_dry_run_replay_says_nothing_was_published() {
    let (_dir, store) = temp_store();
    let out = regsync(&[
        "replay",
        "events/recordings/demo.jsonl",
        "--store",
        &store,
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("generation(s) published"), "{stdout}");
    assert!(
        stdout.contains("nothing published (would have published 1 generation(s))")
            && stdout.contains("(dry run: would be generation 1)"),
        "{stdout}"
    );
    let get = regsync(&["snapshot", "get", "--store", &store]);
    assert!(
        text(&get.stderr).contains("no snapshot in"),
        "{}",
        text(&get.stderr)
    );
}

/// A stdin over the limit is refused with the limit; its size is unknown, only what was read.
#[test]
fn a_stdin_over_the_limit_is_refused_with_the_limit() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["convert", "--max-bytes", "10", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("regsync runs");
    let mut stdin = child.stdin.take().expect("stdin");
    // The rest of the input may never be read: a closed pipe is expected.
    let _ = stdin.write_all(&[b' '; 100]);
    drop(stdin);
    let out = child.wait_with_output().expect("regsync ends");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: -: more than 10 bytes, over the limit of 10 bytes"),
        "{err}"
    );
}

/// `regsync replay` of the demo with debug logs, `NO_COLOR` as given, through `script` when
/// `terminal` (a pseudo-terminal for stdout and stderr): what it wrote there.
fn replay_logs(terminal: bool, no_color: Option<&str>) -> String {
    let bin = env!("CARGO_BIN_EXE_regsync");
    let args = "replay events/recordings/demo.jsonl --store memory://";
    let mut cmd = if terminal {
        let mut script = Command::new("script");
        script.args(["-qec", &format!("{bin} {args}"), "/dev/null"]);
        script
    } else {
        let mut direct = Command::new(bin);
        direct.args(args.split(' '));
        direct
    };
    cmd.current_dir(repo()).env("RUST_LOG", "debug");
    match no_color {
        Some(value) => cmd.env("NO_COLOR", value),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd
        .output()
        .expect("regsync runs (on a terminal: `script` from util-linux gives it one)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logs = if terminal { &out.stdout } else { &out.stderr };
    let logs = text(logs);
    assert!(logs.contains("DEBUG"), "debug logs expected: {logs:?}");
    logs
}

/// A colour (SGR) escape, as tracing writes around levels and targets.
const SGR: &str = "\u{1b}[";

/// Issue 22: logs redirected to a file had ANSI colour codes.
#[test]
fn logs_are_coloured_only_on_a_terminal_and_never_with_no_color() {
    let piped = replay_logs(false, None);
    assert!(!piped.contains('\u{1b}'), "{piped:?}");
    assert!(
        replay_logs(true, None).contains(SGR),
        "a terminal is coloured"
    );
    let no_color = replay_logs(true, Some("1"));
    assert!(
        !no_color
            .lines()
            .any(|l| l.contains("DEBUG") && l.contains(SGR)),
        "{no_color:?}"
    );
}
