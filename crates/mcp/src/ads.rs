//! The `AggregatedDiscoveryService` istiod connects to: one task per stream, driven by the
//! stream's requests and by the snapshot channel, deciding with [`crate::sotw::Stream`] on
//! State-of-the-World streams (istiod) and [`crate::delta::DeltaStream`] on delta streams.

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

use crate::delta::DeltaStream;
use crate::metrics::Metrics;
use crate::render::Rendered;
use crate::sotw::{Decision, Stream};
use crate::types::is_service_entry;
use crate::wire::Encoded;
use bytes::Bytes;
use tokio_stream::StreamExt;

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
    /// The request limit streams are decoded with, for the log of a request above it (tonic's
    /// default unless [`crate::AdsServer`] sets another).
    pub(crate) max_request_bytes: usize,
}

impl Ads {
    /// A service streaming what `snapshot` holds.
    pub fn new(snapshot: watch::Receiver<Snapshot>, metrics: Metrics) -> Self {
        Self {
            snapshot,
            metrics,
            clients: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            max_request_bytes: crate::service::DEFAULT_MAX_REQUEST_BYTES,
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

    /// The plain tonic path, decoding each shared response back into a message. [`AdsServer`]
    /// serves this method without that copy; this stays for callers that mount the generated
    /// server directly.
    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let rx = self.open(request, Sotw::new);
        Ok(Response::new(Box::pin(
            ReceiverStream::new(rx).map(|r| r.map(|e| e.decode())),
        )))
    }

    type DeltaAggregatedResourcesStream = ResponseStream<DeltaDiscoveryResponse>;

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        let rx = self.open(request, |id| Delta(DeltaStream::new(id.to_string())));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

impl Ads {
    /// Registers a client and spawns the task of its stream; returns what the task sends.
    pub(crate) fn open<P: Protocol>(
        &self,
        request: Request<Streaming<P::Request>>,
        protocol: impl FnOnce(u64) -> P,
    ) -> mpsc::Receiver<Result<P::Response, Status>> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let peer = request.remote_addr().map(|a| a.to_string());
        let (tx, rx) = mpsc::channel(QUEUE);
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Client {
                    peer: peer.clone(),
                    ..Client::default()
                },
            );
        self.metrics.clients.inc();
        let task = StreamTask {
            ads: self.clone(),
            id,
            peer: peer.clone(),
            protocol: protocol(id),
            snapshot: self.snapshot.clone(),
            out: tx,
            sent_at: BTreeMap::new(),
        };
        tokio::spawn(task.run(request.into_inner()));
        rx
    }
}

/// What the stream task needs to read of a request, SotW or delta.
pub(crate) trait ClientRequest {
    fn node(&self) -> Option<&Node>;
    fn type_url(&self) -> &str;
    fn nonce(&self) -> &str;
}

macro_rules! client_request {
    ($($t:ty),*) => {$(
        impl ClientRequest for $t {
            fn node(&self) -> Option<&Node> {
                self.node.as_ref()
            }
            fn type_url(&self) -> &str {
                &self.type_url
            }
            fn nonce(&self) -> &str {
                &self.response_nonce
            }
        }
    )*};
}

client_request!(DiscoveryRequest, DeltaDiscoveryRequest);

/// A response to send, and what to log and count about it.
pub(crate) struct Push<R> {
    response: R,
    type_url: String,
    version: String,
    nonce: String,
    resources: usize,
    removed: usize,
}

/// One stream's protocol state machine: State-of-the-World or delta.
pub(crate) trait Protocol: Send + 'static {
    type Request: ClientRequest + Send + Default + prost::Message + 'static;
    type Response: Send + 'static;
    /// Reads one request.
    fn read(&mut self, req: &Self::Request) -> Decision;
    /// Every response due now.
    fn respond(&mut self, snapshot: Option<&Rendered>) -> Vec<Push<Self::Response>>;
    /// The last version ACKed per type.
    fn acked(&self) -> BTreeMap<String, String>;
}

/// State-of-the-World, as istiod speaks it.
pub(crate) struct Sotw {
    stream: Stream,
    /// Types regsync does not serve, owed an empty answer.
    owed: Vec<String>,
}

impl Sotw {
    /// The protocol of stream `id`.
    pub(crate) fn new(id: u64) -> Self {
        Self {
            stream: Stream::new(id.to_string()),
            owed: Vec::new(),
        }
    }
}

impl Protocol for Sotw {
    type Request = DiscoveryRequest;
    type Response = Encoded;

    fn read(&mut self, req: &DiscoveryRequest) -> Decision {
        let decision = self.stream.on_request(req);
        if matches!(decision, Decision::Subscribe | Decision::Resubscribe)
            && !is_service_entry(&req.type_url)
        {
            self.owed.push(req.type_url.clone());
        }
        decision
    }

    fn respond(&mut self, snapshot: Option<&Rendered>) -> Vec<Push<Encoded>> {
        let mut pushes = Vec::new();
        for type_url in std::mem::take(&mut self.owed) {
            let nonce = self.stream.sent(&type_url, EMPTY_VERSION);
            pushes.push(sotw_push(type_url, EMPTY_VERSION, nonce, (Bytes::new(), 0)));
        }
        // Nothing loaded yet: ServiceEntry subscriptions wait, as istiod does.
        let Some(snapshot) = snapshot else {
            return pushes;
        };
        for type_url in self.stream.due(&snapshot.version) {
            let names = self.stream.names(&type_url).cloned().unwrap_or_default();
            let resources = snapshot.resources_field(&names);
            let nonce = self.stream.sent(&type_url, &snapshot.version);
            pushes.push(sotw_push(type_url, &snapshot.version, nonce, resources));
        }
        pushes
    }

