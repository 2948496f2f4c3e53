//! The environment the deployment gives each component is the environment its code reads:
//! every `REGSYNC_*` variable Terraform (`infra/modules`) or the Kubernetes manifests
//! (`infra/k8s/base`, `infra/k8s/apply`) set is one the component reads, and every variable it
//! requires is set.
//!
//! What the code reads comes from the code itself: the Lambda functions' configuration reader,
//! run with an empty environment, names every variable it asks for and reports the required
//! ones missing; `regsync mcp serve --help` and `regsync apply --help` list the variables of
//! their flags (clap `env`).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "cluster.rs"]
mod cluster;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Attributes whose text is prose, not configuration.
const PROSE: &[&str] = &["description", "error_message"];

/// What a component reads, and the variables it cannot start without (each group: one of).
#[derive(Debug, Default)]
struct Reads {
    read: BTreeSet<String>,
    required: Vec<BTreeSet<String>>,
}

fn names_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| w.starts_with("REGSYNC_") && w.len() > "REGSYNC_".len())
        .map(str::to_owned)
        .collect()
}

/// Runs a function's `Context::from_lookup` with nothing set, recording every name it asks
/// for; the problems it reports name the required ones.
async fn function_reads<F, Fut, T, E>(from_lookup: F) -> Reads
where
    F: FnOnce(Box<dyn Fn(&str) -> Option<String>>) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let asked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let recorder = asked.clone();
    let lookup = Box::new(move |name: &str| {
        recorder.lock().unwrap().insert(name.to_owned());
        None
    });
    let Err(e) = from_lookup(lookup).await else {
        panic!("a function must not start with nothing set")
    };
    let required = e
        .to_string()
        .lines()
        .map(names_in)
        .filter(|n| !n.is_empty())
        .collect();
    Reads {
        read: asked.lock().unwrap().clone(),
        required,
    }
}

async fn kafka_function() -> Reads {
    let mut reads =
        function_reads(|get| async move { ingest_kafka::Context::from_lookup(get).await }).await;
    // With a dead-letter topic it also reads the Kafka client's settings: recorded from a start
    // with a memory:// store and a kafka:// dead-letter URL (it connects on the first letter).
    let asked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let recorder = asked.clone();
    ingest_kafka::Context::from_lookup(move |name: &str| {
        recorder.lock().unwrap().insert(name.to_owned());
        match name {
            "REGSYNC_STORE" => Some("memory://".to_owned()),
            "REGSYNC_DEAD_LETTER_URL" => Some("kafka://127.0.0.1:9/dead-letters".to_owned()),
            _ => None,
        }
    })
    .await
    .unwrap();
    let with_topic = asked.lock().unwrap().clone();
    assert!(
        with_topic.contains("REGSYNC_KAFKA_SASL_SECRET_ARN"),
        "{with_topic:?}"
    );
    reads.read.extend(with_topic);
    reads
}

async fn webhook_function() -> Reads {
    function_reads(|get| async move { ingest_webhook::Context::from_lookup(get).await }).await
}

/// The variables of a command's flags, from its `--help`. A deployment must name its store:
/// the default (`file://.regsync/store`) is for a laptop.
fn command_reads(command: &[&str]) -> Reads {
    let mut args = command.to_vec();
    args.push("--help");
    let (code, out, err) = cluster::run(&args, &[]);
    assert_eq!(code, 0, "{err}");
    let read: BTreeSet<String> = out
        .split("[env: ")
        .skip(1)
        .filter_map(|s| s.split(['=', ']']).next())
        .map(str::to_owned)
        .collect();
    assert!(read.contains("REGSYNC_STORE"), "{out}");
    Reads {
        read,
        required: vec![BTreeSet::from(["REGSYNC_STORE".to_owned()])],
    }
}

