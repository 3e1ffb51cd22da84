//! A progress bar on stderr for runs over many kernels, shown only when
//! stderr is a terminal and the output is not JSON: a pipe or a CI log gets
//! nothing.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::{Event, Progress};

/// A bar, and the [`Progress`] that drives it (its length comes with the
/// run's `Planned` event); both silent unless stderr is a terminal and
/// `quiet` is false.
pub(crate) fn bar(verb: &str, quiet: bool) -> (Progress, Option<ProgressBar>) {
    if quiet || !std::io::stderr().is_terminal() {
        return (Progress::default(), None);
    }
    let bar = ProgressBar::new(0);
    let template = format!("{{elapsed_precise}} {verb} {{pos}}/{{len}} kernels {{wide_msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    let sink = bar.clone();
    let progress = Progress::new(move |event| match event {
        Event::Planned { total } => sink.set_length(total as u64),
        Event::Started { item } => sink.set_message(item.to_string()),
        Event::Finished { item, ok } => {
            if !ok {
                sink.println(format!("failed: {item}"));
            }
            sink.inc(1);
        }
    });
    (progress, Some(bar))
}

/// Leaves the finished bar on the terminal.
pub(crate) fn finish(bar: Option<ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_with_message("done");
    }
}
