//! `turbo get` against a loopback server the test starts.

mod common;

use common::{Server, assert_user_error, refused, stderr, stdout, turbo};

#[test]
fn body_goes_to_stdout_head_and_timeline_to_stderr() {
    let server = Server::start();
    let url = server.url("/items/7?pad=5");
    let output = turbo(&["get", &url, "--priority", "high", "--timeline"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(
        stdout(&output),
        r#"{"host":"127.0.0.1","path":"/items/7","pad":"xxxxx"}"#
    );
    assert!(err.starts_with("HTTP/1.1 200 OK\n"), "{err}");
    assert!(err.contains("content-type: application/json"), "{err}");
    assert!(err.contains("priority high"), "{err}");
    for event in [
        "permit_acquired",
        "admitted",
        "headers_received",
        "body_finished",
    ] {
        assert!(err.contains(event), "{event} missing: {err}");
    }
    assert_eq!(server.server.hosts()[0].requests, 1);
}

#[test]
fn output_file_gets_the_whole_body() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.bin");
    let url = server.url("/bytes/300000");
    let output = turbo(&["get", &url, "-o", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    let body = std::fs::read(&file).unwrap();
    assert_eq!(body.len(), 300_000);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8)
    );
    assert!(
        !stderr(&output).contains("timeline"),
        "no timeline unless asked"
    );
}

#[test]
fn error_status_writes_the_body_and_exits_15() {
    let server = Server::start();
    let url = server.url("/status/503");
    let output = turbo(&["get", &url]);
    assert_eq!(output.status.code(), Some(15));
    assert_eq!(stdout(&output), r#"{"status":503}"#);
    let err = stderr(&output);
    assert!(
        err.starts_with("HTTP/1.1 503 Service Unavailable\n"),
        "{err}"
    );
    assert_eq!(
        err.lines().last(),
        Some(format!("turbo: GET {url}: the server answered 503 Service Unavailable").as_str())
    );
}

#[test]
fn refused_connection_is_one_line() {
    let refused = refused();
    let output = turbo(&["get", &refused.url]);
    assert_user_error(&output, 1, "could not connect");
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_urls_are_usage_errors() {
    for (url, needle) in [
        ("not a url", "invalid URL"),
        ("example.com/x", "no scheme"),
        ("ftp://example.com/x", "unsupported scheme `ftp`"),
        ("http:///path", "invalid URL"),
    ] {
        let output = turbo(&["get", url]);
        assert_user_error(&output, 2, needle);
    }
}

#[test]
fn unwritable_output_fails_before_any_request() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("missing-dir").join("out.bin");
    let output = turbo(&["get", &server.url("/items/1"), "-o", file.to_str().unwrap()]);
    assert_user_error(&output, 1, "cannot write");
    assert!(stderr(&output).contains("missing-dir"));
    assert_eq!(server.server.hosts()[0].requests, 0, "no request was sent");
}

#[test]
fn failed_transfer_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.bin");
    let refused = refused();
    let output = turbo(&["get", &refused.url, "-o", file.to_str().unwrap()]);
    assert_user_error(&output, 1, "could not connect");
    assert!(!file.exists());
}

#[test]
fn unknown_priority_is_rejected_by_clap() {
    let output = turbo(&["get", "http://127.0.0.1/", "--priority", "urgent"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("unknown priority `urgent`"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn json_prints_the_head_as_one_object_and_the_body_goes_to_the_file() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.bin");
    let url = server.url("/bytes/3000");
    let output = turbo(&[
        "get",
        &url,
        "-o",
        file.to_str().unwrap(),
        "--json",
        "--timeline",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "no text head with --json");
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["schema"], "turbo-get/1");
    assert_eq!(json["status"], 200);
    assert_eq!(json["bytes"], 3000);
    assert_eq!(json["output"], file.to_str().unwrap());
    assert!(json["headers"].as_array().is_some_and(|h| !h.is_empty()));
    let events: Vec<_> = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event"].as_str().unwrap().to_owned())
        .collect();
    assert!(events.iter().any(|e| e == "body_finished"), "{events:?}");
    assert_eq!(std::fs::read(&file).unwrap().len(), 3000);

    // An error status: the object still prints, then the one error line.
    let output = turbo(&[
        "get",
        &server.url("/status/503"),
        "-o",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(15));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["status"], 503);
    assert!(json["timeline"].is_null(), "only with --timeline");
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));

    // Without -o the body would mix with the JSON: a usage error.
    let output = turbo(&["get", &url, "--json"]);
    assert_eq!(output.status.code(), Some(2));
}
