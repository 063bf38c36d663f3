//! [`Response`]: status, headers, a streaming body and the request's timeline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use turbo_core::{ContextLease, GuardedBody, TimelineSnapshot};
use turbo_limit::Pass;
use turbo_pool::BytePool;

use crate::error::{BoxError, Error};
use crate::stack::WireBody;
use crate::timeout::DeadlineBody;

/// The body as the stack hands it over: the transport's body inside the deadline,
/// the queue slot, the host permit and the context lease, released in that order
/// when the body ends (a response whose body is empty from the start ends its
/// context at the headers, a moment before the gates release; shutdown waits for
/// the gates first, so nothing depends on that order).
type StackBody<B> = GuardedBody<
    GuardedBody<GuardedBody<DeadlineBody<WireBody<B>>, Option<Pass>>, Option<Pass>>,
    ContextLease,
>;

/// The largest buffer [`Response::bytes`] rents up front from a size hint; bodies
/// that turn out larger grow it.
const MAX_UP_FRONT: u64 = 8 * 1024 * 1024;

pin_project! {
    /// A response body: frames stream as they arrive; the request's host permit and
    /// queue slot are held until it ends or is dropped. Errors are [`Error`]s of kind
    /// `Body` (or `Timeout` past the deadline).
    pub struct ResponseBody<B: Body> {
        #[pin]
        inner: StackBody<B>,
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.project()
            .inner
            .poll_frame(cx)
            .map(|frame| frame.map(|frame| frame.map_err(Error::from_body)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

/// How a response reaches the client's [`BytePool`] (for [`Response::bytes`]): a
/// shared handle that belongs to one pooled clone of the stack, not to the client.
///
/// Every response holds a reference to the pool until it is read or dropped. A
/// clone of the client's `BytePool` would count that reference on the pool's own
/// `Arc`, a line that every request on both cores writes twice (at the response
/// and at its end) and that the peer never touches. Each stack clone instead owns
/// one of these handles, and a request clones the handle of the stack clone it was
/// lent: the pool of stack clones hands each thread the slot it used last, so the
/// count is written by the one core that lends that clone (the response is
/// normally read and dropped by the same task, on the same worker). The count is
/// aligned to 128 bytes, alone on its pair of cache lines, so that two clones'
/// handles made one after another cannot share a line either.
#[derive(Clone)]
pub(crate) struct ResponseBuffers(Arc<OwnLine>);

/// A [`BytePool`] handle whose `Arc` counts sit alone on their 128 bytes (the
/// size that adjacent-line prefetching moves between cores together).
#[repr(align(128))]
struct OwnLine {
    pool: BytePool,
    /// The most bytes [`Response::bytes`] gathers.
    max_body: u64,
}

impl ResponseBuffers {
    /// A new handle to `pool`, counted on a line of its own; whole-body reads stop
    /// past `max_body` bytes.
    pub(crate) fn new(pool: BytePool, max_body: u64) -> Self {
        Self(Arc::new(OwnLine { pool, max_body }))
    }

    /// The pool.
    fn pool(&self) -> &BytePool {
        &self.0.pool
    }

    /// The most bytes a whole-body read gathers.
    fn max_body(&self) -> u64 {
        self.0.max_body
    }
}

/// The error of a whole-body read that passed `max` bytes (`seen` is how many it
/// had, or the length the server announced).
fn too_large(seen: u64, max: u64) -> Error {
    Error::new(
        crate::ErrorKind::BodyTooLarge,
        format!(
            "the response body is larger than max_body_size ({max} bytes; {seen} or more \
             arrived or were announced); stream it with chunk() instead"
        ),
    )
}

/// A response from [`TurboClient`](crate::TurboClient).
pub struct Response<B: Body> {
    head: http::response::Parts,
    body: ResponseBody<B>,
    buffers: ResponseBuffers,
}

impl<B: Body> Response<B> {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The HTTP version the server answered with.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request's timeline: complete once the body has ended (read, failed or
    /// dropped). Clone it to read it after consuming the response.
    pub fn timeline(&self) -> Option<&TimelineSnapshot> {
        self.head.extensions.get::<TimelineSnapshot>()
    }
}

impl<B> Response<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub(crate) fn new(response: http::Response<StackBody<B>>, buffers: ResponseBuffers) -> Self {
        let (head, inner) = response.into_parts();
        Self {
            head,
            body: ResponseBody { inner },
            buffers,
        }
    }

    /// Turns a 4xx or 5xx status into an [`ErrorKind::Status`](crate::ErrorKind::Status) error.
    ///
    /// # Errors
    ///
    /// The status error; the response (and its permits) is dropped.
    pub fn error_for_status(self) -> Result<Self, Error> {
        let status = self.status();
        if status.is_client_error() || status.is_server_error() {
            Err(Error::status(status))
        } else {
            Ok(self)
        }
    }

    /// The next chunk of the body, or `None` at its end. Trailers are skipped.
    ///
    /// # Errors
    ///
    /// A `Body` or `Timeout` error.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        // A body that knows it has ended is not polled again: see `read_all`.
        if self.body.is_end_stream() {
            return Ok(None);
        }
        while let Some(frame) = self.body.frame().await {
            if let Ok(data) = frame?.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// The whole body in memory. A body that arrives in one frame is returned as
    /// is; a longer one is gathered in a pooled buffer (returned to the pool when
    /// the last clone of the `Bytes` drops).
    ///
    /// # Errors
    ///
    /// A `Body` or `Timeout` error.
    pub fn bytes(self) -> impl Future<Output = Result<Bytes, Error>> + use<B> {
        // The head is dropped here and the body read with one await point, so the
        // future stays small (664 bytes as an `async fn` with an await per chunk):
        // callers move it whole at each `.await`.
        let Self { body, buffers, .. } = self;
        read_all(body, buffers)
    }

    /// Reads the whole body (bounded as [`bytes`](Self::bytes) is) as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`ErrorKind::Body`](crate::ErrorKind::Body)
    /// when the body is not UTF-8.
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.to_vec()).map_err(|error| {
            Error::new(
                crate::ErrorKind::Body,
                "the response body is not UTF-8 text",
            )
            .with_source(error)
        })
    }

    /// Reads the whole body (bounded as [`bytes`](Self::bytes) is) and
    /// deserializes it from JSON (feature `json`).
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`ErrorKind::Body`](crate::ErrorKind::Body)
    /// when the body is not JSON of type `T`.
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|error| {
            Error::new(
                crate::ErrorKind::Body,
                format!(
                    "the response body is not the JSON expected ({})",
                    std::any::type_name::<T>()
                ),
            )
            .with_source(error)
        })
    }

    /// The body, to stream it yourself.
    pub fn into_body(self) -> ResponseBody<B> {
        self.body
    }

    /// The head and the body, as an `http::Response`.
    pub fn into_http(self) -> http::Response<ResponseBody<B>> {
        http::Response::from_parts(self.head, self.body)
    }
}

