//! [`LoopbackServer`]: the embedded hyper server `turbo demo` and `turbo bench`
//! drive, one listener per loopback address, each with its own artificial latency.
//!
//! It measures what the client promises from the other side of the wire: requests
//! in flight per host and overall (now and the peak), requests served and
//! connections accepted per host. A request counts as in flight from the moment its
//! handler starts until the server produces the last frame of its body, a window
//! that lies strictly inside the client's permit (the client holds it until it has
//! read that frame), so the peak can never exceed the client's limit by a race of
//! the measurement itself.
//!
//! Paths:
//!
//! - an [`Asset`]'s path: its body, with its content type (the demo's audio);
//! - `/status/<code>`: that status, with a small JSON body;
//! - `/bytes/<n>`: `n` bytes (at most 16 MiB) of a repeating pattern;
//! - anything else: `{"host":"<ip>","path":"<path>","pad":"xx…"}` with `pad=<n>`
//!   from the query (at most 1 MiB) to make bodies of a chosen size.
//!
//! Every path waits for the host's latency first.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use turbo_cli::server::{HostSpec, LoopbackServer};
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let server = LoopbackServer::start(&[HostSpec::new([127, 0, 0, 1], Duration::ZERO)]).await?;
//! let url = server.url(0, "/items/1?pad=4").expect("host 0 exists");
//! assert!(url.starts_with("http://127.0.0.1:"));
//! assert_eq!(server.hosts()[0].requests, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The largest `pad` a JSON response accepts.
const MAX_PAD: usize = 1 << 20;
/// The largest `/bytes/<n>` body.
const MAX_BYTES: usize = 16 << 20;
/// Bodies are produced in frames of at most this size, so a large body streams.
const FRAME: usize = 64 * 1024;

/// One host to serve: a loopback address (port chosen by the OS) and the latency
/// every request to it waits before its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostSpec {
    /// The address to bind, `127.0.0.x`.
    pub ip: Ipv4Addr,
    /// The artificial latency per request.
    pub latency: Duration,
}

impl HostSpec {
    /// A host on `ip` with `latency`.
    pub fn new(ip: impl Into<Ipv4Addr>, latency: Duration) -> Self {
        Self {
            ip: ip.into(),
            latency,
        }
    }
}

/// A fixed body served at an exact path, with its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    path: String,
    content_type: &'static str,
    body: Bytes,
}

impl Asset {
    /// `body` at `path` (which starts with `/`).
    pub fn new(path: &str, content_type: &'static str, body: Bytes) -> Self {
        Self {
            path: path.to_owned(),
            content_type,
            body,
        }
    }

    /// Where it is served.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether its body is empty.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

/// The server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding a listener failed (on Linux all of 127.0.0.0/8 is loopback; other
    /// systems may need the extra addresses configured).
    Bind {
        /// The address that was asked for.
        ip: Ipv4Addr,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind { ip, source } => {
                write!(f, "cannot start the loopback server on {ip}: {source}")
            }
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind { source, .. } => Some(source),
        }
    }
}

/// A count now and its peak.
#[derive(Debug, Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Default)]
struct HostCounters {
    in_flight: Gauge,
    requests: AtomicU64,
    connections: AtomicU64,
}

#[derive(Debug)]
struct ServedHost {
    addr: SocketAddr,
    latency: Duration,
    counters: Arc<HostCounters>,
}

/// What one host measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostSnapshot {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its artificial latency.
    pub latency: Duration,
    /// Requests in flight now.
    pub in_flight: usize,
    /// The most requests that were in flight at once.
    pub peak_in_flight: usize,
    /// Requests it has started serving.
    pub requests: u64,
    /// Connections it has accepted.
    pub connections: u64,
}

/// The embedded server: one listener per [`HostSpec`], HTTP/1.1 with keep-alive.
/// Dropping it stops accepting; connections already open end with the runtime.
#[derive(Debug)]
pub struct LoopbackServer {
    hosts: Vec<ServedHost>,
    global: Arc<Gauge>,
    accept_loops: Vec<JoinHandle<()>>,
}

impl LoopbackServer {
    /// Binds every host on a free port and starts serving. Must run inside a tokio
    /// runtime with I/O and time enabled.
    ///
    /// # Errors
    ///
    /// [`ServerError::Bind`] if an address cannot be bound.
    pub async fn start(hosts: &[HostSpec]) -> Result<Self, ServerError> {
        Self::start_with_assets(hosts, Vec::new()).await
    }

