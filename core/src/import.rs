//! The import machine (restoring a dump): init → upload → ingest → poll → complete | failed.
//!
//! The protocol is Part 3 of the spec: `POST …/import` with `{"action":"init","etag":md5}`;
//! if the reply carries an `upload_url`, a `PUT` of the file there (no `Authorization`) whose
//! reply must be 200 with an `ETag` equal to the md5, else the upload goes again; then
//! `{"action":"ingest","etag","filename"}` and `{"action":"poll","current_bookmark"}` until
//! the import is complete or failed. An init that answers with the polling shape (the
//! service already has the file) skips the upload. Pacing, retries, back-off and the deadline
//! are the export's (the same [`Config`]); once the service told the import's bookmark, a
//! retry polls with it again and never starts a second import.

mod reply;

use crate::clock::{later, Clock};
use crate::config::Config;
use crate::error::{Error, ProtocolError, Transient};
use crate::event::Event;
use crate::export::{SetupError, PROGRESS_STEP};
use crate::ids::{AccountId, DatabaseId};
use crate::io::{input_name, Input, InputError, Machine, Output, RequestId};
use crate::reply::ReplyError;
use crate::request::api_request;
use crate::secret::SignedUrl;
use reply::{judge_upload, parse_import_reply, Done, ImportReply, ImportStatus, UploadVerdict};
use std::fmt;
use std::time::{Duration, Instant};

/// The md5 of a file, as the import endpoint names files (its `etag`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5([u8; 16]);

/// A string that is not 32 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an md5 is 32 hexadecimal digits")]
pub struct InvalidMd5;

impl Md5 {
    /// The digest's 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Parses 32 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, InvalidMd5> {
        let b = hex.as_bytes();
        if b.len() != 32 {
            return Err(InvalidMd5);
        }
        let mut out = [0u8; 16];
        for (i, pair) in b.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).map_err(|_| InvalidMd5)?;
            out[i] = u8::from_str_radix(s, 16).map_err(|_| InvalidMd5)?;
        }
        Ok(Self(out))
    }

    /// Lower-case hex, as sent.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5({})", self.hex())
    }
}

/// The SQL file to import, as the driver measured it by reading it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlFile {
    /// Its md5.
    pub md5: Md5,
    /// Its size in bytes (the upload's `Content-Length`).
    pub size: u64,
}

/// One import to run: which database, and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    /// The account.
    pub account: AccountId,
    /// The database.
    pub database: DatabaseId,
    /// The file.
    pub file: SqlFile,
}

/// The result of a whole import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The import's bookmark (`at_bookmark`: the database before the import), when told.
    pub at_bookmark: Option<String>,
    /// The database's bookmark after the import (`final_bookmark`), when told.
    pub final_bookmark: Option<String>,
    /// Statements the service executed (`num_queries`).
    pub num_queries: u64,
    /// Rows read (`meta.rows_read`).
    pub rows_read: u64,
    /// Rows written (`meta.rows_written`).
    pub rows_written: u64,
    /// The database's size after the import (`meta.size_after`), when told.
    pub size_after: Option<u64>,
    /// How long the service took (`meta.duration`), when told.
    pub duration: Option<Duration>,
    /// Whether the file was uploaded (false: the service already had it).
    pub uploaded: bool,
}

/// Which request of the protocol comes next (or is out).
#[derive(Debug)]
enum Stage {
    /// `{"action":"init","etag"}`.
    Init,
    /// The `PUT` of the file; `sent` bytes of the current attempt are out.
    Upload {
        url: SignedUrl,
        filename: String,
        sent: u64,
    },
    /// `{"action":"ingest","etag","filename"}`.
    Ingest { filename: String },
    /// `{"action":"poll","current_bookmark"}`.
    Poll { bookmark: String },
}

/// The machine's one state.
#[derive(Debug)]
enum State {
    /// The stage's next request is due at `at` (`announced`: `UploadStarted` went out).
    Due {
        stage: Stage,
        at: Instant,
        announced: bool,
    },
    /// The stage's request `id` is out since `sent_at`.
    Out {
        stage: Stage,
        id: RequestId,
        sent_at: Instant,
    },
    /// Finished; the clock holds the result.
    Over,
}

/// One import of one SQL file into one database: a pure state machine, driven like
/// [`crate::Export`] (see the [crate documentation](crate)), plus [`Output::Upload`].
#[derive(Debug)]
pub struct Import {
    config: Config,
    job: ImportJob,
    md5_hex: String,
    uri: http::Uri,
    authorization: http::HeaderValue,
    clock: Clock<ImportOutcome>,
    state: State,
    /// The import's bookmark once the service told it.
    bookmark: Option<String>,
    uploaded: bool,
    unknown_in_row: u32,
    url_refreshes: u32,
    /// Bytes last reported in `UploadProgress`.
    reported: u64,
}

