//! Progress bars, drawn on stderr and only when stderr is a terminal: stdout
//! stays exactly the report (`turbo demo > report.txt` leaves only the report in
//! the file), and `--json` draws none.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress may be drawn: stderr is a terminal and the caller wants text.
pub(crate) fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A bar over `steps`, on stderr, or a hidden one that ignores every update when
/// `visible` is false.
pub(crate) fn bar(steps: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    // The template is a constant, so this only falls back if indicatif rejects it.
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} [{bar:24}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
