//! [`RequestBuilder`]: `client.get(url).priority(..).header(..).send()`.

use std::fmt;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{Method, Request};
use turbo_core::Priority;

use crate::client::TurboClient;
use crate::error::{Error, ErrorKind};
use crate::send::SendFuture;
use crate::timeout::RequestTimeout;
use crate::transport::{RequestBody, Transport};
use crate::url::IntoUrl;

impl<T: Transport> TurboClient<T> {
    /// A `GET` request. The URL is a string or an already parsed `http::Uri`
    /// ([`IntoUrl`]); an invalid one fails the request at `send`, as
    /// `InvalidRequest`.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, Method::DELETE, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder<'_, T> {
        RequestBuilder::new(self, method, url)
    }
}

/// Builds one request; [`send`](Self::send) runs it through the client's stack.
/// Errors in the URL or headers are reported by `send`, as `InvalidRequest`.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder<'a, T: Transport> {
    client: &'a TurboClient<T>,
    request: Result<Request<RequestBody>, Error>,
}

impl<'a, T: Transport> RequestBuilder<'a, T> {
    pub(crate) fn new(client: &'a TurboClient<T>, method: Method, url: impl IntoUrl) -> Self {
        let request = if client.is_closed() {
            Err(Error::closed())
        } else {
            // Built in place rather than through `http::request::Builder`, which
            // moves its (250-byte) parts through a `Result` at every step.
            url.into_uri().map(|uri| {
                let mut request = Request::new(RequestBody::default());
                *request.method_mut() = method;
                *request.uri_mut() = uri;
                request
            })
        };
        Self { client, request }
    }

    fn edit(mut self, f: impl FnOnce(&mut Request<RequestBody>) -> Result<(), Error>) -> Self {
        if let Ok(request) = &mut self.request
            && let Err(error) = f(request)
        {
            self.request = Err(error);
        }
        self
    }

    /// The request's priority (default `Normal`).
    pub fn priority(self, priority: Priority) -> Self {
        self.edit(|request| {
            request.extensions_mut().insert(priority);
            Ok(())
        })
    }

    /// Adds a header.
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        self.edit(|request| {
            let name = name.try_into().map_err(|e| invalid_header(e.into()))?;
            let value = value.try_into().map_err(|e| invalid_header(e.into()))?;
            request.headers_mut().append(name, value);
            Ok(())
        })
    }

    /// The request body: bytes in memory (`Bytes`, `String`, `Vec<u8>`,
    /// `&'static str`), which can be replayed, or a stream
    /// ([`RequestBody::from_stream`], [`RequestBody::wrap`]), sent once.
    pub fn body(self, body: impl Into<RequestBody>) -> Self {
        self.edit(|request| {
            *request.body_mut() = body.into();
            Ok(())
        })
    }

    /// The body `value` as JSON, with `Content-Type: application/json` (feature
    /// `json`). A value that cannot be serialized fails the request at `send`, as
    /// `InvalidRequest`.
    #[cfg(feature = "json")]
    pub fn json<V: serde::Serialize + ?Sized>(self, value: &V) -> Self {
        self.edit(|request| {
            let body = serde_json::to_vec(value).map_err(|error| {
                Error::new(
                    ErrorKind::InvalidRequest,
                    "the JSON body cannot be serialized",
                )
                .with_source(error)
            })?;
            *request.body_mut() = RequestBody::from(body);
            request.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(())
        })
    }

    /// A deadline for this request (transport call and response body), instead of
    /// the client's default. Time spent waiting for a host or a queue slot does not
    /// count.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.edit(|request| {
            request.extensions_mut().insert(RequestTimeout(timeout));
            Ok(())
        })
    }

    /// The request as built so far.
    ///
    /// # Errors
    ///
    /// The first error met while building it.
    pub fn build(self) -> Result<Request<RequestBody>, Error> {
        self.request
    }

    /// The client and the request (or the first error met while building it).
    #[cfg(feature = "audio")]
    pub(crate) fn into_parts(self) -> (&'a TurboClient<T>, Result<Request<RequestBody>, Error>) {
        (self.client, self.request)
    }

    /// Sends the request: it enters the client's stack now, and the returned
    /// future (`Send + 'static`, so it can be spawned) drives it from there. The
    /// future fails with an [`Error`] naming the stage that failed
    /// (`InvalidRequest` for a bad URL or header); `ClientClosed` after shutdown.
    pub fn send(self) -> SendFuture<T> {
        match self.request {
            Ok(request) => SendFuture::new(self.client, request),
            Err(error) => SendFuture::failed(error),
        }
    }
}

fn invalid_header(error: http::Error) -> Error {
    Error::new(ErrorKind::InvalidRequest, "invalid header").with_source(error)
}

impl<T: Transport> fmt::Debug for RequestBuilder<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field(
                "request",
                &self.request.as_ref().map(|r| (r.method(), r.uri())),
            )
            .finish()
    }
}
