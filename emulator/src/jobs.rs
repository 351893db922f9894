//! Export jobs: their life cycle, messages, dump files and signed URLs.
//!
//! A job is **active** from its starting POST until it completes, fails or is cancelled. At
//! most one job per database is active.
//!
//! A job's bookmark is the database's time-travel bookmark when it started (see
//! [`bookmark`](crate::bookmark)), so two exports of an unchanged database share one. Jobs
//! have ids of their own; polls find a job by (database, bookmark), which leads to the newest
//! job started with that bookmark. A new job replaces a finished one with the same bookmark
//! in that index, but the older job (its dump file and signed URLs) is kept. The dump is written by a thread of its own; the job
//! completes on the first poll at which the dump is written and the [`Timing`] conditions
//! hold. A completed job keeps its dump file (and answers polls with `complete` and a valid
//! URL) until the emulator stops.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Timing;
use crate::stats::Stats;

/// Where the job's dump stands.
#[derive(Debug)]
pub(crate) enum Phase {
    Generating,
    Written { path: PathBuf, size: u64 },
    Failed(String),
}

/// What the job answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobState {
    Active,
    Complete,
    /// `result.status = "error"` with this message.
    Error(String),
    /// `result = {success: false, error}` with this message.
    Failure(String),
    Cancelled,
}

/// A job's id (unique within an emulator).
pub(crate) type JobId = u64;

#[derive(Debug)]
pub(crate) struct Job {
    pub db_uuid: String,
    /// The database's bookmark when the job started (its `at_bookmark`).
    pub bookmark: String,
    /// Random hex unique to the job (in its file name and download `ETag`).
    pub tag: String,
    pub filename: String,
    pub started: Instant,
    pub last_poll: Instant,
    /// Requests that carried this job's bookmark.
    pub polls: u64,
    pub state: JobState,
    pub phase: Phase,
    /// Log lines not yet delivered.
    pub messages: Vec<String>,
    pub parts: u64,
    pub cancel: Arc<AtomicBool>,
    /// The token of the newest signed URL.
    pub grant: Option<String>,
    pub grants_issued: u64,
    /// GET download attempts.
    pub downloads: u64,
    /// The object behind the job's URL was changed (the `change_object_after_first_download`
    /// fault).
    pub object_changed: bool,
}

impl Job {
    pub fn is_active(&self) -> bool {
        self.state == JobState::Active
    }

    pub fn take_messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }
}

/// A signed URL.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub job: JobId,
    pub signature: String,
    pub issued: SystemTime,
    pub expires: Instant,
    pub lifetime: Duration,
    /// Issued already expired (the `expire_first_url` fault).
    pub born_expired: bool,
}

impl Grant {
    pub fn expired(&self, now: Instant) -> bool {
        self.born_expired || now >= self.expires
    }
}

/// A small, fast, non-cryptographic generator for ids and signatures.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        Rng(h.finish() | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits + 16);
        while s.len() < digits {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(digits);
        s
    }
}

/// All jobs and signed URLs.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    pub jobs: HashMap<JobId, Job>,
    /// The newest job of each (database uuid, bookmark).
    index: HashMap<(String, String), JobId>,
    pub grants: HashMap<String, Grant>,
    seq: JobId,
}

impl Jobs {
    /// The active job of a database, if any.
    pub fn active_for(&self, db_uuid: &str) -> Option<&Job> {
        self.jobs
            .values()
            .find(|j| j.db_uuid == db_uuid && j.is_active())
    }

    /// The newest job of database `db_uuid` (as configured) started at `bookmark`.
    pub fn find(&self, db_uuid: &str, bookmark: &str) -> Option<JobId> {
        self.index
            .get(&(db_uuid.to_owned(), bookmark.to_owned()))
            .copied()
    }

    /// Creates an active job of database `db_uuid` (as configured) at `bookmark`, which
    /// polls with that bookmark then find (in place of any earlier job with it); returns its id.
    pub fn create(&mut self, rng: &mut Rng, db_uuid: &str, bookmark: &str, now: Instant) -> JobId {
        self.seq += 1;
        let id = self.seq;
        let tag = format!("{:08x}", rng.next_u64() & 0xffff_ffff);
        let filename = format!("{db_uuid}-{tag}.sql");
        let job = Job {
            db_uuid: db_uuid.to_owned(),
            bookmark: bookmark.to_owned(),
            tag,
            messages: vec![format!("Generating {filename}")],
            filename,
            started: now,
            last_poll: now,
            polls: 0,
            state: JobState::Active,
            phase: Phase::Generating,
            parts: 0,
            cancel: Arc::new(AtomicBool::new(false)),
            grant: None,
            grants_issued: 0,
            downloads: 0,
            object_changed: false,
        };
        self.jobs.insert(id, job);
        self.index
            .insert((db_uuid.to_owned(), bookmark.to_owned()), id);
        id
    }

    /// Cancels active jobs not polled within `idle`; returns how many.
    pub fn sweep(&mut self, idle: Duration, now: Instant, stats: &mut Stats) -> usize {
        let mut n = 0;
        for job in self.jobs.values_mut() {
            if job.is_active() && now.saturating_duration_since(job.last_poll) > idle {
                cancel(job, stats);
                n += 1;
            }
        }
        n
    }

