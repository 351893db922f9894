//! Fleet export on the blocking driver: one loop runs the shared [`FleetRun`] (and the core's
//! `Fleet` inside it); a small pool of worker threads does the blocking I/O (requests,
//! download heads, body reads) and hands each answer back to the loop, tagged with its task.

use crate::{classify, Client, Worker};
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{AccountId, Input, Outcome, RequestId, TaskKey};
use d1_export_transport::{
    strip_authorization, AllDatabases, CancelToken, DatabaseReport, Error, ExportOutcome,
    FleetHooks, FleetOptions, FleetRun, FleetStep, Sink,
};
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

type Reader = ureq::BodyReader<'static>;

/// Blocking I/O for a worker.
enum Job {
    Send {
        key: TaskKey,
        id: RequestId,
        request: http::Request<Vec<u8>>,
        limit: usize,
    },
    Download {
        key: TaskKey,
        id: RequestId,
        request: http::Request<()>,
    },
    Read {
        key: TaskKey,
        id: RequestId,
        reader: Box<Reader>,
        buf: Vec<u8>,
    },
    /// Check a verified sink against the core's outcome, sync it and rename it into place.
    Persist {
        key: TaskKey,
        sink: Result<Sink<io::Sink>, Error>,
        outcome: Outcome,
    },
}

/// What a worker hands back.
enum Answer {
    /// An API reply or a transport failure, ready for the core.
    Input(Input),
    /// A download's head, and its body to keep.
    Head {
        id: RequestId,
        head: http::Response<()>,
        body: ureq::Body,
    },
    /// One read of a body.
    Chunk {
        id: RequestId,
        reader: Box<Reader>,
        buf: Vec<u8>,
        read: io::Result<usize>,
    },
    /// A verified file, synced and renamed (or why not).
    Persisted(Result<ExportOutcome, Error>),
}

fn work(worker: &mut Worker, job: Job) -> (TaskKey, Answer) {
    match job {
        Job::Send {
            key,
            id,
            request,
            limit,
        } => (key, Answer::Input(worker.send(id, request, limit))),
        Job::Download { key, id, request } => {
            let answer = match (worker.download(id, request), worker.held.take()) {
                (Input::DownloadHead { id, head }, Some(body)) => Answer::Head { id, head, body },
                (input, _) => Answer::Input(input),
            };
            (key, answer)
        }
        Job::Persist { key, sink, outcome } => {
            let result = sink.and_then(|sink| sink.finish(outcome));
            (key, Answer::Persisted(result))
        }
        Job::Read {
            key,
            id,
            mut reader,
            mut buf,
        } => {
            let read = loop {
                match reader.read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            (
                key,
                Answer::Chunk {
                    id,
                    reader,
                    buf,
                    read,
                },
            )
        }
    }
}

/// Worker threads fed from one queue. They end once the pool is dropped and their current
/// job is over (a request in flight is bounded by the read timeout).
struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    answers: mpsc::Receiver<(TaskKey, Answer)>,
    in_flight: usize,
}

impl Pool {
    fn new(client: &Client, size: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (done, answers) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..size {
            let (queue, done) = (Arc::clone(&queue), done.clone());
            let mut worker = Worker {
                agent: client.agent.clone(),
                buffer_size: client.config.buffer_size,
                held: None,
                spare: mpsc::channel().1,
            };
            let _ = std::thread::Builder::new()
                .name("d1-export-fleet".into())
                .spawn(move || loop {
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(job) = job else { return };
                    if done.send(work(&mut worker, job)).is_err() {
                        return;
                    }
                });
        }
        Self {
            jobs: Some(jobs),
            answers,
            in_flight: 0,
        }
    }

    fn submit(&mut self, job: Job) -> Result<(), Error> {
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| Error::Internal("the fleet's workers are gone".to_owned()))?;
        self.in_flight += 1;
        Ok(())
    }

    /// The next answer, if one comes within `wait`.
    fn next(&mut self, wait: Duration) -> Option<(TaskKey, Answer)> {
        if self.in_flight == 0 {
            std::thread::sleep(wait);
            return None;
        }
        let answer = self.answers.recv_timeout(wait).ok()?;
        self.in_flight -= 1;
        Some(answer)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
    }
}

/// What the loop keeps per task between answers.
#[derive(Default)]
struct Slot {
    /// The body whose head was fed, waiting for `WriteBody`.
    held: Option<ureq::Body>,
    sink: Option<Sink<io::Sink>>,
    /// Bytes of the current body written.
    written: u64,
}

impl Client {
    /// Every database of the account, page after page (all pages on one I/O thread).
    pub fn list_all_databases(
        &self,
        account: &AccountId,
        per_page: u32,
    ) -> Result<Vec<DatabaseInfo>, Error> {
        self.list_all_databases_with_cancel(account, per_page, &CancelToken::new())
    }

    /// [`list_all_databases`](Self::list_all_databases), ended early (with
    /// [`Error::Cancelled`]) by cancelling `cancel`, whichever page it is on.
    pub fn list_all_databases_with_cancel(
        &self,
        account: &AccountId,
        per_page: u32,
        cancel: &CancelToken,
    ) -> Result<Vec<DatabaseInfo>, Error> {
        let mut io = self.io();
        let mut all = AllDatabases::new(per_page);
        while let Some(page) = all.next_page() {
            let call = self.config.list_databases(account, page, per_page)?;
            all.add(self.lookup(call, cancel, &mut io)?);
        }
        Ok(all.into_databases())
    }

