//! `turbo demo --duration 3 --json`: the report's schema, and its invariants
//! checked again here from the figures themselves, not only from `ok`.

mod common;

use common::{stderr, stdout, turbo};
use serde_json::Value;

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

#[test]
fn a_short_demo_reports_json_whose_invariants_hold() {
    let output = turbo(&["demo", "--duration", "3", "--json"]);
    let text = stdout(&output);
    let report: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {text}"));
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    assert_eq!(report["schema"], "turbo-demo/1");
    assert_eq!(report["ok"], true);

    // Every listed invariant held, and the ones the issue names are there.
    let invariants = report["invariants"].as_array().expect("invariants");
    for invariant in invariants {
        assert_eq!(invariant["held"], true, "{invariant}");
    }
    let names: Vec<&str> = invariants
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    for name in [
        "global_limit",
        "host_limits_made_requests_wait",
        "queue_made_requests_wait",
        "all_priorities_served",
        "no_failed_requests",
        "released_everything",
        "graceful_shutdown",
        "closed_after_shutdown",
        "audio_loads_succeeded",
        "every_decode_route_taken",
        "finalized_on_main_thread",
        "temp_files_cleaned",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    // The per-host limit, measured by the server, against each host's limit.
    let config = &report["config"];
    let concurrency = number(&config["concurrency"], "concurrency");
    let slots = number(&config["max_in_flight"], "max_in_flight");
    assert!(concurrency > slots, "the demo oversubscribes the client");
    let hosts = report["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 4);
    let ips: Vec<&str> = hosts
        .iter()
        .map(|h| {
            h["host"]
                .as_str()
                .expect("host")
                .split(':')
                .next()
                .expect("ip")
        })
        .collect();
    assert_eq!(ips, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let mut limits_sum = 0.0;
    for host in hosts {
        let peak = number(&host["max_in_flight"], "max_in_flight");
        let limit = number(&host["limit"], "limit");
        limits_sum += limit;
        assert!(peak >= 1.0 && peak <= limit, "{host}");
        assert!(number(&host["requests"], "requests") > 0.0, "{host}");
        assert!(
            number(&host["waits"], "waits") > 0.0,
            "callers outnumber the limit: {host}"
        );
    }
    assert!(
        limits_sum > slots,
        "host limits add up to more than the global slots"
    );

    // All four priorities, with ordered percentiles.
    let priorities = report["priorities"].as_array().expect("priorities");
    let classes: Vec<&str> = priorities
        .iter()
        .map(|p| p["priority"].as_str().expect("priority"))
        .collect();
    assert_eq!(classes, ["critical", "high", "normal", "low"]);
    let mut succeeded = 0.0;
    for p in priorities {
        let requests = number(&p["requests"], "requests");
        assert!(requests > 0.0, "{p}");
        succeeded += requests;
        assert!(
            number(&p["p50_ms"], "p50") <= number(&p["p99_ms"], "p99"),
            "{p}"
        );
        assert!(number(&p["wait_p50_ms"], "wait p50") <= number(&p["wait_p99_ms"], "wait p99"));
    }

    let totals = &report["totals"];
    assert_eq!(number(&totals["succeeded"], "succeeded"), succeeded);
    assert_eq!(totals["requests"], totals["succeeded"]);
    assert_eq!(totals["failed"], serde_json::json!({}));
    assert!(number(&totals["requests_per_second"], "req/s") > 0.0);

    let queue = &report["queue"];
    assert_eq!(number(&queue["slots"], "slots"), slots);
    assert_eq!(queue["rejected"], 0);
    // The queue also admitted the audio downloads.
    let clips = number(&report["audio"]["loads"], "loads");
    assert_eq!(number(&queue["admitted"], "admitted"), succeeded + clips);
    assert!(number(&queue["queued"], "queued") > 0.0);

    // Pools were reused: far fewer contexts and connections than requests.
    let pools = &report["pools"];
    for pool in ["contexts", "connections"] {
        let fresh = number(&pools[pool]["fresh"], pool);
        let reused = number(&pools[pool]["reused"], pool);
        assert!(fresh >= 1.0 && reused > fresh, "{pool}: {}", pools[pool]);
        let rate = number(&pools[pool]["rate"], pool);
        assert!((rate - reused / (reused + fresh)).abs() < 1e-9);
    }
    // Audio: every route decoded clips, each finalized on the main thread, and
    // no temp file is left.
    let audio = &report["audio"];
    assert_eq!(audio["failed"], serde_json::json!({}));
    assert_eq!(
        number(&audio["finalized_on_main_thread"], "finalized"),
        clips
    );
    assert!(number(&audio["main_thread_tasks"], "tasks") >= clips);
    let routes: Vec<&str> = audio["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            assert!(number(&r["loads"], "loads") > 0.0, "{r}");
            assert!(number(&r["speed_x"], "speed") > 0.0, "{r}");
            r["route"].as_str().expect("route")
        })
        .collect();
    assert_eq!(routes, ["inline", "worker", "stream"]);
    let temp = &audio["temp_files"];
    assert_eq!(temp["orphans"], 0);
    assert_eq!(temp["active"], 0);
    assert_eq!(temp["created"], temp["deleted"]);
    assert!(number(&temp["created"], "created") >= clips);

    let connections: f64 = hosts.iter().map(|h| number(&h["connections"], "c")).sum();
    assert_eq!(number(&pools["connections"]["fresh"], "fresh"), connections);
}

#[test]
fn the_text_report_ends_with_the_verdict_and_draws_no_bar_when_piped() {
    let output = turbo(&["demo", "--duration", "1", "--concurrency", "16"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(
        text.starts_with("turbo demo: 1.0 s, 16 callers, 4 hosts"),
        "{text}"
    );
    assert!(text.contains("latency by priority"), "{text}");
    assert!(text.trim_end().ends_with("invariants held"), "{text}");
    assert!(
        !text.contains('\r') && !text.contains("\u{1b}["),
        "no progress bar when piped"
    );
}

#[test]
fn bad_demo_arguments_are_usage_errors() {
    for args in [
        ["demo", "--duration", "0"],
        ["demo", "--duration", "soon"],
        ["demo", "--concurrency", "0"],
    ] {
        let output = turbo(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = stderr(&output);
        assert!(err.contains("error: invalid value"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn the_bar_draws_on_a_terminal_stderr_and_a_redirected_stdout_gets_only_the_report() {
    // `script` gives the command a pseudo-terminal; stdout is redirected to a
    // file inside it, so only stderr is a terminal, as in `turbo demo > report.txt`.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let command = format!(
        "'{}' demo --duration 1 --concurrency 16 > '{}'",
        env!("CARGO_BIN_EXE_turbo"),
        report.display()
    );
    let output = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(
        terminal.contains(" req, ") && terminal.contains(" queued"),
        "the progress bar is drawn on the terminal's stderr: {terminal:?}"
    );
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.starts_with("turbo demo: 1.0 s, 16 callers, 4 hosts"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("invariants held"), "{text}");
    assert!(
        !text.contains('\r') && !text.contains("\u{1b}[") && !text.contains(" req, "),
        "no trace of the bar in the file: {text:?}"
    );
}