/// [`Response::bytes`] after the head is gone.
async fn read_all<B>(mut body: ResponseBody<B>, buffers: ResponseBuffers) -> Result<Bytes, Error>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let max = buffers.max_body();
    let announced = body.size_hint().lower();
    if announced > max {
        // Refused before a byte is read; dropping the body closes the stream and
        // releases the request's permits.
        return Err(too_large(announced, max));
    }
    let mut total: u64 = 0;
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<turbo_pool::PooledBuf> = None;
    // The loop stops as soon as the body says it has ended (hyper's body does once
    // its content length is read), rather than polling once more for the `None`
    // that says so: that extra poll would run through every body wrapper and touch
    // hyper's connection channels (an atomic on lines the connection task writes
    // from the other core) only to learn what `is_end_stream` already told.
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len() as u64);
        if total > max {
            return Err(too_large(total, max));
        }
        if let Some(buffer) = gathered.as_mut() {
            buffer.extend_from_slice(&data);
            continue;
        }
        let Some(earlier) = first.take() else {
            first = Some(data);
            continue;
        };
        let hint = body.size_hint();
        let expected = hint.exact().unwrap_or(hint.lower()).min(MAX_UP_FRONT) as usize;
        let capacity = expected.max(earlier.len() + data.len()).max(1);
        let mut buffer = buffers
            .pool()
            .rent(capacity)
            .map_err(|e| Error::new(crate::ErrorKind::Io, "cannot rent a buffer").with_source(e))?;
        buffer.extend_from_slice(&earlier);
        buffer.extend_from_slice(&data);
        gathered = Some(buffer);
    }
    Ok(match (gathered, first) {
        (Some(buffer), _) => buffer.freeze(),
        (None, Some(only)) => only,
        (None, None) => Bytes::new(),
    })
}

impl<B: Body> fmt::Debug for Response<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.head.status)
            .field("version", &self.head.version)
            .field("headers", &self.head.headers)
            .finish_non_exhaustive()
    }
}
