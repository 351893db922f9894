//! The export machine: idle → polling (with a bookmark) → downloading → complete | failed.

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
use crate::session::Session;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Instant;

/// Why an export could not even be set up (caller mistakes, found before any request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// The dump options conflict.
    Options(crate::options::InvalidOptions),
    /// The endpoint URI could not be formed.
    Uri(String),
    /// The pacing policy is inconsistent (`min_interval` above `max_gap`, or a zero
    /// `max_attempts`).
    Policy(&'static str),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Options(o) => write!(f, "{o}"),
            Self::Uri(u) => write!(f, "cannot form the export URL: {u}"),
            Self::Policy(p) => write!(f, "invalid policy: {p}"),
        }
    }
}

impl std::error::Error for SetupError {}

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

/// What the machine is doing.
#[derive(Debug)]
enum Step {
    /// The next request is due then.
    Due(Instant),
    /// A request is out.
    Waiting { id: RequestId, sent_at: Instant },
    /// A download head was accepted; the body goes to the sink from `start_at`.
    BodyReady { id: RequestId, start_at: u64 },
    /// The body is streaming.
    Body { id: RequestId, start_at: u64 },
    /// Finished; the session holds the result.
    Over,
}

/// One export of one database: a pure state machine.
///
/// See the [crate documentation](crate) for the driving loop.
#[derive(Debug)]
pub struct Export {
    config: Config,
    job: Job,
    uri: http::Uri,
    /// `Authorization`, built once (marked sensitive).
    authorization: http::HeaderValue,
    /// The request body for the current bookmark, built once per bookmark.
    body: (Option<String>, Vec<u8>),
    session: Session<Outcome>,
    step: Step,
    bookmark: Option<String>,
    /// `None` while polling; the file once the service gave a URL.
    download: Option<Download>,
    /// Kept across a URL refresh so the download resumes where it was.
    resume: Option<Download>,
    parts: BTreeSet<u32>,
    first_requests: u32,
    /// When the last API request went out: the next one waits `min_interval` from it (the
    /// first poll after a start excepted), so no input sequence makes a storm.
    last_api_sent: Option<Instant>,
    /// The next API request is the first poll after the start: it goes at once.
    poll_at_once: bool,
    /// A "running" reply came without a bookmark: a later "already running" is that export,
    /// and giving up says so.
    bookmarkless: bool,
    restarted: bool,
    unknown_in_row: u32,
    url_refreshes: u32,
    resumes: u32,
    /// Whether `DownloadStarted` went out for the download that is due.
    announced: bool,
    /// Bytes last reported in `DownloadProgress`.
    reported: u64,
}

/// `DownloadProgress` is reported at most once per this many bytes (256 KiB), and at each
/// body's end.
pub const PROGRESS_STEP: u64 = 256 << 10;

impl Export {
    /// Sets up an export starting at `now`. Checks the options and policies; sends nothing.
    pub fn new(config: Config, job: Job, now: Instant) -> Result<Self, SetupError> {
        job.options.validate().map_err(SetupError::Options)?;
        if config.pacing.min_interval > config.pacing.max_gap {
            return Err(SetupError::Policy("min_interval is above max_gap"));
        }
        if config.retry.max_attempts == 0 {
            return Err(SetupError::Policy("max_attempts is zero"));
        }
        let uri = export_uri(&config.api_base, &job).map_err(|e| SetupError::Uri(e.to_string()))?;
        let session = Session::new(now, config.deadline, config.retry);
        let authorization = config.token.header_value();
        let body = (None, export_body(&job, None));
        Ok(Self {
            config,
            job,
            uri,
            authorization,
            body,
            session,
            step: Step::Due(now),
            bookmark: None,
            download: None,
            resume: None,
            parts: BTreeSet::new(),
            first_requests: 0,
            last_api_sent: None,
            poll_at_once: false,
            bookmarkless: false,
            restarted: false,
            unknown_in_row: 0,
            url_refreshes: 0,
            resumes: 0,
            announced: false,
            reported: 0,
        })
    }

