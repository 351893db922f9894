//! A [`Feed`]: the sending half of a destination that runs beside the driver (compressing,
//! uploading), fed by either driver through one bounded channel — the blocking driver with
//! `*_blocking` calls, the async driver with `.await`. The consumer (see the
//! `d1-export-sinks` crate) owns the output; a driver only moves bytes into it.
//!
//! The protocol, in order: [`Feed::send`] the body's chunks; [`Feed::restart`] when the core
//! restarts the download from byte 0; [`Feed::commit`] once the core verified the dump whole,
//! with the digest of the SQL the driver counted (the consumer checks it saw the same bytes,
//! finishes the output and makes it appear). Dropping a `Feed` without a commit aborts: the
//! consumer removes whatever it wrote (a temporary file, an unfinished multipart upload), and
//! the drop waits (bounded) until it has.

use crate::digest::{Digest, Placement};
use crate::error::Error;
use bytes::Bytes;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long dropping an uncommitted [`Feed`] waits for its consumer to clean up.
pub const ABORT_WAIT: Duration = Duration::from_secs(30);

/// What a [`Feed`] can do when the core restarts a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewind {
    /// Start over from byte 0 (a temporary file or an upload that can be dropped and begun
    /// again). A cut at any other byte is refused: a compressed stream cannot be cut there.
    ToStart,
    /// Nothing once bytes went out (standard output).
    Never,
}

/// The file as the destination wrote it (compressed or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Where it is: a path, `-`, or an `s3://bucket/key` URL (never credentials).
    pub location: String,
    /// Bytes written.
    pub bytes: u64,
    /// Their SHA-256, lower-case hex.
    pub sha256: String,
}

/// A message to a [`Feed`]'s consumer.
#[derive(Debug)]
pub enum FeedMessage {
    /// The next bytes of the SQL.
    Data(Bytes),
    /// Drop everything received so far; the SQL starts again at byte 0.
    Restart,
    /// The SQL is complete and verified: finish the output and make it appear.
    Commit {
        /// The digest of the SQL the driver counted; the consumer must have seen the same.
        sql: Digest,
        /// The outcome.
        reply: oneshot::Sender<Result<Written, String>>,
    },
}

/// The receiving half of a [`Feed`], for the consumer.
pub struct FeedConsumer {
    /// The messages, in order. When it closes without a [`FeedMessage::Commit`], abort.
    pub messages: mpsc::Receiver<FeedMessage>,
    failure: Arc<Mutex<Option<String>>>,
    // Dropped when the consumer is done: the feed's drop waits for that.
    _done: std::sync::mpsc::Sender<()>,
}

impl FeedConsumer {
    /// Records why the consumer stopped, for the driver's next send to report.
    pub fn fail(&self, why: impl Into<String>) {
        let mut slot = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(why.into());
    }
}

impl fmt::Debug for FeedConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedConsumer").finish_non_exhaustive()
    }
}

/// The sending half: what a driver's `export_to_feed` streams the dump into.
pub struct Feed {
    tx: Option<mpsc::Sender<FeedMessage>>,
    sent: u64,
    rewind: Rewind,
    location: String,
    written: Option<Written>,
    failure: Arc<Mutex<Option<String>>>,
    done: Option<std::sync::mpsc::Receiver<()>>,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("location", &self.location)
            .field("sent", &self.sent)
            .field("rewind", &self.rewind)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// A feed and its consumer, with up to `depth` (at least 1) messages in flight.
    /// `location` names the destination in errors (never put credentials in it).
    pub fn channel(
        depth: usize,
        rewind: Rewind,
        location: impl Into<String>,
    ) -> (Self, FeedConsumer) {
        let (tx, messages) = mpsc::channel(depth.max(1));
        let (done_tx, done) = std::sync::mpsc::channel();
        let failure = Arc::new(Mutex::new(None));
        (
            Self {
                tx: Some(tx),
                sent: 0,
                rewind,
                location: location.into(),
                written: None,
                failure: failure.clone(),
                done: Some(done),
            },
            FeedConsumer {
                messages,
                failure,
                _done: done_tx,
            },
        )
    }

    /// SQL bytes sent since the last restart.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The destination's name (a path, `-`, an `s3://` URL).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The file as written, once committed.
    pub fn written(&self) -> Option<&Written> {
        self.written.as_ref()
    }

