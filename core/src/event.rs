//! What a caller is told while an export runs.

use crate::error::Transient;
use std::time::Duration;

/// The result of a whole export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The service's name for the dump file.
    pub filename: String,
    /// The time-travel bookmark the dump was taken at.
    pub bookmark: Option<String>,
    /// Bytes of the verified file.
    pub bytes: u64,
}

/// Something that happened, for logs and progress displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The service started the export and told its bookmark.
    BookmarkLearned(String),
    /// A log line of the service (`result.messages`).
    Log(String),
    /// An `"Uploaded part N"` line; parts arrive out of order, so distinct ones are counted.
    PartUploaded {
        /// The part's number.
        part: u32,
        /// Distinct parts seen so far.
        distinct_parts: usize,
    },
    /// A status this crate does not know, treated as still running.
    UnknownStatus(String),
    /// A failure that may pass; the next attempt waits `delay`.
    RetryScheduled {
        /// The number of the coming attempt (2 for the first retry).
        attempt: u32,
        /// How long until then.
        delay: Duration,
        /// What failed.
        reason: Transient,
    },
    /// The service forced a pause (`Retry-After`) longer than `max_gap` while the export
    /// runs: the service may cancel the export meanwhile (then it is started again once,
    /// unless restarts are forbidden; see [`crate::JobGonePolicy`]).
    PausedByService {
        /// How long the next poll waits (the service's `Retry-After`, capped at
        /// `max_retry_after`).
        pause: Duration,
        /// The longest gap between polls our own pacing and back-off allow.
        max_gap: Duration,
    },
    /// The service lost the job, and a new export was started as configured.
    ExportRestarted {
        /// The service's message.
        reason: String,
    },
    /// The dump is ready to download.
    ExportReady {
        /// The service's file name.
        filename: String,
        /// The bookmark.
        bookmark: Option<String>,
    },
    /// The signed URL expired; polling once more for a fresh one.
    RefreshingUrl,
    /// A download request is going out.
    DownloadStarted {
        /// Bytes already in the sink (non-zero when resuming).
        from: u64,
    },
    /// The download server ignored the range (or contradicted it): the sink starts over.
    DownloadRestarted,
    /// Bytes in the sink so far.
    DownloadProgress {
        /// Bytes received, earlier attempts included.
        received: u64,
        /// The file's size, when known.
        total: Option<u64>,
    },
    /// The export is complete and the file verified.
    Completed(Outcome),
    /// An import's upload request is going out (the whole file, `bytes` long).
    UploadStarted {
        /// The file's size.
        bytes: u64,
    },
    /// Bytes of the file sent so far (coalesced like downloads; and at the body's end).
    UploadProgress {
        /// Bytes sent in this attempt.
        sent: u64,
        /// The file's size.
        total: u64,
    },
    /// The upload URL's reply proved the file arrived intact (its `ETag` is the md5).
    UploadVerified,
    /// The service already had the file (init answered with the running import): no upload.
    UploadSkipped,
    /// The service started the import and told its bookmark (fixed for the import).
    ImportStarted {
        /// `at_bookmark`.
        bookmark: String,
    },
    /// The import is complete.
    ImportCompleted(crate::import::ImportOutcome),
}
