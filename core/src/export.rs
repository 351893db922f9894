//! The export machine: starting → polling (with the bookmark) → downloading (→ refreshing
//! the URL → downloading) → done. Its state is one enum, [`Phase`]: a combination that
//! cannot happen cannot be written.

use crate::clock::Clock;
use crate::config::{Config, Job, JobGonePolicy};
use crate::download::{
    foreign_coding, framing, judge_end, judge_head, EndVerdict, FileIdentity, Framing, HeadVerdict,
};
use crate::error::{Error, Hint, ProtocolError, Transient};
use crate::event::{Event, Outcome};
use crate::io::{input_name, Input, InputError, Machine, Output, RequestId};
use crate::reply::{
    parse_export_reply, retry_after, uploaded_part, ExportStatus, Progress, ReplyError,
};
use crate::request::{api_request, download_request, export_body, export_uri};
use crate::secret::SignedUrl;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Why an export could not even be set up (caller mistakes, found before any request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The dump options conflict.
    #[error("{0}")]
    Options(crate::options::InvalidOptions),
    /// The endpoint URI could not be formed.
    #[error("cannot form the export URL: {0}")]
    Uri(String),
    /// The pacing policy is inconsistent (`min_interval` above `max_gap`, or a zero
    /// `max_attempts`).
    #[error("invalid policy: {0}")]
    Policy(&'static str),
}

/// The state of an export, as a caller may inspect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State<'a> {
    /// Nothing sent yet.
    Idle,
    /// Polling the export endpoint; the bookmark once the service told it.
    Polling {
        /// The export's bookmark.
        bookmark: Option<&'a str>,
    },
    /// Downloading the dump.
    Downloading {
        /// Bytes verified in the sink.
        received: u64,
    },
    /// The file is whole.
    Complete,
    /// The export failed (see [`Output::Done`]).
    Failed,
}

/// Where the file stands while downloading.
#[derive(Debug, Clone)]
struct Download {
    url: SignedUrl,
    filename: String,
    /// Bytes in the sink, verified as part of the file.
    have: u64,
    /// The most bytes ever held of this file: a resumption after passing it brought bytes,
    /// and does not count against `max_resumes`.
    best: u64,
    /// The file's validator and size from its first head: every resumption must show the
    /// same, or the download starts over (two files are never stitched).
    identity: Option<FileIdentity>,
    /// The whole file's size, when the current body's head told it.
    total: Option<u64>,
    /// How the current body's end is vouched for.
    framing: Framing,
    /// The next request confirms the length of a body that ended with its connection.
    confirming: bool,
}

impl Download {
    fn new(url: SignedUrl, filename: String) -> Self {
        Self {
            url,
            filename,
            have: 0,
            best: 0,
            identity: None,
            total: None,
            framing: Framing::Framed,
            confirming: false,
        }
    }
}

/// Where a poll (or the start) stands.
#[derive(Debug, Clone, Copy)]
enum Request {
    /// The next request is due then.
    Due(Instant),
    /// It is out since `sent_at`.
    Out { id: RequestId, sent_at: Instant },
}

/// Where a download request and its body stand.
#[derive(Debug, Clone, Copy)]
enum Transfer {
    /// The next download request is due then (`announced`: `DownloadStarted` went out).
    Due { at: Instant, announced: bool },
    /// The request is out; its head is awaited.
    Head { id: RequestId },
    /// The head was accepted; the body goes to the sink from `start_at`.
    BodyReady { id: RequestId, start_at: u64 },
    /// The body streams.
    Body { id: RequestId, start_at: u64 },
}

/// The export's one state.
#[derive(Debug)]
enum Phase {
    /// No bookmark yet: the request that starts the export (`attempts` of it went out).
    Starting {
        request: Request,
        attempts: u32,
        /// A "running" reply came without a bookmark: a later "already running" is that
        /// export, and giving up says so.
        bookmarkless: bool,
    },
    /// Polling the running export with its bookmark.
    Polling {
        bookmark: String,
        request: Request,
        /// The next poll is the first after the start: it goes at once.
        at_once: bool,
    },
    /// The signed URL expired: polling once more for a fresh one, the bytes kept.
    Refreshing {
        bookmark: Option<String>,
        request: Request,
        kept: Download,
    },
    /// Downloading the dump.
    Downloading {
        bookmark: Option<String>,
        download: Download,
        transfer: Transfer,
    },
    /// Finished; the result is in `clock`, the bookmark kept for the caller.
    Done { bookmark: Option<String> },
}

