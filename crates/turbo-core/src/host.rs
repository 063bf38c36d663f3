//! [`HostKey`]: which host a request goes to (scheme, host, port).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use http::Uri;

/// Hosts up to this many bytes are stored inline, so building a key for a typical
/// host does not allocate.
const INLINE_HOST: usize = 48;

/// The schemes a [`HostKey`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`, default port 80.
    Http,
    /// `https`, default port 443.
    Https,
}

impl Scheme {
    /// The port used when a URI names none.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `"http"` or `"https"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The host a request goes to: scheme, lowercased host, and port (the scheme's
/// default when the URI names none). Requests with equal keys share a per-host limit.
///
/// ```
/// use turbo_core::{HostKey, Scheme};
///
/// let uri: http::Uri = "https://API.Example.com/v1/items".parse()?;
/// let key = HostKey::from_uri(&uri)?;
/// assert_eq!((key.scheme(), key.host(), key.port()), (Scheme::Https, "api.example.com", 443));
/// assert_eq!(key.to_string(), "https://api.example.com:443");
///
/// let relative: http::Uri = "/v1/items".parse()?;
/// assert!(HostKey::from_uri(&relative).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HostKey {
    scheme: Scheme,
    port: u16,
    host: HostName,
}

#[derive(Clone)]
enum HostName {
    Inline { len: u8, bytes: [u8; INLINE_HOST] },
    Shared(Arc<str>),
}

impl HostName {
    /// Stores `host` lowercased. The representation depends only on the length, so
    /// equal hosts always have equal representations.
    fn new_lowercase(host: &str) -> Self {
        let mut name = HostName::Inline {
            len: 0,
            bytes: [0u8; INLINE_HOST],
        };
        name.set_lowercase(host);
        name
    }

    /// Makes `self` hold `host` lowercased, writing an inline name where it lies:
    /// the byte-by-byte writes then have long left the store buffer when the key is
    /// next read. Built in a temporary and moved at once, the move's wide loads of
    /// those bytes stall on store forwarding (about 14 ns a request on the bench VM).
    fn set_lowercase(&mut self, host: &str) {
        if host.len() <= INLINE_HOST {
            if !matches!(self, HostName::Inline { .. }) {
                *self = HostName::Inline {
                    len: 0,
                    bytes: [0u8; INLINE_HOST],
                };
            }
            if let HostName::Inline { len, bytes } = self {
                *len = host.len() as u8;
                // Past the new length too: no byte of an earlier, longer host
                // survives in a reused key.
                bytes.fill(0);
                for (slot, byte) in bytes.iter_mut().zip(host.bytes()) {
                    *slot = byte.to_ascii_lowercase();
                }
            }
        } else {
            *self = HostName::Shared(Arc::from(host.to_ascii_lowercase()));
        }
    }

    fn as_str(&self) -> &str {
        match self {
            HostName::Inline { .. } => {
                // Only ASCII (lowercased from a `&str`) is ever stored, so this holds;
                // the fallback keeps the function total without a panic path.
                std::str::from_utf8(self.as_bytes()).unwrap_or_default()
            }
            HostName::Shared(host) => host,
        }
    }

    /// The bytes, for hashing and comparing without re-checking UTF-8.
    fn as_bytes(&self) -> &[u8] {
        match self {
            HostName::Inline { len, bytes } => &bytes[..usize::from(*len)],
            HostName::Shared(host) => host.as_bytes(),
        }
    }
}

/// Why a URI has no [`HostKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKeyError {
    /// The URI names no host (for example a bare path such as `/items`).
    MissingAuthority {
        /// The URI as given.
        uri: String,
    },
    /// The URI names a host but no scheme (for example `example.com:80`).
    MissingScheme {
        /// The URI as given.
        uri: String,
    },
    /// The scheme is neither `http` nor `https`.
    UnsupportedScheme {
        /// The scheme as given.
        scheme: String,
    },
    /// The host is empty.
    EmptyHost,
    /// The host is not ASCII (international names must be punycode-encoded).
    NonAsciiHost,
    /// The port is not a number from 0 to 65535 (for example `:99999`); it is
    /// refused rather than replaced by the scheme's default.
    InvalidPort {
        /// The port as given.
        port: String,
    },
}

impl fmt::Display for HostKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingAuthority { uri } => {
                write!(f, "URI `{uri}` names no host: an absolute URI is required")
            }
            Self::MissingScheme { uri } => {
                write!(f, "URI `{uri}` names no scheme: use http:// or https://")
            }
            Self::UnsupportedScheme { scheme } => {
                write!(f, "scheme `{scheme}` is not supported: use http or https")
            }
            Self::EmptyHost => f.write_str("the host is empty"),
            Self::NonAsciiHost => f.write_str("the host is not ASCII; encode it as punycode"),
            Self::InvalidPort { port } => {
                write!(f, "port `{port}` is not a port number (0 to 65535)")
            }
        }
    }
}

