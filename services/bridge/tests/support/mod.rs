//! What the bridge tests share: a bridge running in-process with a file sink, reading what it
//! published, waiting for a condition, and a TCP proxy that can cut a client off.

#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use regsync_bridge::metrics::Metrics;
use regsync_bridge::sink::{Sink, SinkOptions, SinkSpec};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A file sink in `dir`; returns it with the path of its JSON-lines file.
pub async fn file_sink(dir: &Path, metrics: &Arc<Metrics>) -> (Sink, PathBuf) {
    let path = dir.join("events.jsonl");
    let mut options = SinkOptions::new(metrics.clone());
    options.dead_letter = dir.join("dead-letters.jsonl");
    let spec: SinkSpec = format!("file://{}", path.display()).parse().unwrap();
    (Sink::open(&spec, options).await.unwrap(), path)
}

/// Every event in a JSON-lines file so far (none when it does not exist yet).
pub fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Waits up to `timeout` for `check` to give a value, polling every 10 ms.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A shutdown signal for a bridge under test and the handle that fires it.
pub fn shutdown() -> (
    watch::Sender<bool>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, mut rx) = watch::channel(false);
    let fut = async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    (tx, fut)
}

/// Every `children` list of the events of `type_` about `subject`, in publish order.
pub fn child_lists(events: &[Value], type_: &str, subject: &str) -> Vec<Vec<String>> {
    events
        .iter()
        .filter(|e| e["type"] == type_ && e["subject"] == subject)
        .map(|e| {
            e["data"]["children"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    c.as_str()
                        .map_or_else(|| c["name"].as_str().unwrap().to_owned(), str::to_owned)
                })
                .collect()
        })
        .collect()
}

/// Checks every event against the schema and the model, as `regsync events validate` does.
pub fn assert_valid(events: &[Value]) {
    for event in events {
        let text = serde_json::to_vec(event).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("event.json");
        std::fs::write(&file, text).unwrap();
        let report = regsync_events::validate_paths(&[file]);
        assert!(report.is_ok(), "{event}\n{report}");
    }
}

/// A TCP proxy to `upstream` that can cut every connection and refuse new ones.
pub struct Proxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let proxy = Proxy {
            addr,
            cut: cut.clone(),
            generation: generation.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cuts = generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Closes every connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// A bridge running in a task, publishing to a file sink in its own directory.
pub struct Running<S> {
    pub stop: watch::Sender<bool>,
    pub status: watch::Receiver<S>,
    pub events: PathBuf,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub dir: tempfile::TempDir,
}

impl<S> Running<S> {
    /// What it published so far.
    pub fn events(&self) -> Vec<Value> {
        events(&self.events)
    }

    /// Stops it, checks it ended cleanly, and returns everything it published, validated.
    pub async fn stop(self) -> Vec<Value> {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
        let all = events(&self.events);
        assert_valid(&all);
        all
    }
}
