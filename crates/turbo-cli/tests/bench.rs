//! `turbo bench --quick`: both cases run and print a finite ratio. The figures
//! themselves are not asserted: timing belongs to benches.

mod common;

use common::{stderr, stdout, turbo};

#[test]
fn quick_bench_prints_a_ratio_per_case() {
    let output = turbo(&["bench", "--quick"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    for (case, peer) in [
        ("stack_mock", "tower_buffer_limit"),
        ("http_loopback", "hyper_util"),
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with(case))
            .unwrap_or_else(|| panic!("no {case} line in {text}"));
        assert!(line.contains(peer), "{line}");
        let ratio: f64 = line
            .rsplit("ratio ")
            .next()
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ratio in {line}"));
        assert!(ratio.is_finite() && ratio > 0.0, "{line}");
    }
}

#[test]
fn quick_bench_json_is_one_object_with_both_cases() {
    let output = turbo(&["bench", "--quick", "--json"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {text}"));
    assert_eq!(json["schema"], "turbo-bench/1");
    assert_eq!(json["rounds"], 3);
    assert_eq!(json["callers"], 64);
    let cases = json["cases"].as_array().expect("cases");
    let names: Vec<_> = cases.iter().map(|c| c["case"].as_str()).collect();
    assert_eq!(names, [Some("stack_mock"), Some("http_loopback")]);
    for case in cases {
        let ratio = case["ratio"].as_f64().expect("a number");
        assert!(ratio.is_finite() && ratio > 0.0, "{case}");
    }
}
