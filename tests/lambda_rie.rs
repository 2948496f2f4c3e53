//! The two Lambda functions as real processes under the AWS Lambda Runtime Interface Emulator
//! (`aws-lambda-rie`, built by `scripts/services.sh install rie`), invoked the way the Lambda
//! service invokes them, `POST /2015-03-31/functions/function/invocations` with the event
//! source's payload (`events/lambda/`), and writing to the real S3-compatible server (SeaweedFS,
//! REGSYNC_IT_S3_ENDPOINT). Kafka scenarios compare with `regsync consume` on Apache Kafka
//! (REGSYNC_IT_KAFKA_BROKERS).
//!
//! The function binaries are the ones `cargo test --workspace` builds beside this test
//! (`target/<profile>/ingest-kafka`, `ingest-webhook`), or those in REGSYNC_FUNCTIONS_DIR (e.g.
//! `target/release`). Each is copied into a directory of its own as `bootstrap`, which is what
//! `cargo lambda build` makes of the release binary; cargo-lambda itself takes ~13 minutes to
//! install, so the test command does not use it.
//!
//! What the emulator (pinned in scripts/services.sh) answers, read from its source and seen here:
//! - a result: HTTP 200, the handler's JSON as the body;
//! - a function error (the runtime posted `/invocation/<id>/error`): HTTP 200 too, the body
//!   `{"errorType", "errorMessage"}` as the runtime sent it, and no `X-Amz-Function-Error`
//!   header (Lambda's Invoke API adds `X-Amz-Function-Error: Unhandled`; the emulator copies no
//!   header of the runtime's response). [`Reply::error`] accepts either;
//! - a function that exits during init: HTTP 502 with an empty body, on every invoke (it retries
//!   the init each time);
//! - an invoke while one is running: not the 400 its source intends; this version panics (nil
//!   dereference in `rapidcore/server.go` after `ReserveFailed: AlreadyReserved`), both
//!   connections close without a response and the function process is left orphaned. Every
//!   test here invokes one at a time.
//!
//! Every figure is printed (`cargo test ... -- --nocapture` shows them), none is asserted.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)]

mod cluster;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cluster::{Broker, S3, digest_of, free_port, run, unique};
use regsync_pipeline::webhook::{self, Request};
use regsync_pipeline::{KafkaRecord, StoreDeadLetters};
use regsync_store::{Expect, S3Store, Store};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The payloads, as an event source mapping or a Function URL sends them.
const LAMBDA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/lambda");
/// Lambda's invoke path on the emulator.
const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";
/// The function timeout given to the emulator: a hung invocation ends with an error after it.
const FUNCTION_TIMEOUT_SECONDS: u64 = 60;
/// The longest wait for one HTTP exchange (above the function timeout).
const HTTP_TIMEOUT: Duration = Duration::from_secs(FUNCTION_TIMEOUT_SECONDS + 30);