    fn acked(&self) -> BTreeMap<String, String> {
        self.stream.acked()
    }
}

fn sotw_push(
    type_url: String,
    version: &str,
    nonce: String,
    (resources, count): (Bytes, usize),
) -> Push<Encoded> {
    Push {
        response: Encoded::sotw(version, &type_url, &nonce, resources),
        type_url,
        version: version.to_owned(),
        nonce,
        resources: count,
        removed: 0,
    }
}

/// The incremental protocol, for clients other than istiod.
pub(crate) struct Delta(DeltaStream);

impl Protocol for Delta {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;

    fn read(&mut self, req: &DeltaDiscoveryRequest) -> Decision {
        self.0.on_request(req)
    }

    fn respond(&mut self, snapshot: Option<&Rendered>) -> Vec<Push<DeltaDiscoveryResponse>> {
        self.0
            .due(snapshot)
            .into_iter()
            .filter_map(|type_url| self.0.respond(&type_url, snapshot))
            .map(|r| Push {
                type_url: r.type_url.clone(),
                version: r.system_version_info.clone(),
                nonce: r.nonce.clone(),
                resources: r.resources.len(),
                removed: r.removed_resources.len(),
                response: r,
            })
            .collect()
    }

    fn acked(&self) -> BTreeMap<String, String> {
        self.0.acked()
    }
}

/// One stream's task.
struct StreamTask<P: Protocol> {
    ads: Ads,
    id: u64,
    peer: Option<String>,
    protocol: P,
    snapshot: watch::Receiver<Snapshot>,
    out: mpsc::Sender<Result<P::Response, Status>>,
    /// When each ServiceEntry response waiting for its ACK was sent, by nonce.
    sent_at: BTreeMap<String, Instant>,
}

/// Why a stream ended.
enum End {
    ClientClosed,
    ClientError(Status),
    Disconnected,
}

impl<P: Protocol> StreamTask<P> {
    async fn run(mut self, mut requests: Streaming<P::Request>) {
        let end = loop {
            tokio::select! {
                request = requests.message() => match request {
                    Ok(Some(req)) => {
                        if self.on_request(&req).await.is_err() {
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
            End::ClientError(status) if too_large(&status) => {
                let limit = self.ads.max_request_bytes;
                warn!(
                    stream = self.id,
                    peer = %self.peer.as_deref().unwrap_or("unknown"),
                    limit,
                    error = status.message(),
                    "request above the size limit; ending its stream"
                );
                // The client learns why instead of seeing its stream end with OK; the queue
                // may be full of responses it does not read, and then it learns nothing more.
                let _ = self.out.try_send(Err(Status::resource_exhausted(format!(
                    "request refused: {} (the server's --max-request-bytes, \
                     REGSYNC_MCP_MAX_REQUEST_BYTES)",
                    status.message(),
                ))));
            }
            End::ClientError(status) => {
                debug!(stream = self.id, %status, "stream ended with an error");
                let _ = self.out.try_send(Err(status));
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

    async fn on_request(&mut self, req: &P::Request) -> Result<(), Closed> {
        if let Some(node) = req.node() {
            // istiod repeats the node on every ACK; it is read once.
            self.ads.update_client(self.id, |c| {
                if c.node.is_empty() {
                    (c.node, c.revision) = describe(node);
                }
            });
        }
        let type_url = req.type_url();
        let labels = Metrics::labels(type_url);
        match self.protocol.read(req) {
            Decision::Subscribe | Decision::Resubscribe => {}
            Decision::Ack { version } => {
                self.ads.metrics.acks.get_or_create(&labels).inc();
                if let Some(at) = self.sent_at.remove(req.nonce()) {
                    self.ads
                        .metrics
                        .ack_latency
                        .observe(at.elapsed().as_secs_f64());
                }
                let acked = self.protocol.acked();
                self.ads.update_client(self.id, |c| c.acked = acked);
                debug!(stream = self.id, type_url, version, "ACK");
            }
            Decision::Nack { version, detail } => {
                self.ads.metrics.nacks.get_or_create(&labels).inc();
                self.sent_at.remove(req.nonce());
                warn!(
                    stream = self.id,
                    type_url,
                    version,
                    error_detail = detail,
                    "NACK: the client refused this version and keeps its last ACKed one"
                );
            }
            Decision::Stale => {
                debug!(
                    stream = self.id,
                    type_url,
                    nonce = req.nonce(),
                    "stale nonce ignored"
                );
                return Ok(());
            }
        }
        self.push_due().await
    }

    /// Sends every response due on the current snapshot.
    async fn push_due(&mut self) -> Result<(), Closed> {
        let snapshot = self.snapshot.borrow_and_update().clone();
        for push in self.protocol.respond(snapshot.as_deref()) {
            if is_service_entry(&push.type_url) {
                self.sent_at.insert(push.nonce.clone(), Instant::now());
                info!(
                    stream = self.id,
                    type_url = push.type_url,
                    version = push.version,
                    resources = push.resources,
                    removed = push.removed,
                    "push"
                );
            }
            let labels = Metrics::labels(&push.type_url);
            self.out.send(Ok(push.response)).await.map_err(|_| Closed)?;
            self.ads.metrics.pushes.get_or_create(&labels).inc();
        }
        Ok(())
    }
}

/// The client went away.
struct Closed;

/// Whether tonic's decoder refused a request for its size: `OUT_OF_RANGE` from the length
/// prefix, `RESOURCE_EXHAUSTED` from decompression.
fn too_large(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
    )
}

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
