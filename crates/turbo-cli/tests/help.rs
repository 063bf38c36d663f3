//! `--help` for `turbo` and every command ends with examples.

mod common;

use common::{stdout, turbo};

#[test]
fn every_command_has_help_with_examples() {
    for (args, example) in [
        (vec!["--help"], "turbo demo --duration 3 --json"),
        (vec!["demo", "--help"], "turbo demo --json > report.json"),
        (
            vec!["get", "--help"],
            "turbo get http://127.0.0.1:8080/items/1",
        ),
        (vec!["audio", "--help"], "turbo audio song.mp3"),
        (vec!["play", "--help"], "turbo play stop"),
        (vec!["bench", "--help"], "turbo bench --quick"),
    ] {
        let output = turbo(&args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let text = stdout(&output);
        assert!(text.contains("Examples:"), "{args:?}: {text}");
        assert!(text.contains(example), "{args:?}: {text}");
    }
}

#[test]
fn every_help_ends_with_the_one_exit_code_table() {
    for args in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["get", "--help"],
        vec!["audio", "--help"],
        vec!["play", "--help"],
        vec!["bench", "--help"],
    ] {
        let output = turbo(&args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let text = stdout(&output);
        assert!(
            text.trim_end().ends_with(turbo_cli::cli::EXIT_CODES),
            "{args:?}: {text}"
        );
    }
    // One meaning per code: throttled (play) and an HTTP error (get, audio)
    // no longer share 3.
    let table = turbo_cli::cli::EXIT_CODES;
    assert!(table.contains("\n   3  play: throttled"), "{table}");
    assert!(
        table.contains("\n  15  get, audio: the server answered 4xx or 5xx"),
        "{table}"
    );
}

#[test]
fn no_command_is_a_usage_error() {
    let output = turbo(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage: turbo"));
}