fn payload(name: &str) -> Vec<u8> {
    std::fs::read(format!("{LAMBDA}/{name}")).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------------
// Binaries

/// The directory holding the function binaries: REGSYNC_FUNCTIONS_DIR, or the profile directory
/// of this test (`target/<profile>/deps/lambda_rie-<hash>` -> `target/<profile>`).
fn functions_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REGSYNC_FUNCTIONS_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn function_bin(name: &str) -> PathBuf {
    let bin = functions_dir().join(name);
    assert!(
        bin.exists(),
        "no {name} binary at {}: run `cargo test --workspace` (it builds the function binaries) \
         or set REGSYNC_FUNCTIONS_DIR (e.g. target/release after `cargo build --release -p {name}`)",
        bin.display()
    );
    bin
}

/// The emulator: REGSYNC_RIE_BIN, or the one `scripts/services.sh install rie` builds.
fn rie_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("REGSYNC_RIE_BIN") {
        return bin.into();
    }
    let bin = regsync_e2e::repo_root().join(".services/bin/aws-lambda-rie");
    assert!(
        bin.exists(),
        "no aws-lambda-rie at {}: run `scripts/services.sh install rie` (or set REGSYNC_RIE_BIN)",
        bin.display()
    );
    bin
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1, enough for the emulator, `regsync webhook` and a metrics page

/// An HTTP response.
struct Reply {
    status: u16,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// From the request's first byte to the response's last.
    elapsed: Duration,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): HTTP {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The function error the emulator returned: (errorType, errorMessage); `None` for a result.
    fn error(&self) -> Option<(String, String)> {
        assert_eq!(
            self.status,
            200,
            "the emulator answers an invocation that ran with 200: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        let error_type = body.get("errorType").and_then(Value::as_str);
        if error_type.is_none() && self.header("x-amz-function-error").is_none() {
            return None;
        }
        Some((
            error_type.unwrap_or_default().to_owned(),
            body.get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ))
    }

    /// The handler's result; panics on a function error.
    fn result(&self) -> Value {
        if let Some((kind, message)) = self.error() {
            panic!("the invocation failed: {kind}: {message}");
        }
        self.json()
    }
}

/// One request on a fresh connection (`connection: close`), read to its end.
async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let start = Instant::now();
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        std::io::Result::Ok(raw)
    };
    let raw = tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer from {addr}{path} in {HTTP_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{method} {addr}{path}: {e}"));
    let elapsed = start.elapsed();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = unchunk(&body);
    }
    Reply {
        status,
        headers,
        body,
        elapsed,
    }
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // Each round consumes one chunk; a body has fewer chunks than bytes.
    for _ in 0..=raw.len() {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The emulator running one function

/// `aws-lambda-rie` running one function's `bootstrap` on loopback ports. Dropping it stops the
/// emulator and the function process.
struct Emulator {
    name: String,
    /// `127.0.0.1:<port>` of the invoke API.
    addr: String,
    /// When the emulator was started.
    started: Instant,
    /// Its output and the function's (the emulator passes the function's stdout/stderr on).
    log: Arc<Mutex<Vec<String>>>,
    /// The `bootstrap` path, to recognise the function process.
    bootstrap: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts the emulator for function `name` with exactly `env` (plus what Lambda itself
    /// sets) and waits until its invoke API listens. The function starts on the first invoke.
    async fn start(name: &str, env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bootstrap = dir.path().join("bootstrap");
        std::fs::copy(function_bin(name), &bootstrap).unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        // Always loopback: the emulator listens on 0.0.0.0:8080 unless told otherwise.
        let mut cmd = Command::new(rie_bin());
        cmd.arg("--runtime-interface-emulator-address")
            .arg(&addr)
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg(&bootstrap)
            .current_dir(dir.path())
            // The emulator hands its whole environment to the function: only what Lambda would
            // set, not the test's.
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TZ", ":UTC")
            .env("LAMBDA_TASK_ROOT", dir.path())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env(
                "AWS_LAMBDA_FUNCTION_TIMEOUT",
                FUNCTION_TIMEOUT_SECONDS.to_string(),
            )
            // infra/modules/sync-function configures the JSON log format; Lambda then sets this.
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for pipe in pipes {
            let log = Arc::clone(&log);
            let label = name.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("[rie {label}] {line}");
                    log.lock().unwrap().push(line);
                }
            });
        }
        let emulator = Emulator {
            name: name.to_owned(),
            addr,
            started,
            log,
            bootstrap,
            child,
            _dir: dir,
        };
        // Bounded: 10 s in steps of 10 ms.
        for _ in 0..1000 {
            if tokio::net::TcpStream::connect(&emulator.addr).await.is_ok() {
                return emulator;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "aws-lambda-rie did not listen on {} in 10 s:\n{}",
            emulator.addr,
            emulator.log_text()
        );
    }

    /// One invocation with `event` as the payload.
    async fn invoke(&self, event: &[u8]) -> Reply {
        let reply = http(&self.addr, "POST", INVOKE_PATH, &[], event).await;
        eprintln!(
            "{}: HTTP {} in {}: {}",
            self.name,
            reply.status,
            ms(reply.elapsed),
            String::from_utf8_lossy(&reply.body)
        );
        reply
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The init duration the emulator reported (`INIT REPORT(durationMs: ...)`), if any.
    fn init_report_ms(&self) -> Option<f64> {
        self.log.lock().unwrap().iter().find_map(|l| {
            let rest = l.split("INIT REPORT(durationMs: ").nth(1)?;
            rest.split(')').next()?.trim().parse().ok()
        })
    }

    /// The function processes running now: every process whose command is this emulator's
    /// `bootstrap` (a path no other emulator uses), also one an emulator that died left behind.
    fn function_pids(&self) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .map_while(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| self.is_function(*pid))
            .collect()
    }

    fn is_function(&self, pid: u32) -> bool {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            c.split(|&b| b == 0)
                .next()
                .is_some_and(|arg0| arg0 == self.bootstrap.as_os_str().as_encoded_bytes())
        })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The emulator starts the function in a process group of its own, so the function does
        // not die with it: SIGTERM lets the emulator SIGKILL the function itself; a function
        // process left after that (the emulator crashed, or did not get to it) gets SIGKILL by
        // its id.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        // Bounded: 2 s in steps of 20 ms.
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in self.function_pids() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stores

/// The shared S3 server (`S3::shared`) with a fresh bucket that is deleted, objects and all,
/// when the test ends, passed or failed: SeaweedFS gives every bucket a volume of its own and
/// has about one per GiB of free disk (46 here), so buckets left behind make it refuse every
/// write to a new bucket (500 InternalError, "No writable volumes and no free volumes left").
/// Declared first in a test, it is dropped after every process that writes to it.
struct Bucket(S3);

impl Bucket {
    async fn new() -> Self {
        Bucket(S3::shared().await)
    }
}

impl std::ops::Deref for Bucket {
    type Target = S3;

    fn deref(&self) -> &S3 {
        &self.0
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        let (endpoint, bucket) = (self.0.endpoint.clone(), self.0.bucket.clone());
        // A runtime of its own on a thread of its own: Drop cannot await, and may run on the
        // test's runtime.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = regsync_store::testsuite::s3_client(&endpoint, Default::default());
                let store = Store::S3(S3Store::with_client(client.clone(), &bucket, ""));
                // Bounded: a listing returns every key; a few rounds catch stragglers.
                for _ in 0..5 {
                    let keys = store.list("").await.ok()?;
                    if keys.is_empty() {
                        break;
                    }
                    for key in keys {
                        store.delete(&key).await.ok()?;
                    }
                }
                client.delete_bucket().bucket(&bucket).send().await.ok()
            })
        })
        .join();
        if !matches!(deleted, Ok(Some(_))) {
            eprintln!("bucket {} was not deleted", self.0.bucket);
        }
    }
}

