//! The progress bar of a run, and the lines printed above it.

/// A bar of cells done, with the current cell as its message.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A bar of `cells` cells.
    pub fn new(cells: usize) -> Self {
        let bar = indicatif::ProgressBar::new(cells as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
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

    /// One cell done.
    pub fn done(&self) {
        self.bar.inc(1);
    }

    /// A planned cell that will not run (it failed the equivalence gate).
    pub fn skip(&self) {
        self.bar.inc(1);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