impl std::error::Error for HostKeyError {}

impl HostKey {
    /// A key from its parts; the host is lowercased.
    ///
    /// # Errors
    ///
    /// [`HostKeyError::EmptyHost`] or [`HostKeyError::NonAsciiHost`].
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Result<Self, HostKeyError> {
        Self::check_host(host)?;
        Ok(Self {
            scheme,
            port,
            host: HostName::new_lowercase(host),
        })
    }

    fn check_host(host: &str) -> Result<(), HostKeyError> {
        if host.is_empty() {
            return Err(HostKeyError::EmptyHost);
        }
        if !host.is_ascii() {
            return Err(HostKeyError::NonAsciiHost);
        }
        Ok(())
    }

    /// The key of an absolute `http` or `https` URI.
    ///
    /// # Errors
    ///
    /// A [`HostKeyError`] when the URI has no host or scheme, or another scheme.
    pub fn from_uri(uri: &Uri) -> Result<Self, HostKeyError> {
        let (scheme, host, port) = Self::parts(uri)?;
        Self::new(scheme, host, port)
    }

    /// Sets `slot` to the key of `uri` (or `None` when it has none), writing it in
    /// place: how a pooled request context stores its host without building the
    /// key elsewhere and moving it in.
    pub(crate) fn store_from_uri(slot: &mut Option<HostKey>, uri: &Uri) {
        let parts = Self::parts(uri).and_then(|(scheme, host, port)| {
            Self::check_host(host)?;
            Ok((scheme, host, port))
        });
        let Ok((scheme, host, port)) = parts else {
            *slot = None;
            return;
        };
        let key = slot.get_or_insert_with(|| HostKey {
            scheme,
            port,
            host: HostName::Inline {
                len: 0,
                bytes: [0u8; INLINE_HOST],
            },
        });
        key.scheme = scheme;
        key.port = port;
        key.host.set_lowercase(host);
    }

