//! Whole-body reads over transports whose bodies arrive in one frame, in several,
//! or end without saying so in advance: `bytes()` returns exactly the body, a
//! one-frame body without a copy, and it stops at a body's announced end instead
//! of polling it again.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame};
use turbo_client::TurboClient;
use turbo_client::transport::RequestBody;

/// A body of the given frames. With `announces_end`, `is_end_stream` turns true
/// with the last frame (as hyper's does once its content length is read) and a
/// poll after that fails; without it, the end is only known from `None`.
#[derive(Debug, Clone)]
struct Frames {
    frames: VecDeque<Bytes>,
    announces_end: bool,
}

#[derive(Debug)]
struct PolledAfterEnd;

impl std::fmt::Display for PolledAfterEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("polled after announcing its end")
    }
}

impl std::error::Error for PolledAfterEnd {}

impl Body for Frames {
    type Data = Bytes;
    type Error = PolledAfterEnd;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, PolledAfterEnd>>> {
        match self.frames.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(Frame::data(frame)))),
            None if self.announces_end => Poll::Ready(Some(Err(PolledAfterEnd))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.announces_end && self.frames.is_empty()
    }
}

fn client(body: Frames) -> TurboClient<impl turbo_client::transport::Transport> {
    let transport = tower::service_fn(move |_request: Request<RequestBody>| {
        let body = body.clone();
        async move { Ok::<_, Infallible>(http::Response::new(body)) }
    });
    TurboClient::builder().transport(transport).build().unwrap()
}

fn frames(parts: &[&'static [u8]], announces_end: bool) -> Frames {
    Frames {
        frames: parts.iter().map(|part| Bytes::from_static(part)).collect(),
        announces_end,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_one_frame_body_is_returned_without_a_copy() {
    static BODY: &[u8] = b"{\"id\":42}";
    for announces_end in [true, false] {
        let client = client(frames(&[BODY], announces_end));
        let response = client.get("http://a.test/one").send().await.unwrap();
        let body = response.bytes().await.unwrap();
        assert_eq!(&body[..], BODY);
        // The same memory as the transport's frame: handed back, not gathered.
        assert_eq!(body.as_ptr(), BODY.as_ptr());
        assert!(client.stats().is_quiescent(), "{:?}", client.stats());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_of_several_frames_is_gathered_whole() {
    let parts: [&'static [u8]; 3] = [b"first,", b"second,", b"third"];
    for announces_end in [true, false] {
        let client = client(frames(&parts, announces_end));
        let before = client.stats().buffers;
        let response = client.get("http://a.test/many").send().await.unwrap();
        let body = response.bytes().await.unwrap();
        assert_eq!(&body[..], b"first,second,third");
        assert!(client.stats().is_quiescent(), "{:?}", client.stats());
        // Gathered in a buffer of the client's own pool (the response reaches it
        // through its stack clone's handle), which gets the buffer back.
        drop(body);
        let after = client.stats().buffers;
        assert_eq!(after.hits + after.misses, before.hits + before.misses + 1);
        assert_eq!(after.returned, before.returned + 1, "{after:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_empty_body_reads_as_empty() {
    for announces_end in [true, false] {
        let client = client(frames(&[], announces_end));
        let response = client.get("http://a.test/empty").send().await.unwrap();
        assert!(response.bytes().await.unwrap().is_empty());
        assert!(client.stats().is_quiescent(), "{:?}", client.stats());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn chunks_stop_at_the_announced_end() {
    let parts: [&'static [u8]; 2] = [b"ab", b"cd"];
    let client = client(frames(&parts, true));
    let mut response = client.get("http://a.test/chunks").send().await.unwrap();
    assert_eq!(response.chunk().await.unwrap().unwrap(), "ab");
    assert_eq!(response.chunk().await.unwrap().unwrap(), "cd");
    // The body announced its end with the last frame; polling it again would fail.
    assert_eq!(response.chunk().await.unwrap(), None);
    assert!(client.stats().is_quiescent(), "{:?}", client.stats());
}
