//! A real hyper server on loopback for the client's tests: it counts requests in
//! flight per local address (one "host" per 127.0.0.x), and its paths choose the
//! behaviour: `/ok`, `/sleep/<ms>`, `/status/<code>`, `/reset` (headers promise 100
//! bytes, 10 arrive, then the connection dies), `/slow-body/<ms>` (a chunk every
//! `ms`), `/echo-priority` (echoes the `x-priority` header), `/audio/<fixture>`
//! (a turbo-audio test fixture with its content type and length), `/audio-cut/<fixture>`
//! (the same headers, half the bytes, then the connection dies), `/redirect?to=<url>`
//! (302 to the URL), `/redirect-status/<code>?to=<url>` (that status to the URL),
//! `/echo-method`, `/loop` (302 to itself), `/gzip` (a gzip-encoded text, [`GZIP_TEXT`] decoded),
//! `/bomb` (10 KiB of gzip that decodes to 10 MiB of zeros),
//! `/echo-header/<name>` (echoes that request header), `/echo-body` (echoes the
//! request body), `/fail-once/<key>` (503 the
//! first time a key is seen, 200 after), `/endless` (64 KiB chunks, forever),
//! `/many-headers/<n>` (n extra response headers), `/retry-after/<s>/<key>` (429 with
//! `Retry-After: s` the first time a path is seen, 200 after), `/stall-body` (the head, then
//! nothing for an hour).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One host's counts: in flight now, the peak, and the total served.
#[derive(Clone, Copy, Default)]
struct Counts {
    now: usize,
    peak: usize,
    total: usize,
}

/// In-flight counts per host address.
#[derive(Clone, Default)]
pub struct Occupancy {
    hosts: Arc<Mutex<HashMap<IpAddr, Counts>>>,
    /// Keys `/fail-once/<key>` has seen.
    seen: Arc<Mutex<std::collections::HashSet<String>>>,
    /// Connections accepted and not yet closed, over all hosts.
    open_connections: Arc<std::sync::atomic::AtomicUsize>,
}

/// What `/gzip` decodes to.
pub const GZIP_TEXT: &str = "hello from gzip, decoded by tower-http";

/// `GZIP_TEXT` twenty times over, gzip-compressed (`gzip.compress(.., mtime=0)`).
const GZIP_BODY: [u8; 66] = [
    0x1f, 0x8b, 0x8, 0x0, 0x0, 0x0, 0x0, 0x0, 0x2, 0x3, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0x48,
    0x2b, 0xca, 0xcf, 0x55, 0x48, 0xaf, 0xca, 0x2c, 0xd0, 0x51, 0x48, 0x49, 0x4d, 0xce, 0x4f, 0x49,
    0x4d, 0x51, 0x48, 0xaa, 0x54, 0x28, 0xc9, 0x2f, 0x4f, 0x2d, 0xd2, 0xcd, 0x28, 0x29, 0x29, 0xc8,
    0x18, 0x55, 0x35, 0xaa, 0x6a, 0x58, 0xa9, 0x2, 0x0, 0x9a, 0xc6, 0xb1, 0x26, 0xf8, 0x2, 0x0,
    0x0,
];

impl Occupancy {
    fn enter(&self, host: IpAddr) {
        let mut hosts = self.hosts.lock().unwrap();
        let entry = hosts.entry(host).or_default();
        entry.now += 1;
        entry.peak = entry.peak.max(entry.now);
        entry.total += 1;
    }

    fn leave(&self, host: IpAddr) {
        self.hosts.lock().unwrap().get_mut(&host).unwrap().now -= 1;
    }

    /// The most requests that were in flight at once at `host`.
    pub fn peak(&self, host: IpAddr) -> usize {
        self.hosts.lock().unwrap().get(&host).map_or(0, |e| e.peak)
    }

    /// Connections the server holds open now.
    pub fn open_connections(&self) -> usize {
        self.open_connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests `host` has served.
    pub fn total(&self, host: IpAddr) -> usize {
        self.hosts.lock().unwrap().get(&host).map_or(0, |e| e.total)
    }
}

/// Leaves the occupancy count when the response body is done (or dropped).
struct Leave {
    occupancy: Occupancy,
    host: IpAddr,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.occupancy.leave(self.host);
    }
}

