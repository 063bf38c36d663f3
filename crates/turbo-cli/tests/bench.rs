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
