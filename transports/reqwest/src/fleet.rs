//! Fleet export on the async driver: one loop runs the shared [`FleetRun`] (and the core's
//! `Fleet` inside it), with every request, download and body chunk in flight at once as a
//! future; each answer is fed back tagged with its task.

use crate::{classify, head_of, AsyncSink, CallFuture, Client};
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{AccountId, Input, Outcome, RequestId, TaskKey};
use d1_export_transport::{
    strip_authorization, AllDatabases, CancelToken, DatabaseReport, Error, ExportOutcome,
    FleetHooks, FleetOptions, FleetRun, FleetStep, Sink,
};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Instant;

/// What came back from the network for one task.
enum Answer {
    /// An API reply or a transport failure, ready for the core.
    Input(Input),
    /// A download's head; the body stays in the response.
    Head {
        id: RequestId,
        response: reqwest::Response,
    },
    /// The next chunk of a body (or its end, or how it broke).
    Chunk {
        id: RequestId,
        response: reqwest::Response,
        next: Result<Option<bytes::Bytes>, reqwest::Error>,
    },
    /// A verified file, synced and renamed (or why not).
    Persisted(Result<ExportOutcome, Error>),
}

type InFlight<'a> = Pin<Box<dyn Future<Output = (TaskKey, Answer)> + Send + 'a>>;

/// A database's temporary file: the shared sink, written on the blocking pool.
type FileSink = AsyncSink<tokio::io::Sink>;

/// What the loop keeps per task between answers.
#[derive(Default)]
struct Slot {
    /// The response whose head was fed, waiting for `WriteBody`.
    held: Option<reqwest::Response>,
    sink: Option<FileSink>,
    /// Bytes of the current body written.
    written: u64,
}

fn next_chunk<'a>(key: TaskKey, id: RequestId, mut response: reqwest::Response) -> InFlight<'a> {
    Box::pin(async move {
        let next = response.chunk().await;
        (key, Answer::Chunk { id, response, next })
    })
}

/// The hooks' feed for `path` (quick: it only starts the destination's thread), else the
/// temporary file, created on the blocking pool.
async fn create_sink(hooks: &impl FleetHooks, path: &Path) -> Result<FileSink, Error> {
    if let Some(feed) = hooks.open_feed(path) {
        return Ok(AsyncSink::file(Sink::feed(feed?)));
    }
    let dest = path.to_owned();
    let sink = tokio::task::spawn_blocking(move || Sink::file(&dest))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(AsyncSink::file(sink))
}

/// Checks a verified sink against the core's outcome, then flushes, syncs and renames it.
async fn persist(
    hooks: &impl FleetHooks,
    sink: Option<FileSink>,
    path: PathBuf,
    outcome: Outcome,
) -> Result<ExportOutcome, Error> {
    let sink = match sink {
        Some(sink) => sink,
        // A file whose every byte was already there (or empty): no body was streamed.
        None => create_sink(hooks, &path).await?,
    };
    sink.commit(outcome).await
}

