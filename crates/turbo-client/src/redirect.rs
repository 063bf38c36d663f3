//! [`RedirectPolicy`]: which redirects the client follows, and how each hop is
//! sent.
//!
//! Each hop is a new attempt through the whole stack, so it takes the permit of
//! its own host (never the previous host's) and its own global slot; the previous
//! hop's response is dropped first.

use std::fmt;

use http::header::{self, HeaderMap};
use http::{Method, Request, StatusCode, Uri};
use turbo_core::{EventKind, FieldValue, RequestContext};

use crate::error::{Error, ErrorKind};
use crate::retry::Replay;
use crate::transport::RequestBody;

/// The timeline event of a hop that follows a redirect, recorded on that hop's
/// timeline once it has its permit and slot: `hop` (1 for the first redirect) and
/// `status` (the redirect's status code).
pub const EVENT_REDIRECT: EventKind = EventKind::Custom("redirect_followed");

/// Which redirects are followed: up to `max` hops (default 10).
///
/// `301`, `302` and `303` are followed with `GET` and no body (a `HEAD` stays a
/// `HEAD`); `307` and `308` keep the method and the body, when the body is in memory
/// (a streamed body cannot be sent again, so the redirect is returned as it is).
/// `Authorization`, `Cookie` and `Proxy-Authorization` are not sent to another
/// origin (scheme, host and port). A redirect back to a URL already visited fails
/// with [`ErrorKind::Redirect`] (a loop), as does one hop past `max`.
///
/// ```
/// use turbo_client::{RedirectPolicy, TurboClient};
///
/// let client = TurboClient::builder().redirect(RedirectPolicy::limited(3)).build()?;
/// let never = TurboClient::builder().redirect(RedirectPolicy::none()).build()?;
/// # let _ = (client, never);
/// # Ok::<(), turbo_client::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RedirectPolicy {
    max: u32,
}

impl Default for RedirectPolicy {
    /// Up to 10 hops.
    fn default() -> Self {
        Self::limited(10)
    }
}

impl RedirectPolicy {
    /// Follows no redirect: a 3xx is returned to the caller.
    pub fn none() -> Self {
        Self { max: 0 }
    }

    /// Follows up to `max` hops.
    pub fn limited(max: u32) -> Self {
        Self { max }
    }

    pub(crate) fn max(self) -> u32 {
        self.max
    }
}

impl fmt::Debug for RedirectPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectPolicy")
            .field("max", &self.max)
            .finish()
    }
}

/// The hop's extension, recorded on its timeline by the deadline layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedirectHop {
    hop: u32,
    status: StatusCode,
}

impl RedirectHop {
    /// Records the hop on the timeline of `request`'s context, if it has one.
    pub(crate) fn record<B>(request: &Request<B>) {
        if let (Some(hop), Some(context)) = (
            request.extensions().get::<RedirectHop>(),
            RequestContext::of(request),
        ) {
            context.record_with(
                EVENT_REDIRECT,
                &[
                    ("hop", FieldValue::U64(u64::from(hop.hop))),
                    ("status", FieldValue::U64(u64::from(hop.status.as_u16()))),
                ],
            );
        }
    }
}

/// Whether `status` is a redirect the client may follow.
pub(crate) fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

