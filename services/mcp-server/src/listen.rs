//! The gRPC port's front door (issue 22): connections are accepted here and handed to tonic only
//! once they have sent the HTTP/2 connection preface (after TLS, when configured), so a client
//! that connects and says nothing, or half of something, is closed after the handshake timeout
//! instead of holding a file descriptor for ever. A semaphore caps the connections open at once
//! (those past the cap wait in the kernel's listen backlog until one closes), and an accept error
//! such as EMFILE (out of file descriptors) backs off instead of being retried in a busy loop.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{debug, info, warn};

use crate::metrics::Metrics;

/// What every HTTP/2 connection starts with (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// First wait after a failed accept; it doubles while accepting keeps failing.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// Longest wait between two attempts to accept.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Connections that finished their handshake and wait for tonic to take them.
const READY_QUEUE: usize = 16;

/// The limits of the gRPC port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once, handshaking or established.
    pub max_connections: usize,
    /// Time from accept to the end of the HTTP/2 preface (TLS handshake included).
    pub handshake_timeout: Duration,
}

/// Anything a connection can run over: TCP, or TLS over TCP.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// A connection that sent the HTTP/2 preface. The preface was read to check it, so it is given
/// back to hyper first.
pub struct Conn {
    io: Box<dyn Transport>,
    info: TcpConnectInfo,
    replayed: usize,
    _slot: Slot,
}

/// A place under the connection cap, given back when the connection is dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    /// The TCP addresses, also under TLS: the streams log their peer from it.
    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(rest) = PREFACE.get(self.replayed..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }
}

/// Why a connection was closed before HTTP/2 began: a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Nothing, or not all of the preface, within the handshake timeout.
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// It sent something other than the HTTP/2 preface (HTTP/1, TLS to a plaintext port, ...).
    NotHttp2,
    /// It went away (a TCP health check, a client giving up).
    Closed,
}

impl Refused {
    fn as_str(self) -> &'static str {
        match self {
            Refused::Timeout => "timeout",
            Refused::Tls => "tls",
            Refused::NotHttp2 => "not_http2",
            Refused::Closed => "closed",
        }
    }
}

/// Accepts on `listener` until `stop` turns true or the server stops taking connections, and
/// yields each connection once it has sent the HTTP/2 preface.
pub fn incoming(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> ReceiverStream<io::Result<Conn>> {
    let (ready, rx) = mpsc::channel(READY_QUEUE);
    let acceptor = Acceptor {
        listener,
        max_connections: limits.max_connections,
        handshake: Handshake {
            tls,
            timeout: limits.handshake_timeout,
            ready,
            metrics,
        },
    };
    tokio::spawn(acceptor.run(stop));
    ReceiverStream::new(rx)
}

struct Acceptor {
    listener: TcpListener,
    max_connections: usize,
    handshake: Handshake,
}

/// What each accepted connection's handshake task needs.
#[derive(Clone)]
struct Handshake {
    tls: Option<TlsAcceptor>,
    timeout: Duration,
    ready: mpsc::Sender<io::Result<Conn>>,
    metrics: Arc<Metrics>,
}

async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// An error of one connection that was never accepted: the next accept may well succeed.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

impl Acceptor {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let (metrics, ready) = (&self.handshake.metrics, &self.handshake.ready);
        let mut full = false;
        // The wait before the next accept while accepting fails.
        let mut backoff: Option<Duration> = None;
        loop {
            let permit = match slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    full = false;
                    permit
                }
                Err(_) => {
                    if !full {
                        warn!(
                            max_connections = self.max_connections,
                            "MCP connection limit reached; new connections wait until one closes"
                        );
                        full = true;
                    }
                    tokio::select! {
                        permit = slots.clone().acquire_owned() => {
                            permit.expect("the semaphore is never closed")
                        }
                        () = stopping(&mut stop) => break,
                        () = ready.closed() => break,
                    }
                }
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = stopping(&mut stop) => break,
                () = ready.closed() => break,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if backoff.take().is_some() {
                        info!("accepting MCP connections again");
                    }
                    metrics.connections.inc();
                    let slot = Slot {
                        _permit: permit,
                        open: metrics.connections.clone(),
                    };
                    tokio::spawn(self.handshake.clone().run(stream, peer, slot));
                }
                Err(e) if transient(&e) => debug!(error = %e, "a connection failed before accept"),
                Err(e) => {
                    metrics.accept_errors.inc();
                    let delay = backoff.map_or(FIRST_BACKOFF, |d| (d * 2).min(MAX_BACKOFF));
                    if backoff.is_none() {
                        warn!(
                            error = %e,
                            "cannot accept MCP connections; retrying with backoff (up to {MAX_BACKOFF:?}) until it recovers"
                        );
                    }
                    backoff = Some(delay);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stopping(&mut stop) => break,
                    }
                }
            }
        }
        debug!("MCP accept loop stopped");
    }
}

impl Handshake {
    /// Completes TLS (when configured) and reads the HTTP/2 preface within the handshake
    /// timeout, then hands the connection to tonic.
    async fn run(self, stream: TcpStream, peer: SocketAddr, slot: Slot) {
        let info = stream.connect_info();
        // tonic sets this on the connections it accepts itself; istiod's ACKs are small writes.
        let _ = stream.set_nodelay(true);
        let timeout = self.timeout;
        let refused = match tokio::time::timeout(timeout, preface(stream, self.tls)).await {
            Ok(Ok(io)) => {
                let conn = Conn {
                    io,
                    info,
                    replayed: 0,
                    _slot: slot,
                };
                // Fails only when the server is stopping; the connection is then closed.
                let _ = self.ready.send(Ok(conn)).await;
                return;
            }
            Ok(Err((refused, error))) => {
                debug!(%peer, reason = refused.as_str(), %error, "connection closed before HTTP/2 began");
                refused
            }
            Err(_) => {
                debug!(%peer, ?timeout, "connection closed: no HTTP/2 preface within the handshake timeout");
                Refused::Timeout
            }
        };
        self.metrics
            .connections_refused
            .get_or_create(&Metrics::reason(refused.as_str()))
            .inc();
    }
}

async fn preface(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
) -> Result<Box<dyn Transport>, (Refused, io::Error)> {
    let mut io: Box<dyn Transport> = match tls {
        Some(tls) => Box::new(tls.accept(stream).await.map_err(|e| (Refused::Tls, e))?),
        None => Box::new(stream),
    };
    let mut start = [0; PREFACE.len()];
    io.read_exact(&mut start)
        .await
        .map_err(|e| (Refused::Closed, e))?;
    if &start != PREFACE {
        return Err((
            Refused::NotHttp2,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "expected the HTTP/2 preface, got {:?}",
                    String::from_utf8_lossy(&start)
                ),
            ),
        ));
    }
    Ok(io)
}
