//! [`RequestBody`]: the body of every request the client sends: bytes it can send
//! again, or a stream it cannot.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use pin_project_lite::pin_project;

use crate::error::BoxError;

/// The body of a request: either bytes in memory, which can be sent again (a retry
/// or a redirect that keeps the body replays them: [`try_clone`](Self::try_clone)),
/// or a stream (an upload from a [`Stream`] of [`Bytes`] or any
/// [`http_body::Body`]), sent once as it is produced.
///
/// ```
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
///
/// use bytes::Bytes;
/// use turbo_client::transport::RequestBody;
///
/// let form = RequestBody::from("name=turbo");
/// assert!(form.is_replayable());
/// assert_eq!(http_body::Body::size_hint(&form).exact(), Some(10));
///
/// /// Three chunks, as a file or a channel would produce them.
/// struct Chunks(u8);
/// impl futures_core::Stream for Chunks {
///     type Item = Result<Bytes, std::io::Error>;
///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
///         self.0 += 1;
///         Poll::Ready((self.0 <= 3).then(|| Ok(Bytes::from(vec![self.0; 4]))))
///     }
/// }
/// let upload = RequestBody::from_stream(Chunks(0));
/// assert!(!upload.is_replayable());
/// assert!(upload.try_clone().is_none());
/// ```
pub struct RequestBody {
    kind: Kind,
}

enum Kind {
    /// Bytes in memory; `sent` once the frame has been handed out. The bytes stay,
    /// so a clone made afterwards still carries them.
    Bytes { data: Bytes, sent: bool },
    /// A stream, sent once.
    Stream(UnsyncBoxBody<Bytes, BoxError>),
}

impl RequestBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::from(Bytes::new())
    }

    /// A body that streams `body`'s frames as they come. It cannot be replayed.
    pub fn wrap<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            kind: Kind::Stream(body.map_err(Into::into).boxed_unsync()),
        }
    }

    /// A body that streams the chunks of `stream` as they come (an upload from a
    /// file or a channel). It cannot be replayed; an error from the stream fails
    /// the request.
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self::wrap(StreamBody::new(StreamFrames { stream }))
    }

    /// Whether the body is in memory and can be sent again.
    pub fn is_replayable(&self) -> bool {
        matches!(self.kind, Kind::Bytes { .. })
    }

    /// A copy to send again (for a retry, or a redirect that keeps the body), if the
    /// body is in memory; `None` for a stream. The copy shares the bytes (no copy
    /// of the data) and is whole even after this body has been sent.
    pub fn try_clone(&self) -> Option<Self> {
        match &self.kind {
            Kind::Bytes { data, .. } => Some(Self::from(data.clone())),
            Kind::Stream(_) => None,
        }
    }
}

pin_project! {
    /// A stream of byte chunks as a stream of data frames.
    struct StreamFrames<S> {
        #[pin]
        stream: S,
    }
}

impl<S, E> Stream for StreamFrames<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Frame<Bytes>, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project()
            .stream
            .poll_next(cx)
            .map(|item| item.map(|chunk| chunk.map(Frame::data).map_err(Into::into)))
    }
}

impl Default for RequestBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Bytes> for RequestBody {
    fn from(data: Bytes) -> Self {
        Self {
            kind: Kind::Bytes { data, sent: false },
        }
    }
}

impl From<Full<Bytes>> for RequestBody {
    /// `Full` is one frame of bytes in memory: replayable. (Its bytes are read
    /// out at once, without waiting.)
    fn from(body: Full<Bytes>) -> Self {
        let mut body = body;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => Self::from(frame.into_data().unwrap_or_default()),
            _ => Self::empty(),
        }
    }
}

impl From<String> for RequestBody {
    fn from(text: String) -> Self {
        Self::from(Bytes::from(text))
    }
}

impl From<Vec<u8>> for RequestBody {
    fn from(data: Vec<u8>) -> Self {
        Self::from(Bytes::from(data))
    }
}

impl From<&'static str> for RequestBody {
    fn from(text: &'static str) -> Self {
        Self::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for RequestBody {
    fn from(data: &'static [u8]) -> Self {
        Self::from(Bytes::from_static(data))
    }
}

impl From<()> for RequestBody {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Bytes { data, sent } => {
                if *sent || data.is_empty() {
                    return Poll::Ready(None);
                }
                *sent = true;
                Poll::Ready(Some(Ok(Frame::data(data.clone()))))
            }
            Kind::Stream(stream) => Pin::new(stream).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Bytes { data, sent } => *sent || data.is_empty(),
            Kind::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Bytes { data, sent } => {
                SizeHint::with_exact(if *sent { 0 } else { data.len() as u64 })
            }
            Kind::Stream(stream) => stream.size_hint(),
        }
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bytes { data, sent } => f
                .debug_struct("RequestBody")
                .field("bytes", &data.len())
                .field("sent", sent)
                .finish(),
            Kind::Stream(_) => f
                .debug_struct("RequestBody")
                .field("stream", &true)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(body: RequestBody) -> Bytes {
        body.collect()
            .await
            .expect("in-memory bodies do not fail")
            .to_bytes()
    }

    #[tokio::test]
    async fn bytes_are_sent_once_and_a_clone_carries_them_again() {
        let mut body = RequestBody::from("abc");
        assert!(!body.is_end_stream());
        let frame = body.frame().await.expect("a frame").expect("no error");
        assert_eq!(frame.into_data().ok(), Some(Bytes::from_static(b"abc")));
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(body.frame().await.is_none());
        let again = body.try_clone().expect("in memory");
        assert_eq!(collect(again).await, Bytes::from_static(b"abc"));
    }

    #[tokio::test]
    async fn full_and_the_other_conversions_keep_their_bytes() {
        assert_eq!(
            collect(Full::new(Bytes::from_static(b"full")).into()).await,
            "full"
        );
        assert_eq!(collect(String::from("text").into()).await, "text");
        assert_eq!(
            collect(vec![1u8, 2].into()).await,
            Bytes::from_static(&[1, 2])
        );
        assert!(RequestBody::from(()).is_end_stream());
        assert!(RequestBody::default().is_end_stream());
    }

    #[tokio::test]
    async fn a_stream_is_sent_as_it_comes_and_cannot_be_replayed() {
        struct Chunks(Vec<Result<Bytes, std::io::Error>>);
        impl Stream for Chunks {
            type Item = Result<Bytes, std::io::Error>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                Poll::Ready((!self.0.is_empty()).then(|| self.0.remove(0)))
            }
        }
        let body = RequestBody::from_stream(Chunks(vec![Ok("a".into()), Ok("b".into())]));
        assert!(body.try_clone().is_none());
        assert_eq!(collect(body).await, "ab");
        let failing = RequestBody::from_stream(Chunks(vec![
            Ok("a".into()),
            Err(std::io::Error::other("disk gone")),
        ]));
        let error = failing.collect().await.expect_err("the stream failed");
        assert!(error.to_string().contains("disk gone"), "{error}");
    }
}
