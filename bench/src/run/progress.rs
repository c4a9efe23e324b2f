//! The progress bar of a run, and the lines printed above it. The bar runs over the plan's
//! estimated time (each cell advances it by its own estimate), so its remaining time is the
//! estimate corrected by how fast the run has gone so far.

use std::time::Duration;

pub use wirebench_report::fmt::duration;

/// A bar over the run's estimated time, with the current cell as its message.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A bar for a run expected to take `estimate`.
    pub fn new(estimate: Duration) -> Self {
        let bar = indicatif::ProgressBar::new(estimate.as_millis().max(1) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{spinner}} {{elapsed_precise}} of ~{} {{bar:30}} {{percent}} % · {{eta}} left · {{msg}}",
                duration(estimate)
            ))
            .expect("valid template"),
        );
        Progress { bar }
    }

    /// A line for the user, above the bar (or plainly when there is no terminal).
    pub fn note(&self, line: impl Into<String>) {
        let line = line.into();
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// What is running now.
    pub fn cell(&self, label: String) {
        self.bar.set_message(label);
    }

    /// Work the plan expected to take `expected` is done (or will not run).
    pub fn advance(&self, expected: Duration) {
        self.bar.inc(expected.as_millis() as u64);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
