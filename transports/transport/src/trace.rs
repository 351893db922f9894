//! `tracing` events for library users: retries, pacing waits, pauses and restarts, and the
//! milestones of a run, from both drivers (they share the loop that calls these). Nothing is
//! emitted unless the embedding program installs a subscriber; every event has the target
//! [`TARGET`], so `RUST_LOG=d1_export=debug` (with `tracing-subscriber`'s `EnvFilter`) shows
//! them all. No token, signed URL or storage credential is ever a field; text that came
//! from the service is recorded with its control characters escaped (`Debug`).

use d1_export_core::Event;
use std::time::Instant;

/// The target of every event.
pub const TARGET: &str = "d1_export";

/// One core event: retries and what the service forced at `info`/`warn`, an export's
/// milestones at `debug`, everything else (byte progress, uploads) at `trace`.
pub fn event(event: &Event) {
    match event {
        Event::RetryScheduled {
            attempt,
            delay,
            reason,
        } => tracing::info!(
            target: TARGET,
            attempt,
            delay_ms = delay.as_millis() as u64,
            reason = ?reason.to_string(),
            "retry scheduled"
        ),
        Event::PausedByService { pause, max_gap } => tracing::warn!(
            target: TARGET,
            pause_ms = pause.as_millis() as u64,
            max_gap_ms = max_gap.as_millis() as u64,
            "the service forced a pause longer than the export's poll gap"
        ),
        Event::ExportRestarted { reason } => {
            tracing::warn!(target: TARGET, reason = ?reason, "export restarted")
        }
        Event::UnknownStatus(status) => {
            tracing::warn!(target: TARGET, status = ?status, "unknown export status; still polling")
        }
        Event::BookmarkLearned(bookmark) => {
            tracing::debug!(target: TARGET, bookmark = ?bookmark, "export started")
        }
        Event::Log(line) => tracing::debug!(target: TARGET, line = ?line, "service log"),
        Event::ExportReady { filename, .. } => {
            tracing::debug!(target: TARGET, filename = ?filename, "dump ready")
        }
        Event::RefreshingUrl => {
            tracing::info!(target: TARGET, "download URL expired; asking for a fresh one")
        }
        Event::DownloadStarted { from } => {
            tracing::debug!(target: TARGET, from, "download started")
        }
        Event::DownloadRestarted => {
            tracing::info!(target: TARGET, "download restarts from byte 0")
        }
        Event::Completed(outcome) => tracing::debug!(
            target: TARGET,
            bytes = outcome.bytes,
            "export completed"
        ),
        // Progress, uploads and import milestones: the whole event, at the finest level.
        other => tracing::trace!(target: TARGET, event = ?other, "event"),
    }
}

/// The machine asked to wait until `at` (pacing between polls, or a back-off).
pub fn wait(at: Instant) {
    let ms = at.saturating_duration_since(Instant::now()).as_millis() as u64;
    tracing::debug!(target: TARGET, wait_ms = ms, "pacing: waiting");
}
