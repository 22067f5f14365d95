//! The progress bar of long volume commands (fsck, rewrap): drawn on stderr
//! only when stderr is a terminal, so scripts and logs see none of it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `total` steps, hidden unless stderr is a terminal.
pub fn bar(total: u64, verb: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!("{verb} {{bar:30}} {{pos}}/{{len}} {{wide_msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
