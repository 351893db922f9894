//! What the user sees while an export runs: a spinner and a byte bar on a terminal, plain log
//! lines otherwise, nothing with `--quiet`. Everything goes to stderr, so `-o -` and `--json`
//! keep stdout for data.

use crate::fit::{columns, one_line, shorten};
use crate::text::clean;
use d1_export_core::Event;
use indicatif::{
    BinaryBytes, HumanBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState,
    ProgressStyle,
};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// What the spinner line says after its clock; read at every redraw, which fits it to the
    /// terminal's width at that moment.
    status: Arc<Mutex<String>>,
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
            status: Arc::default(),
            parts: 0,
            last_log: String::new(),
            next_tenth: 1,
        }
    }

    /// Prints a line (above the bar on a terminal), its control characters replaced: lines
    /// carry names and text from the service.
    pub fn line(&self, text: &str) {
        let text = crate::text::clean(text);
        match (&self.bar, self.style) {
            (_, Style::Quiet) => {}
            (Some(bar), Style::Terminal) => bar.println(text),
            _ => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn spinner(&mut self) -> &ProgressBar {
        let status = Arc::clone(&self.status);
        self.bar
            .get_or_insert_with(|| status_spinner("exporting", status))
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
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = msg;
        self.spinner().tick();
    }

    /// Shows one event.
    pub fn event(&mut self, event: &Event) {
        if self.style == Style::Quiet {
            return;
        }
        match event {
            Event::BookmarkLearned(b) => {
                if self.style == Style::Plain || self.verbose > 0 {
                    self.line(&format!("export started at bookmark {}", clean(b)));
                }
                self.last_log = "started".into();
                self.spin_message();
            }
            Event::Log(text) => {
                if self.style == Style::Plain || self.verbose > 0 {
                    self.line(&format!("service: {}", clean(text)));
                }
                self.last_log = clean(text).into_owned();
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
                "retrying in {:.1}s (attempt {attempt}): {}",
                delay.as_secs_f64(),
                clean(&reason.to_string())
            )),
            Event::PausedByService { pause, max_gap } => self.line(&format!(
                "the service asked for a {:.0}s pause, longer than the {:.0}s between polls that keeps an export alive; it may cancel the export meanwhile",
                pause.as_secs_f64(),
                max_gap.as_secs_f64()
            )),
            Event::ExportRestarted { reason } => self.line(&format!(
                "the service lost the export ({}); started a new one",
                clean(reason)
            )),
            Event::ExportReady { filename, .. } => {
                self.line(&format!("dump {} ready; downloading", clean(filename)));
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
            // An export never emits these; the import command reports its own events.
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
                let bar = self.bar.get_or_insert_with(|| byte_bar(total, ""));
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

/// The columns `{spinner} ` takes before the text.
const SPINNER_COLUMNS: usize = 2;

/// The widest the byte bar gets.
const BAR_COLUMNS: usize = 30;

/// The terminal's width now (stderr's; 80 if it cannot be told), less one column so a full
/// line never makes the terminal wrap on its last column.
fn terminal_width() -> usize {
    let (_, cols) = console::Term::stderr().size_checked().unwrap_or((24, 80));
    usize::from(cols).saturating_sub(1)
}

/// A spinner on stderr whose line reads `⠋   5s <verb>: <status>`: `status` is read at every
/// redraw and fitted, with the terminal's width measured then, so the line never wraps (also
/// after a resize).
pub fn status_spinner(verb: &'static str, status: Arc<Mutex<String>>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {status}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "status",
            move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let text = status.lock().unwrap_or_else(PoisonError::into_inner);
                let room = terminal_width().saturating_sub(SPINNER_COLUMNS);
                let _ = w.write_str(&status_line(state.elapsed(), verb, &text, room));
            },
        );
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A byte bar on stderr, `<label><bar> <bytes>/<total> <rate> eta <time>` (a spinner and the
/// figures when the total is unknown), fitted to the terminal's width at every redraw.
pub fn byte_bar(total: Option<u64>, label: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let (template, reserved) = if total.is_some() {
        ("{transfer}", 0)
    } else {
        ("{spinner} {transfer}", SPINNER_COLUMNS)
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "transfer",
            move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let transfer = Transfer {
                    received: state.pos(),
                    total: state.len(),
                    per_sec: state.per_sec(),
                    eta: state.eta(),
                };
                let room = terminal_width().saturating_sub(reserved);
                let _ = w.write_str(&labelled(label, room, |room| transfer.line(room)));
            },
        );
    bar.set_style(style);
    bar
}

/// `label` then what `line` makes of the columns left; the label shortened alone when even
/// it does not fit.
fn labelled(label: &str, room: usize, line: impl FnOnce(usize) -> String) -> String {
    let label_columns = columns(label);
    if label_columns >= room {
        return shorten(label.trim_end(), room).into_owned();
    }
    format!("{label}{}", line(room - label_columns))
}

/// The spinner line after the spinner: `  5s <verb>: <status>`, in `room` columns; a long
/// status keeps its start and its end.
fn status_line(elapsed: Duration, verb: &str, status: &str, room: usize) -> String {
    let head = format!("{:>4} {verb}: ", format!("{:#}", HumanDuration(elapsed)));
    let head_columns = columns(&head);
    if head_columns >= room {
        return shorten(head.trim_end(), room).into_owned();
    }
    format!("{head}{}", shorten(&one_line(status), room - head_columns))
}

/// The state of a download, as the byte bar shows it.
struct Transfer {
    received: u64,
    total: Option<u64>,
    per_sec: f64,
    eta: Duration,
}

impl Transfer {
    /// The bar line in `room` columns: the bar (at most [`BAR_COLUMNS`], only what is left
    /// beside the figures), bytes, total, rate, time left.
    fn line(&self, room: usize) -> String {
        let rate = format!("{}/s", BinaryBytes(self.per_sec as u64));
        let Some(total) = self.total else {
            let figures = format!("{:>10} {rate:>12}", HumanBytes(self.received));
            return shorten(&figures, room).into_owned();
        };
        let figures = format!(
            "{:>10}/{:10} {rate:>12} eta {:#}",
            HumanBytes(self.received).to_string(),
            HumanBytes(total).to_string(),
            HumanDuration(self.eta)
        );
        let figure_columns = columns(&figures);
        let bar_columns = room.saturating_sub(figure_columns + 1).min(BAR_COLUMNS);
        if bar_columns < 5 {
            // No room for a bar: the figures alone, without their alignment padding.
            let compact = format!(
                "{}/{} {rate} eta {:#}",
                HumanBytes(self.received),
                HumanBytes(total),
                HumanDuration(self.eta)
            );
            return shorten(&compact, room).into_owned();
        }
        let fraction = if total == 0 {
            1.0
        } else {
            (self.received as f64 / total as f64).clamp(0.0, 1.0)
        };
        let filled = ((fraction * bar_columns as f64) as usize).min(bar_columns);
        format!(
            "{}{} {figures}",
            "█".repeat(filled),
            "░".repeat(bar_columns - filled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str =
        "database-export-2026-12-01T08-00-00-0123456789abcdef-with-a-long-suffix-for-testing.sql";

    #[test]
    fn a_long_status_is_shortened_to_the_width_keeping_both_ends() {
        let status = format!("Uploaded part 3 of {NAME}");
        assert!(columns(&status) > 100);
        for room in [200, 120, 80, 60, 40] {
            let line = status_line(Duration::from_secs(5), "exporting", &status, room);
            assert!(columns(&line) <= room, "{room}: {line:?}");
            assert!(line.starts_with("  5s exporting: "), "{line:?}");
            if columns(&status) + 16 > room {
                assert!(line.contains('…'), "{room}: {line:?}");
                assert!(line.contains("Uploaded"), "{room}: start lost in {line:?}");
                assert!(line.ends_with(".sql"), "{room}: end lost in {line:?}");
            } else {
                assert!(line.ends_with(&status));
            }
        }
    }

    #[test]
    fn a_resize_refits_the_same_status() {
        // The same status drawn before and after the terminal narrowed (the width is measured
        // at every redraw): each line fits its width.
        let status = format!("{NAME} {NAME}");
        let wide = status_line(Duration::from_secs(65), "exporting", &status, 150);
        let narrow = status_line(Duration::from_secs(65), "exporting", &status, 50);
        assert_eq!(columns(&wide), 150);
        assert_eq!(columns(&narrow), 50);
        assert!(
            wide.starts_with(" 65s exporting: database-export"),
            "{wide:?}"
        );
        assert!(narrow.ends_with("testing.sql"), "{narrow:?}");
    }

    #[test]
    fn a_multi_line_status_stays_on_one_line() {
        let line = status_line(Duration::ZERO, "exporting", "first\nsecond\r\n", 80);
        assert!(!line.contains(['\n', '\r']), "{line:?}");
        assert!(line.contains("first second"));
    }

    #[test]
    fn a_very_narrow_terminal_still_gets_one_line() {
        for room in 0..20 {
            let line = status_line(Duration::from_secs(3), "importing", NAME, room);
            assert!(columns(&line) <= room, "{room}: {line:?}");
        }
    }

    #[test]
    fn a_labelled_bar_line_fits_every_width() {
        let transfer = Transfer {
            received: 3 * 1024 * 1024,
            total: Some(1024 * 1024 * 1024),
            per_sec: 80.0 * 1024.0 * 1024.0,
            eta: Duration::from_secs(13),
        };
        for room in 0..160 {
            let line = labelled("uploading ", room, |r| transfer.line(r));
            assert!(columns(&line) <= room, "{room}: {line:?}");
            if room > 10 {
                assert!(line.starts_with("uploading "), "{room}: {line:?}");
            }
        }
    }

    #[test]
    fn the_bar_line_fits_every_width() {
        let transfer = Transfer {
            received: 512 * 1024 * 1024,
            total: Some(1024 * 1024 * 1024),
            per_sec: 300.0 * 1024.0 * 1024.0,
            eta: Duration::from_secs(2),
        };
        let full = transfer.line(200);
        let bar: String = full
            .chars()
            .take_while(|c| matches!(c, '█' | '░'))
            .collect();
        assert_eq!(columns(&bar), BAR_COLUMNS, "{full:?}");
        assert_eq!(bar.chars().filter(|c| *c == '█').count(), BAR_COLUMNS / 2);
        assert!(full.contains("512.00 MiB/1.00 GiB"), "{full:?}");
        for room in 0..200 {
            let line = transfer.line(room);
            assert!(columns(&line) <= room, "{room}: {line:?}");
        }
        // Narrow: the bar gives way to the figures, unpadded, whole while they fit.
        let narrow = transfer.line(40);
        assert_eq!(narrow, "512.00 MiB/1.00 GiB 300.00 MiB/s eta 2s");
        let narrower = transfer.line(30);
        assert!(narrower.starts_with("512.00 MiB/"), "{narrower:?}");
        assert!(narrower.ends_with("eta 2s"), "{narrower:?}");
        let unknown = Transfer {
            total: None,
            ..transfer
        };
        for room in 0..60 {
            assert!(columns(&unknown.line(room)) <= room);
        }
    }
}
