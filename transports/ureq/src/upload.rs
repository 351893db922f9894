//! Imports: the SQL file measured once (md5, size), then the core's [`Import`] machine run by
//! the same loop as an export, the upload streamed from the file in constant memory on a
//! helper thread while this thread reports progress and watches for a cancel.

use crate::{classify, Client, Sink};
use d1_export_core::{
    AccountId, DatabaseId, Event, Import, ImportJob, ImportOutcome, Input, RequestId,
    TransportFailure,
};
use d1_export_transport::{
    feed_upload_progress, measure_sql_file, strip_authorization, Drive, Error, UploadCounter,
    UploadReader,
};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often upload progress is fed while the body streams.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Client {
    /// Imports the SQL file at `path` into `database` (D1's import: init → upload → ingest →
    /// poll). The file is read once for its md5 and size, then streamed as the upload's body
    /// (no `Authorization` on the upload). Events (upload progress, the service's log lines,
    /// retries, completion) go to `on_event`. D1 rolls a failed import back.
    pub fn import_from_path(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        path: impl AsRef<Path>,
        mut on_event: impl FnMut(&Event),
    ) -> Result<ImportOutcome, Error> {
        let path = path.as_ref();
        let job = ImportJob {
            account: account.clone(),
            database: database.clone(),
            file: measure_sql_file(path)?,
        };
        let import = Import::new(self.config.core.clone(), job, Instant::now())?;
        let mut sink: Sink<'_, io::Sink> = Sink::Upload(path);
        self.run_gated(import, &mut sink, &mut on_event)
    }

    /// Sends one upload: the file at `path` as the body of `request`, streamed on a helper
    /// thread. Returns what to feed the machine (its reply, a failure, or a cancel).
    pub(crate) fn upload<M: Drive>(
        &self,
        machine: &mut M,
        id: RequestId,
        mut request: http::Request<()>,
        path: &Path,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Input, Error> {
        strip_authorization(&mut request);
        let length = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| Error::Internal("an upload without Content-Length".to_owned()))?;
        let file = File::open(path).map_err(|e| Error::sink("open", Some(path.to_owned()), e))?;
        let counter = UploadCounter::new();
        let reader = UploadReader::new(
            BufReader::with_capacity(self.config.buffer_size, file),
            length,
            counter.clone(),
            self.cancel.clone(),
        );
        let limit = machine.reply_limit();
        let (tx, rx) = mpsc::channel();
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("d1-export-upload".into())
            .spawn(move || {
                let body = ureq::SendBody::from_owned_reader(reader);
                let input = match this.agent.run(request.map(|()| body)) {
                    Ok(response) => reply_input(id, response, limit),
                    Err(e) => Input::Failed {
                        id,
                        failure: classify(e),
                    },
                };
                let _ = tx.send(input);
            });
        if spawned.is_err() {
            return Ok(Input::Failed {
                id,
                failure: TransportFailure::Other,
            });
        }
        let mut reported = 0;
        loop {
            match rx.recv_timeout(PROGRESS_EVERY) {
                Ok(input) => {
                    feed_upload_progress(machine, id, &counter, reported, on_event)?;
                    return Ok(input);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if self.cancel.is_cancelled() => {
                    // The reader fails on its next read, so the helper stops sending.
                    return Ok(Input::Cancel);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    reported = feed_upload_progress(machine, id, &counter, reported, on_event)?;
                    if machine.is_over() {
                        return Ok(Input::Cancel);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Ok(Input::Failed {
                        id,
                        failure: TransportFailure::Other,
                    })
                }
            }
        }
    }
}

/// The upload URL's reply, its body read up to the cap (plus one byte).
fn reply_input(id: RequestId, response: http::Response<ureq::Body>, limit: usize) -> Input {
    let (parts, body) = response.into_parts();
    let mut buf = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    match body
        .into_with_config()
        .limit(u64::MAX)
        .reader()
        .take(cap)
        .read_to_end(&mut buf)
    {
        Ok(_) => Input::Reply {
            id,
            response: http::Response::from_parts(parts, buf),
        },
        Err(e) => Input::Failed {
            id,
            failure: classify(ureq::Error::from(e)),
        },
    }
}