impl Import {
    /// Sets up an import starting at `now`. Checks the policies; sends nothing.
    pub fn new(config: Config, job: ImportJob, now: Instant) -> Result<Self, SetupError> {
        config.validate()?;
        let uri = format!(
            "{}/accounts/{}/d1/database/{}/import",
            config.api_base.as_str(),
            job.account,
            job.database
        )
        .parse()
        .map_err(|e: http::uri::InvalidUri| SetupError::Uri(e.to_string()))?;
        let clock = Clock::new(now, config.deadline, config.retry);
        let authorization = config.token.header_value();
        Ok(Self {
            md5_hex: job.file.md5.hex(),
            config,
            job,
            uri,
            authorization,
            clock,
            state: State::Due {
                stage: Stage::Init,
                at: now,
                announced: false,
            },
            bookmark: None,
            uploaded: false,
            unknown_in_row: 0,
            url_refreshes: 0,
            reported: 0,
        })
    }

    /// The job this import runs.
    pub fn job(&self) -> &ImportJob {
        &self.job
    }

    /// The import's bookmark, once the service told it.
    pub fn bookmark(&self) -> Option<&str> {
        self.bookmark.as_deref()
    }

    /// Whether the run has ended (see [`Output::Done`]).
    pub fn is_over(&self) -> bool {
        self.clock.is_done()
    }

    fn outstanding(&self) -> Option<RequestId> {
        match self.state {
            State::Out { id, .. } => Some(id),
            _ => None,
        }
    }

