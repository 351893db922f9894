//! Imports: the SQL file measured once (md5, size), then the core's [`Import`] machine run by
//! the same loop as an export ([`ImportRun`]); an upload streams the file in constant memory
//! on a helper thread while the calling thread reports progress and watches the cancel token.

use crate::{classify, Client};
use d1_export_core::{
    AccountId, DatabaseId, Event, Import, ImportJob, ImportOutcome, Input, RequestId,
    TransportFailure,
};
use d1_export_transport::{
    measure_sql_file, CancelToken, Error, Flow, ImportRun, Runner, Sink, UploadCounter,
    UploadReader,
};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often upload progress is fed (and the cancel token looked at) while the body streams.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

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
        on_event: impl FnMut(&Event),
    ) -> Result<ImportOutcome, Error> {
        self.import_from_path_with_cancel(account, database, path, &CancelToken::new(), on_event)
    }

    /// [`import_from_path`](Self::import_from_path), ended early (with [`Error::Cancelled`])
    /// by cancelling `cancel`, mid-upload included.
    pub fn import_from_path_with_cancel(
        &self,
        account: &AccountId,
        database: &DatabaseId,
        path: impl AsRef<Path>,
        cancel: &CancelToken,
        mut on_event: impl FnMut(&Event),
    ) -> Result<ImportOutcome, Error> {
        let path = path.as_ref();
        let job = ImportJob {
            account: account.clone(),
            database: database.clone(),
            file: measure_sql_file(path)?,
        };
        let import = Import::new(self.config.machine_config(), job, Instant::now())?;
        let mut none = Sink::<io::Sink>::None;
        let runner = Runner::new(ImportRun::new(import, path)).with_upload_source(Some(path));
        self.run_with(runner, &mut none, cancel, &mut on_event)
    }
}

/// Sends one upload: `length` bytes of the file at `source` as the body of `request`,
/// streamed on a helper thread. Returns what to feed the machine (`None`: cancelled or the
/// run ended meanwhile; the loop sees to it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn upload<M: d1_export_core::Machine>(
    agent: &ureq::Agent,
    id: RequestId,
    request: http::Request<()>,
    source: &Path,
    length: u64,
    limit: usize,
    buffer_size: usize,
    runner: &mut Runner<M>,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Option<Input>, Error> {
    let file = File::open(source).map_err(|e| Error::sink("open", Some(source.to_owned()), e))?;
    let counter = UploadCounter::new();
    // The reader fails once `stop` is cancelled, so the helper stops sending.
    let stop = cancel.child();
    // ureq reads the file straight into its output buffer (no second buffer in between).
    let reader = UploadReader::new(file, length, counter.clone(), stop.clone());
    let (tx, rx) = mpsc::channel();
    let agent = agent.clone();
    let spawned = std::thread::Builder::new()
        .name("d1-export-upload".into())
        .spawn(move || {
            let body = ureq::SendBody::from_owned_reader(reader);
            let request = agent
                .configure_request(request.map(|()| body))
                .http_status_as_error(false)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .output_buffer_size(buffer_size)
                .build();
            let input = match agent.run(request) {
                Ok(response) => reply_input(id, response, limit),
                Err(e) => Input::Failed {
                    id,
                    failure: classify(e),
                },
            };
            let _ = tx.send(input);
        });
    if spawned.is_err() {
        return Ok(Some(Input::Failed {
            id,
            failure: TransportFailure::Other,
        }));
    }
    let mut reported = 0;
    loop {
        if cancel.is_cancelled() {
            stop.cancel();
            return Ok(None);
        }
        let sent = counter.get();
        if sent != reported {
            reported = sent;
            if runner.upload_progress(id, sent, on_event)? == Flow::Stop {
                stop.cancel();
                return Ok(None);
            }
        }
        match rx.recv_timeout(PROGRESS_EVERY) {
            Ok(input) => {
                let sent = counter.get();
                if sent != reported {
                    runner.upload_progress(id, sent, on_event)?;
                }
                return Ok(Some(input));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(Some(Input::Failed {
                    id,
                    failure: TransportFailure::Other,
                }))
            }
        }
    }
}

/// The upload URL's reply, its body read up to the cap (plus one byte; none for a 429/5xx).
fn reply_input(id: RequestId, response: http::Response<ureq::Body>, limit: usize) -> Input {
    let (parts, body) = response.into_parts();
    let mut buf = Vec::new();
    let cap =
        u64::try_from(d1_export_core::reply_read_limit(parts.status, limit)).unwrap_or(u64::MAX);
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
