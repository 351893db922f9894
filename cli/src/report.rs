//! What the user sees while an export runs: a spinner and a byte bar on a terminal, plain log
//! lines otherwise, nothing with `--quiet`. Everything goes to stderr, so `-o -` and `--json`
//! keep stdout for data.

use d1_export_core::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How much to say, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Nothing but errors.
    Quiet,
    /// Log lines, no control characters (not a terminal).
    Plain,
    /// A spinner, then a progress bar (a terminal).
    Terminal,
}

impl Style {
    /// The style for these flags and this stderr.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb")
        {
            Self::Terminal
        } else {
            Self::Plain
        }
    }
}

/// Turns core events into what the user sees.
pub struct Reporter {
    style: Style,
    verbose: u8,
    bar: Option<ProgressBar>,
    parts: usize,
    last_log: String,
    /// In plain mode, the next tenth of the file to report.
    next_tenth: u64,
}

impl Reporter {
    /// A reporter.
    pub fn new(style: Style, verbose: u8) -> Self {
        Self {
            style,
            verbose,
            bar: None,
            parts: 0,
            last_log: String::new(),
            next_tenth: 1,
        }
    }

    /// Prints a line (above the bar on a terminal).
    pub fn line(&self, text: &str) {
        match (&self.bar, self.style) {
            (_, Style::Quiet) => {}
            (Some(bar), Style::Terminal) => bar.println(text),
            _ => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn spinner(&mut self) -> &ProgressBar {
        self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} exporting: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
    }

    fn spin_message(&mut self) {
        if self.style != Style::Terminal {
            return;
        }
        let msg = if self.parts > 0 {
            format!("{} ({} parts uploaded)", self.last_log, self.parts)
        } else {
            self.last_log.clone()
        };
        self.spinner().set_message(msg);
    }

    /// Shows one event.
    pub fn event(&mut self, event: &Event) {
        if self.style == Style::Quiet {
            return;
        }
        match event {
            Event::BookmarkLearned(b) => {
                if self.style == Style::Plain || self.verbose > 0 {
                    self.line(&format!("export started at bookmark {b}"));
                }
                self.last_log = "started".into();
                self.spin_message();
            }
            Event::Log(text) => {
                if self.style == Style::Plain || self.verbose > 0 {
                    self.line(&format!("service: {text}"));
                }
                self.last_log = text.clone();
                self.spin_message();
            }
            Event::PartUploaded { distinct_parts, .. } => {
                self.parts = *distinct_parts;
                self.spin_message();
            }
            Event::UnknownStatus(s) => self.line(&format!(
                "warning: unknown export status {s:?}; still polling"
            )),
            Event::RetryScheduled {
                attempt,
                delay,
                reason,
            } => self.line(&format!(
                "retrying in {:.1}s (attempt {attempt}): {reason}",
                delay.as_secs_f64()
            )),
            Event::ExportRestarted { reason } => self.line(&format!(
                "the service lost the export ({reason}); started a new one"
            )),
            Event::ExportReady { filename, .. } => {
                self.line(&format!("dump {filename} ready; downloading"));
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            Event::RefreshingUrl => self.line("the download link expired; asking for a fresh one"),
            Event::DownloadStarted { from } if *from > 0 => {
                self.line(&format!("resuming the download at byte {from}"))
            }
            Event::DownloadStarted { .. } => {}
            Event::DownloadRestarted => self.line("the download restarts from the beginning"),
            Event::DownloadProgress { received, total } => self.progress(*received, *total),
            Event::Completed(_) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            // An import's events are shown by the import's own reporter.
            Event::UploadStarted { .. }
            | Event::UploadProgress { .. }
            | Event::UploadVerified
            | Event::UploadSkipped
            | Event::ImportStarted { .. }
            | Event::ImportCompleted(_) => {}
        }
    }

    fn progress(&mut self, received: u64, total: Option<u64>) {
        match self.style {
            Style::Terminal => {
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
                    let template = if total.is_some() {
                        "{bar:30} {bytes:>10}/{total_bytes:10} {binary_bytes_per_sec:>12} eta {eta}"
                    } else {
                        "{spinner} {bytes:>10} {binary_bytes_per_sec:>12}"
                    };
                    bar.set_style(
                        ProgressStyle::with_template(template)
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar
                });
                if let Some(t) = total {
                    bar.set_length(t);
                }
                bar.set_position(received);
            }
            Style::Plain => {
                if let Some(t) = total.filter(|t| *t > 0) {
                    let tenth = received.saturating_mul(10) / t;
                    if tenth >= self.next_tenth && tenth < 10 {
                        self.line(&format!(
                            "downloaded {}% ({received} of {t} bytes)",
                            tenth * 10
                        ));
                        self.next_tenth = tenth + 1;
                    }
                }
            }
            Style::Quiet => {}
        }
    }

    /// Clears any bar (before an error is printed).
    pub fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
