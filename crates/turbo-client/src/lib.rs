//! [`TurboClient`]: the turbo layers composed over hyper.
//!
//! Layer order, outermost first: a pooled request context with a timeline
//! ([`turbo_core::ContextLayer`]), the per-host limit and then the global priority
//! queue ([`turbo_limit`]), the deadline and read-idle timeout, decompression (with
//! the `decompression` feature), your own per-attempt layers, and the transport
//! (hyper-util with HTTP/1.1 and HTTP/2 and rustls, or a
//! [`MockTransport`](transport::MockTransport)).
//! The host limit sits outside the queue, so a request waiting for a slow host holds
//! no global slot: one slow host cannot block the others. Both gates serve waiters by
//! [`Priority`]. Permits, slots and contexts are held until the response body ends
//! and released on every path.
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use turbo_client::{Priority, StopMode, TurboClient};
//! use turbo_client::transport::MockTransport;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let client = TurboClient::builder()
//!     .transport(MockTransport::ok(Bytes::from_static(b"{\"ok\":true}")))
//!     .build()?;
//! let response = client
//!     .get("http://api.example.com/items")
//!     .priority(Priority::High)
//!     .send()
//!     .await?;
//! assert_eq!(response.status(), 200);
//! let timeline = response.timeline().cloned().expect("every response has one");
//! assert_eq!(&response.bytes().await?[..], b"{\"ok\":true}");
//! println!("{}", timeline.finished().expect("body read").timeline);
//!
//! client.shutdown(StopMode::Drain).await;
//! let refused = client.get("http://api.example.com/items").send().await;
//! assert!(refused.unwrap_err().is_closed());
//! # Ok::<(), turbo_client::Error>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//!
//! # Features
//!
//! - `rustls` (default): HTTPS through rustls with the ring provider and the webpki
//!   roots; no cmake, no system OpenSSL.
//! - `audio` (default): [`TurboClient::get_audio`] and the [`audio`] module, which
//!   stream downloads into turbo-audio's pipeline.
//! - `decompression` (opt-in): response bodies decoded by `Content-Encoding`
//!   (gzip, deflate, br, zstd) through tower-http, on for every client unless
//!   `TurboClientBuilder::decompress(false)` turns it off.
//! - `native-roots` (opt-in): `HttpTransportBuilder::native_roots`, the operating
//!   system's trusted roots instead of the webpki ones.
//! - `json` (opt-in): `RequestBuilder::json` and `Response::json`, through
//!   serde_json.
//!
//! The client needs a tokio runtime with time enabled (`#[tokio::main]` has it):
//! the read-idle timeout, on by default, arms a timer when a request waits.

#[cfg(feature = "audio")]
pub mod audio;
mod builder;
mod client;
mod config;
mod error;
mod redirect;
mod request;
mod response;
mod retry;
mod send;
mod service;
mod stack;
mod timeout;
pub mod transport;
mod url;

pub use builder::TurboClientBuilder;
pub use client::{ClientStats, ShutdownOutcome, TurboClient};
pub use error::{BoxError, Error, ErrorKind};
pub use redirect::{EVENT_REDIRECT, RedirectPolicy};
pub use request::RequestBuilder;
pub use response::{Response, ResponseBody};
pub use retry::{EVENT_RETRY, RetryPolicy};
pub use send::SendFuture;
pub use service::CallFuture;
pub use timeout::{Elapsed, RequestTimeout};
pub use turbo_core::{EventKind, FieldValue, HostKey, Priority, Timeline, TimelineSnapshot};
pub use turbo_limit::{ReleaseAt, StopMode};
pub use url::IntoUrl;