/// A store on the shared server for `bucket` under `prefix` ("" for the whole bucket).
fn store(s3: &S3, bucket: &str, prefix: &str) -> Store {
    let client = regsync_store::testsuite::s3_client(&s3.endpoint, Default::default());
    Store::S3(S3Store::with_client(client, bucket, prefix))
}

/// Every key of the store and the manifest's bytes: equal before and after means nothing was
/// written.
async fn fingerprint(store: &Store) -> (Vec<String>, Option<Vec<u8>>) {
    let mut keys = store.list("").await.unwrap();
    keys.sort();
    let latest = store.get("latest").await.unwrap().map(|o| o.bytes);
    (keys, latest)
}

/// SeaweedFS allocates a bucket's first volume on its first write (~1 s here): done before a
/// figure is taken, so the figure is the function's.
async fn warm_bucket(s3: &S3) {
    store(s3, &s3.bucket, "warm-up")
        .put(&unique("w"), b"warm".to_vec(), Expect::Absent)
        .await
        .unwrap();
}

/// What every function needs to reach the S3-compatible server at `endpoint`.
fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

fn kafka_env(endpoint: &str, store_url: &str) -> Vec<(&'static str, String)> {
    let mut env = aws_env(endpoint);
    env.push(("REGSYNC_STORE", store_url.to_owned()));
    env
}

fn webhook_env(endpoint: &str, store_url: &str) -> Vec<(&'static str, String)> {
    let mut env = kafka_env(endpoint, store_url);
    env.push((webhook::SECRET, cluster::SECRET.to_owned()));
    env
}

/// `regsync snapshot get -o yaml` and `regsync snapshot digest` of `url`.
fn snapshot(url: &str, s3: &S3) -> (String, String) {
    let (code, yaml, err) = run(
        &["snapshot", "get", "--store", url, "-o", "yaml"],
        &s3.env(),
    );
    assert_eq!(code, 0, "snapshot get {url}: {err}");
    let (code, digest, err) = run(&["snapshot", "digest", "--store", url], &s3.env());
    assert_eq!(code, 0, "snapshot digest {url}: {err}");
    (yaml, digest_of(&digest))
}

// ---------------------------------------------------------------------------------------------
// Kafka: the same records through regsync consume

