//! Imports: the SQL file measured once (md5, size, on the blocking pool), then the core's
//! [`Import`] machine run by the same loop as an export; the upload streams the file from
//! `tokio::fs` in buffer-sized chunks (constant memory) while progress is fed every 100 ms.

use crate::{classify, head_of, to_reqwest, Client, Sink};
use d1_export_core::{
    AccountId, DatabaseId, Event, Import, ImportJob, ImportOutcome, Input, RequestId,
};
use d1_export_transport::{
    feed_upload_progress, measure_sql_file, strip_authorization, Drive, Error, UploadCounter,
};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// How often upload progress is fed while the body streams.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Client {
    /// Imports the SQL file at `path` into `database` (D1's import: init → upload → ingest →
    /// poll). The file is read once for its md5 and size, then streamed as the upload's body
    /// (no `Authorization` on the upload). Events (upload progress, the service's log lines,
    /// retries, completion) go to `on_event`. D1 rolls a failed import back. Dropping the
    /// future stops the upload.
    pub async fn import_from_path<F: FnMut(&Event)>(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        path: impl AsRef<Path>,
        mut on_event: F,
    ) -> Result<ImportOutcome, Error> {
        let path = path.as_ref().to_owned();
        let for_measure = path.clone();
        let file = tokio::task::spawn_blocking(move || measure_sql_file(&for_measure))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let job = ImportJob {
            account: account.clone(),
            database: database.clone(),
            file,
        };
        let import = Import::new(self.config.core.clone(), job, Instant::now())?;
        let mut sink: Sink<'_, tokio::io::Sink> = Sink::Upload(&path);
        self.run_gated(import, &mut sink, &mut on_event).await
    }

    /// Sends one upload: the file at `path` as the body of `request`, streamed. Returns what
    /// to feed the machine (its reply, a failure, or a cancel).
    pub(crate) async fn upload<M: Drive, F: FnMut(&Event)>(
        &self,
        machine: &mut M,
        id: RequestId,
        mut request: http::Request<()>,
        path: &Path,
        on_event: &mut F,
    ) -> Result<Input, Error> {
        strip_authorization(&mut request);
        let length = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| Error::Internal("an upload without Content-Length".to_owned()))?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::sink("open", Some(path.to_owned()), e))?;
        let counter = UploadCounter::new();
        let body = body_stream(file, length, self.config.buffer_size, counter.clone());
        let (parts, ()) = request.into_parts();
        let mut request = match to_reqwest(parts, None) {
            Ok(r) => r,
            Err(failure) => return Ok(Input::Failed { id, failure }),
        };
        *request.body_mut() = Some(reqwest::Body::wrap_stream(body));
        let limit = machine.reply_limit();
        let send = self.http.execute(request);
        tokio::pin!(send);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = 0;
        let response = loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Ok(Input::Cancel),
                result = &mut send => match result {
                    Ok(response) => break response,
                    Err(e) => return Ok(Input::Failed { id, failure: classify(&e) }),
                },
                _ = tick.tick() => {
                    reported = feed_upload_progress(machine, id, &counter, reported, &mut *on_event)?;
                    if machine.is_over() {
                        return Ok(Input::Cancel);
                    }
                }
            }
        };
        feed_upload_progress(machine, id, &counter, reported, &mut *on_event)?;
        let Some(input) = self.or_cancel(reply_input(id, response, limit)).await else {
            return Ok(Input::Cancel);
        };
        Ok(input)
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

/// The upload URL's reply, its body read up to the cap (plus one byte).
async fn reply_input(id: RequestId, mut response: reqwest::Response, limit: usize) -> Input {
    let head = head_of(&response);
    let mut buf = Vec::new();
    let cap = limit.saturating_add(1);
    while buf.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(cap - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            Ok(None) => break,
            Err(e) => {
                return Input::Failed {
                    id,
                    failure: classify(&e),
                }
            }
        }
    }
    let (parts, ()) = head.into_parts();
    Input::Reply {
        id,
        response: http::Response::from_parts(parts, buf),
    }
}
