//! Imports: the SQL file measured once (md5, size, on the blocking pool), then the core's
//! [`Import`] machine run by the same loop as an export ([`ImportRun`]); an upload streams
//! the file from `tokio::fs` in buffer-sized chunks (constant memory) while progress is fed.

use crate::{classify, or_cancel, reply_input, to_reqwest, AsyncSink, CallFuture, Client};
use d1_export_core::{
    AccountId, DatabaseId, Event, Import, ImportJob, ImportOutcome, Input, RequestId,
};
use d1_export_transport::{
    measure_sql_file, CancelToken, Error, Flow, ImportRun, Runner, UploadCounter,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// How often upload progress is fed while the body streams.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

impl Client {
    /// Imports the SQL file at `path` into `database` (D1's import: init → upload → ingest →
    /// poll). The file is read once for its md5 and size (on the blocking pool), then
    /// streamed as the upload's body (no `Authorization` on the upload). Events (upload
    /// progress, the service's log lines, retries, completion) go to `on_event`. D1 rolls a
    /// failed import back. Dropping the future stops the upload.
    pub fn import_from_path<'a, F>(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        path: impl AsRef<Path>,
        on_event: F,
    ) -> CallFuture<'a, ImportOutcome>
    where
        F: FnMut(&Event) + Send + 'a,
    {
        self.import_from_path_with_cancel(account, database, path, &CancelToken::new(), on_event)
    }

    /// [`import_from_path`](Self::import_from_path), ended early (with [`Error::Cancelled`])
    /// by cancelling `cancel`, mid-upload included.
    pub fn import_from_path_with_cancel<'a, F>(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        path: impl AsRef<Path>,
        cancel: &CancelToken,
        mut on_event: F,
    ) -> CallFuture<'a, ImportOutcome>
    where
        F: FnMut(&Event) + Send + 'a,
    {
        let (this, cancel) = (self.clone(), cancel.clone());
        let (account, database) = (account.clone(), database.clone());
        let path: PathBuf = path.as_ref().to_owned();
        Box::pin(async move {
            let for_measure = path.clone();
            let file = tokio::task::spawn_blocking(move || measure_sql_file(&for_measure))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
            let job = ImportJob {
                account,
                database,
                file,
            };
            let import = Import::new(this.config.machine_config(), job, Instant::now())?;
            let mut none = AsyncSink::<tokio::io::Sink>::None;
            let runner =
                Runner::new(ImportRun::new(import, path.clone())).with_upload_source(Some(&path));
            this.run_with(runner, &mut none, &cancel, &mut on_event)
                .await
        })
    }

    /// Sends one upload: `length` bytes of the file at `source` as the body of `request`,
    /// streamed. Returns what to feed the machine (`None`: cancelled or the run ended).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn upload<M: d1_export_core::Machine, F: FnMut(&Event)>(
        &self,
        id: RequestId,
        request: http::Request<()>,
        source: &Path,
        length: u64,
        limit: usize,
        runner: &mut Runner<M>,
        cancel: &CancelToken,
        on_event: &mut F,
    ) -> Result<Option<Input>, Error> {
        let file = tokio::fs::File::open(source)
            .await
            .map_err(|e| Error::sink("open", Some(source.to_owned()), e))?;
        let counter = UploadCounter::new();
        let body = body_stream(file, length, self.config.buffer_size, counter.clone());
        let (parts, ()) = request.into_parts();
        let mut request = match to_reqwest(parts, None) {
            Ok(r) => r,
            Err(failure) => return Ok(Some(Input::Failed { id, failure })),
        };
        *request.body_mut() = Some(reqwest::Body::wrap_stream(body));
        let send = self.http.execute(request);
        tokio::pin!(send);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = 0;
        let response = loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(None),
                result = &mut send => match result {
                    Ok(response) => break response,
                    Err(e) => return Ok(Some(Input::Failed { id, failure: classify(&e) })),
                },
                _ = tick.tick() => {
                    let sent = counter.get();
                    if sent != reported {
                        reported = sent;
                        if runner.upload_progress(id, sent, &mut *on_event)? == Flow::Stop {
                            return Ok(None);
                        }
                    }
                }
            }
        };
        let sent = counter.get();
        if sent != reported {
            runner.upload_progress(id, sent, &mut *on_event)?;
        }
        Ok(or_cancel(cancel, reply_input(id, response, limit)).await)
    }
}

/// The file as a stream of chunks of at most `buffer` bytes, `length` bytes in all, counted.
fn body_stream(
    file: tokio::fs::File,
    length: u64,
    buffer: usize,
    counter: UploadCounter,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold((file, length), move |(mut file, left)| {
        let counter = counter.clone();
        async move {
            if left == 0 {
                return None;
            }
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(buffer);
            let mut buf = bytes::BytesMut::with_capacity(want);
            let read = (&mut file).take(want as u64).read_buf(&mut buf).await;
            match read {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file is shorter than when it was measured",
                    )),
                    (file, 0),
                )),
                Ok(n) => {
                    counter.add(n as u64);
                    Some((Ok(buf.freeze()), (file, left - n as u64)))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        }
    })
}
