//! A spinner through the stages of a run (read, blur volume by volume, write) on a terminal; nothing when stderr
//! is not a terminal, or with `-q`.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
    start: Instant,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        // indicatif draws nothing to a stderr that is not a terminal.
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed}] {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    /// Shows what is being done now.
    pub fn stage(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Shows `done` of `total` volumes of a series blurred, when there is more than one.
    pub fn part(&self, stage: &str, done: usize, total: usize) {
        if total > 1 {
            self.bar
                .set_message(format!("{stage} ({done} of {total} done)"));
        }
    }

    /// Turns the spinner into a bar of `total` voxels with an ETA (a streamed blur).
    pub fn voxels(&self, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        if let Ok(style) =
            ProgressStyle::with_template("[{elapsed}] {bar:30} {percent:>3}% ETA {eta} {msg}")
        {
            self.bar.set_style(style);
        }
    }

    /// Shows `done` voxels of the bar's total blurred and written.
    pub fn at(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Clears the spinner and says what was done (on a terminal only).
    pub fn done(self, message: &str) {
        let shown = !self.bar.is_hidden();
        self.bar.finish_and_clear();
        if shown {
            eprintln!(
                "blur3d: {message} in {:.2} s",
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    /// Clears the spinner before an error is printed.
    pub fn abandon(&self) {
        self.bar.finish_and_clear();
    }
}