/// Run-wide tallies that outlive a phase.
#[derive(Debug, Default)]
struct Tally {
    /// Distinct `Uploaded part N` seen.
    parts: BTreeSet<u32>,
    /// A lost job was already started again once.
    restarted: bool,
    /// Replies in a row with a status this crate does not know.
    unknown_in_row: u32,
    url_refreshes: u32,
    /// Resumptions that brought no new bytes.
    resumes: u32,
    /// Bytes last reported in `DownloadProgress`.
    reported: u64,
    /// When the last API request went out: the next one waits `min_interval` from it (the
    /// first poll after the first start excepted), so no input sequence makes a storm.
    last_api_sent: Option<Instant>,
}

/// One export of one database: a pure state machine.
///
/// See the [crate documentation](crate) for the driving loop.
#[derive(Debug)]
pub struct Export {
    config: Config,
    /// The most a running export's retry backs off (`max_gap`, less in a fleet).
    poll_retry_cap: Duration,
    job: Job,
    uri: http::Uri,
    /// `Authorization`, built once (marked sensitive).
    authorization: http::HeaderValue,
    /// The request body for the current bookmark, built once per bookmark.
    body: (Option<String>, Vec<u8>),
    clock: Clock<Outcome>,
    phase: Phase,
    tally: Tally,
}

/// `DownloadProgress` is reported at most once per this many bytes (256 KiB), and at each
/// body's end.
pub const PROGRESS_STEP: u64 = 256 << 10;

fn starting(at: Instant) -> Phase {
    Phase::Starting {
        request: Request::Due(at),
        attempts: 0,
        bookmarkless: false,
    }
}

impl Export {
    /// Sets up an export starting at `now`. Checks the options and policies; sends nothing.
    pub fn new(config: Config, job: Job, now: Instant) -> Result<Self, SetupError> {
        job.options.validate().map_err(SetupError::Options)?;
        config.validate()?;
        let uri = export_uri(&config.api_base, &job).map_err(|e| SetupError::Uri(e.to_string()))?;
        let clock = Clock::new(now, config.deadline, config.retry);
        let authorization = config.token.header_value();
        let body = (None, export_body(&job, None));
        Ok(Self {
            poll_retry_cap: config.pacing.max_gap,
            config,
            job,
            uri,
            authorization,
            body,
            clock,
            phase: starting(now),
            tally: Tally::default(),
        })
    }

    /// In a [`crate::Fleet`]: a running export's retry waits at most `cap` (not `max_gap`).
    /// The shared budget paces the API there, and the scheduler, which knows every export's
    /// deadline, decides when the retry goes; a back-off of its own near `max_gap` would leave
    /// it no slot before the deadline when several exports retry at once.
    pub(crate) fn with_poll_retry_cap(mut self, cap: Duration) -> Self {
        self.poll_retry_cap = cap.min(self.config.pacing.max_gap);
        self
    }

