//! The `AggregatedDiscoveryService` istiod connects to: one task per stream, driven by the
//! stream's requests and by the snapshot channel, deciding with [`sotw::Stream`].

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryService;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::protobuf::value::Kind;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use crate::render::Rendered;
use crate::sotw::{Decision, Stream};
use crate::types::is_service_entry;

/// The snapshot streams serve: `None` until the first good generation is loaded.
pub type Snapshot = Option<Arc<Rendered>>;

/// `version_info` of the empty answers to types regsync does not serve.
pub const EMPTY_VERSION: &str = "0";

/// Responses one stream may have queued for the network. At most one response per type waits
/// for its ACK, so a stream never holds more than one per type it asked for; this bounds the
/// queue in front of a slow client without ever blocking the others.
const QUEUE: usize = 32;

/// A connected client, for the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Client {
    /// `node.id` of its first request.
    pub node: String,
    /// `ISTIO_REVISION` from the node metadata, when given.
    pub revision: Option<String>,
    /// Peer address.
    pub peer: Option<String>,
    /// The last version ACKed, per type URL.
    pub acked: BTreeMap<String, String>,
}

/// The service: the snapshot channel, the metrics and the connected clients.
#[derive(Clone)]
pub struct Ads {
    snapshot: watch::Receiver<Snapshot>,
    metrics: Metrics,
    clients: Arc<Mutex<BTreeMap<u64, Client>>>,
    next: Arc<AtomicU64>,
}

impl Ads {
    /// A service streaming what `snapshot` holds.
    pub fn new(snapshot: watch::Receiver<Snapshot>, metrics: Metrics) -> Self {
        Self {
            snapshot,
            metrics,
            clients: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The clients connected now.
    pub fn clients(&self) -> Vec<Client> {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    fn update_client(&self, id: u64, f: impl FnOnce(&mut Client)) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = clients.get_mut(&id) {
            f(c);
        }
    }
}

type ResponseStream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ResponseStream<DiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let peer = request.remote_addr().map(|a| a.to_string());
        let (tx, rx) = mpsc::channel(QUEUE);
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Client {
                    peer,
                    ..Client::default()
                },
            );
        self.metrics.clients.inc();
        let task = StreamTask {
            ads: self.clone(),
            id,
            stream: Stream::new(id.to_string()),
            snapshot: self.snapshot.clone(),
            out: tx,
            sent_at: BTreeMap::new(),
        };
        tokio::spawn(task.run(request.into_inner()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type DeltaAggregatedResourcesStream = ResponseStream<DeltaDiscoveryResponse>;

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "regsync serves State-of-the-World ADS (StreamAggregatedResources), which istiod uses",
        ))
    }
}

/// One stream's task.
struct StreamTask {
    ads: Ads,
    id: u64,
    stream: Stream,
    snapshot: watch::Receiver<Snapshot>,
    out: mpsc::Sender<Result<DiscoveryResponse, Status>>,
    /// When each ServiceEntry response waiting for its ACK was sent, by nonce.
    sent_at: BTreeMap<String, Instant>,
}

/// Why a stream ended.
enum End {
    ClientClosed,
    ClientError(Status),
    Disconnected,
}

impl StreamTask {
    async fn run(mut self, mut requests: Streaming<DiscoveryRequest>) {
        let end = loop {
            tokio::select! {
                request = requests.message() => match request {
                    Ok(Some(req)) => {
                        if self.on_request(req).await.is_err() {
                            break End::Disconnected;
                        }
                    }
                    Ok(None) => break End::ClientClosed,
                    Err(status) => break End::ClientError(status),
                },
                changed = self.snapshot.changed() => {
                    if changed.is_err() {
                        // The service is shutting down.
                        break End::Disconnected;
                    }
                    if self.push_due().await.is_err() {
                        break End::Disconnected;
                    }
                }
            }
        };
        match end {
            End::ClientClosed => debug!(stream = self.id, "client closed the stream"),
            End::ClientError(status) => {
                debug!(stream = self.id, %status, "stream ended with an error");
            }
            End::Disconnected => debug!(stream = self.id, "stream dropped"),
        }
        self.ads
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        self.ads.metrics.clients.dec();
    }

