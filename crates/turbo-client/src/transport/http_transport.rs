//! [`HttpTransport`]: hyper-util's pooled client.

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

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
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
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
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
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
        Ok(Self::from_connector(connector))
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
