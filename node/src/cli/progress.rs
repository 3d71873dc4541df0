//! Progress: a bar on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reports blocks done: produced by `devnet`, replayed by `verify`.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    last_log: Instant,
    /// The command, which names the log lines.
    command: &'static str,
}

const LOG_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// Progress of `command` over `total` blocks.
    pub fn new(command: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} blocks {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            total,
            last_log: Instant::now(),
            command,
        }
    }

    /// One more block; `txs` applied so far at `tps`.
    pub fn block_done(&mut self, done: u64, txs: u64, tps: f64) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!("{txs} txs, {tps:.0} TPS"));
            }
            None if self.last_log.elapsed() >= LOG_EVERY || done == self.total => {
                self.last_log = Instant::now();
                tracing::info!(
                    done,
                    total = self.total,
                    txs,
                    tps = tps.round(),
                    "{} progress",
                    self.command
                );
            }
            None => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