impl Replay {
    /// The next hop's request for a redirect answered with `status` and
    /// `headers`, or `None` when it is not followed (no `Location`, or a `307` or
    /// `308` whose body was a stream): the caller gets the redirect itself.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Redirect`] for a hop past `max`, a loop, or a `Location` that
    /// is not a URL.
    pub(crate) fn redirect(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
        max: u32,
    ) -> Result<Option<Request<RequestBody>>, Error> {
        let Some(location) = headers.get(header::LOCATION) else {
            return Ok(None);
        };
        let keeps_method = matches!(
            status,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        );
        if keeps_method && self.body.is_none() {
            return Ok(None);
        }
        let hop = u32::try_from(self.visited.len() + 1).unwrap_or(u32::MAX);
        if hop > max {
            return Err(Error::new(
                ErrorKind::Redirect,
                format!("more than {max} redirects, the last from {}", self.uri),
            ));
        }
        let next = resolve(&self.uri, location.as_bytes()).ok_or_else(|| {
            Error::new(
                ErrorKind::Redirect,
                format!(
                    "the redirect from {} names no URL: {:?}",
                    self.uri,
                    String::from_utf8_lossy(location.as_bytes())
                ),
            )
        })?;
        if next == self.uri || self.visited.contains(&next) {
            return Err(Error::new(
                ErrorKind::Redirect,
                format!("a redirect loop: {next} was visited before"),
            ));
        }
        if !same_origin(&self.uri, &next) {
            for name in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ] {
                self.headers.remove(name);
            }
        }
        if !keeps_method {
            if self.method != Method::HEAD {
                self.method = Method::GET;
            }
            self.body = Some(RequestBody::empty());
            for name in [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
                header::TRANSFER_ENCODING,
            ] {
                self.headers.remove(name);
            }
        }
        let previous = std::mem::replace(&mut self.uri, next);
        self.visited.push(previous);
        let mut request = self.to_request();
        request.extensions_mut().insert(RedirectHop { hop, status });
        Ok(Some(request))
    }
}

/// `location` resolved against `base`: an absolute URL, an absolute path on the
/// same origin, or a path relative to `base`'s.
fn resolve(base: &Uri, location: &[u8]) -> Option<Uri> {
    let location = std::str::from_utf8(location).ok()?.trim();
    if location.is_empty() {
        return None;
    }
    if let Ok(parsed) = location.parse::<Uri>()
        && parsed.scheme().is_some()
        && parsed.authority().is_some()
    {
        return Some(parsed);
    }
    if location.contains("://") {
        // Meant as an absolute URL, and not a valid one.
        return None;
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}").parse().ok();
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let base_path = base.path();
        let directory = &base_path[..base_path.rfind('/').map_or(0, |slash| slash + 1)];
        format!("{directory}{location}")
    };
    format!("{scheme}://{authority}{path}").parse().ok()
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |uri: &Uri| {
        uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            _ => Some(80),
        })
    };
    a.scheme_str().map(str::to_ascii_lowercase) == b.scheme_str().map(str::to_ascii_lowercase)
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = uri("http://a.test:8080/dir/page?q=1");
        let cases = [
            ("https://b.test/x", "https://b.test/x"),
            ("//c.test/y", "http://c.test/y"),
            ("/root", "http://a.test:8080/root"),
            ("next?p=2", "http://a.test:8080/dir/next?p=2"),
        ];
        for (location, expected) in cases {
            assert_eq!(
                resolve(&base, location.as_bytes()),
                Some(uri(expected)),
                "{location}"
            );
        }
        assert_eq!(resolve(&base, b""), None);
        assert_eq!(resolve(&base, b"http://[bad"), None);
    }

    #[test]
    fn a_return_to_any_url_visited_before_is_a_loop() {
        let request = Request::get("http://a.test/start")
            .body(RequestBody::from("x"))
            .unwrap_or_else(|_| panic!("request"));
        let Some(mut replay) = crate::retry::plan(&request, None, true) else {
            panic!("redirects need a plan");
        };
        let mut headers = HeaderMap::new();
        let mut hop = |to: &'static str| {
            headers.insert(header::LOCATION, http::HeaderValue::from_static(to));
            replay.redirect(StatusCode::FOUND, &headers, 10)
        };
        assert!(matches!(hop("http://b.test/next"), Ok(Some(_))));
        assert!(matches!(hop("http://c.test/more"), Ok(Some(_))));
        let Err(error) = hop("http://a.test/start") else {
            panic!("back at the start is a loop");
        };
        assert_eq!(error.kind(), ErrorKind::Redirect);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            &uri("http://A.test/x"),
            &uri("http://a.test:80/y")
        ));
        assert!(!same_origin(
            &uri("http://a.test/"),
            &uri("https://a.test/")
        ));
        assert!(!same_origin(
            &uri("http://a.test/"),
            &uri("http://a.test:81/")
        ));
        assert!(!same_origin(&uri("http://a.test/"), &uri("http://b.test/")));
    }
}