    async fn on_request(&mut self, req: DiscoveryRequest) -> Result<(), Closed> {
        if let Some(node) = &req.node {
            // istiod repeats the node on every ACK; it is read once.
            self.ads.update_client(self.id, |c| {
                if c.node.is_empty() {
                    (c.node, c.revision) = describe(node);
                }
            });
        }
        let labels = Metrics::labels(&req.type_url);
        match self.stream.on_request(&req) {
            Decision::Subscribe | Decision::Resubscribe => {
                if !is_service_entry(&req.type_url) {
                    return self.send_empty(&req.type_url).await;
                }
            }
            Decision::Ack { version } => {
                self.ads.metrics.acks.get_or_create(&labels).inc();
                if let Some(at) = self.sent_at.remove(&req.response_nonce) {
                    self.ads
                        .metrics
                        .ack_latency
                        .observe(at.elapsed().as_secs_f64());
                }
                let acked = self.stream.acked();
                self.ads.update_client(self.id, |c| c.acked = acked);
                debug!(stream = self.id, type_url = req.type_url, version, "ACK");
            }
            Decision::Nack { version, detail } => {
                self.ads.metrics.nacks.get_or_create(&labels).inc();
                self.sent_at.remove(&req.response_nonce);
                warn!(
                    stream = self.id,
                    type_url = req.type_url,
                    version,
                    error_detail = detail,
                    "NACK: the client refused this version and keeps its last ACKed one"
                );
            }
            Decision::Stale => {
                debug!(
                    stream = self.id,
                    type_url = req.type_url,
                    nonce = req.response_nonce,
                    "stale nonce ignored"
                );
                return Ok(());
            }
        }
        self.push_due().await
    }

    /// Sends the current snapshot to every ServiceEntry type that is due.
    async fn push_due(&mut self) -> Result<(), Closed> {
        let Some(snapshot) = self.snapshot.borrow_and_update().clone() else {
            // Nothing loaded yet: ServiceEntry subscriptions wait, as istiod does.
            return Ok(());
        };
        for type_url in self.stream.due(&snapshot.version) {
            let names = self.stream.names(&type_url).cloned().unwrap_or_default();
            let resources = snapshot.select(&names);
            let nonce = self.stream.sent(&type_url, &snapshot.version);
            self.sent_at.insert(nonce.clone(), Instant::now());
            info!(
                stream = self.id,
                type_url,
                version = snapshot.version,
                resources = resources.len(),
                "push"
            );
            self.send(DiscoveryResponse {
                version_info: snapshot.version.clone(),
                resources,
                type_url,
                nonce,
                ..DiscoveryResponse::default()
            })
            .await?;
        }
        Ok(())
    }

    async fn send_empty(&mut self, type_url: &str) -> Result<(), Closed> {
        let nonce = self.stream.sent(type_url, EMPTY_VERSION);
        self.send(DiscoveryResponse {
            version_info: EMPTY_VERSION.to_owned(),
            type_url: type_url.to_owned(),
            nonce,
            ..DiscoveryResponse::default()
        })
        .await
    }

    async fn send(&mut self, response: DiscoveryResponse) -> Result<(), Closed> {
        let labels = Metrics::labels(&response.type_url);
        self.out.send(Ok(response)).await.map_err(|_| Closed)?;
        self.ads.metrics.pushes.get_or_create(&labels).inc();
        Ok(())
    }
}

/// The client went away.
struct Closed;

/// `node.id` and its `ISTIO_REVISION` metadata.
fn describe(node: &Node) -> (String, Option<String>) {
    let revision = node
        .metadata
        .as_ref()
        .and_then(|m| m.fields.get("ISTIO_REVISION"))
        .and_then(|v| match &v.kind {
            Some(Kind::StringValue(s)) => Some(s.clone()),
            _ => None,
        });
    (node.id.clone(), revision)
}