    /// The job this export runs.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Where the export stands.
    pub fn state(&self) -> State<'_> {
        match (self.clock.result(), &self.phase) {
            (Some(Ok(_)), _) => State::Complete,
            (Some(Err(_)), _) => State::Failed,
            (None, Phase::Downloading { download, .. }) => State::Downloading {
                received: download.have,
            },
            (None, Phase::Starting { attempts: 0, .. }) => State::Idle,
            (None, _) => State::Polling {
                bookmark: self.bookmark(),
            },
        }
    }

    /// The export's bookmark, once the service told it.
    pub fn bookmark(&self) -> Option<&str> {
        match &self.phase {
            Phase::Polling { bookmark, .. } => Some(bookmark),
            Phase::Refreshing { bookmark, .. } | Phase::Downloading { bookmark, .. } => {
                bookmark.as_deref()
            }
            Phase::Starting { .. } => None,
            Phase::Done { bookmark } => bookmark.as_deref(),
        }
    }

    /// The next request and when it is due, for a scheduler such as [`crate::Fleet`]: `None`
    /// while events wait to be polled, a request is out, a body streams, or the export is
    /// over. The request leaves through `poll_output` once the clock fed passes `at` (an API
    /// request never earlier than `min_interval` after the last), and is stamped with that
    /// time.
    pub fn next_request(&self) -> Option<crate::fleet::NextRequest> {
        use crate::fleet::{NextRequest, RequestKind};
        if self.clock.has_events() || self.clock.is_done() {
            return None;
        }
        let (at, kind) = match &self.phase {
            Phase::Starting {
                request: Request::Due(at),
                ..
            } => (self.api_floor(*at), RequestKind::Start),
            Phase::Polling {
                request: Request::Due(at),
                ..
            } => (self.api_floor(*at), RequestKind::Poll),
            Phase::Refreshing {
                request: Request::Due(at),
                ..
            } => (self.api_floor(*at), RequestKind::UrlRefresh),
            Phase::Downloading {
                transfer: Transfer::Due { at, .. },
                ..
            } => (*at, RequestKind::Download),
            _ => return None,
        };
        Some(NextRequest {
            at: at.min(self.clock.deadline()),
            kind,
        })
    }

    fn outstanding(&self) -> Option<RequestId> {
        match &self.phase {
            Phase::Starting { request, .. }
            | Phase::Polling { request, .. }
            | Phase::Refreshing { request, .. } => match request {
                Request::Out { id, .. } => Some(*id),
                Request::Due(_) => None,
            },
            Phase::Downloading { transfer, .. } => match transfer {
                Transfer::Head { id }
                | Transfer::BodyReady { id, .. }
                | Transfer::Body { id, .. } => Some(*id),
                Transfer::Due { .. } => None,
            },
            Phase::Done { .. } => None,
        }
    }

    fn state_name(&self) -> &'static str {
        match &self.phase {
            Phase::Starting { request, .. }
            | Phase::Polling { request, .. }
            | Phase::Refreshing { request, .. } => match request {
                Request::Due(_) => "due",
                Request::Out { .. } => "awaiting reply",
            },
            Phase::Downloading { transfer, .. } => match transfer {
                Transfer::Due { .. } => "due",
                Transfer::Head { .. } => "awaiting download head",
                Transfer::BodyReady { .. } => "body ready",
                Transfer::Body { .. } => "streaming body",
            },
            Phase::Done { .. } => "over",
        }
    }

    /// The earliest an API request due at `at` may go: `min_interval` after the last one
    /// went out, except the first poll after the first start (not after a restart).
    fn api_floor(&self, at: Instant) -> Instant {
        let at_once = matches!(self.phase, Phase::Polling { at_once: true, .. });
        match self.tally.last_api_sent {
            Some(sent) if !at_once => {
                at.max(crate::clock::later(sent, self.config.pacing.min_interval))
            }
            _ => at,
        }
    }

    /// The run is over: only the bookmark stays.
    fn end_phase(&mut self) {
        let bookmark = self.bookmark().map(str::to_owned);
        self.phase = Phase::Done { bookmark };
    }

    fn fail(&mut self, error: Error) {
        self.clock.finish(Err(error));
        self.end_phase();
    }

    /// The current phase's next request is due at `at`.
    fn due(&mut self, at: Instant) {
        match &mut self.phase {
            Phase::Starting { request, .. }
            | Phase::Polling { request, .. }
            | Phase::Refreshing { request, .. } => *request = Request::Due(at),
            Phase::Downloading { transfer, .. } => {
                *transfer = Transfer::Due {
                    at,
                    announced: false,
                }
            }
            Phase::Done { .. } => {}
        }
    }

    /// Schedules another attempt after a failure, or ends the run when attempts are spent.
    fn retry(&mut self, reason: Transient) {
        // A running export is never left unpolled longer than `max_gap` by our own waits.
        let cap = match &self.phase {
            Phase::Polling { .. }
            | Phase::Refreshing {
                bookmark: Some(_), ..
            } => Some(self.poll_retry_cap),
            _ => None,
        };
        let forced = match (&reason, cap) {
            (
                Transient::Throttled {
                    retry_after: Some(after),
                },
                Some(_),
            ) => Some((*after).min(self.config.retry.max_retry_after))
                .filter(|p| *p > self.config.pacing.max_gap),
            _ => None,
        };
        match self.clock.retry(reason, cap) {
            Some(at) => {
                if let Some(pause) = forced {
                    self.clock.event(Event::PausedByService {
                        pause,
                        max_gap: self.config.pacing.max_gap,
                    });
                }
                self.due(at);
            }
            None => self.end_phase(),
        }
    }

    /// A reply that should not happen but may pass: retried like a failure, and once the
    /// attempts are spent, `error` (not a generic "gave up").
    fn anomaly(&mut self, reason: Transient, error: ProtocolError) {
        if self.clock.failures().saturating_add(1) >= self.config.retry.max_attempts {
            return self.fail(Error::Protocol(error));
        }
        self.retry(reason);
    }

    fn on_reply(&mut self, sent_at: Instant, response: http::Response<Vec<u8>>) {
        let (parts, body) = response.into_parts();
        let parsed = parse_export_reply(
            parts.status.as_u16(),
            &parts.headers,
            &body,
            self.config.max_reply_bytes,
        );
        match parsed {
            Ok(progress) => self.on_progress(sent_at, progress),
            Err(ReplyError::Retry(t)) => self.retry(t),
            Err(ReplyError::Fatal(e)) => self.on_fatal(e),
        }
    }

    fn on_fatal(&mut self, error: Error) {
        let (orphan, bookmarkless) = match self.phase {
            // Our own earlier first request may have started this export before its reply
            // was lost; nobody polls that orphan, so the service cancels it. Wait it out.
            Phase::Starting {
                attempts,
                bookmarkless,
                ..
            } => (attempts > 1, bookmarkless),
            _ => (false, false),
        };
        match error {
            // "Already running" may come in any layer: the envelope, or the result's own.
            ref e if e.hint() == Some(Hint::ExportAlreadyRunning) && orphan => {
                let api = match error {
                    Error::Api(api) => api,
                    other => crate::error::ApiError::new(
                        200,
                        vec![crate::wire::ResponseInfo {
                            message: other.to_string(),
                            ..Default::default()
                        }],
                    ),
                };
                if bookmarkless {
                    self.anomaly(
                        Transient::OrphanedExport(api),
                        ProtocolError::MissingBookmark,
                    )
                } else {
                    self.retry(Transient::OrphanedExport(api))
                }
            }
            Error::JobGone { message }
                if self.config.job_gone == JobGonePolicy::RestartOnce && !self.tally.restarted =>
            {
                self.tally.restarted = true;
                self.clock.reset_failures();
                self.clock.event(Event::ExportRestarted { reason: message });
                self.phase = starting(self.clock.now());
            }
            other => self.fail(other),
        }
    }

    fn on_progress(&mut self, sent_at: Instant, progress: Progress) {
        let known = self.bookmark().map(str::to_owned);
        let learned = match (&known, progress.bookmark) {
            (None, Some(b)) => {
                self.clock.event(Event::BookmarkLearned(b.clone()));
                Some(b)
            }
            (Some(old), Some(b)) if *old != b => {
                return self.fail(Error::Protocol(ProtocolError::BookmarkChanged));
            }
            _ => None,
        };
        for line in progress.messages {
            if let Some(part) = uploaded_part(&line) {
                self.tally.parts.insert(part);
                self.clock.event(Event::PartUploaded {
                    part,
                    distinct_parts: self.tally.parts.len(),
                });
            }
            self.clock.event(Event::Log(line));
        }
        let complete = matches!(progress.status, ExportStatus::Complete { .. });
        let phase = std::mem::replace(&mut self.phase, Phase::Done { bookmark: None });
        // Where the export goes from here, as far as the bookmark decides it.
        self.phase = match (phase, learned) {
            (Phase::Starting { attempts, .. }, None) if !complete => {
                // "Running" with nothing to poll: asking again starts another export, so
                // this is backed off like a failure, and bounded.
                self.phase = Phase::Starting {
                    request: Request::Due(self.clock.now()),
                    attempts,
                    bookmarkless: true,
                };
                return self.anomaly(Transient::MissingBookmark, ProtocolError::MissingBookmark);
            }
            (Phase::Starting { .. }, Some(bookmark)) => Phase::Polling {
                bookmark,
                request: Request::Due(self.clock.now()),
                // The reply that starts an export is never held; the first poll is where
                // the service can hold (wrangler polls at once too). Only the first start
                // earns that: after a restart the poll waits `min_interval` like any other,
                // so no 10 s window ever holds more than 12 API requests.
                at_once: !self.tally.restarted,
            },
            (
                Phase::Refreshing {
                    bookmark: None,
                    request,
                    kept,
                },
                Some(bookmark),
            ) => Phase::Refreshing {
                bookmark: Some(bookmark),
                request,
                kept,
            },
            (phase, _) => phase,
        };
        match progress.status {
            ExportStatus::Running => {
                self.clock.reset_failures();
                self.tally.unknown_in_row = 0;
                if !matches!(self.phase, Phase::Polling { at_once: true, .. }) {
                    self.schedule_poll(sent_at);
                }
            }
            ExportStatus::Unknown(status) => {
                if let Phase::Polling { at_once, .. } = &mut self.phase {
                    *at_once = false;
                }
                self.tally.unknown_in_row += 1;
                if self.tally.unknown_in_row > self.config.max_unknown_status {
                    return self.fail(Error::Protocol(ProtocolError::UnknownStatus(status)));
                }
                self.clock.event(Event::UnknownStatus(status));
                self.schedule_poll(sent_at);
            }
            ExportStatus::Complete { filename, url } => {
                self.clock.reset_failures();
                let filename = filename
                    .filter(|f| !f.is_empty())
                    .unwrap_or_else(|| format!("{}.sql", self.job.database));
                let bookmark = self.bookmark().map(str::to_owned);
                self.clock.event(Event::ExportReady {
                    filename: filename.clone(),
                    bookmark: bookmark.clone(),
                });
                // After a URL refresh, keep the bytes we have if it is the same file name;
                // the next head's validator and size decide whether they stay.
                let download =
                    match std::mem::replace(&mut self.phase, Phase::Done { bookmark: None }) {
                        Phase::Refreshing { kept, .. } if kept.filename == filename => {
                            Download { url, ..kept }
                        }
                        _ => Download::new(url, filename),
                    };
                self.phase = Phase::Downloading {
                    bookmark,
                    download,
                    transfer: Transfer::Due {
                        at: self.clock.now(),
                        announced: false,
                    },
                };
            }
        }
    }

    /// Next poll: at once if the service held the last one open at least `min_interval`,
    /// otherwise `min_interval` after the last one went out. (The first poll after the
    /// export starts goes at once: see `on_progress`.)
    fn schedule_poll(&mut self, sent_at: Instant) {
        let at =
            crate::clock::later(sent_at, self.config.pacing.min_interval).max(self.clock.now());
        self.due(at);
    }

    fn on_head(&mut self, id: RequestId, head: &http::Response<()>) {
        let Phase::Downloading { download, .. } = &mut self.phase else {
            return;
        };
        let confirming = std::mem::take(&mut download.confirming);
        let status = head.status();
        if status.is_success() {
            if let Some(coding) = foreign_coding(head.headers()) {
                return self.fail(Error::Protocol(ProtocolError::EncodedDownload(coding)));
            }
        }
        let seen = FileIdentity::of(head);
        let mut verdict = judge_head(status, head.headers(), download.have);
        if confirming && download.have == 0 && status.as_u16() == 416 && seen.total == Some(0) {
            verdict = HeadVerdict::AlreadyWhole; // an empty file, confirmed
        }
        match verdict {
            HeadVerdict::Write { start_at, total } => {
                let body_framing = framing(head);
                if start_at > 0 {
                    // A resumption: the same file (validator and size), or start over.
                    let changed = download.identity.as_ref().and_then(|id| id.differs(&seen));
                    if let Some(why) = changed {
                        return self.restart_download(status.as_u16(), why);
                    }
                } else {
                    if confirming {
                        let same = download.identity.as_ref().is_some_and(|id| {
                            id.validator.is_some() && id.differs(&seen).is_none()
                        });
                        match body_framing {
                            // The whole file again, of the length we hold: confirmed.
                            Framing::Length(n) if n == download.have && same => {
                                return self.complete();
                            }
                            Framing::CloseDelimited => {
                                let received = download.have;
                                return self.fail(Error::Protocol(
                                    ProtocolError::UnconfirmedLength { received },
                                ));
                            }
                            _ => {}
                        }
                    }
                    // A whole body (to a ranged request: the file changed, or the server
                    // ignores ranges): it is the file from now on.
                    download.identity = Some(seen);
                }
                if start_at != download.have {
                    download.have = start_at;
                    self.clock.event(Event::DownloadRestarted);
                }
                download.total = total;
                download.framing = body_framing;
                self.set_transfer(Transfer::BodyReady { id, start_at });
            }
            HeadVerdict::AlreadyWhole => {
                let changed = match (download.identity.as_ref().and_then(|i| i.total), seen.total) {
                    (Some(a), Some(b)) if a != b => {
                        Some(format!("the file was {a} bytes, now {b}"))
                    }
                    _ => None,
                };
                match changed {
                    Some(why) => self.restart_download(status.as_u16(), why),
                    None => self.complete(),
                }
            }
            HeadVerdict::Expired => {
                download.confirming = confirming;
                self.tally.url_refreshes += 1;
                if self.tally.url_refreshes > self.config.download.max_url_refreshes {
                    return self.fail(Error::GaveUp {
                        attempts: self.tally.url_refreshes,
                        last: Transient::UrlExpired,
                    });
                }
                self.clock.event(Event::RefreshingUrl);
                if let Phase::Downloading {
                    bookmark, download, ..
                } = std::mem::replace(&mut self.phase, Phase::Done { bookmark: None })
                {
                    self.phase = Phase::Refreshing {
                        bookmark,
                        request: Request::Due(self.clock.now()),
                        kept: download,
                    };
                }
            }
            HeadVerdict::Retry(s @ (429 | 503)) => {
                download.confirming = confirming;
                match retry_after(head.headers()) {
                    Some(after) => self.retry(Transient::Throttled {
                        retry_after: Some(after),
                    }),
                    None => self.retry(Transient::DownloadStatus(s)),
                }
            }
            HeadVerdict::Retry(s) => {
                download.confirming = confirming;
                self.retry(Transient::DownloadStatus(s))
            }
            HeadVerdict::Refused(s) => self.fail(Error::DownloadRefused { status: s }),
            HeadVerdict::Inconsistent(detail) => self.restart_download(status.as_u16(), detail),
        }
    }

    fn set_transfer(&mut self, next: Transfer) {
        if let Phase::Downloading { transfer, .. } = &mut self.phase {
            *transfer = next;
        }
    }

    fn download_mut(&mut self) -> Option<&mut Download> {
        match &mut self.phase {
            Phase::Downloading { download, .. } => Some(download),
            _ => None,
        }
    }

    /// The head showed another file, or contradicted the request: the sink starts over from
    /// byte 0 with a plain GET (counted as a resumption).
    fn restart_download(&mut self, status: u16, detail: String) {
        if let Some(d) = self.download_mut() {
            d.have = 0;
            d.identity = None;
            d.total = None;
            d.confirming = false;
        }
        self.clock.event(Event::DownloadRestarted);
        self.resumed(Transient::DownloadStatus(status), Some(detail));
    }

    /// Counts a resumption (bounded, unless it brought new bytes) and schedules it.
    fn resumed(&mut self, reason: Transient, inconsistency: Option<String>) {
        if let Some(d) = self.download_mut().filter(|d| d.have > d.best) {
            // This body brought bytes never held before: free.
            d.best = d.have;
            return self.retry(reason);
        }
        self.tally.resumes += 1;
        if self.tally.resumes > self.config.download.max_resumes {
            return self.fail(match inconsistency {
                Some(detail) => Error::Protocol(ProtocolError::InconsistentDownload(detail)),
                None => Error::GaveUp {
                    attempts: self.tally.resumes,
                    last: reason,
                },
            });
        }
        self.retry(reason);
    }

    fn on_body_end(&mut self, start_at: u64, written: u64) {
        let now = self.clock.now();
        let Some(download) = self.download_mut() else {
            return;
        };
        match judge_end(start_at, written, download.total) {
            EndVerdict::Whole(have)
                if download.total.is_none() && download.framing == Framing::CloseDelimited =>
            {
                // The connection closed, which is also what a cut looks like: confirm the
                // length (`Range: bytes=N-` → `416 bytes */N`) before calling it whole.
                download.have = have;
                download.best = download.best.max(have);
                download.confirming = true;
                self.set_transfer(Transfer::Due {
                    at: now,
                    announced: false,
                });
            }
            EndVerdict::Whole(have) => {
                download.have = have;
                self.complete();
            }
            EndVerdict::Short(have) => {
                download.have = have;
                if written > 0 {
                    self.clock.reset_failures();
                }
                self.resumed(Transient::DownloadInterrupted { received: have }, None);
            }
            EndVerdict::TooLong(have) => {
                let total = download.total.unwrap_or(0);
                self.fail(Error::Protocol(ProtocolError::InconsistentDownload(
                    format!("{have} bytes arrived, more than the {total} announced"),
                )))
            }
        }
    }

    fn on_body_failed(&mut self, start_at: u64, written: u64) {
        let Some(download) = self.download_mut() else {
            return;
        };
        download.have = start_at.saturating_add(written);
        if let Some(total) = download.total {
            if download.have > total {
                let have = download.have;
                return self.fail(Error::Protocol(ProtocolError::InconsistentDownload(
                    format!("{have} bytes arrived, more than the {total} announced"),
                )));
            }
        }
        let received = download.have;
        if written > 0 {
            self.clock.reset_failures();
        }
        self.resumed(Transient::DownloadInterrupted { received }, None);
    }

    fn complete(&mut self) {
        let Phase::Downloading {
            bookmark, download, ..
        } = &self.phase
        else {
            return;
        };
        let outcome = Outcome {
            filename: download.filename.clone(),
            bookmark: bookmark.clone(),
            bytes: download.have,
        };
        self.clock.event(Event::Completed(outcome.clone()));
        self.clock.finish(Ok(outcome));
        self.end_phase();
    }

    /// Reports progress at most every [`PROGRESS_STEP`] bytes, and at the end of a body.
    fn progress(&mut self, start_at: u64, written: u64, end: bool) {
        let Phase::Downloading { download, .. } = &self.phase else {
            return;
        };
        let received = start_at.saturating_add(written);
        let total = download.total;
        if let Some(t) = total.filter(|t| received > *t) {
            return self.fail(Error::Protocol(ProtocolError::InconsistentDownload(
                format!("{received} bytes arrived, more than the {t} announced"),
            )));
        }
        let reported = self.tally.reported;
        if end || received >= reported.saturating_add(PROGRESS_STEP) || received < reported {
            self.tally.reported = received;
            self.clock
                .event(Event::DownloadProgress { received, total });
        }
    }

    /// The API request of the current phase, now.
    fn api_request(&mut self, now: Instant) -> Output<Outcome> {
        let id = self.clock.new_id();
        let bookmark = self.bookmark().map(str::to_owned);
        match &mut self.phase {
            Phase::Starting {
                request, attempts, ..
            } => {
                *attempts += 1;
                *request = Request::Out { id, sent_at: now };
            }
            Phase::Polling {
                request, at_once, ..
            } => {
                *at_once = false;
                *request = Request::Out { id, sent_at: now };
            }
            Phase::Refreshing { request, .. } => *request = Request::Out { id, sent_at: now },
            Phase::Downloading { .. } | Phase::Done { .. } => {}
        }
        self.tally.last_api_sent = Some(now);
        if self.body.0 != bookmark {
            let body = export_body(&self.job, bookmark.as_deref());
            self.body = (bookmark, body);
        }
        let request = api_request(
            http::Method::POST,
            self.uri.clone(),
            &self.authorization,
            self.body.1.clone(),
        );
        Output::Send { id, request }
    }
}

