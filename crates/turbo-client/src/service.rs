//! `TurboClient` as a tower [`Service`], and [`CallFuture`], its future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Request;
use pin_project_lite::pin_project;
use tower::Service;

use crate::client::TurboClient;
use crate::error::Error;
use crate::response::ResponseBody;
use crate::send::SendFuture;
use crate::transport::{RequestBody, Transport};

/// The whole client as a tower service, so that your own layers can wrap it: each
/// call is [`TurboClient::send`], with every turbo layer inside, and a layer around
/// the client sees each of its attempts or hops take its own host permit and global
/// slot (retries, redirects, rate limits go here; per-attempt layers go inside, with
/// [`TurboClientBuilder::layer`](crate::TurboClientBuilder::layer)).
///
/// Any request body that converts into the client's [`RequestBody`] is accepted
/// (`Full<Bytes>`, `Bytes`, `String`, `Vec<u8>`, `&'static str`). The response is a
/// plain `http::Response` whose body is a [`ResponseBody`] (errors are [`Error`]s),
/// so tower-http's middleware (`FollowRedirect`, `Decompression`, `Trace`) wraps the
/// client as it wraps any HTTP service; the request's
/// [`TimelineSnapshot`](crate::TimelineSnapshot) is in the response's extensions.
///
/// `poll_ready` never waits: requests wait for their host and slot inside their
/// future, by priority. After [`shutdown`](TurboClient::shutdown) it fails with
/// `ClientClosed`, as `call` does.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use tower::{ServiceBuilder, ServiceExt};
/// use turbo_client::TurboClient;
/// use turbo_client::transport::MockTransport;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let client = TurboClient::builder()
///     .transport(MockTransport::ok(Bytes::from_static(b"hi")))
///     .build()?;
/// let service = ServiceBuilder::new()
///     .concurrency_limit(32)
///     .service(client);
/// let request = http::Request::get("http://api.example.com/").body(Full::new(Bytes::new()))?;
/// let response = service.oneshot(request).await?;
/// assert_eq!(&response.into_body().collect().await?.to_bytes()[..], b"hi");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
impl<T, B> Service<Request<B>> for TurboClient<T>
where
    T: Transport,
    B: Into<RequestBody>,
{
    type Response = http::Response<ResponseBody<T::ResponseBody>>;
    type Error = Error;
    type Future = CallFuture<T>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.is_closed() {
            Poll::Ready(Err(Error::closed()))
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        CallFuture {
            send: self.send(request.map(Into::into)),
        }
    }
}

pin_project! {
    /// The future of `TurboClient` as a [`Service`]: a [`SendFuture`] whose
    /// response is handed over as an `http::Response`. `Send + 'static`.
    ///
    /// # Cancel safety
    ///
    /// As [`SendFuture`]: dropping it releases everything the request holds.
    #[must_use = "a request runs only while its future is polled"]
    pub struct CallFuture<T: Transport> {
        #[pin]
        send: SendFuture<T>,
    }
}

impl<T: Transport> Future for CallFuture<T> {
    type Output = Result<http::Response<ResponseBody<T::ResponseBody>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().send.poll(cx))?;
        Poll::Ready(Ok(response.into_http()))
    }
}

impl<T: Transport> fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture")
            .field("send", &self.send)
            .finish()
    }
}
