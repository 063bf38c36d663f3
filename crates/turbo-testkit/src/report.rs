//! The record `cargo xtask bench` collects for cases criterion cannot measure.
//!
//! A bench binary calls [`write_case`]; xtask reads every record written during
//! its run from `<target>/turbo-bench/<case>.json` and prints
//! `BENCH <case> ours_ns=… peer=… peer_ns=… ratio=…`.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Whether `cargo xtask bench --quick` asked for a short run.
pub fn quick() -> bool {
    std::env::var_os("TURBO_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// The directory records go to: `$CARGO_TARGET_DIR/turbo-bench`, or
/// `target/turbo-bench` under the workspace.
pub fn report_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("target")
        });
    target.join("turbo-bench")
}

/// Writes one case. `ours_ns` and `peer_ns` are nanoseconds (per operation, or per
/// request at the measured throughput); `note` says what was measured.
///
/// # Errors
///
/// Any I/O error creating the directory or writing the file.
pub fn write_case(
    case: &str,
    ours_ns: f64,
    peer: &str,
    peer_ns: f64,
    note: &str,
) -> std::io::Result<()> {
    let dir = report_dir();
    std::fs::create_dir_all(&dir)?;
    let mut json = String::from("{");
    let _ = write!(
        json,
        "\"case\":{},\"ours_ns\":{},\"peer\":{},\"peer_ns\":{},\"note\":{}",
        quote(case),
        finite(ours_ns),
        quote(peer),
        finite(peer_ns),
        quote(note)
    );
    json.push('}');
    std::fs::write(dir.join(format!("{case}.json")), json)?;
    println!(
        "case {case}: ours {ours_ns:.1} ns, {peer} {peer_ns:.1} ns, ratio {:.3} ({note})",
        ours_ns / peer_ns
    );
    Ok(())
}

fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_json_strings() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
