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
use hyper_util::rt::{TokioExecutor, TokioTimer};
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

/// Which HTTP versions a [`HttpTransport`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpVersions {
    /// HTTP/1.1, and HTTP/2 where TLS negotiates it by ALPN (the default).
    #[default]
    Any,
    /// HTTP/1.1 only (ALPN offers only `http/1.1`).
    Http1Only,
    /// HTTP/2 only, also over plain TCP (prior knowledge).
    Http2Only,
}

/// Configures a [`HttpTransport`]: connection timeouts, the connection pool, HTTP
/// versions, header limits and (with `rustls`) the trusted roots.
///
/// ```
/// use std::time::Duration;
///
/// use turbo_client::TurboClient;
/// use turbo_client::transport::{HttpTransport, HttpVersions};
///
/// let transport = HttpTransport::builder()
///     .connect_timeout(Duration::from_secs(3))
///     .pool_idle_timeout(Duration::from_secs(30))
///     .pool_max_idle_per_host(8)
///     .versions(HttpVersions::Http1Only)
///     .max_response_headers(256)
///     .build()?;
/// let client = TurboClient::builder().transport(transport).build()?;
/// # let _ = client;
/// # Ok::<(), turbo_client::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpTransportBuilder {
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    versions: HttpVersions,
    max_response_headers: usize,
    #[cfg(feature = "rustls")]
    roots: Option<rustls::RootCertStore>,
}

impl Default for HttpTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Some(Duration::from_secs(10)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: 32,
            versions: HttpVersions::Any,
            max_response_headers: 100,
            #[cfg(feature = "rustls")]
            roots: None,
        }
    }
}

impl HttpTransportBuilder {
    /// How long a TCP connect may take (default 10 s; `None`: no bound of its own;
    /// the client's read-idle timeout still applies).
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = timeout.into();
        self
    }

    /// How long an idle pooled connection is kept before it is closed (default
    /// 90 s; `None`: until the transport is dropped).
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.pool_idle_timeout = timeout.into();
        self
    }

    /// The most idle connections kept per host (default 32; 0 keeps none).
    pub fn pool_max_idle_per_host(mut self, connections: usize) -> Self {
        self.pool_max_idle_per_host = connections;
        self
    }

    /// Which HTTP versions to speak (default: HTTP/1.1, and HTTP/2 by ALPN).
    pub fn versions(mut self, versions: HttpVersions) -> Self {
        self.versions = versions;
        self
    }

    /// The most header lines an HTTP/1 response may have (default 100, hyper's);
    /// a response with more fails the request.
    pub fn max_response_headers(mut self, headers: usize) -> Self {
        self.max_response_headers = headers;
        self
    }

    /// Trusts exactly `roots` instead of the webpki roots (for private CAs and
    /// tests).
    #[cfg(feature = "rustls")]
    pub fn roots(mut self, roots: rustls::RootCertStore) -> Self {
        self.roots = Some(roots);
        self
    }

    /// Trusts the operating system's root certificates (feature `native-roots`),
    /// as the platform's own clients do, instead of the webpki roots.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) when the system store yields no
    /// usable certificate (the errors met while loading it are the source).
    #[cfg(feature = "native-roots")]
    pub fn native_roots(self) -> Result<Self, Error> {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            let detail = loaded
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::new(
                ErrorKind::Tls,
                format!("the system's certificate store has no usable root ({detail})"),
            ));
        }
        Ok(self.roots(roots))
    }

    /// Builds the transport.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) if the TLS configuration cannot be
    /// built.
    pub fn build(self) -> Result<HttpTransport, Error> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(self.connect_timeout);
        #[cfg(feature = "rustls")]
        let connector = {
            let roots = match self.roots.clone() {
                Some(roots) => roots,
                None => {
                    let mut roots = rustls::RootCertStore::empty();
                    roots.extend(webpki_roots_certs());
                    roots
                }
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::new(ErrorKind::Tls, "unsupported TLS versions").with_source(e))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http();
            let tls = match self.versions {
                HttpVersions::Any => https.enable_http1().enable_http2().wrap_connector(http),
                HttpVersions::Http1Only => https.enable_http1().wrap_connector(http),
                HttpVersions::Http2Only => https.enable_http2().wrap_connector(http),
            };
            SharedConnector(Arc::new(tls))
        };
        #[cfg(not(feature = "rustls"))]
        let connector = http;
        Ok(self.finish(connector))
    }

    /// The pooled client over `connector`, as configured.
    fn finish(&self, connector: Connector) -> HttpTransport {
        let mut client = Client::builder(TokioExecutor::new());
        client
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http1_max_headers(self.max_response_headers)
            .http2_only(self.versions == HttpVersions::Http2Only);
        HttpTransport {
            client: client.build(connector),
        }
    }
}

impl fmt::Debug for HttpTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransportBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("versions", &self.versions)
            .field("max_response_headers", &self.max_response_headers)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A transport with the defaults: 10 s connect timeout, idle connections kept
    /// 90 s and at most 32 per host, HTTP/1.1 and HTTP/2 by ALPN, the webpki roots.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) if the TLS configuration cannot be built.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// Starts configuring a transport.
    pub fn builder() -> HttpTransportBuilder {
        HttpTransportBuilder::default()
    }

    /// A transport that trusts exactly `roots` (for private CAs and tests); the
    /// same as `HttpTransport::builder().roots(roots).build()`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if the TLS configuration cannot be built.
    #[cfg(feature = "rustls")]
    pub fn with_roots(roots: rustls::RootCertStore) -> Result<Self, Error> {
        Self::builder().roots(roots).build()
    }

    /// A plain-HTTP transport (no TLS at all) with the defaults.
    #[cfg(not(feature = "rustls"))]
    pub fn plain() -> Self {
        let builder = Self::builder();
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(builder.connect_timeout);
        builder.finish(http)
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