    fn state_name(&self) -> &'static str {
        match &self.state {
            State::Due { .. } => "due",
            State::Out { stage, .. } => match stage {
                Stage::Upload { .. } => "uploading",
                _ => "awaiting reply",
            },
            State::Over => "over",
        }
    }

    fn fail(&mut self, error: Error) {
        self.clock.finish(Err(error));
        self.state = State::Over;
    }

    fn due(&mut self, stage: Stage, at: Instant) {
        self.state = State::Due {
            stage,
            at,
            announced: false,
        };
    }

    /// Schedules `stage` again after a failure, or ends the run when attempts are spent.
    fn retry(&mut self, stage: Stage, reason: Transient) {
        let cap = matches!(stage, Stage::Poll { .. }).then_some(self.config.pacing.max_gap);
        match self.clock.retry(reason, cap) {
            Some(at) => self.due(stage, at),
            None => self.state = State::Over,
        }
    }

    fn body(&self, stage: &Stage) -> Vec<u8> {
        let value = match stage {
            Stage::Init => serde_json::json!({"action": "init", "etag": self.md5_hex}),
            Stage::Ingest { filename } => {
                serde_json::json!({"action": "ingest", "etag": self.md5_hex, "filename": filename})
            }
            Stage::Poll { bookmark } => {
                serde_json::json!({"action": "poll", "current_bookmark": bookmark})
            }
            Stage::Upload { .. } => return Vec::new(),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }

    fn upload_request(&self, url: &SignedUrl) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::PUT;
        *request.uri_mut() = url.expose().clone();
        request
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, self.job.file.size.into());
        request
    }

    fn on_api_reply(&mut self, stage: Stage, sent_at: Instant, response: http::Response<Vec<u8>>) {
        let (parts, body) = response.into_parts();
        let parsed = parse_import_reply(
            parts.status.as_u16(),
            &parts.headers,
            &body,
            self.config.max_reply_bytes,
        );
        match parsed {
            Ok(ImportReply::Upload { url, filename }) => match stage {
                Stage::Init => {
                    self.clock.reset_failures();
                    self.due(
                        Stage::Upload {
                            url,
                            filename,
                            sent: 0,
                        },
                        self.clock.now(),
                    );
                }
                // Only init hands out upload URLs.
                _ => self.fail(Error::Protocol(ProtocolError::UnexpectedStatus(
                    parts.status.as_u16(),
                ))),
            },
            Ok(ImportReply::Progress {
                bookmark,
                messages,
                status,
            }) => self.on_progress(&stage, sent_at, bookmark, messages, status),
            Err(ReplyError::Retry(t)) => self.retry(stage, t),
            Err(ReplyError::Fatal(e)) => self.fail(e),
        }
    }

    fn on_progress(
        &mut self,
        stage: &Stage,
        sent_at: Instant,
        bookmark: Option<String>,
        messages: Vec<String>,
        status: ImportStatus,
    ) {
        if matches!(stage, Stage::Init) {
            self.clock.event(Event::UploadSkipped);
        }
        if let Some(b) = bookmark {
            match &self.bookmark {
                None => {
                    self.clock.event(Event::ImportStarted {
                        bookmark: b.clone(),
                    });
                    self.bookmark = Some(b);
                }
                Some(old) if *old != b => {
                    return self.fail(Error::Protocol(ProtocolError::BookmarkChanged));
                }
                Some(_) => {}
            }
        }
        for line in messages {
            self.clock.event(Event::Log(line));
        }
        let next = match &self.bookmark {
            Some(b) => Stage::Poll {
                bookmark: b.clone(),
            },
            None => {
                // Running, but no bookmark to poll with: ask the same again.
                return self.retry(
                    take_stage(stage),
                    Transient::InvalidJson {
                        status: 200,
                        detail: "a running import without at_bookmark".to_owned(),
                    },
                );
            }
        };
        match status {
            ImportStatus::Running => {
                self.unknown_in_row = 0;
                self.clock.reset_failures();
                self.schedule_poll(next, sent_at);
            }
            ImportStatus::Unknown(status) => {
                self.unknown_in_row += 1;
                if self.unknown_in_row > self.config.max_unknown_status {
                    return self.fail(Error::Protocol(ProtocolError::UnknownStatus(status)));
                }
                self.clock.event(Event::UnknownStatus(status));
                self.schedule_poll(next, sent_at);
            }
            ImportStatus::Complete(done) => self.complete(done),
        }
    }

    /// Next poll: at once if the service held the last request at least `min_interval`,
    /// otherwise `min_interval` after it went out.
    fn schedule_poll(&mut self, stage: Stage, sent_at: Instant) {
        let at = later(sent_at, self.config.pacing.min_interval).max(self.clock.now());
        self.due(stage, at);
    }

    fn complete(&mut self, done: Done) {
        let outcome = ImportOutcome {
            at_bookmark: self.bookmark.clone(),
            final_bookmark: done.final_bookmark,
            num_queries: done.num_queries,
            rows_read: done.rows_read,
            rows_written: done.rows_written,
            size_after: done.size_after,
            duration: done.duration,
            uploaded: self.uploaded,
        };
        self.clock.event(Event::ImportCompleted(outcome.clone()));
        self.clock.finish(Ok(outcome));
        self.state = State::Over;
    }

    fn on_upload_reply(&mut self, stage: Stage, response: &http::Response<Vec<u8>>) {
        let Stage::Upload { url, filename, .. } = stage else {
            return;
        };
        match judge_upload(
            response.status().as_u16(),
            response.headers(),
            &self.md5_hex,
        ) {
            UploadVerdict::Verified => {
                self.progress(self.job.file.size, true);
                self.uploaded = true;
                self.clock.reset_failures();
                self.clock.event(Event::UploadVerified);
                self.due(Stage::Ingest { filename }, self.clock.now());
            }
            UploadVerdict::Expired => {
                self.url_refreshes += 1;
                if self.url_refreshes > self.config.download.max_url_refreshes {
                    return self.fail(Error::GaveUp {
                        attempts: self.url_refreshes,
                        last: Transient::UploadStatus(403),
                    });
                }
                // A fresh upload URL comes from another init.
                self.due(Stage::Init, self.clock.now());
            }
            UploadVerdict::Retry(t) => self.retry(
                Stage::Upload {
                    url,
                    filename,
                    sent: 0,
                },
                t,
            ),
            UploadVerdict::Refused(status) => self.fail(Error::UploadRefused { status }),
        }
    }

    /// Reports upload progress at most every [`PROGRESS_STEP`] bytes, and at the end (each
    /// upload attempt counts from 0: `reported` is reset when one goes out).
    fn progress(&mut self, sent: u64, end: bool) {
        let total = self.job.file.size;
        if end || sent >= self.reported.saturating_add(PROGRESS_STEP) {
            self.reported = sent;
            self.clock.event(Event::UploadProgress { sent, total });
        }
    }
}

/// A copy of a stage without upload progress (to ask the same again).
fn take_stage(stage: &Stage) -> Stage {
    match stage {
        Stage::Init => Stage::Init,
        Stage::Upload { url, filename, .. } => Stage::Upload {
            url: url.clone(),
            filename: filename.clone(),
            sent: 0,
        },
        Stage::Ingest { filename } => Stage::Ingest {
            filename: filename.clone(),
        },
        Stage::Poll { bookmark } => Stage::Poll {
            bookmark: bookmark.clone(),
        },
    }
}

impl Machine for Import {
    type Outcome = ImportOutcome;