fn root() -> PathBuf {
    regsync_e2e::repo_root()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// Every `REGSYNC_*` name in the configuration (not the prose) of a Terraform module.
fn terraform_sets(module: &str) -> BTreeSet<String> {
    fn walk(body: &hcl::Body, out: &mut BTreeSet<String>) {
        for attr in body.attributes() {
            if !PROSE.contains(&attr.key()) {
                out.extend(names_in(&hcl::format::to_string(attr.expr()).unwrap()));
            }
        }
        for block in body.blocks() {
            walk(block.body(), out);
        }
    }
    let dir = root().join("infra/modules").join(module);
    let mut out = BTreeSet::new();
    for file in files(&dir, "tf") {
        let text = std::fs::read_to_string(&file).unwrap();
        let body = hcl::parse(&text)
            .unwrap_or_else(|e| panic!("{} is not valid HCL: {e}", file.display()));
        walk(&body, &mut out);
    }
    assert!(!out.is_empty(), "{module} sets no REGSYNC_ variable");
    out
}

/// The `REGSYNC_*` names of every container `env` list in the manifests under `dir`.
fn manifests_set(dir: &str) -> BTreeSet<String> {
    fn walk(v: &serde_norway::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_norway::Value::Mapping(m) => {
                for (k, v) in m {
                    if k.as_str() == Some("env") {
                        for item in v.as_sequence().into_iter().flatten() {
                            if let Some(name) = item.get("name").and_then(|n| n.as_str()) {
                                out.extend(names_in(name));
                            }
                        }
                    } else {
                        walk(v, out);
                    }
                }
            }
            serde_norway::Value::Sequence(s) => s.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for file in files(&root().join(dir), "yaml") {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v = <serde_norway::Value as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", file.display()));
            walk(&v, &mut out);
        }
    }
    out
}

/// Everything `set` names is read, and every required group has a member in `set`.
fn check(what: &str, set: &BTreeSet<String>, reads: &Reads) {
    let unknown: Vec<&String> = set.difference(&reads.read).collect();
    assert!(
        unknown.is_empty(),
        "{what} sets {unknown:?}, which the code never reads (it reads {:?})",
        reads.read
    );
    for group in &reads.required {
        assert!(
            !group.is_disjoint(set),
            "{what} does not set {group:?}, which the code requires (it sets {set:?})"
        );
    }
    println!(
        "{what}: sets {set:?}; all read, required {:?} set",
        reads.required
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_module_sets_only_what_the_functions_read_and_all_they_require() {
    let (kafka, webhook) = (kafka_function().await, webhook_function().await);
    assert!(kafka.read.contains("REGSYNC_STORE"), "{kafka:?}");
    assert!(
        webhook
            .required
            .iter()
            .any(|g| g.contains("REGSYNC_WEBHOOK_SECRET_ARN")),
        "{webhook:?}"
    );
    let set = terraform_sets("sync-function");
    // One module for both functions: each name it sets is read by one of them, and each
    // function's required variables are among them.
    let either = Reads {
        read: kafka.read.union(&webhook.read).cloned().collect(),
        required: Vec::new(),
    };
    check("infra/modules/sync-function", &set, &either);
    check(
        "infra/modules/sync-function (ingest-kafka)",
        &set,
        &Reads {
            read: either.read.clone(),
            required: kafka.required,
        },
    );
    check(
        "infra/modules/sync-function (ingest-webhook)",
        &set,
        &Reads {
            read: either.read.clone(),
            required: webhook.required,
        },
    );
    assert!(
        !set.contains("REGSYNC_WEBHOOK_SECRET"),
        "Terraform must give the function the secret's ARN, never the secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_module_and_the_kubernetes_deployment_set_only_what_mcp_serve_reads() {
    let reads = command_reads(&["mcp", "serve"]);
    check(
        "infra/modules/mcp-server",
        &terraform_sets("mcp-server"),
        &reads,
    );
    check("infra/k8s/base", &manifests_set("infra/k8s/base"), &reads);
}

#[test]
fn a_name_nobody_reads_or_a_missing_required_one_is_caught() {
    let reads = Reads {
        read: BTreeSet::from(["REGSYNC_STORE".to_owned(), "REGSYNC_A".to_owned()]),
        required: vec![BTreeSet::from(["REGSYNC_STORE".to_owned()])],
    };
    let set = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect();
    check("ok", &set(&["REGSYNC_STORE"]), &reads);
    let typo =
        std::panic::catch_unwind(|| check("typo", &set(&["REGSYNC_STORE", "REGSYNC_B"]), &reads));
    assert!(typo.is_err(), "an unknown name must fail");
    let missing = std::panic::catch_unwind(|| check("missing", &set(&["REGSYNC_A"]), &reads));
    assert!(missing.is_err(), "a missing required name must fail");
    assert_eq!(
        names_in("neither REGSYNC_WEBHOOK_SECRET nor REGSYNC_WEBHOOK_SECRET_ARN is set"),
        set(&["REGSYNC_WEBHOOK_SECRET", "REGSYNC_WEBHOOK_SECRET_ARN"])
    );
}

#[test]
fn the_apply_cronjob_sets_only_what_regsync_apply_reads() {
    let reads = command_reads(&["apply"]);
    check("infra/k8s/apply", &manifests_set("infra/k8s/apply"), &reads);
}

/// The Service `infra/k8s/base` deploys, as istiod dials it: `<name>.<namespace>.svc`.
fn deployed_mcp_host() -> String {
    let base = root().join("infra/k8s/base");
    let yaml = |file: &str| -> serde_norway::Value {
        serde_norway::from_str(&std::fs::read_to_string(base.join(file)).unwrap()).unwrap()
    };
    let namespace = yaml("kustomization.yaml")["namespace"]
        .as_str()
        .unwrap()
        .to_owned();
    let service = yaml("service.yaml")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    format!("{service}.{namespace}.svc")
}

/// Each `xds://host` in `text` whose host is a cluster Service name (`*.svc*`).
fn xds_service_hosts(text: &str) -> Vec<String> {
    text.split("xds://")
        .skip(1)
        .filter_map(|rest| {
            let host: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            let svc = host.find(".svc")?;
            Some(host[..svc + ".svc".len()].to_owned())
        })
        .collect()
}

/// The README, the docs, the infra READMEs and values, and `regsync mcp serve --help` tell
/// istiod to dial the Service that `infra/k8s/base` deploys, in the namespace it deploys it to.
#[test]
fn every_istiod_address_in_the_docs_names_the_deployed_service() {
    let deployed = deployed_mcp_host();
    assert_eq!(deployed, "regsync-mcp.istio-mcp.svc");
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut add = |path: PathBuf| {
        let text = std::fs::read_to_string(&path).unwrap();
        texts.push((path.display().to_string(), text));
    };
    add(root().join("README.md"));
    files(&root().join("docs"), "md")
        .into_iter()
        .for_each(&mut add);
    files(&root().join("infra/k8s"), "md")
        .into_iter()
        .for_each(&mut add);
    files(&root().join("infra/k8s/istiod"), "yaml")
        .into_iter()
        .for_each(&mut add);
    let (code, help, err) = cluster::run(&["mcp", "serve", "--help"], &[]);
    assert_eq!(code, 0, "{err}");
    texts.push(("regsync mcp serve --help".into(), help));
    let mut seen = 0;
    for (what, text) in &texts {
        for host in xds_service_hosts(text) {
            seen += 1;
            assert_eq!(
                host, deployed,
                "{what} tells istiod to dial xds://{host}, but infra/k8s/base deploys {deployed}"
            );
        }
    }
    assert!(seen >= 4, "only {seen} xds:// Service addresses found");
    assert_eq!(
        xds_service_hosts("a xds://regsync-mcp.regsync.svc.cluster.local:15010 b"),
        ["regsync-mcp.regsync.svc"],
        "the address parser itself"
    );
}