    /// Cancels every active job (at shutdown).
    pub fn cancel_all(&mut self, stats: &mut Stats) {
        for job in self.jobs.values_mut().filter(|j| j.is_active()) {
            cancel(job, stats);
        }
    }

    /// Moves an active job on if it can: failed dump → error, ready → complete. Returns true
    /// when the job is no longer active.
    pub fn settle(&mut self, id: JobId, timing: &Timing, now: Instant, stats: &mut Stats) -> bool {
        let Some(job) = self.jobs.get_mut(&id) else {
            return true;
        };
        if !job.is_active() {
            return true;
        }
        match &job.phase {
            Phase::Generating => false,
            Phase::Failed(e) => {
                job.state = JobState::Failure(e.clone());
                stats.jobs_failed += 1;
                true
            }
            Phase::Written { .. } => {
                let ready = job.polls >= u64::from(timing.polls_before_complete)
                    && now.saturating_duration_since(job.started) >= timing.min_export_time;
                if ready {
                    let parts = job.parts.max(1);
                    job.messages.push(format!(
                        "Finished uploading {} in {parts} parts.",
                        job.filename
                    ));
                    job.state = JobState::Complete;
                    stats.jobs_completed += 1;
                }
                ready
            }
        }
    }

    /// When a waiting poll should look again, at the latest: the moment the minimum export
    /// time is reached (if that is what it waits for) or `deadline`.
    pub fn wake_at(&self, id: JobId, timing: &Timing, deadline: Instant) -> Instant {
        match self.jobs.get(&id) {
            Some(job) if matches!(job.phase, Phase::Written { .. }) => {
                deadline.min(job.started + timing.min_export_time)
            }
            _ => deadline,
        }
    }

    /// The job's valid signed URL token, issuing a new one if it has none or it expired.
    pub fn current_grant(
        &mut self,
        id: JobId,
        rng: &mut Rng,
        lifetime: Duration,
        expire_first: bool,
        now: Instant,
        stats: &mut Stats,
    ) -> Option<String> {
        let job = self.jobs.get_mut(&id)?;
        if let Some(token) = &job.grant {
            if self.grants.get(token).is_some_and(|g| !g.expired(now)) {
                return Some(token.clone());
            }
        }
        let born_expired = expire_first && job.grants_issued == 0;
        if born_expired {
            stats.record_fault("expired_url");
        }
        job.grants_issued += 1;
        let token = rng.hex(32);
        job.grant = Some(token.clone());
        self.grants.insert(
            token.clone(),
            Grant {
                job: id,
                signature: rng.hex(64),
                issued: SystemTime::now(),
                expires: now + lifetime,
                lifetime,
                born_expired,
            },
        );
        Some(token)
    }
}

fn cancel(job: &mut Job, stats: &mut Stats) {
    job.state = JobState::Cancelled;
    job.cancel.store(true, Ordering::Relaxed);
    stats.jobs_cancelled += 1;
    if let Phase::Written { path, .. } = &job.phase {
        let _ = std::fs::remove_file(path);
    }
}

/// Appends `Uploaded part N` messages as parts complete, two at a time in reverse order
/// (2, 1, 4, 3, ...) like D1's parallel uploads.
#[derive(Debug)]
pub(crate) struct PartCounter {
    part_size: u64,
    done: u64,
    announced: u64,
}

impl PartCounter {
    pub fn new(part_size: u64) -> PartCounter {
        PartCounter {
            part_size: part_size.max(1),
            done: 0,
            announced: 0,
        }
    }

    /// Messages for the parts completed by `bytes` written (pairs only).
    pub fn advance(&mut self, bytes: u64) -> Vec<String> {
        self.done = bytes / self.part_size;
        let mut out = Vec::new();
        while self.announced + 2 <= self.done {
            let a = self.announced + 1;
            out.push(format!("Uploaded part {}", a + 1));
            out.push(format!("Uploaded part {a}"));
            self.announced += 2;
        }
        out
    }

    /// Messages for the remaining parts once the dump is `size` bytes; and the part count.
    pub fn finish(&mut self, size: u64) -> (Vec<String>, u64) {
        let total = size.div_ceil(self.part_size).max(1);
        let mut out = self.advance(size);
        for p in (self.announced + 1..=total).rev() {
            out.push(format!("Uploaded part {p}"));
        }
        self.announced = total;
        (out, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_out_of_order() {
        let mut p = PartCounter::new(10);
        assert!(p.advance(15).is_empty());
        assert_eq!(p.advance(20), vec!["Uploaded part 2", "Uploaded part 1"]);
        let (rest, total) = p.finish(45);
        assert_eq!(
            rest,
            vec!["Uploaded part 4", "Uploaded part 3", "Uploaded part 5"]
        );
        assert_eq!(total, 5);
        let (rest, total) = PartCounter::new(10).finish(0);
        assert_eq!((rest, total), (vec!["Uploaded part 1".to_owned()], 1));
    }
}