    /// Like [`start`](Self::start), and every host also serves `assets`.
    ///
    /// # Errors
    ///
    /// [`ServerError::Bind`] if an address cannot be bound.
    pub async fn start_with_assets(
        hosts: &[HostSpec],
        assets: Vec<Asset>,
    ) -> Result<Self, ServerError> {
        let assets: Arc<HashMap<String, Asset>> = Arc::new(
            assets
                .into_iter()
                .map(|asset| (asset.path.clone(), asset))
                .collect(),
        );
        let global = Arc::new(Gauge::default());
        let mut served = Vec::with_capacity(hosts.len());
        let mut accept_loops = Vec::with_capacity(hosts.len());
        for spec in hosts {
            let bind = |source| ServerError::Bind {
                ip: spec.ip,
                source,
            };
            let listener = TcpListener::bind((spec.ip, 0)).await.map_err(bind)?;
            let addr = listener.local_addr().map_err(bind)?;
            let counters = Arc::new(HostCounters::default());
            let host = Arc::new(HostState {
                ip: spec.ip,
                latency: spec.latency,
                counters: Arc::clone(&counters),
                global: Arc::clone(&global),
                assets: Arc::clone(&assets),
            });
            accept_loops.push(tokio::spawn(accept_loop(listener, host)));
            served.push(ServedHost {
                addr,
                latency: spec.latency,
                counters,
            });
        }
        Ok(Self {
            hosts: served,
            global,
            accept_loops,
        })
    }

    /// The listening addresses, in the order the hosts were given.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.hosts.iter().map(|host| host.addr).collect()
    }

    /// `http://<addr of host number host><path>`, or `None` past the last host.
    pub fn url(&self, host: usize, path: &str) -> Option<String> {
        self.hosts
            .get(host)
            .map(|served| format!("http://{}{path}", served.addr))
    }

    /// What each host measured so far.
    pub fn hosts(&self) -> Vec<HostSnapshot> {
        self.hosts
            .iter()
            .map(|host| HostSnapshot {
                addr: host.addr,
                latency: host.latency,
                in_flight: host.counters.in_flight.now.load(Ordering::Acquire),
                peak_in_flight: host.counters.in_flight.peak.load(Ordering::Acquire),
                requests: host.counters.requests.load(Ordering::Acquire),
                connections: host.counters.connections.load(Ordering::Acquire),
            })
            .collect()
    }

    /// Requests in flight now, all hosts together.
    pub fn in_flight(&self) -> usize {
        self.global.now.load(Ordering::Acquire)
    }

    /// The most requests that were in flight at once, all hosts together.
    pub fn peak_in_flight(&self) -> usize {
        self.global.peak.load(Ordering::Acquire)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        for accept in &self.accept_loops {
            accept.abort();
        }
    }
}

/// What a connection task needs to know about its host.
struct HostState {
    ip: Ipv4Addr,
    latency: Duration,
    counters: Arc<HostCounters>,
    global: Arc<Gauge>,
    assets: Arc<HashMap<String, Asset>>,
}

async fn accept_loop(listener: TcpListener, host: Arc<HostState>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors or a connection reset before accept: keep
            // serving the others after a pause rather than dying.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Small responses: do not wait for Nagle.
        let _ = stream.set_nodelay(true);
        host.counters.connections.fetch_add(1, Ordering::AcqRel);
        let host = Arc::clone(&host);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let host = Arc::clone(&host);
                async move { Ok::<_, Infallible>(handle(request, &host).await) }
            });
            // A client that goes away mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, host: &HostState) -> Response<ServerBody> {
    host.counters.requests.fetch_add(1, Ordering::AcqRel);
    let leave = Leave::enter(host);
    if !host.latency.is_zero() {
        tokio::time::sleep(host.latency).await;
    }
    let path = request.uri().path();
    let (status, content_type, body) = match host.assets.get(path) {
        Some(asset) => (StatusCode::OK, asset.content_type, asset.body.clone()),
        None => route(path, request.uri().query(), host.ip),
    };
    let mut response = Response::new(ServerBody::new(body, leave));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// The status, content type and body for `path`.