    /// The scheme, host and port of `uri`, the host as written.
    fn parts(uri: &Uri) -> Result<(Scheme, &str, u16), HostKeyError> {
        let Some(authority) = uri.authority() else {
            return Err(HostKeyError::MissingAuthority {
                uri: uri.to_string(),
            });
        };
        let (host, port) = split_authority(authority.as_str())?;
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(other) => {
                return Err(HostKeyError::UnsupportedScheme {
                    scheme: other.to_owned(),
                });
            }
            None => {
                return Err(HostKeyError::MissingScheme {
                    uri: uri.to_string(),
                });
            }
        };
        Ok((scheme, host, port.unwrap_or(scheme.default_port())))
    }

    /// The key of a request's URI.
    ///
    /// # Errors
    ///
    /// As [`from_uri`](Self::from_uri).
    pub fn of<B>(request: &http::Request<B>) -> Result<Self, HostKeyError> {
        Self::from_uri(request.uri())
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lowercased (IPv6 literals keep their brackets).
    pub fn host(&self) -> &str {
        self.host.as_str()
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Splits an authority that `http::Uri` has already validated into host and
/// port, in one backwards pass over its bytes: `user@host:port`, `[v6]:port`,
/// `host`. The port separator is the last `:` after any `@` and outside an IPv6
/// literal's brackets; a short byte loop here beat two `rsplit_once` searches,
/// each a `memrchr` call, on every request.
fn split_authority(authority: &str) -> Result<(&str, Option<u16>), HostKeyError> {
    let bytes = authority.as_bytes();
    let mut start = 0;
    let mut colon = None;
    let mut in_literal = false;
    for (index, &byte) in bytes.iter().enumerate().rev() {
        match byte {
            b'@' => {
                start = index + 1;
                break;
            }
            // Seen backwards, a `]` opens the literal: colons before it are its own.
            b']' => in_literal = true,
            b':' if !in_literal && colon.is_none() => colon = Some(index),
            _ => {}
        }
    }
    let Some(colon) = colon else {
        return Ok((authority.get(start..).unwrap_or_default(), None));
    };
    let host = authority.get(start..colon).unwrap_or_default();
    match authority.get(colon + 1..).unwrap_or_default() {
        // `host:` with no digits means the scheme's default port (RFC 3986, 3.2.3).
        "" => Ok((host, None)),
        port => match port.parse() {
            Ok(port) => Ok((host, Some(port))),
            Err(_) => Err(HostKeyError::InvalidPort {
                port: port.to_owned(),
            }),
        },
    }
}

impl PartialEq for HostKey {
    fn eq(&self, other: &Self) -> bool {
        self.scheme == other.scheme
            && self.port == other.port
            && self.host.as_bytes() == other.host.as_bytes()
    }
}

impl Eq for HostKey {}

impl Hash for HostKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scheme.hash(state);
        self.port.hash(state);
        self.host.as_bytes().hash(state);
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}",
            self.scheme.as_str(),
            self.host(),
            self.port
        )
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uri: &str) -> Result<HostKey, HostKeyError> {
        HostKey::from_uri(&uri.parse::<Uri>().unwrap())
    }

    #[test]
    fn fills_default_ports_and_lowercases() {
        assert_eq!(
            key("http://EXAMPLE.com/x").unwrap().to_string(),
            "http://example.com:80"
        );
        assert_eq!(key("https://a.b:8443").unwrap().port(), 8443);
        assert_eq!(key("http://[::1]:9/").unwrap().host(), "[::1]");
        assert_eq!(key("http://[::1]:9/").unwrap().port(), 9);
        assert_eq!(key("http://[::1]/").unwrap().port(), 80);
        assert_eq!(
            key("http://user:pw@Example.com:81/").unwrap().to_string(),
            "http://example.com:81"
        );
        assert_eq!(key("HTTPS://h/").unwrap().scheme(), Scheme::Https);
        // Colons in the user info and inside an IPv6 literal are not the port's.
        let v6 = key("http://u:p@[2001:DB8::1]:8/").unwrap();
        assert_eq!((v6.host(), v6.port()), ("[2001:db8::1]", 8));
        assert_eq!(key("https://u:p@[::1]/").unwrap().port(), 443);
        assert_eq!(key("http://u:p@h/").unwrap().to_string(), "http://h:80");
    }

    #[test]
    fn a_port_that_is_not_a_port_number_is_refused_not_defaulted() {
        for (uri, port) in [
            ("http://127.0.0.1:99999/", "99999"),
            ("http://h:65536/", "65536"),
            ("https://[::1]:70000/", "70000"),
        ] {
            let Err(error) = key(uri) else {
                panic!("{uri} was given a key");
            };
            assert_eq!(error, HostKeyError::InvalidPort { port: port.into() });
            assert!(error.to_string().contains(port), "{error}");
        }
        assert_eq!(key("http://h:65535/").unwrap().port(), 65535);
        // An empty port is the scheme's default (RFC 3986, 3.2.3).
        assert_eq!(key("http://h:/").unwrap().port(), 80);
        let mut slot = None;
        HostKey::store_from_uri(&mut slot, &"http://h:99999/".parse::<Uri>().unwrap());
        assert!(slot.is_none(), "a context stores no host for a bad port");
    }

    #[test]
    fn equal_hosts_are_equal_keys() {
        assert_eq!(
            key("http://Example.com/").unwrap(),
            key("http://example.com:80/a").unwrap()
        );
        assert_ne!(
            key("http://example.com/").unwrap(),
            key("https://example.com/").unwrap()
        );
        let long = format!("http://{}.example.com/", "a".repeat(80));
        let upper = long.to_uppercase().replace("HTTP://", "http://");
        assert_eq!(key(&long).unwrap(), key(&upper).unwrap());
    }

    #[test]
    fn rejects_what_has_no_host() {
        assert!(matches!(
            key("/path"),
            Err(HostKeyError::MissingAuthority { .. })
        ));
        assert!(matches!(
            key("example.com:80"),
            Err(HostKeyError::MissingScheme { .. })
        ));
        assert!(matches!(
            key("ftp://example.com/"),
            Err(HostKeyError::UnsupportedScheme { .. })
        ));
        assert_eq!(
            HostKey::new(Scheme::Http, "", 80).err(),
            Some(HostKeyError::EmptyHost)
        );
        assert_eq!(
            HostKey::new(Scheme::Http, "bücher.de", 80).err(),
            Some(HostKeyError::NonAsciiHost)
        );
    }

    #[test]
    fn a_reused_slot_holds_exactly_the_new_key() {
        let long = format!("{}.example", "a".repeat(INLINE_HOST));
        let mut slot = None;
        // Long (shared) to short (inline), longer to shorter inline, then no key:
        // each time the slot equals a key built from scratch, down to its bytes.
        for uri in [
            format!("https://{}/", long.to_uppercase()),
            "http://Longer-Host.example:8080/".to_owned(),
            "http://b.example/".to_owned(),
            format!("http://{long}/"),
            "/relative".to_owned(),
            "http://c.example/".to_owned(),
        ] {
            let uri: Uri = uri.parse().unwrap();
            HostKey::store_from_uri(&mut slot, &uri);
            let fresh = HostKey::from_uri(&uri).ok();
            assert_eq!(slot, fresh, "{uri}");
            if let (Some(stored), Some(fresh)) = (&slot, &fresh)
                && let (
                    HostName::Inline { bytes: stored, .. },
                    HostName::Inline { bytes: fresh, .. },
                ) = (&stored.host, &fresh.host)
            {
                assert_eq!(stored, fresh, "no byte of an earlier host is left");
            }
        }
    }
}
