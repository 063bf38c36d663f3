//! [`IntoUrl`]: what the request builders accept as a URL.

use bytes::Bytes;
use http::Uri;

use crate::error::{Error, ErrorKind};

mod sealed {
    /// Keeps [`IntoUrl`](super::IntoUrl) to the types listed in this module.
    pub trait Sealed {}
}

/// A URL for [`TurboClient::get`](crate::TurboClient::get) and the other verbs: a
/// reference to text (`&str`, `&String`, `&Arc<str>`, anything `AsRef<str>`) or a
/// `String`, parsed when the request is built, or an `http::Uri`, taken as is.
///
/// A caller that sends many requests to one URL can parse it once and pass the
/// `Uri`: text is parsed per request (an allocation, a copy and a scan of the URL),
/// while a `Uri` is moved in (a clone of one costs reference counts, no parse).
/// (`&Uri` is not accepted: a blanket impl for text references rules it out.)
///
/// ```
/// use bytes::Bytes;
/// use turbo_client::TurboClient;
/// use turbo_client::transport::MockTransport;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let client = TurboClient::builder()
///     .transport(MockTransport::ok(Bytes::from_static(b"ok")))
///     .build()?;
/// let uri: http::Uri = "http://api.example.com/items".parse()?;
/// for _ in 0..3 {
///     let response = client.get(uri.clone()).send().await?;
///     assert_eq!(&response.bytes().await?[..], b"ok");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait IntoUrl: sealed::Sealed {
    /// The parsed URL.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for text that is not a valid URL, naming it.
    fn into_uri(self) -> Result<Uri, Error>;
}

fn parse(url: &str) -> Result<Uri, Error> {
    url.parse::<Uri>().map_err(|e| {
        Error::new(ErrorKind::InvalidRequest, format!("invalid URL `{url}`")).with_source(e)
    })
}

// Every reference to string-like text (`&str`, `&String`, `&Arc<str>`, `&Box<str>`,
// `&Cow<str>`), as the verbs took through deref coercion when they took `&str`.
impl<S: AsRef<str> + ?Sized> sealed::Sealed for &S {}
impl<S: AsRef<str> + ?Sized> IntoUrl for &S {
    fn into_uri(self) -> Result<Uri, Error> {
        parse(self.as_ref())
    }
}

impl sealed::Sealed for String {}
impl IntoUrl for String {
    fn into_uri(self) -> Result<Uri, Error> {
        // `Uri` takes the string's buffer without copying it. The parser slices
        // that buffer into scheme, authority and path, which turns it into a
        // shared one anyway, so keeping a second reference for the error message
        // costs a reference count, not a copy.
        let text = Bytes::from(self);
        Uri::from_maybe_shared(text.clone()).map_err(|e| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("invalid URL `{}`", String::from_utf8_lossy(&text)),
            )
            .with_source(e)
        })
    }
}

impl sealed::Sealed for Uri {}
impl IntoUrl for Uri {
    fn into_uri(self) -> Result<Uri, Error> {
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://api.example.com:8080/items?page=2";

    #[test]
    fn every_form_gives_the_same_uri() {
        let parsed: Uri = URL.parse().unwrap();
        let owned = String::from(URL);
        assert_eq!(URL.into_uri().unwrap(), parsed);
        assert_eq!((&owned).into_uri().unwrap(), parsed);
        assert_eq!(owned.into_uri().unwrap(), parsed);
        let shared: std::sync::Arc<str> = URL.into();
        assert_eq!((&shared).into_uri().unwrap(), parsed);
        assert_eq!((&URL).into_uri().unwrap(), parsed);
        let uri = parsed.clone().into_uri().unwrap();
        assert_eq!(uri, parsed);
        assert_eq!(uri.host(), Some("api.example.com"));
        assert_eq!(uri.port_u16(), Some(8080));
        assert_eq!(
            uri.path_and_query().map(|p| p.as_str()),
            Some("/items?page=2")
        );
    }

    #[test]
    fn an_invalid_string_is_an_invalid_request_naming_it() {
        let error = "http://bad host/".into_uri().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert!(error.to_string().contains("http://bad host/"), "{error}");
        let error = String::from("http://bad host/").into_uri().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
        assert!(error.to_string().contains("http://bad host/"), "{error}");
        assert!(std::error::Error::source(&error).is_some(), "{error}");
    }
}