/// The records of a Kafka event payload, decoded as the function decodes them.
fn kafka_records(event: &[u8]) -> Vec<KafkaRecord> {
    let event = serde_json::from_slice(event).unwrap();
    ingest_kafka::records(&event)
        .into_iter()
        .map(|(record, rejection)| {
            assert!(rejection.is_none(), "{rejection:?}");
            record
        })
        .collect()
}

/// Produces `records` to `topic` on their own partitions, in order, with their keys, values,
/// headers and timestamps.
async fn produce(broker: &Broker, topic: &str, records: &[KafkaRecord]) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(r.partition)
            .headers(headers);
        if let Some(key) = &r.key {
            record = record.key(key);
        }
        if let Some(value) = &r.value {
            record = record.payload(value);
        }
        if let Some(ts) = r.timestamp_ms {
            record = record.timestamp(ts);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

/// The sum of the series of `metric` (all labels) on a Prometheus text page.
fn metric_sum(page: &str, metric: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(metric) && !l.starts_with('#'))
        .filter(|l| l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `regsync consume` of `records` into `url`: produced to a fresh topic, consumed by a fresh
/// group until the consumer has stored every record. Its `applied` count.
async fn consume_into(broker: &Broker, s3: &S3, records: &[KafkaRecord], url: &str) -> f64 {
    let topic = unique("lambda-parity");
    let partitions = records.iter().map(|r| r.partition).max().unwrap() + 1;
    broker.create_topic(&topic, partitions).await;
    produce(broker, &topic, records).await;
    let metrics_port = free_port();
    let (_consume, _) = cluster::start(
        &[
            "consume",
            "--brokers",
            &broker.addr,
            "--topic",
            &topic,
            "--group",
            &unique("g"),
            "--store",
            url,
            "--batch-wait",
            "20ms",
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ],
        &s3.env(),
    );
    let metrics = format!("127.0.0.1:{metrics_port}");
    let want = records.len() as f64;
    let start = Instant::now();
    // Bounded: 90 s in steps of 100 ms.
    for _ in 0..900 {
        if tokio::net::TcpStream::connect(&metrics).await.is_ok() {
            let page = http(&metrics, "GET", "/metrics", &[], b"").await;
            let page = String::from_utf8_lossy(&page.body).into_owned();
            if metric_sum(&page, "regsync_consumer_records_total") >= want {
                eprintln!(
                    "regsync consume stored {want} records in {}",
                    ms(start.elapsed())
                );
                return page
                    .lines()
                    .find(|l| {
                        l.starts_with("regsync_consumer_records_total{")
                            && l.contains("outcome=\"applied\"")
                    })
                    .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                    .unwrap_or(0.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("regsync consume did not store {want} records of {topic} in 90 s");
}

// ---------------------------------------------------------------------------------------------
// Webhook requests

/// A Function URL event file signed again with `secret` at `timestamp` (the committed files are
/// signed at a fixed past time): the event to invoke with, and the same request for an HTTP
/// server.
fn signed(name: &str, secret: &[u8], timestamp: u64) -> (Vec<u8>, Request) {
    let bytes = payload(name);
    let typed = serde_json::from_slice(&bytes).unwrap();
    let mut request = ingest_webhook::request(&typed);
    webhook::sign_request(secret, timestamp, &mut request);
    let mut event: Value = serde_json::from_slice(&bytes).unwrap();
    // A Function URL passes header names in lower case.
    for (k, v) in &request.headers {
        event["headers"][k.to_ascii_lowercase()] = Value::String(v.clone());
    }
    (serde_json::to_vec(&event).unwrap(), request)
}

/// The Function URL response in an invocation's result: (statusCode, parsed body).
fn function_url_response(reply: &Reply) -> (u16, Value) {
    let out = reply.result();
    assert_eq!(out["headers"]["content-type"], "application/json", "{out}");
    assert_eq!(out["isBase64Encoded"], false, "{out}");
    let status = u16::try_from(out["statusCode"].as_u64().unwrap()).unwrap();
    let body = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    (status, body)
}

// ---------------------------------------------------------------------------------------------
// A TCP gate in front of the S3 server: open, it forwards; closed, nothing listens on its port
// and every connection through it is cut.

struct Gate {
    port: u16,
    upstream: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Gate {
    /// A closed gate to `upstream` (`host:port`).
    fn new(upstream: &str) -> Self {
        Gate {
            port: free_port(),
            upstream: upstream.to_owned(),
            task: None,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn open(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let upstream = self.upstream.clone();
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: aborting the task cuts every connection. The loop ends
            // when the gate closes or is dropped (both abort the task).
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// A server that accepts connections, reads what comes and never answers: a frozen S3
    /// server, or a network that drops its replies.
    async fn hang(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        // Ends as open's loop does.
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    let _ = tokio::io::copy(&mut inbound, &mut tokio::io::sink()).await;
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    async fn close(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        // The aborted connection tasks drop their sockets on their next poll.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// MSK and self-managed Kafka payloads: each invocation succeeds, and the snapshot the function
/// publishes equals the one `regsync consume` makes of the same records read from Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_payloads_under_the_emulator_give_the_snapshot_regsync_consume_gives() {
    let s3 = Bucket::new().await;
    let broker = Broker::shared();
    for name in [
        "kafka-msk-structured.json",
        "kafka-self-managed-binary.json",
    ] {
        let event = payload(name);
        let records = kafka_records(&event);
        let lambda_url = s3.url(&unique("lambda"));
        let consume_url = s3.url(&unique("consume"));

        let function = Emulator::start("ingest-kafka", &kafka_env(&s3.endpoint, &lambda_url)).await;
        let reply = function.invoke(&event).await;
        let summary = reply.result();
        eprintln!("{name}: {summary} in {}", ms(reply.elapsed));
        assert_eq!(summary["records"], records.len(), "{name}: {summary}");
        assert_eq!(summary["dead_lettered"], 0, "{name}: {summary}");
        assert_eq!(summary["published"], true, "{name}: {summary}");
        assert_eq!(
            summary["applied"].as_u64().unwrap() + summary["stale"].as_u64().unwrap(),
            records.len() as u64,
            "{name}: {summary}"
        );
        drop(function);

        let applied = consume_into(&broker, &s3, &records, &consume_url).await;
        assert_eq!(
            summary["applied"].as_f64().unwrap(),
            applied,
            "{name}: the function and regsync consume applied different counts"
        );
        let (lambda_yaml, lambda_digest) = snapshot(&lambda_url, &s3);
        let (consume_yaml, consume_digest) = snapshot(&consume_url, &s3);
        assert!(
            lambda_yaml.contains("kind: ServiceEntry"),
            "{name}: {lambda_yaml}"
        );
        assert_eq!(
            lambda_yaml, consume_yaml,
            "{name}: the function's snapshot differs from regsync consume's"
        );
        assert_eq!(lambda_digest, consume_digest, "{name}");
        println!(
            "{name}: ingest-kafka under aws-lambda-rie and regsync consume agree: {lambda_digest}"
        );
    }
}

/// A batch with a malformed record, a tombstone and an unknown type among good ones: the
/// invocation succeeds (a bad record never blocks its partition), each bad record is a dead
/// letter under `dead-letter/` holding its raw bytes, and a redelivery of the batch writes no
/// new object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_batch_succeeds_and_leaves_its_dead_letters_in_the_store() {
    let s3 = Bucket::new().await;
    let prefix = unique("poison");
    let url = s3.url(&prefix);
    let event = payload("kafka-msk-poison.json");
    let parsed = serde_json::from_slice(&event).unwrap();
    let records: Vec<KafkaRecord> = ingest_kafka::records(&parsed)
        .into_iter()
        .map(|(r, _)| r)
        .collect();

    let function = Emulator::start("ingest-kafka", &kafka_env(&s3.endpoint, &url)).await;
    let summary = function.invoke(&event).await.result();
    assert_eq!(summary["records"], records.len(), "{summary}");
    assert_eq!(summary["published"], true, "{summary}");
    let dead_lettered = summary["dead_lettered"].as_u64().unwrap();
    assert!(dead_lettered > 0, "{summary}");
    assert_eq!(
        summary["applied"].as_u64().unwrap() + dead_lettered,
        records.len() as u64,
        "{summary}"
    );

    // The letters, read back through the store: one per rejected record, with its raw bytes.
    let snapshot_store = store(&s3, &s3.bucket, &prefix);
    let letters = StoreDeadLetters::new(snapshot_store.clone())
        .list()
        .await
        .unwrap();
    assert_eq!(letters.len() as u64, dead_lettered, "{letters:#?}");
    for letter in &letters {
        let raw = letter.to_record().unwrap();
        let original = records
            .iter()
            .find(|r| (r.partition, r.offset) == (raw.partition, raw.offset))
            .unwrap_or_else(|| panic!("a letter for no record of the batch: {letter:?}"));
        assert_eq!(
            &raw, original,
            "the letter must hold the record byte for byte"
        );
        assert!(!letter.rejection.kind.is_empty(), "{letter:?}");
        println!(
            "dead letter {}: {} ({})",
            letter.object_key(),
            letter.rejection.kind,
            letter.rejection.reason
        );
    }
    let keys = snapshot_store.list("dead-letter/").await.unwrap();
    assert_eq!(keys.len() as u64, dead_lettered, "{keys:?}");

    // The event source redelivers a batch whenever an invocation of it failed: nothing new.
    let before = fingerprint(&snapshot_store).await;
    let again = function.invoke(&event).await.result();
    assert_eq!(again["applied"], 0, "{again}");
    assert_eq!(again["published"], false, "{again}");
    assert_eq!(again["dead_lettered"], dead_lettered, "{again}");
    assert_eq!(again["generation"], summary["generation"], "{again}");
    assert_eq!(fingerprint(&snapshot_store).await, before);
}

/// The S3 server unreachable (nothing listens on the endpoint's port; a warm function's pooled
/// connections are cut): the invocation fails with errorType StoreUnavailable, so the mapping
/// redelivers the batch, and nothing is written; once the server is back, the redelivery
/// applies. The webhook answers 503 with Retry-After meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_fails_the_invocation_and_the_redelivery_applies() {
    let s3 = Bucket::new().await;
    warm_bucket(&s3).await;
    let upstream = s3.endpoint.trim_start_matches("http://").to_owned();
    let mut gate = Gate::new(&upstream);
    let prefix = unique("outage");
    let url = s3.url(&prefix);
    let bucket = store(&s3, &s3.bucket, "");
    let first = payload("kafka-msk-structured.json");
    let second = payload("kafka-self-managed-binary.json");

    let function = Emulator::start("ingest-kafka", &kafka_env(&gate.endpoint(), &url)).await;
    let hook = Emulator::start("ingest-webhook", &webhook_env(&gate.endpoint(), &url)).await;

    // Cold, the server never reached.
    let before = fingerprint(&bucket).await;
    let reply = function.invoke(&first).await;
    let (kind, message) = reply.error().expect("the invocation must fail");
    assert_eq!(kind, "StoreUnavailable", "{message}");
    println!(
        "cold, store unreachable: {kind} after {}: {message}",
        ms(reply.elapsed)
    );
    let (status, body) = function_url_response(
        &hook
            .invoke(
                &signed(
                    "webhook-function-url-structured.json",
                    cluster::SECRET.as_bytes(),
                    now(),
                )
                .0,
            )
            .await,
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["kind"], "StoreUnavailable", "{body}");
    assert_eq!(fingerprint(&bucket).await, before, "nothing may be written");

    // The server is back: the redelivered batch applies.
    gate.open().await;
    let summary = function.invoke(&first).await.result();
    assert_eq!(summary["published"], true, "{summary}");
    assert_eq!(summary["generation"], 1, "{summary}");

    // Warm, its connections cut and the port closed.
    gate.close().await;
    let before = fingerprint(&bucket).await;
    let reply = function.invoke(&second).await;
    let (kind, message) = reply.error().expect("the invocation must fail");
    assert_eq!(kind, "StoreUnavailable", "{message}");
    println!(
        "warm, store unreachable: {kind} after {}: {message}",
        ms(reply.elapsed)
    );
    assert_eq!(fingerprint(&bucket).await, before, "nothing may be written");
    assert!(
        function
            .log_text()
            .contains("\"kind\":\"StoreUnavailable\""),
        "the failure is logged as JSON with its kind:\n{}",
        function.log_text()
    );

    gate.open().await;
    let summary = function.invoke(&second).await.result();
    assert_eq!(summary["published"], true, "{summary}");
    assert_eq!(summary["generation"], 2, "{summary}");
    assert_eq!(summary["applied"], summary["records"], "{summary}");
}

/// The S3 server hangs (accepts connections, never answers): the invocation ends before the
/// function's timeout as the outage it is, StoreUnavailable for the Kafka mapping and the
/// contract's 503 with Retry-After for the webhook. Found here: the SDK bounded only
/// connecting, so both functions ran into Lambda's timeout, which logs nothing of the cause,
/// kills the execution environment (the next invoke is a cold start) and answers a webhook
/// sender with Lambda's timeout error. Now every S3 request is bounded
/// (`regsync_store::s3::ATTEMPT_TIMEOUT`, `OPERATION_TIMEOUT`) and both handlers stop half a
/// second before the invocation's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_store_ends_the_invocation_before_the_function_timeout() {
    // 10 s: the S3 request's own bound (6 s) ends it.
    hanging_store(10, "StoreUnavailable").await;
}

/// The same with a function timeout shorter than one S3 request's bound: the handlers' deadline
/// (half a second before Lambda's) ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_store_ends_a_short_invocation_at_its_deadline() {
    hanging_store(3, "DeadlineExceeded").await;
}

async fn hanging_store(timeout: u64, kind_expected: &str) {
    let s3 = Bucket::new().await;
    let mut gate = Gate::new("127.0.0.1:9");
    gate.hang().await;
    let url = s3.url(&unique("hang"));
    let with_timeout = |mut env: Vec<(&'static str, String)>| {
        env.push(("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout.to_string()));
        env
    };
    let function = Emulator::start(
        "ingest-kafka",
        &with_timeout(kafka_env(&gate.endpoint(), &url)),
    )
    .await;
    let reply = function.invoke(&payload("kafka-msk-structured.json")).await;
    println!(
        "ingest-kafka, store hanging: {:?} after {}",
        String::from_utf8_lossy(&reply.body),
        ms(reply.elapsed)
    );
    let hook = Emulator::start(
        "ingest-webhook",
        &with_timeout(webhook_env(&gate.endpoint(), &url)),
    )
    .await;
    let (event, _) = signed(
        "webhook-function-url-structured.json",
        cluster::SECRET.as_bytes(),
        now(),
    );
    let hook_reply = hook.invoke(&event).await;
    println!(
        "ingest-webhook, store hanging: {:?} after {}",
        String::from_utf8_lossy(&hook_reply.body),
        ms(hook_reply.elapsed)
    );

    // The emulator's answer to a timeout is the text `Task timed out after N.00 seconds`.
    let timed_out = |r: &Reply| r.body.starts_with(b"Task timed out");
    assert!(
        !timed_out(&reply) && !timed_out(&hook_reply),
        "the functions ran into their {timeout} s timeout: ingest-kafka {:?}, ingest-webhook {:?}",
        String::from_utf8_lossy(&reply.body),
        String::from_utf8_lossy(&hook_reply.body),
    );
    let (kind, message) = reply
        .error()
        .expect("the invocation must fail as a function error, not time out");
    assert_eq!(kind, kind_expected, "{message}");
    assert!(reply.elapsed < Duration::from_secs(timeout));
    let (status, body) = function_url_response(&hook_reply);
    assert_eq!(status, 503, "{body}");
}

/// Function URL requests (payload format 2.0) under the emulator: a freshly signed one gets
/// statusCode 202 and moves the snapshot to what `regsync webhook` makes of the same request;
/// an expired, a badly signed and an unsigned one get 401 and write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_under_the_emulator_answers_as_a_function_url() {
    let s3 = Bucket::new().await;
    let prefix = unique("webhook");
    let url = s3.url(&prefix);
    let bucket = store(&s3, &s3.bucket, "");
    let function = Emulator::start("ingest-webhook", &webhook_env(&s3.endpoint, &url)).await;
    let name = "webhook-function-url-structured.json";

    // Refused: nothing written.
    let before = fingerprint(&bucket).await;
    let (wrong_secret, _) = signed(name, b"not-the-secret", now());
    let mut unsigned: Value = serde_json::from_slice(&payload(name)).unwrap();
    let headers = unsigned["headers"].as_object_mut().unwrap();
    headers.remove(webhook::SIGNATURE_HEADER);
    headers.remove(webhook::TIMESTAMP_HEADER);
    for (what, event) in [
        ("the committed (expired) file", payload(name)),
        ("signed with another secret", wrong_secret),
        ("unsigned", serde_json::to_vec(&unsigned).unwrap()),
    ] {
        let (status, body) = function_url_response(&function.invoke(&event).await);
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body["error"].is_string(), "{what}: {body}");
        println!("{what}: 401 {body}");
    }
    assert_eq!(
        fingerprint(&bucket).await,
        before,
        "a refused request wrote"
    );

    // Accepted.
    let (event, request) = signed(name, cluster::SECRET.as_bytes(), now());
    let (status, body) = function_url_response(&function.invoke(&event).await);
    assert_eq!(status, 202, "{body}");
    println!("signed: 202 {body}");
    let accepted = body["accepted"].as_array().unwrap();
    assert_eq!(accepted.len(), 1, "{body}");
    let (lambda_yaml, lambda_digest) = snapshot(&url, &s3);
    assert!(
        lambda_yaml.contains("kind: ServiceEntry"),
        "the snapshot was not updated: {lambda_yaml}"
    );
    drop(function);

    // The same request to `regsync webhook`: the same snapshot.
    let server_url = s3.url(&unique("regsync-webhook"));
    let (_server, address) = cluster::webhook(&server_url, &s3);
    let host = address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
        .cloned()
        .collect();
    let reply = http(
        &host,
        &request.method,
        &request.path,
        &headers,
        &request.body,
    )
    .await;
    assert_eq!(
        reply.status,
        202,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let (server_yaml, server_digest) = snapshot(&server_url, &s3);
    assert_eq!(
        lambda_yaml, server_yaml,
        "ingest-webhook and regsync webhook stored different snapshots"
    );
    assert_eq!(lambda_digest, server_digest);
    println!("ingest-webhook under aws-lambda-rie and regsync webhook agree: {lambda_digest}");
}

/// Cold start through the emulator, per function: from starting aws-lambda-rie to the first
/// invocation's response (the emulator starts `bootstrap` on the first invoke, as Lambda starts
/// an execution environment), beside a second, warm invocation of the same process. Both
/// invocations publish a generation. Figures only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_and_warm_invocations_through_the_emulator() {
    let s3 = Bucket::new().await;
    warm_bucket(&s3).await;
    let secret = cluster::SECRET.as_bytes();
    let cases: [(&str, Vec<u8>, Vec<u8>); 2] = [
        (
            "ingest-kafka",
            payload("kafka-msk-structured.json"),
            payload("kafka-self-managed-binary.json"),
        ),
        (
            "ingest-webhook",
            signed("webhook-function-url-structured.json", secret, now()).0,
            signed("webhook-apigw-v2-raw-eureka.json", secret, now()).0,
        ),
    ];
    for (name, cold_event, warm_event) in cases {
        let url = s3.url(&unique("cold"));
        let env = match name {
            "ingest-kafka" => kafka_env(&s3.endpoint, &url),
            _ => webhook_env(&s3.endpoint, &url),
        };
        let function = Emulator::start(name, &env).await;
        let listening = function.started.elapsed();
        let cold = function.invoke(&cold_event).await;
        let cold_total = function.started.elapsed();
        let warm = function.invoke(&warm_event).await;
        for (what, reply) in [("cold", &cold), ("warm", &warm)] {
            let out = reply.result();
            let published = match name {
                "ingest-kafka" => out["published"] == true,
                _ => out["statusCode"] == 202,
            };
            assert!(published, "{name} {what}: {out}");
        }
        let init = function
            .init_report_ms()
            .map_or("?".to_owned(), |v| format!("{v:.1} ms"));
        println!(
            "{name} (binary {}): emulator listening after {}, first response {} after the \
             start (that invocation {}, of which the function's init {init}); warm invocation {}",
            function_bin(name).display(),
            ms(listening),
            ms(cold_total),
            ms(cold.elapsed),
            ms(warm.elapsed),
        );
    }
}

/// A function that cannot start (REGSYNC_STORE unset): every invoke gets HTTP 502 with an empty
/// body from the emulator (Lambda answers `Runtime.ExitError`), and the function's message
/// naming the variable is in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_gets_502_and_says_why() {
    for name in ["ingest-kafka", "ingest-webhook"] {
        let function = Emulator::start(name, &aws_env("http://127.0.0.1:9")).await;
        for _ in 0..2 {
            let reply = function.invoke(b"{}").await;
            assert_eq!(reply.status, 502, "{name}");
        }
        let log = function.log_text();
        assert!(
            log.contains(&format!("{name} cannot start: invalid configuration"))
                && log.contains("REGSYNC_STORE"),
            "{name}: {log}"
        );
    }
}