impl Machine for Export {
    type Outcome = Outcome;

    fn poll_output(&mut self) -> Output<Outcome> {
        if let Some(out) = self.clock.poll_queued() {
            return out;
        }
        let now = self.clock.now();
        let deadline = self.clock.deadline();
        let request = match &self.phase {
            Phase::Starting { request, .. }
            | Phase::Polling { request, .. }
            | Phase::Refreshing { request, .. } => Some(*request),
            _ => None,
        };
        match request {
            Some(Request::Due(at)) if self.api_floor(at) > now => {
                return self.clock.wait_until(self.api_floor(at));
            }
            Some(Request::Due(_)) => return self.api_request(now),
            Some(Request::Out { .. }) => return self.clock.wait_until(deadline),
            None => {}
        }
        match &mut self.phase {
            Phase::Starting { .. } | Phase::Polling { .. } | Phase::Refreshing { .. } => {
                self.clock.wait_until(deadline)
            }
            Phase::Downloading {
                download, transfer, ..
            } => match *transfer {
                Transfer::Due { at, .. } if at > now => self.clock.wait_until(at),
                Transfer::Due {
                    at,
                    announced: false,
                } => {
                    // Tell the caller before the request goes out; the request follows.
                    *transfer = Transfer::Due {
                        at,
                        announced: true,
                    };
                    Output::Event(Event::DownloadStarted {
                        from: download.have,
                    })
                }
                Transfer::Due { .. } => {
                    let id = self.clock.new_id();
                    *transfer = Transfer::Head { id };
                    let if_range = download.identity.as_ref().and_then(FileIdentity::if_range);
                    Output::Download {
                        id,
                        request: download_request(
                            &download.url,
                            download.have,
                            download.confirming,
                            if_range,
                        ),
                    }
                }
                Transfer::BodyReady { id, start_at } => {
                    *transfer = Transfer::Body { id, start_at };
                    Output::WriteBody { id, start_at }
                }
                Transfer::Body { id, .. } => Output::KeepStreaming { id },
                Transfer::Head { .. } => self.clock.wait_until(deadline),
            },
            Phase::Done { .. } => self.clock.wait_until(deadline),
        }
    }

    fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        if self.clock.is_done() {
            self.clock.advance(now);
            return match input.id() {
                Some(got) => Err(InputError::UnexpectedId {
                    got,
                    outstanding: None,
                }),
                None => Ok(()),
            };
        }
        if let Some(got) = input.id() {
            if Some(got) != self.outstanding() {
                return Err(InputError::UnexpectedId {
                    got,
                    outstanding: self.outstanding(),
                });
            }
        }
        let request = match &self.phase {
            Phase::Starting { request, .. }
            | Phase::Polling { request, .. }
            | Phase::Refreshing { request, .. } => Some(*request),
            _ => None,
        };
        let transfer = match &self.phase {
            Phase::Downloading { transfer, .. } => Some(*transfer),
            _ => None,
        };
        match (request, transfer, input) {
            (_, _, Input::Cancel) => {
                self.clock.advance(now);
                self.fail(Error::Cancelled);
            }
            (_, _, Input::Tick) => {
                // Time passes.
                self.clock.advance(now);
                if self.clock.is_done() {
                    self.end_phase();
                }
            }
            (Some(Request::Out { sent_at, .. }), _, Input::Reply { response, .. }) => {
                self.clock.advance(now);
                if !self.clock.is_done() {
                    self.on_reply(sent_at, response);
                }
            }
            (_, Some(Transfer::Head { id }), Input::DownloadHead { head, .. }) => {
                self.clock.advance(now);
                if !self.clock.is_done() {
                    self.on_head(id, &head);
                }
            }
            (Some(Request::Out { .. }), _, Input::Failed { failure, .. })
            | (_, Some(Transfer::Head { .. }), Input::Failed { failure, .. }) => {
                self.clock.advance(now);
                if !self.clock.is_done() {
                    self.retry(Transient::Transport(failure));
                }
            }
            (_, Some(Transfer::Body { start_at, .. }), Input::DownloadProgress { written, .. }) => {
                self.clock.advance(now);
                if !self.clock.is_done() {
                    self.progress(start_at, written, false);
                }
            }
            (_, Some(Transfer::Body { start_at, .. }), Input::DownloadEnded { written, .. }) => {
                self.clock.advance(now);
                self.progress(start_at, written, true);
                if !self.clock.is_done() {
                    self.on_body_end(start_at, written);
                }
            }
            (_, Some(Transfer::Body { start_at, .. }), Input::DownloadFailed { written, .. }) => {
                self.clock.advance(now);
                if !self.clock.is_done() {
                    self.on_body_failed(start_at, written);
                }
            }
            (_, _, other) => {
                return Err(InputError::WrongInput {
                    input: input_name(&other),
                    state: self.state_name(),
                })
            }
        }
        if self.clock.is_done() {
            self.end_phase();
        }
        Ok(())
    }

    fn reply_limit(&self) -> usize {
        self.config.max_reply_bytes
    }
}
