//! Transports: what finally sends a request. [`HttpTransport`] (hyper-util, HTTP/1.1
//! and HTTP/2, HTTPS through rustls) by default; [`MockTransport`] for tests and
//! benches; or any tower service with the right shape.

mod http_transport;
mod mock;
mod request_body;

pub use http_transport::{HttpTransport, HttpTransportBuilder, HttpVersions};
pub use mock::{MockBody, MockError, MockReply, MockTransport};
pub use request_body::RequestBody;

use bytes::Bytes;
use http_body::Body;
use tower::Service;

use crate::error::BoxError;

/// A tower service that can carry the client's requests: any `Clone + Send + Sync`
/// service from `http::Request<RequestBody>` to an `http::Response` whose body
/// yields `Bytes`. Implemented for every such service.
pub trait Transport:
    Service<
        http::Request<RequestBody>,
        Response = http::Response<Self::ResponseBody>,
        Error = Self::TransportError,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The response body type.
    type ResponseBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static;
    /// The transport's error type.
    type TransportError: Into<BoxError> + Send + Sync + 'static;
}

impl<S, B, E> Transport for S
where
    S: Service<http::Request<RequestBody>, Response = http::Response<B>, Error = E>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
    E: Into<BoxError> + Send + Sync + 'static,
{
    type ResponseBody = B;
    type TransportError = E;
}