fn route(path: &str, query: Option<&str>, ip: Ipv4Addr) -> (StatusCode, &'static str, Bytes) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    match (parts.next(), parts.next()) {
        (Some("status"), Some(code)) => {
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let body = format!("{{\"status\":{}}}", status.as_u16());
            (status, "application/json", Bytes::from(body))
        }
        (Some("bytes"), Some(count)) => match count.parse::<usize>() {
            Ok(count) if count <= MAX_BYTES => {
                let body: Vec<u8> = (0..count).map(|i| b'a' + (i % 26) as u8).collect();
                (
                    StatusCode::OK,
                    "application/octet-stream",
                    Bytes::from(body),
                )
            }
            _ => (
                StatusCode::BAD_REQUEST,
                "text/plain",
                Bytes::from(format!("bytes must be 0 to {MAX_BYTES}\n")),
            ),
        },
        _ => {
            let pad = query
                .into_iter()
                .flat_map(|query| query.split('&'))
                .find_map(|pair| pair.strip_prefix("pad="))
                .and_then(|pad| pad.parse::<usize>().ok())
                .unwrap_or(0)
                .min(MAX_PAD);
            let body = format!(
                "{{\"host\":\"{ip}\",\"path\":\"{}\",\"pad\":\"{}\"}}",
                json_escape(path),
                "x".repeat(pad)
            );
            (StatusCode::OK, "application/json", Bytes::from(body))
        }
    }
}

/// Escapes what a URL path can hold that JSON strings cannot.
fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Leaves the host's and the global in-flight count once.
struct Leave {
    counters: Arc<HostCounters>,
    global: Arc<Gauge>,
}

impl Leave {
    fn enter(host: &HostState) -> Self {
        host.counters.in_flight.enter();
        host.global.enter();
        Self {
            counters: Arc::clone(&host.counters),
            global: Arc::clone(&host.global),
        }
    }
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.counters.in_flight.leave();
        self.global.leave();
    }
}

/// A response body in frames; it leaves the in-flight count when it hands out its
/// last frame (or is dropped unfinished).
struct ServerBody {
    frames: VecDeque<Bytes>,
    remaining: u64,
    leave: Option<Leave>,
}

impl ServerBody {
    fn new(mut body: Bytes, leave: Leave) -> Self {
        let remaining = body.len() as u64;
        let mut frames = VecDeque::with_capacity(body.len() / FRAME + 1);
        while body.len() > FRAME {
            frames.push_back(body.split_to(FRAME));
        }
        if !body.is_empty() {
            frames.push_back(body);
        }
        let mut this = Self {
            frames,
            remaining,
            leave: Some(leave),
        };
        if this.frames.is_empty() {
            this.leave = None;
        }
        this
    }
}

impl Body for ServerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(frame) = self.frames.pop_front() else {
            return Poll::Ready(None);
        };
        self.remaining -= frame.len() as u64;
        if self.frames.is_empty() {
            // Before the client can see the last byte: see the module docs.
            self.leave = None;
        }
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_pick_status_size_and_host() {
        let ip = Ipv4Addr::new(127, 0, 0, 3);
        let (status, _, body) = route("/status/503", None, ip);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(&body[..], b"{\"status\":503}");
        let (status, _, body) = route("/bytes/30", None, ip);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"abcdefghijklmnopqrstuvwxyzabcd");
        let (status, _, _) = route("/bytes/lots", None, ip);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, _, body) = route("/items/\"7", Some("a=1&pad=3"), ip);
        assert_eq!(
            &body[..],
            br#"{"host":"127.0.0.3","path":"/items/\"7","pad":"xxx"}"#
        );
    }

    #[test]
    fn large_bodies_stream_in_frames_and_leave_once() {
        let counters = Arc::new(HostCounters::default());
        let global = Arc::new(Gauge::default());
        let host = HostState {
            ip: Ipv4Addr::LOCALHOST,
            latency: Duration::ZERO,
            counters: Arc::clone(&counters),
            global: Arc::clone(&global),
            assets: Arc::default(),
        };
        let mut body = ServerBody::new(Bytes::from(vec![0u8; FRAME * 2 + 1]), Leave::enter(&host));
        assert_eq!(global.now.load(Ordering::Acquire), 1);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut sizes = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            sizes.push(frame.into_data().map(|d| d.len()).unwrap_or(0));
        }
        assert_eq!(sizes, [FRAME, FRAME, 1]);
        assert_eq!(global.now.load(Ordering::Acquire), 0);
        assert_eq!(counters.in_flight.now.load(Ordering::Acquire), 0);
        assert_eq!(counters.in_flight.peak.load(Ordering::Acquire), 1);
        drop(body);
        assert_eq!(global.now.load(Ordering::Acquire), 0);
    }
}
