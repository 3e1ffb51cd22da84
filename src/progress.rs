//! Progress of long runs (kernels checked, kernels booted) as events, so the
//! library stays silent and the command line decides how to show them (a
//! bar on a terminal, nothing on a pipe or with `--json`).

use std::fmt;
use std::sync::Arc;

/// One step of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The run will handle `total` items.
    Planned { total: usize },
    /// Work on `item` (a kernel) began.
    Started { item: &'a str },
    /// Work on `item` ended; `ok` when it went as expected.
    Finished { item: &'a str, ok: bool },
}

type Sink = dyn Fn(Event<'_>) + Send + Sync;

/// Where a run reports its events: nowhere by default.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Sink>>);

impl Progress {
    /// Reports to `sink` (called from worker threads).
    pub fn new(sink: impl Fn(Event<'_>) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(sink)))
    }

    /// Reports one event.
    pub fn emit(&self, event: Event<'_>) {
        if let Some(sink) = &self.0 {
            sink(event);
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(reported)"
        } else {
            "Progress(silent)"
        })
    }
}