    fn poll_output(&mut self) -> Output<ImportOutcome> {
        if let Some(out) = self.clock.poll_queued() {
            return out;
        }
        let now = self.clock.now();
        match std::mem::replace(&mut self.state, State::Over) {
            State::Due { stage, at, .. } if at > now => {
                self.due(stage, at);
                self.clock.wait_until(at)
            }
            State::Due {
                stage: stage @ Stage::Upload { .. },
                at,
                announced: false,
            } => {
                // Tell the caller before the upload goes out; the request follows.
                self.state = State::Due {
                    stage,
                    at,
                    announced: true,
                };
                Output::Event(Event::UploadStarted {
                    bytes: self.job.file.size,
                })
            }
            State::Due { stage, .. } => {
                let id = self.clock.new_id();
                let out = match &stage {
                    Stage::Upload { url, .. } => {
                        self.reported = 0;
                        Output::Upload {
                            id,
                            request: self.upload_request(url),
                        }
                    }
                    _ => Output::Send {
                        id,
                        request: api_request(
                            http::Method::POST,
                            self.uri.clone(),
                            &self.authorization,
                            self.body(&stage),
                        ),
                    },
                };
                self.state = State::Out {
                    stage,
                    id,
                    sent_at: now,
                };
                out
            }
            State::Out {
                stage: stage @ Stage::Upload { .. },
                id,
                sent_at,
            } => {
                self.state = State::Out { stage, id, sent_at };
                Output::KeepStreaming { id }
            }
            state @ State::Out { .. } => {
                self.state = state;
                self.clock.wait_until(self.clock.deadline())
            }
            State::Over => self.clock.wait_until(self.clock.deadline()),
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
        let uploading = matches!(
            self.state,
            State::Out {
                stage: Stage::Upload { .. },
                ..
            }
        );
        match input {
            Input::Cancel => {
                self.clock.advance(now);
                self.fail(Error::Cancelled);
                return Ok(());
            }
            Input::Tick => {}
            Input::UploadProgress { sent, .. } if uploading => {
                self.clock.advance(now);
                if self.clock.is_done() {
                    self.state = State::Over;
                    return Ok(());
                }
                if sent > self.job.file.size {
                    // The driver sends exactly `Content-Length` bytes; more is its bug.
                    return Err(InputError::WrongInput {
                        input: "UploadProgress",
                        state: "past the end of the file",
                    });
                }
                if let State::Out {
                    stage: Stage::Upload { sent: s, .. },
                    ..
                } = &mut self.state
                {
                    *s = sent;
                }
                self.progress(sent, false);
                return Ok(());
            }
            Input::Reply { response, .. } => {
                self.clock.advance(now);
                let State::Out { stage, sent_at, .. } =
                    std::mem::replace(&mut self.state, State::Over)
                else {
                    unreachable!("an id matched, so a request is out")
                };
                if self.clock.is_done() {
                    return Ok(());
                }
                if matches!(stage, Stage::Upload { .. }) {
                    self.on_upload_reply(stage, &response);
                } else {
                    self.on_api_reply(stage, sent_at, response);
                }
                return Ok(());
            }
            Input::Failed { failure, .. } => {
                self.clock.advance(now);
                let State::Out { stage, .. } = std::mem::replace(&mut self.state, State::Over)
                else {
                    unreachable!("an id matched, so a request is out")
                };
                if self.clock.is_done() {
                    return Ok(());
                }
                let reason = match stage {
                    Stage::Upload { .. } => Transient::UploadInterrupted(failure),
                    _ => Transient::Transport(failure),
                };
                self.retry(take_stage(&stage), reason);
                return Ok(());
            }
            other => {
                return Err(InputError::WrongInput {
                    input: input_name(&other),
                    state: self.state_name(),
                })
            }
        }
        // A tick: time passes.
        self.clock.advance(now);
        if self.clock.is_done() {
            self.state = State::Over;
        }
        Ok(())
    }

    fn reply_limit(&self) -> usize {
        self.config.max_reply_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_hex_round_trips() {
        let m = Md5::from_hex("D41D8CD98F00B204E9800998ECF8427E").unwrap();
        assert_eq!(m.hex(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(Md5::from_bytes(m.0), m);
        for bad in [
            "",
            "d41d8cd98f00b204e9800998ecf8427",
            "g41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert_eq!(Md5::from_hex(bad), Err(InvalidMd5), "{bad}");
        }
        assert!(Md5::from_hex("é1d8cd98f00b204e9800998ecf8427").is_err());
    }

    #[test]
    fn statement_numbers() {
        assert_eq!(
            reply::statement_number("statement 12 (line 40): no such table"),
            Some(12)
        );
        assert_eq!(reply::statement_number("Statement 7 failed"), Some(7));
        assert_eq!(reply::statement_number("no such table: main.b"), None);
        assert_eq!(reply::statement_number("statement x"), None);
    }
}