    /// The job this export runs.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Where the export stands.
    pub fn state(&self) -> State<'_> {
        match (&self.session.done, &self.download) {
            (Some(Ok(_)), _) => State::Complete,
            (Some(Err(_)), _) => State::Failed,
            (None, Some(d)) => State::Downloading { received: d.have },
            (None, None) if self.first_requests == 0 => State::Idle,
            (None, None) => State::Polling {
                bookmark: self.bookmark.as_deref(),
            },
        }
    }

    /// The export's bookmark, once the service told it.
    pub fn bookmark(&self) -> Option<&str> {
        self.bookmark.as_deref()
    }

    /// The next request and when it is due, for a scheduler such as [`crate::Fleet`]: `None`
    /// while events wait to be polled, a request is out, a body streams, or the export is
    /// over. The request leaves through `poll_output` once the clock fed passes `at`, and is
    /// stamped with that time.
    pub fn next_request(&self) -> Option<crate::fleet::NextRequest> {
        use crate::fleet::{NextRequest, RequestKind};
        if self.session.has_events() || self.session.is_done() {
            return None;
        }
        let Step::Due(at) = self.step else {
            return None;
        };
        let kind = if self.download.is_some() {
            RequestKind::Download
        } else if self.resume.is_some() {
            RequestKind::UrlRefresh
        } else if self.bookmark.is_some() {
            RequestKind::Poll
        } else {
            RequestKind::Start
        };
        Some(NextRequest {
            at: at.min(self.session.deadline),
            kind,
        })
    }

    /// The next queued event, if any, without moving the machine on (for drivers that report
    /// progress while streaming a body).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.session.pop_event()
    }

    fn outstanding(&self) -> Option<RequestId> {
        match self.step {
            Step::Waiting { id, .. } | Step::BodyReady { id, .. } | Step::Body { id, .. } => {
                Some(id)
            }
            Step::Due(_) | Step::Over => None,
        }
    }

    fn state_name(&self) -> &'static str {
        match self.step {
            Step::Due(_) => "due",
            Step::Waiting { .. } if self.download.is_some() => "awaiting download head",
            Step::Waiting { .. } => "awaiting reply",
            Step::BodyReady { .. } => "body ready",
            Step::Body { .. } => "streaming body",
            Step::Over => "over",
        }
    }

    /// The earliest an API request due at `at` may go: `min_interval` after the last one
    /// went out, except the first poll after a start.
    fn api_floor(&self, at: Instant) -> Instant {
        match self.last_api_sent {
            Some(sent) if self.download.is_none() && !self.poll_at_once => {
                at.max(crate::session::later(sent, self.config.pacing.min_interval))
            }
            _ => at,
        }
    }

    fn fail(&mut self, error: Error) {
        self.session.finish(Err(error));
        self.step = Step::Over;
    }

    /// Schedules another attempt after a failure, or ends the run when attempts are spent.
    fn retry(&mut self, reason: Transient) {
        let cap = self
            .bookmark
            .is_some()
            .then_some(self.config.pacing.max_gap)
            .filter(|_| self.download.is_none());
        let forced = match (&reason, cap) {
            (
                Transient::Throttled {
                    retry_after: Some(after),
                },
                Some(max_gap),
            ) => Some((*after).min(self.config.retry.max_retry_after)).filter(|p| *p > max_gap),
            _ => None,
        };
        match self.session.retry(reason, cap) {
            Some(at) => {
                if let Some(pause) = forced {
                    self.session.event(Event::PausedByService {
                        pause,
                        max_gap: self.config.pacing.max_gap,
                    });
                }
                self.step = Step::Due(at);
            }
            None => self.step = Step::Over,
        }
    }

    /// A reply that should not happen but may pass: retried like a failure, and once the
    /// attempts are spent, `error` (not a generic "gave up").
    fn anomaly(&mut self, reason: Transient, error: ProtocolError) {
        if self.session.failures.saturating_add(1) >= self.config.retry.max_attempts {
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
        match error {
            // Our own earlier first request may have started this export before its reply
            // was lost; nobody polls that orphan, so the service cancels it. Wait it out.
            // "Already running" may come in any layer: the envelope, or the result's own.
            ref e
                if e.hint() == Some(Hint::ExportAlreadyRunning)
                    && self.bookmark.is_none()
                    && self.first_requests > 1 =>
            {
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
                if self.bookmarkless {
                    self.anomaly(
                        Transient::OrphanedExport(api),
                        ProtocolError::MissingBookmark,
                    )
                } else {
                    self.retry(Transient::OrphanedExport(api))
                }
            }
            Error::JobGone { message }
                if self.config.job_gone == JobGonePolicy::RestartOnce && !self.restarted =>
            {
                self.restarted = true;
                self.bookmark = None;
                self.resume = None;
                self.first_requests = 0;
                self.session.failures = 0;
                self.session
                    .event(Event::ExportRestarted { reason: message });
                self.step = Step::Due(self.session.now);
            }
            other => self.fail(other),
        }
    }

    fn on_progress(&mut self, sent_at: Instant, progress: Progress) {
        let started_now = self.bookmark.is_none();
        if let Some(b) = progress.bookmark {
            match &self.bookmark {
                None => {
                    self.session.event(Event::BookmarkLearned(b.clone()));
                    self.bookmark = Some(b);
                }
                Some(old) if *old != b => {
                    return self.fail(Error::Protocol(ProtocolError::BookmarkChanged));
                }
                Some(_) => {}
            }
        }
        for line in progress.messages {
            if let Some(part) = uploaded_part(&line) {
                self.parts.insert(part);
                self.session.event(Event::PartUploaded {
                    part,
                    distinct_parts: self.parts.len(),
                });
            }
            self.session.event(Event::Log(line));
        }
        if self.bookmark.is_none() && !matches!(progress.status, ExportStatus::Complete { .. }) {
            // "Running" with nothing to poll: asking again starts another export, so this
            // is backed off like a failure, and bounded.
            self.bookmarkless = true;
            return self.anomaly(Transient::MissingBookmark, ProtocolError::MissingBookmark);
        }
        match progress.status {
            ExportStatus::Running => {
                self.unknown_in_row = 0;
                self.session.failures = 0;
                if started_now {
                    // The reply that starts an export is never held; the first poll is
                    // where the service can hold (wrangler polls at once too).
                    self.poll_at_once = true;
                    self.step = Step::Due(self.session.now);
                } else {
                    self.schedule_poll(sent_at);
                }
            }
            ExportStatus::Unknown(status) => {
                self.unknown_in_row += 1;
                if self.unknown_in_row > self.config.max_unknown_status {
                    return self.fail(Error::Protocol(ProtocolError::UnknownStatus(status)));
                }
                self.session.event(Event::UnknownStatus(status));
                self.schedule_poll(sent_at);
            }
            ExportStatus::Complete { filename, url } => {
                self.session.failures = 0;
                let filename = filename
                    .filter(|f| !f.is_empty())
                    .unwrap_or_else(|| format!("{}.sql", self.job.database));
                self.session.event(Event::ExportReady {
                    filename: filename.clone(),
                    bookmark: self.bookmark.clone(),
                });
                // After a URL refresh, keep the bytes we have if it is the same file name;
                // the next head's validator and size decide whether they stay.
                self.download = Some(match self.resume.take() {
                    Some(d) if d.filename == filename => Download {
                        url,
                        confirming: d.confirming,
                        ..d
                    },
                    _ => Download::new(url, filename),
                });
                self.step = Step::Due(self.session.now);
            }
        }
    }

    /// Next poll: at once if the service held the last one open at least `min_interval`,
    /// otherwise `min_interval` after the last one went out. (The first poll after the
    /// export starts goes at once: see `on_progress`.)
    fn schedule_poll(&mut self, sent_at: Instant) {
        let at =
            crate::session::later(sent_at, self.config.pacing.min_interval).max(self.session.now);
        self.step = Step::Due(at);
    }

    fn on_head(&mut self, id: RequestId, head: &http::Response<()>) {
        let Some(download) = self.download.as_mut() else {
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
                    self.session.event(Event::DownloadRestarted);
                }
                download.total = total;
                download.framing = body_framing;
                self.step = Step::BodyReady { id, start_at };
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
                self.url_refreshes += 1;
                if self.url_refreshes > self.config.download.max_url_refreshes {
                    return self.fail(Error::GaveUp {
                        attempts: self.url_refreshes,
                        last: Transient::UrlExpired,
                    });
                }
                self.session.event(Event::RefreshingUrl);
                self.resume = self.download.take();
                self.step = Step::Due(self.session.now);
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

    /// The head showed another file, or contradicted the request: the sink starts over from
    /// byte 0 with a plain GET (counted as a resumption).
    fn restart_download(&mut self, status: u16, detail: String) {
        if let Some(d) = self.download.as_mut() {
            d.have = 0;
            d.identity = None;
            d.total = None;
            d.confirming = false;
        }
        self.session.event(Event::DownloadRestarted);
        self.resumed(Transient::DownloadStatus(status), Some(detail));
    }

    /// Counts a resumption (bounded) and schedules it.
    fn resumed(&mut self, reason: Transient, inconsistency: Option<String>) {
        if let Some(d) = self.download.as_mut().filter(|d| d.have > d.best) {
            // This body brought bytes never held before: free.
            d.best = d.have;
            return self.retry(reason);
        }
        self.resumes += 1;
        if self.resumes > self.config.download.max_resumes {
            return self.fail(match inconsistency {
                Some(detail) => Error::Protocol(ProtocolError::InconsistentDownload(detail)),
                None => Error::GaveUp {
                    attempts: self.resumes,
                    last: reason,
                },
            });
        }
        self.retry(reason);
    }

    fn on_body_end(&mut self, start_at: u64, written: u64) {
        let Some(download) = self.download.as_mut() else {
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
                self.step = Step::Due(self.session.now);
            }
            EndVerdict::Whole(have) => {
                download.have = have;
                self.complete();
            }
            EndVerdict::Short(have) => {
                download.have = have;
                if written > 0 {
                    self.session.failures = 0;
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

    fn on_body_failed(&mut self, start_at: u64, written: u64, failure: crate::TransportFailure) {
        let Some(download) = self.download.as_mut() else {
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
        if written > 0 {
            self.session.failures = 0;
        }
        let _ = failure;
        let received = download.have;
        self.resumed(Transient::DownloadInterrupted { received }, None);
    }

    fn complete(&mut self) {
        let Some(download) = self.download.as_ref() else {
            return;
        };
        let outcome = Outcome {
            filename: download.filename.clone(),
            bookmark: self.bookmark.clone(),
            bytes: download.have,
        };
        self.session.event(Event::Completed(outcome.clone()));
        self.session.finish(Ok(outcome));
        self.step = Step::Over;
    }

    /// Reports progress at most every [`PROGRESS_STEP`] bytes, and at the end of a body.
    fn progress(&mut self, start_at: u64, written: u64, end: bool) {
        if let Some(d) = &self.download {
            let received = start_at.saturating_add(written);
            if d.total.is_some_and(|t| received > t) {
                let total = d.total.unwrap_or(0);
                return self.fail(Error::Protocol(ProtocolError::InconsistentDownload(
                    format!("{received} bytes arrived, more than the {total} announced"),
                )));
            }
            let total = d.total;
            if end
                || received >= self.reported.saturating_add(PROGRESS_STEP)
                || received < self.reported
            {
                self.reported = received;
                self.session
                    .event(Event::DownloadProgress { received, total });
            }
        }
    }
}

impl Machine for Export {
    type Outcome = Outcome;

    fn poll_output(&mut self) -> Output<Outcome> {
        if let Some(out) = self.session.poll_queued() {
            return out;
        }
        let now = self.session.now;
        match self.step {
            Step::Due(at) if self.api_floor(at) > now => {
                self.session.wait_until(self.api_floor(at))
            }
            Step::Due(_) => {
                if let Some(d) = self.download.as_ref().filter(|_| !self.announced) {
                    // Tell the caller before the request goes out; the request follows.
                    self.announced = true;
                    return Output::Event(Event::DownloadStarted { from: d.have });
                }
                let id = self.session.new_id();
                self.step = Step::Waiting { id, sent_at: now };
                match &self.download {
                    Some(d) => {
                        self.announced = false;
                        let if_range = d.identity.as_ref().and_then(FileIdentity::if_range);
                        Output::Download {
                            id,
                            request: download_request(&d.url, d.have, d.confirming, if_range),
                        }
                    }
                    None => {
                        self.first_requests += u32::from(self.bookmark.is_none());
                        self.last_api_sent = Some(now);
                        self.poll_at_once = false;
                        if self.body.0 != self.bookmark {
                            let body = export_body(&self.job, self.bookmark.as_deref());
                            self.body = (self.bookmark.clone(), body);
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
            }
            Step::BodyReady { id, start_at } => {
                self.step = Step::Body { id, start_at };
                Output::WriteBody { id, start_at }
            }
            Step::Waiting { .. } | Step::Body { .. } | Step::Over => {
                self.session.wait_until(self.session.deadline)
            }
        }
    }

    fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        if self.session.is_done() {
            self.session.advance(now);
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
        let wrong = |this: &Self, input: &Input| InputError::WrongInput {
            input: input_name(input),
            state: this.state_name(),
        };
        match (&self.step, input) {
            (_, Input::Cancel) => {
                self.session.advance(now);
                self.fail(Error::Cancelled);
                return Ok(());
            }
            (_, Input::Tick) => {}
            (&Step::Waiting { sent_at, .. }, Input::Reply { response, .. })
                if self.download.is_none() =>
            {
                self.session.advance(now);
                if !self.session.is_done() {
                    self.on_reply(sent_at, response);
                }
                return Ok(());
            }
            (&Step::Waiting { id, .. }, Input::DownloadHead { head, .. })
                if self.download.is_some() =>
            {
                self.session.advance(now);
                if !self.session.is_done() {
                    self.on_head(id, &head);
                }
                return Ok(());
            }
            (Step::Waiting { .. }, Input::Failed { failure, .. }) => {
                self.session.advance(now);
                if !self.session.is_done() {
                    self.retry(Transient::Transport(failure));
                }
                return Ok(());
            }
            (&Step::Body { start_at, .. }, Input::DownloadProgress { written, .. }) => {
                self.session.advance(now);
                if !self.session.is_done() {
                    self.progress(start_at, written, false);
                }
                return Ok(());
            }
            (&Step::Body { start_at, .. }, Input::DownloadEnded { written, .. }) => {
                self.session.advance(now);
                self.progress(start_at, written, true);
                if !self.session.is_done() {
                    self.on_body_end(start_at, written);
                }
                return Ok(());
            }
            (
                &Step::Body { start_at, .. },
                Input::DownloadFailed {
                    written, failure, ..
                },
            ) => {
                self.session.advance(now);
                if !self.session.is_done() {
                    self.on_body_failed(start_at, written, failure);
                }
                return Ok(());
            }
            (_, other) => return Err(wrong(self, &other)),
        }
        // A tick: time passes.
        self.session.advance(now);
        if self.session.is_done() {
            self.step = Step::Over;
        }
        Ok(())
    }

    fn reply_limit(&self) -> usize {
        self.config.max_reply_bytes
    }
}