    /// Exports every selected database of the account into `dir` as `<name>-<uuid>.sql`, each
    /// written atomically, under `options.budget` for every API request (listing included).
    /// At most `options.concurrency` exports run at once, fewer when the budget cannot keep
    /// more polled in time; a few worker threads do the blocking I/O for one loop. One
    /// database failing never stops the others; the reports come back in listing order. Only
    /// a failed listing fails the whole call.
    pub fn export_all(
        &self,
        account: &AccountId,
        dir: &Path,
        options: &FleetOptions,
        hooks: &(impl FleetHooks + Sync),
    ) -> Result<Vec<DatabaseReport>, Error> {
        self.export_all_with_cancel(account, dir, options, &CancelToken::new(), hooks)
    }

    /// [`export_all`](Self::export_all), ended early by cancelling `cancel` (from another
    /// thread): every running export ends (its temporary file removed) within a loop turn
    /// (25 ms), and the reports of what finished come back (the others failed with
    /// [`Error::Cancelled`]); a cancel during the listing fails the call with
    /// [`Error::Cancelled`].
    pub fn export_all_with_cancel(
        &self,
        account: &AccountId,
        dir: &Path,
        options: &FleetOptions,
        cancel: &CancelToken,
        hooks: &(impl FleetHooks + Sync),
    ) -> Result<Vec<DatabaseReport>, Error> {
        let mut run = FleetRun::new(
            self.config.machine_config(),
            account.clone(),
            dir,
            options.clone(),
            Instant::now(),
        )?
        .cancelled_by(self.shutdown.joined(cancel));
        let mut pool = Pool::new(self, run.most_in_flight().min(129));
        let mut slots: HashMap<TaskKey, Slot> = HashMap::new();
        loop {
            match run.poll(hooks) {
                FleetStep::Send {
                    key,
                    id,
                    request,
                    limit,
                } => pool.submit(Job::Send {
                    key,
                    id,
                    request,
                    limit,
                })?,
                FleetStep::Download {
                    key,
                    id,
                    mut request,
                } => {
                    strip_authorization(&mut request);
                    slots.entry(key).or_default().held = None;
                    pool.submit(Job::Download { key, id, request })?;
                }
                FleetStep::WriteBody {
                    key,
                    id,
                    start_at,
                    path,
                } => {
                    let slot = slots.entry(key).or_default();
                    let Some(body) = slot.held.take() else {
                        return Err(Error::Internal(format!("no held body for {key}")));
                    };
                    let placed = match slot.sink.as_mut() {
                        Some(sink) => sink.place(start_at),
                        None => Sink::for_fleet(hooks, &path).and_then(|mut sink| {
                            sink.place(start_at)?;
                            slot.sink = Some(sink);
                            Ok(())
                        }),
                    };
                    match placed {
                        Ok(()) => {
                            slot.written = 0;
                            let buf = vec![0u8; self.config.buffer_size];
                            let reader = Box::new(body.into_with_config().limit(u64::MAX).reader());
                            pool.submit(Job::Read {
                                key,
                                id,
                                reader,
                                buf,
                            })?;
                        }
                        Err(e) => run.abort(Instant::now(), key, e),
                    }
                }
                FleetStep::Persist { key, path, outcome } => {
                    let sink = match slots.remove(&key).and_then(|s| s.sink) {
                        Some(sink) => Ok(sink),
                        // A file whose every byte was already there (or empty).
                        None => Sink::for_fleet(hooks, &path),
                    };
                    // Synced and renamed on a worker, beside the other requests.
                    pool.submit(Job::Persist { key, sink, outcome })?;
                }
                FleetStep::Discard { key } => {
                    slots.remove(&key);
                }
                FleetStep::WaitUntil(at) => {
                    // Wake at least every 25 ms to notice a cancel.
                    let wait = at
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(25));
                    match pool.next(wait) {
                        Some((key, Answer::Persisted(result))) => run.persisted(key, result, hooks),
                        Some((key, answer)) => {
                            self.answered(&mut run, &mut slots, &mut pool, key, answer)?
                        }
                        None => run.handle_input(Instant::now(), None, Input::Tick)?,
                    }
                }
                FleetStep::Done(result) => return result,
            }
        }
    }

    /// Feeds one answer to the run; a body chunk goes to the sink first, and the next read
    /// is queued.
    fn answered(
        &self,
        run: &mut FleetRun,
        slots: &mut HashMap<TaskKey, Slot>,
        pool: &mut Pool,
        key: TaskKey,
        answer: Answer,
    ) -> Result<(), Error> {
        let now = Instant::now();
        let input = match answer {
            Answer::Input(input) => input,
            Answer::Persisted(_) => {
                return Err(Error::Internal(format!("{key}: a file out of turn")));
            }
            Answer::Head { id, head, body } => {
                slots.entry(key).or_default().held = Some(body);
                Input::DownloadHead { id, head }
            }
            Answer::Chunk {
                id,
                reader,
                buf,
                read,
            } => {
                // A task that ended meanwhile (cancelled, failed) has no slot: drop the body.
                let Some(slot) = slots.get_mut(&key) else {
                    return Ok(());
                };
                match read {
                    Ok(0) => Input::DownloadEnded {
                        id,
                        written: slot.written,
                    },
                    Ok(len) => {
                        let Some(sink) = slot.sink.as_mut() else {
                            return Err(Error::Internal(format!("no sink for {key}")));
                        };
                        if let Err(e) = sink.write(&buf[..len]) {
                            run.abort(now, key, e);
                            return Ok(());
                        }
                        slot.written += len as u64;
                        pool.submit(Job::Read {
                            key,
                            id,
                            reader,
                            buf,
                        })?;
                        Input::DownloadProgress {
                            id,
                            written: slot.written,
                        }
                    }
                    Err(e) => Input::DownloadFailed {
                        id,
                        written: slot.written,
                        failure: classify(ureq::Error::from(e)),
                    },
                }
            }
        };
        run.handle_input(now, Some(key), input)
    }
}