    /// Where a body the core asked for at `start_at` goes: after what was sent, or (when the
    /// feed can rewind) from byte 0 again — then call [`restart`](Self::restart) first.
    pub fn place(&self, start_at: u64) -> Result<Placement, Error> {
        match (start_at, self.rewind) {
            (s, _) if s == self.sent => Ok(Placement::Append),
            (s, _) if s > self.sent => Err(Error::Internal(format!(
                "the core asked to write at byte {s}, but the output holds only {}",
                self.sent
            ))),
            (0, Rewind::ToStart) => Ok(Placement::Truncate(0)),
            (s, Rewind::ToStart) => Err(self.error(
                "resume",
                format!(
                    "the download must continue at byte {s}, but a compressed or uploaded \
                     output can only start over from byte 0"
                ),
            )),
            (s, Rewind::Never) => Err(self.error(
                "resume",
                format!(
                    "the download must start over at byte {s}, but {} bytes were already \
                     written to a stream that cannot be rewound; write to a file instead",
                    self.sent
                ),
            )),
        }
    }

    fn error(&self, action: &'static str, why: String) -> Error {
        Error::sink(
            action,
            Some(PathBuf::from(&self.location)),
            io::Error::other(why),
        )
    }

    /// The consumer is gone: its own reason if it gave one.
    fn gone(&self, action: &'static str) -> Error {
        let why = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "the output stopped".to_owned());
        self.error(action, why)
    }

    fn sender(&self, action: &'static str) -> Result<&mpsc::Sender<FeedMessage>, Error> {
        self.tx.as_ref().ok_or_else(|| self.gone(action))
    }

    /// Sends the next chunk (blocking; never call this on an async runtime's thread).
    pub fn send_blocking(&mut self, chunk: Bytes) -> Result<(), Error> {
        let len = chunk.len() as u64;
        self.sender("write")?
            .blocking_send(FeedMessage::Data(chunk))
            .map_err(|_| self.gone("write"))?;
        self.sent += len;
        Ok(())
    }

    /// Sends the next chunk.
    pub async fn send(&mut self, chunk: Bytes) -> Result<(), Error> {
        let len = chunk.len() as u64;
        self.sender("write")?
            .send(FeedMessage::Data(chunk))
            .await
            .map_err(|_| self.gone("write"))?;
        self.sent += len;
        Ok(())
    }

    /// Starts the SQL over at byte 0 (blocking).
    pub fn restart_blocking(&mut self) -> Result<(), Error> {
        self.sender("start over")?
            .blocking_send(FeedMessage::Restart)
            .map_err(|_| self.gone("start over"))?;
        self.sent = 0;
        Ok(())
    }

    /// Starts the SQL over at byte 0.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.sender("start over")?
            .send(FeedMessage::Restart)
            .await
            .map_err(|_| self.gone("start over"))?;
        self.sent = 0;
        Ok(())
    }

    fn commit_message(
        &mut self,
        sql: &Digest,
    ) -> Result<(FeedMessage, oneshot::Receiver<Result<Written, String>>), Error> {
        if sql.bytes() != self.sent {
            return Err(Error::Internal(format!(
                "committing {} bytes, but {} were sent",
                sql.bytes(),
                self.sent
            )));
        }
        let (reply, answer) = oneshot::channel();
        Ok((
            FeedMessage::Commit {
                sql: sql.clone(),
                reply,
            },
            answer,
        ))
    }

    fn committed(
        &mut self,
        answer: Result<Result<Written, String>, oneshot::error::RecvError>,
    ) -> Result<Written, Error> {
        self.tx = None;
        match answer {
            Ok(Ok(written)) => {
                self.written = Some(written.clone());
                Ok(written)
            }
            Ok(Err(why)) => Err(self.error("finish", why)),
            Err(_) => Err(self.gone("finish")),
        }
    }

    /// Finishes the output (blocking): the consumer checks it saw exactly the SQL of `sql`,
    /// completes the file or upload, and answers what it wrote.
    pub fn commit_blocking(&mut self, sql: &Digest) -> Result<Written, Error> {
        let (message, answer) = self.commit_message(sql)?;
        self.sender("finish")?
            .blocking_send(message)
            .map_err(|_| self.gone("finish"))?;
        let answer = answer.blocking_recv();
        self.committed(answer)
    }

    /// Finishes the output: see [`commit_blocking`](Self::commit_blocking).
    pub async fn commit(&mut self, sql: &Digest) -> Result<Written, Error> {
        let (message, answer) = self.commit_message(sql)?;
        self.sender("finish")?
            .send(message)
            .await
            .map_err(|_| self.gone("finish"))?;
        let answer = answer.await;
        self.committed(answer)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Closing the channel without a commit tells the consumer to abort; wait (bounded)
        // until it has removed what it wrote.
        self.tx = None;
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(ABORT_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error and its sources, as a user sees them.
    fn chain(e: &Error) -> String {
        let mut text = e.to_string();
        let mut next = std::error::Error::source(e);
        while let Some(s) = next {
            text = format!("{text}: {s}");
            next = s.source();
        }
        text
    }

    #[test]
    fn places_appends_and_restarts_only_from_zero() {
        let (mut feed, mut consumer) = Feed::channel(4, Rewind::ToStart, "out.sql.zst");
        feed.send_blocking(Bytes::from_static(b"abcd")).unwrap();
        assert_eq!(feed.place(4).unwrap(), Placement::Append);
        assert_eq!(feed.place(0).unwrap(), Placement::Truncate(0));
        let cut = chain(&feed.place(2).unwrap_err());
        assert!(
            cut.contains("byte 2") && cut.contains("out.sql.zst"),
            "{cut}"
        );
        assert!(matches!(feed.place(5), Err(Error::Internal(_))));
        feed.restart_blocking().unwrap();
        assert_eq!(feed.sent(), 0);
        assert!(matches!(
            consumer.messages.blocking_recv(),
            Some(FeedMessage::Data(d)) if d == "abcd"
        ));
        assert!(matches!(
            consumer.messages.blocking_recv(),
            Some(FeedMessage::Restart)
        ));
        let (mut stream, stream_consumer) = Feed::channel(1, Rewind::Never, "-");
        assert_eq!(stream.place(0).unwrap(), Placement::Append);
        stream.sent = 3;
        assert!(chain(&stream.place(0).unwrap_err()).contains("cannot be rewound"));
        drop(stream_consumer);
        drop(consumer);
    }

    #[test]
    fn a_gone_consumer_reports_its_reason_and_a_drop_waits_for_it() {
        let (mut feed, consumer) = Feed::channel(1, Rewind::ToStart, "s3://b/k");
        let worker = std::thread::spawn(move || {
            consumer.fail("the bucket refused the upload");
            drop(consumer);
        });
        worker.join().unwrap();
        let e = feed.send_blocking(Bytes::from_static(b"x")).unwrap_err();
        assert!(chain(&e).contains("the bucket refused the upload"), "{e}");
        let mut digest = Digest::new();
        digest.update(b"y");
        assert!(
            feed.commit_blocking(&digest).is_err(),
            "a commit of bytes never sent"
        );
        let started = std::time::Instant::now();
        drop(feed);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_commit_returns_what_the_consumer_wrote() {
        let (mut feed, consumer) = Feed::channel(2, Rewind::ToStart, "out.sql.gz");
        let worker = std::thread::spawn(move || {
            let mut consumer = consumer; // the whole consumer, so its end is seen
            let mut seen = Digest::new();
            while let Some(m) = consumer.messages.blocking_recv() {
                match m {
                    FeedMessage::Data(d) => seen.update(&d),
                    FeedMessage::Restart => seen.reset(),
                    FeedMessage::Commit { sql, reply } => {
                        let answer = if sql.hex() == seen.hex() {
                            Ok(Written {
                                location: "out.sql.gz".into(),
                                bytes: 7,
                                sha256: "00".into(),
                            })
                        } else {
                            Err("mismatch".into())
                        };
                        let _ = reply.send(answer);
                    }
                }
            }
        });
        feed.send_blocking(Bytes::from_static(b"old")).unwrap();
        feed.restart_blocking().unwrap();
        feed.send_blocking(Bytes::from_static(b"new")).unwrap();
        let mut sql = Digest::new();
        sql.update(b"new");
        let written = feed.commit_blocking(&sql).unwrap();
        assert_eq!(written.bytes, 7);
        assert_eq!(feed.written(), Some(&written));
        drop(feed);
        worker.join().unwrap();
    }
}
