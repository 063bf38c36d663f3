//! `turbo get URL`: one request through [`TurboClient`], streamed to stdout or a
//! file, with the status, headers and (optionally) the timeline on stderr.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use http::Uri;
use turbo_client::transport::HttpTransport;
use turbo_client::{StopMode, TurboClient};

use crate::cli::GetArgs;
use crate::error::CliError;

/// Checks that `url` is something `turbo get` can fetch: an absolute `http` or
/// `https` URL with a host.
///
/// ```
/// use turbo_cli::get::parse_url;
///
/// assert!(parse_url("http://127.0.0.1:8080/items").is_ok());
/// let error = parse_url("ftp://example.com/file").unwrap_err();
/// assert_eq!(error.to_string(), "invalid URL `ftp://example.com/file`: unsupported scheme `ftp`: expected http or https");
/// assert!(parse_url("example.com/no-scheme").is_err());
/// ```
///
/// # Errors
///
/// [`CliError::InvalidUrl`] saying what is wrong.
pub fn parse_url(url: &str) -> Result<Uri, CliError> {
    let invalid = |reason: String| CliError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    if !url.contains("://") {
        return Err(invalid(
            "no scheme: expected http:// or https://".to_owned(),
        ));
    }
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(format!("not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(invalid(format!(
                "unsupported scheme `{other}`: expected http or https"
            )));
        }
        None => {
            return Err(invalid(
                "no scheme: expected http:// or https://".to_owned(),
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    Ok(uri)
}

/// Runs `turbo get`; returns the exit status.
///
/// # Errors
///
/// A bad URL, a failed request, an error status (after the body was written) or an
/// output that cannot be written.
pub fn run(args: &GetArgs) -> Result<u8, CliError> {
    parse_url(&args.url)?;
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let client = TurboClient::builder()
            .timeout(args.timeout)
            .build()
            .map_err(CliError::Client)?;
        let result = fetch(&client, args).await;
        client.shutdown(StopMode::CancelPending).await;
        result
    })
}

async fn fetch(client: &TurboClient<HttpTransport>, args: &GetArgs) -> Result<u8, CliError> {
    // The output file first: a path that cannot be written fails before any
    // network traffic, with nothing else printed.
    let sink = Sink::open(args.output.as_deref())?;
    let result = fetch_into(client, args, sink).await;
    if let (Err(error), Some(path)) = (&result, &args.output)
        && !matches!(error, CliError::HttpStatus { .. })
    {
        // No partial file after a failed transfer (an error status still keeps
        // its body); a file that is already gone
        // is what we want anyway.
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn fetch_into(
    client: &TurboClient<HttpTransport>,
    args: &GetArgs,
    mut sink: Sink<'_>,
) -> Result<u8, CliError> {
    let request_error = |source| CliError::Request {
        url: args.url.clone(),
        source,
    };
    let mut response = client
        .get(&args.url)
        .priority(args.priority)
        .send()
        .await
        .map_err(request_error)?;
    let status = response.status();
    let timeline = response.timeline().cloned();

    let version = format!("{:?}", response.version());
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    if !args.json {
        let mut head = format!("{version} {status}\n");
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\n"));
        }
        io::stderr()
            .write_all(head.as_bytes())
            .map_err(|e| CliError::output(None, e))?;
    }

    let mut bytes: u64 = 0;
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        sink.write(&chunk)?;
        bytes += chunk.len() as u64;
    }
    sink.finish()?;

    if args.json {
        let timeline = args
            .timeline
            .then(|| timeline.and_then(|timeline| timeline.finished()))
            .flatten()
            .map(|finished| {
                finished
                    .timeline
                    .iter()
                    .map(|event| {
                        serde_json::json!({
                            "event": event.kind.to_string(),
                            "at_ms": event.at.as_secs_f64() * 1e3,
                        })
                    })
                    .collect::<Vec<_>>()
            });
        let json = serde_json::json!({
            "schema": "turbo-get/1",
            "url": args.url,
            "version": version,
            "status": status.as_u16(),
            "headers": headers,
            "bytes": bytes,
            "output": args.output.as_ref().map(|path| path.display().to_string()),
            "timeline": timeline,
        });
        let mut out = io::stdout().lock();
        writeln!(out, "{json}")
            .and_then(|()| out.flush())
            .map_err(|e| CliError::output(None, e))?;
    } else if args.timeline
        && let Some(finished) = timeline.and_then(|timeline| timeline.finished())
    {
        let text = format!(
            "timeline of request {} ({}, priority {}):\n{}",
            finished.request_id,
            finished
                .host
                .as_ref()
                .map_or_else(|| "no host".to_owned(), ToString::to_string),
            finished.priority,
            finished.timeline
        );
        io::stderr()
            .write_all(text.as_bytes())
            .map_err(|e| CliError::output(None, e))?;
    }
    if status.is_client_error() || status.is_server_error() {
        return Err(CliError::HttpStatus {
            url: args.url.clone(),
            status,
        });
    }
    Ok(0)
}

/// Where the body goes.
enum Sink<'a> {
    Stdout(io::StdoutLock<'static>),
    File(&'a Path, io::BufWriter<File>),
}

impl<'a> Sink<'a> {
    fn open(path: Option<&'a Path>) -> Result<Self, CliError> {
        match path {
            None => Ok(Self::Stdout(io::stdout().lock())),
            Some(path) => {
                let file = File::create(path).map_err(|e| CliError::output(Some(path), e))?;
                Ok(Self::File(path, io::BufWriter::new(file)))
            }
        }
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), CliError> {
        match self {
            Self::Stdout(out) => out.write_all(chunk).map_err(|e| CliError::output(None, e)),
            Self::File(path, out) => out
                .write_all(chunk)
                .map_err(|e| CliError::output(Some(path), e)),
        }
    }

    fn finish(self) -> Result<(), CliError> {
        match self {
            Self::Stdout(mut out) => out.flush().map_err(|e| CliError::output(None, e)),
            Self::File(path, out) => out
                .into_inner()
                .map_err(|e| CliError::output(Some(path), e.into_error()))?
                .sync_all()
                .map_err(|e| CliError::output(Some(path), e)),
        }
    }
}
