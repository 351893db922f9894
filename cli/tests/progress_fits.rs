//! On a terminal, the spinner and bar lines fit its width, measured at every redraw: a real
//! pseudo-terminal (driven by `tests/support/pty_resize.py`) is narrowed from 120 to 50
//! columns in the middle of an export, and every progress line drawn after that fits 50.

use d1_emulator::{Emulator, EmulatorConfig};
use std::process::Command;
use std::time::Duration;
use unicode_width::UnicodeWidthStr;

const DB: &str = "f17f17f1-0000-4000-8000-000000000001";

/// The visible text of one drawn line: escape sequences removed.
fn visible(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn progress_lines_fit_the_terminal_also_after_a_resize() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fits.sqlite");
    d1_emulator::sample::generate(&db, 64 * 1024).unwrap();
    let emulator = Emulator::start(
        EmulatorConfig::new()
            .database(DB, &db)
            .database_name(DB, "a-database-with-a-rather-long-name-for-this-test")
            .work_dir(dir.path().join("emu"))
            .polls_before_complete(8)
            .poll_hold(Duration::from_millis(300)),
    )
    .unwrap();
    let out = dir.path().join("out.sql");
    let o = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/pty_resize.py"
        ))
        .arg(env!("CARGO_BIN_EXE_d1-export"))
        .arg(DB)
        .arg("-o")
        .arg(&out)
        .env("CLOUDFLARE_API_TOKEN", emulator.token())
        .env("CLOUDFLARE_ACCOUNT_ID", emulator.account_id())
        .env("CLOUDFLARE_API_BASE_URL", emulator.base_url())
        .env("RESIZE_AFTER", "2.5")
        .output()
        .expect("python3 runs");
    let drawn = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{drawn}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.exists());
    let (before, after) = drawn
        .split_once("\n=== RESIZED ===\n")
        .expect("the export outlasted the resize");
    // A progress line starts at the spinner glyph (braille) or the bar; what precedes it in
    // the same stretch of output is a log line printed above it (padded to whole rows).
    let progress = |text: &str| -> Vec<String> {
        text.split(['\r', '\n'])
            .map(visible)
            .filter_map(|l| {
                let start = l.find(|c: char| {
                    ('\u{2800}'..='\u{28ff}').contains(&c) || c == '█' || c == '░'
                })?;
                let line = l[start..].trim_end().to_owned();
                (line.contains("exporting:") || line.contains("B/s")).then_some(line)
            })
            .collect()
    };
    let (before, after) = (progress(before), progress(after));
    // Before: the long status used the width (more than the later 50 columns) and fit 120.
    assert!(
        before.iter().any(|l| l.width() > 50),
        "no wide line before the resize: {before:#?}"
    );
    assert!(before.iter().all(|l| l.width() <= 120), "{before:#?}");
    // After (the first redraw may still be in flight when the size changes): 50.
    let redrawn = &after[after.len().min(1)..];
    assert!(!redrawn.is_empty(), "nothing drawn after the resize");
    for line in redrawn {
        assert!(line.width() <= 50, "{} columns: {line:?}", line.width());
    }
    // Both ends of the shortened status stay: the spinner's clock and the text's end.
    assert!(
        redrawn.iter().any(|l| l.contains('…')),
        "nothing shortened after the resize: {redrawn:#?}"
    );
}