impl Client {
    /// Every database of the account, page after page. The future is `Send + 'static`.
    pub fn list_all_databases(
        &self,
        account: &AccountId,
        per_page: u32,
    ) -> impl Future<Output = Result<Vec<DatabaseInfo>, Error>> + Send + 'static {
        self.list_all_databases_with_cancel(account, per_page, &CancelToken::new())
    }

    /// [`list_all_databases`](Self::list_all_databases), ended early (with
    /// [`Error::Cancelled`]) by cancelling `cancel`, whichever page it is on.
    pub fn list_all_databases_with_cancel(
        &self,
        account: &AccountId,
        per_page: u32,
        cancel: &CancelToken,
    ) -> impl Future<Output = Result<Vec<DatabaseInfo>, Error>> + Send + 'static {
        let (this, account, cancel) = (self.clone(), account.clone(), cancel.clone());
        async move {
            let mut all = AllDatabases::new(per_page);
            while let Some(page) = all.next_page() {
                let call = this.config.list_databases(&account, page, per_page);
                all.add(this.lookup(call, &cancel).await?);
            }
            Ok(all.into_databases())
        }
    }

    /// Exports every selected database of the account into `dir` as `<name>-<uuid>.sql`, each
    /// written atomically, under `options.budget` for every API request (listing included).
    /// At most `options.concurrency` exports run at once, fewer when the budget cannot keep
    /// more polled in time. One database failing never stops the others; the reports come
    /// back in listing order. Only a failed listing fails the whole call.
    ///
    /// The future owns clones of the client, `account`, `dir` and `options`, and `hooks`
    /// itself: pass hooks by value (or in an `Arc`, to read what they gathered) and it is
    /// `'static`, ready for `tokio::spawn`; `&hooks` works too, without spawning.
    pub fn export_all<'a, H>(
        &self,
        account: &AccountId,
        dir: impl AsRef<Path>,
        options: &FleetOptions,
        hooks: H,
    ) -> CallFuture<'a, Vec<DatabaseReport>>
    where
        H: FleetHooks + Send + Sync + 'a,
    {
        self.export_all_with_cancel(account, dir, options, &CancelToken::new(), hooks)
    }

    /// [`export_all`](Self::export_all), ended early by cancelling `cancel`: every running
    /// export ends (its temporary file removed), and the reports of what finished come back
    /// (the others failed with [`Error::Cancelled`]); a cancel during the listing fails the
    /// call with [`Error::Cancelled`].
    pub fn export_all_with_cancel<'a, H>(
        &self,
        account: &AccountId,
        dir: impl AsRef<Path>,
        options: &FleetOptions,
        cancel: &CancelToken,
        hooks: H,
    ) -> CallFuture<'a, Vec<DatabaseReport>>
    where
        H: FleetHooks + Send + Sync + 'a,
    {
        let (this, account, options) = (self.clone(), account.clone(), options.clone());
        let (dir, cancel): (PathBuf, _) = (dir.as_ref().to_owned(), self.shutdown.joined(cancel));
        Box::pin(async move {
            let run = FleetRun::new(
                this.config.machine_config(),
                account,
                &dir,
                options,
                Instant::now(),
            )?
            .cancelled_by(cancel.clone());
            this.fleet(run, &cancel, &hooks).await
        })
    }

    /// The fleet loop: executes the run's steps until it is done.
    async fn fleet(
        &self,
        mut run: FleetRun,
        cancel: &CancelToken,
        hooks: &(impl FleetHooks + Sync),
    ) -> Result<Vec<DatabaseReport>, Error> {
        let mut flight: FuturesUnordered<InFlight<'_>> = FuturesUnordered::new();
        let mut slots: HashMap<TaskKey, Slot> = HashMap::new();
        loop {
            match run.poll(hooks) {
                FleetStep::Send {
                    key,
                    id,
                    request,
                    limit,
                } => flight.push(Box::pin(async move {
                    (key, Answer::Input(self.send(id, request, limit).await))
                })),
                FleetStep::Download {
                    key,
                    id,
                    mut request,
                } => {
                    strip_authorization(&mut request);
                    slots.entry(key).or_default().held = None;
                    flight.push(Box::pin(async move {
                        let answer = match self.download(request).await {
                            Ok(response) => Answer::Head { id, response },
                            Err(failure) => Answer::Input(Input::Failed { id, failure }),
                        };
                        (key, answer)
                    }));
                }
                FleetStep::WriteBody {
                    key,
                    id,
                    start_at,
                    path,
                } => {
                    let slot = slots.entry(key).or_default();
                    let Some(response) = slot.held.take() else {
                        return Err(Error::Internal(format!("no held body for {key}")));
                    };
                    let placed = async {
                        if slot.sink.is_none() {
                            slot.sink = Some(create_sink(hooks, &path).await?);
                        }
                        match slot.sink.as_mut() {
                            Some(s) => s.place(start_at).await,
                            None => Err(Error::Internal("no sink".to_owned())),
                        }
                    };
                    match placed.await {
                        Ok(()) => {
                            slot.written = 0;
                            flight.push(next_chunk(key, id, response));
                        }
                        Err(e) => run.abort(Instant::now(), key, e),
                    }
                }
                FleetStep::Persist { key, path, outcome } => {
                    // Synced and renamed beside the other requests, not in their way.
                    let sink = slots.remove(&key).and_then(|s| s.sink);
                    flight.push(Box::pin(async move {
                        (
                            key,
                            Answer::Persisted(persist(hooks, sink, path, outcome).await),
                        )
                    }));
                }
                FleetStep::Discard { key } => {
                    slots.remove(&key);
                }
                FleetStep::WaitUntil(at) => {
                    let at = tokio::time::Instant::from_std(at);
                    let answer = tokio::select! {
                        biased;
                        () = cancel.cancelled(), if run.cancel_token().is_some() => None,
                        Some(answer) = flight.next(), if !flight.is_empty() => Some(answer),
                        () = tokio::time::sleep_until(at) => None,
                    };
                    let now = Instant::now();
                    match answer {
                        None => run.handle_input(now, None, Input::Tick)?,
                        Some((key, Answer::Persisted(result))) => run.persisted(key, result, hooks),
                        Some((key, answer)) => {
                            self.answered(&mut run, &mut slots, &mut flight, key, answer)
                                .await?
                        }
                    }
                }
                FleetStep::Done(result) => return result,
            }
        }
    }

    /// Feeds one answer to the run; a body chunk goes to the sink first, and the next chunk
    /// is asked for.
    async fn answered<'a>(
        &'a self,
        run: &mut FleetRun,
        slots: &mut HashMap<TaskKey, Slot>,
        flight: &mut FuturesUnordered<InFlight<'a>>,
        key: TaskKey,
        answer: Answer,
    ) -> Result<(), Error> {
        let now = Instant::now();
        let input = match answer {
            Answer::Input(input) => input,
            Answer::Persisted(_) => {
                return Err(Error::Internal(format!("{key}: a file out of turn")));
            }
            Answer::Head { id, response } => {
                let head = head_of(&response);
                slots.entry(key).or_default().held = Some(response);
                Input::DownloadHead { id, head }
            }
            Answer::Chunk { id, response, next } => {
                // A task that ended meanwhile (cancelled, failed) has no slot: drop the body.
                let Some(slot) = slots.get_mut(&key) else {
                    return Ok(());
                };
                match next {
                    Ok(Some(chunk)) => {
                        let len = chunk.len() as u64;
                        let written = match slot.sink.as_mut() {
                            Some(s) => s.write(chunk).await,
                            None => Err(Error::Internal("no sink".to_owned())),
                        };
                        if let Err(e) = written {
                            run.abort(now, key, e);
                            return Ok(());
                        }
                        slot.written += len;
                        flight.push(next_chunk(key, id, response));
                        Input::DownloadProgress {
                            id,
                            written: slot.written,
                        }
                    }
                    Ok(None) => Input::DownloadEnded {
                        id,
                        written: slot.written,
                    },
                    Err(e) => Input::DownloadFailed {
                        id,
                        written: slot.written,
                        failure: classify(&e),
                    },
                }
            }
        };
        run.handle_input(now, Some(key), input)
    }
}
