//! [`HttpTransport`]: hyper-util's pooled client.

use std::fmt;
#[cfg(feature = "rustls")]
use std::future::Future;
#[cfg(feature = "rustls")]
use std::pin::Pin;
#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(feature = "rustls")]
use http::Uri;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;
use tower::Service;

use crate::error::Error;
#[cfg(feature = "rustls")]
use crate::error::ErrorKind;
use crate::transport::RequestBody;

#[cfg(feature = "rustls")]
type Connector = SharedConnector;
#[cfg(not(feature = "rustls"))]
type Connector = HttpConnector;

/// hyper-util's connection-pooling client: HTTP/1.1 and HTTP/2 (by ALPN over TLS),
/// HTTPS through rustls with the ring provider and the webpki roots (feature
/// `rustls`, on by default), so no cmake or system OpenSSL is needed.
#[derive(Clone)]
pub struct HttpTransport {
    client: Client<Connector, RequestBody>,
}

impl HttpTransport {
    /// A transport that trusts the webpki root certificates.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) if the TLS configuration cannot be built.
    pub fn new() -> Result<Self, Error> {
        #[cfg(feature = "rustls")]
        {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots_certs());
            Self::with_roots(roots)
        }
        #[cfg(not(feature = "rustls"))]
        {
            Ok(Self::plain())
        }
    }

    /// A transport that trusts exactly `roots` (for private CAs and tests).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if the TLS configuration cannot be built.
    #[cfg(feature = "rustls")]
    pub fn with_roots(roots: rustls::RootCertStore) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::Tls, "unsupported TLS versions").with_source(e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http_connector());
        Ok(Self::from_connector(SharedConnector(Arc::new(connector))))
    }

    /// A plain-HTTP transport (no TLS at all).
    #[cfg(not(feature = "rustls"))]
    pub fn plain() -> Self {
        Self::from_connector(http_connector())
    }

    fn from_connector(connector: Connector) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(32)
            .build(connector);
        Self { client }
    }
}

/// The TLS connector behind one reference count. hyper-util clones its connector
/// for every request (into a lazy connect that runs only when no pooled connection
/// is free), and a bare `HttpsConnector` holds three shared handles: three
/// contended reference-count updates each way, per request, that this makes one.
/// The connector itself is cloned only for an actual connect.
#[cfg(feature = "rustls")]
#[derive(Clone)]
struct SharedConnector(Arc<Tls>);

#[cfg(feature = "rustls")]
type Tls = hyper_rustls::HttpsConnector<HttpConnector>;

#[cfg(feature = "rustls")]
type Connecting = Pin<
    Box<
        dyn Future<Output = Result<<Tls as Service<Uri>>::Response, <Tls as Service<Uri>>::Error>>
            + Send,
    >,
>;

#[cfg(feature = "rustls")]
impl Service<Uri> for SharedConnector {
    type Response = <Tls as Service<Uri>>::Response;
    type Error = <Tls as Service<Uri>>::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the clone's, checked in `call`'s future before it connects.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let mut connector = Tls::clone(&self.0);
        Box::pin(async move {
            std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
            connector.call(uri).await
        })
    }
}

fn http_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    connector
}

#[cfg(feature = "rustls")]
fn webpki_roots_certs() -> impl Iterator<Item = rustls::pki_types::TrustAnchor<'static>> {
    webpki_roots::TLS_SERVER_ROOTS.iter().cloned()
}

impl Service<Request<RequestBody>> for HttpTransport {
    type Response = Response<Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.client, cx)
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        Service::call(&mut self.client, request)
    }
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport").finish_non_exhaustive()
    }
}