/// The test server's bodies.
pub struct TestBody {
    chunks: Vec<Bytes>,
    delay: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    fail_at_end: bool,
    /// Sends this chunk forever (`/endless`).
    endless: Option<Bytes>,
    _leave: Leave,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(delay) = self.delay
            && (!self.chunks.is_empty() || self.fail_at_end)
        {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        if let Some(chunk) = &self.endless {
            return Poll::Ready(Some(Ok(Frame::data(chunk.clone()))));
        }
        if !self.chunks.is_empty() {
            let chunk = self.chunks.remove(0);
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if std::mem::take(&mut self.fail_at_end) {
            return Poll::Ready(Some(Err(std::io::Error::other("server drops the body"))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && !self.fail_at_end && self.endless.is_none()
    }
}

async fn handle(
    request: Request<Incoming>,
    host: IpAddr,
    occupancy: Occupancy,
) -> Result<Response<TestBody>, Infallible> {
    occupancy.enter(host);
    let seen = Arc::clone(&occupancy.seen);
    let leave = Leave { occupancy, host };
    let path = request.uri().path().to_owned();
    let mut parts = path.trim_start_matches('/').split('/');
    let mut status = StatusCode::OK;
    let mut chunks = vec![Bytes::from_static(b"{\"ok\":true}")];
    let mut delay = None;
    let mut fail_at_end = false;
    let mut content_length = None;
    let mut content_type = None;
    let mut extra_headers: Vec<(http::HeaderName, http::HeaderValue)> = Vec::new();
    let mut endless = None;
    match (parts.next(), parts.next()) {
        (Some("endless"), _) => endless = Some(Bytes::from(vec![b'x'; 64 * 1024])),
        (Some("stall-body"), _) => {
            // The head goes out; the body's first chunk never does.
            chunks = vec![Bytes::from_static(b"never sent")];
            delay = Some(Duration::from_secs(3600));
        }
        (Some(route @ ("redirect" | "redirect-status")), code) => {
            let to = request
                .uri()
                .query()
                .and_then(|query| query.strip_prefix("to="))
                .unwrap_or("/ok");
            status = match (route, code.and_then(|code| code.parse::<u16>().ok())) {
                ("redirect-status", Some(code)) => StatusCode::from_u16(code).unwrap(),
                _ => StatusCode::FOUND,
            };
            chunks = Vec::new();
            extra_headers.push((
                http::header::LOCATION,
                http::HeaderValue::from_str(to).unwrap(),
            ));
        }
        (Some("bomb"), _) => {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/zeros-10mib.gz");
            chunks = vec![Bytes::from(std::fs::read(path).unwrap())];
            extra_headers.push((
                http::header::CONTENT_ENCODING,
                http::HeaderValue::from_static("gzip"),
            ));
        }
        (Some("gzip"), _) => {
            chunks = vec![Bytes::from_static(&GZIP_BODY)];
            extra_headers.push((
                http::header::CONTENT_ENCODING,
                http::HeaderValue::from_static("gzip"),
            ));
        }
        (Some("many-headers"), Some(count)) => {
            for i in 0..count.parse::<usize>().unwrap_or(0) {
                extra_headers.push((
                    http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
                    http::HeaderValue::from_static("v"),
                ));
            }
        }
        (Some("loop"), _) => {
            status = StatusCode::FOUND;
            chunks = Vec::new();
            extra_headers.push((
                http::header::LOCATION,
                http::HeaderValue::from_static("/loop"),
            ));
        }
        (Some("echo-method"), _) => {
            chunks = vec![Bytes::from(request.method().as_str().to_owned())];
        }
        (Some("echo-body"), _) => {
            use http_body_util::BodyExt;
            chunks = match request.into_body().collect().await {
                Ok(body) => vec![body.to_bytes()],
                Err(_) => {
                    status = StatusCode::BAD_REQUEST;
                    Vec::new()
                }
            };
        }
        (Some("echo-header"), Some(name)) => {
            let value = request
                .headers()
                .get(name)
                .map(|v| Bytes::copy_from_slice(v.as_bytes()))
                .unwrap_or_default();
            chunks = vec![value];
        }
        (Some("retry-after"), Some(seconds)) if seen.lock().unwrap().insert(path.clone()) => {
            status = StatusCode::TOO_MANY_REQUESTS;
            extra_headers.push((
                http::header::RETRY_AFTER,
                http::HeaderValue::from_str(seconds).unwrap(),
            ));
        }
        // A key seen before falls through to the plain answer.
        (Some("fail-once"), Some(key)) if seen.lock().unwrap().insert(key.to_owned()) => {
            status = StatusCode::SERVICE_UNAVAILABLE;
        }
        (Some("sleep"), Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        (Some("status"), Some(code)) => {
            status = StatusCode::from_u16(code.parse().unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        }
        (Some("reset"), _) => {
            chunks = vec![Bytes::from_static(b"0123456789")];
            fail_at_end = true;
            // Pauses make hyper flush the headers and the chunk before the failure.
            delay = Some(Duration::from_millis(5));
            content_length = Some(100);
        }
        (Some("slow-body"), Some(ms)) => {
            chunks = (0..20)
                .map(|i| Bytes::from(format!("chunk {i}\n")))
                .collect();
            delay = Some(Duration::from_millis(ms.parse().unwrap_or(10)));
        }
        (Some(route @ ("audio" | "audio-cut")), Some(name)) => {
            let bytes = Bytes::from(std::fs::read(fixture(name)).unwrap_or_default());
            content_length = Some(bytes.len() as u64);
            content_type = Some(audio_content_type(name));
            chunks = bytes.chunks(4096).map(Bytes::copy_from_slice).collect();
            if route == "audio-cut" {
                chunks.truncate(chunks.len() / 2);
                fail_at_end = true;
                delay = Some(Duration::from_millis(1));
            }
        }
        (Some("echo-priority"), _) => {
            let priority = request
                .headers()
                .get("x-priority")
                .map(|v| Bytes::copy_from_slice(v.as_bytes()))
                .unwrap_or_default();
            chunks = vec![priority];
        }
        _ => {}
    }
    let mut response = Response::new(TestBody {
        chunks,
        delay,
        sleep: None,
        fail_at_end,
        endless,
        _leave: leave,
    });
    *response.status_mut() = status;
    if let Some(length) = content_length {
        response.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
    }
    for (name, value) in extra_headers {
        response.headers_mut().insert(name, value);
    }
    if let Some(content_type) = content_type {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
    }
    Ok(response)
}

/// A turbo-audio test fixture (`tone.mp3`, `tone.flac`, ...).
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../turbo-audio/tests/fixtures")
        .join(name)
}

fn audio_content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("mp3") => "audio/mpeg",
        Some("flac") => "audio/flac",
        Some("ogg") => "audio/ogg",
        Some("m4a") => "audio/mp4",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// A running test server.
pub struct TestServer {
    pub addrs: Vec<SocketAddr>,
    pub occupancy: Occupancy,
}

impl TestServer {
    /// The URL of `path` on host number `host` (0-based).
    pub fn url(&self, host: usize, path: &str) -> String {
        format!("http://{}{path}", self.addrs[host])
    }
}

/// Starts the server on each of `ips` (free ports), HTTP/1.1 and HTTP/2.
pub async fn start(ips: &[&str]) -> TestServer {
    let occupancy = Occupancy::default();
    let mut addrs = Vec::new();
    for ip in ips {
        let listener = TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0))
            .await
            .unwrap();
        addrs.push(listener.local_addr().unwrap());
        let occupancy = occupancy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let host = stream.local_addr().unwrap().ip();
                let occupancy = occupancy.clone();
                let open = Arc::clone(&occupancy.open_connections);
                open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| handle(request, host, occupancy.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
        });
    }
    TestServer { addrs, occupancy }
}

/// Polls `check` until it holds (a condition, not a timing assertion): gives the
/// runtime turns to settle background work such as connection teardown.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..1_000 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    check()
}

/// A tower retry policy: retries a 503 up to `left` more times, after `backoff`.
#[derive(Clone)]
pub struct RetryUnavailable {
    pub left: usize,
    pub backoff: Duration,
}

impl<B, E> tower::retry::Policy<Request<http_body_util::Full<Bytes>>, Response<B>, E>
    for RetryUnavailable
{
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut Request<http_body_util::Full<Bytes>>,
        result: &mut Result<Response<B>, E>,
    ) -> Option<Self::Future> {
        let unavailable =
            matches!(result, Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE);
        if unavailable && self.left > 0 {
            self.left -= 1;
            Some(tokio::time::sleep(self.backoff))
        } else {
            None
        }
    }

    fn clone_request(
        &mut self,
        request: &Request<http_body_util::Full<Bytes>>,
    ) -> Option<Request<http_body_util::Full<Bytes>>> {
        Some(request.clone())
    }
}
