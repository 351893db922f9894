//! One front over the two transports, so the rest of the CLI does not care which runs.

use crate::args::DriverArg;
use d1_export_core::{AccountId, Event, Job};
use d1_export_transport::{
    CancelToken, ClientConfig, DatabaseInfo, DatabaseReport, Error, ExportOutcome, FleetHooks,
    FleetOptions,
};
use std::path::Path;

/// Where the dump goes.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// A file, written atomically.
    File(&'a Path),
    /// Standard output.
    Stdout,
}

/// The chosen transport.
pub enum Driver {
    /// ureq, on this thread.
    Blocking(d1_export_ureq::Client),
    /// reqwest on a current-thread tokio runtime.
    Async(d1_export_reqwest::Client, tokio::runtime::Runtime),
}

impl Driver {
    /// Builds the transport, sharing `cancel` (set by Ctrl-C).
    pub fn new(kind: DriverArg, config: ClientConfig, cancel: CancelToken) -> Result<Self, Error> {
        Ok(match kind {
            DriverArg::Blocking => {
                Self::Blocking(d1_export_ureq::Client::new(config)?.with_shutdown_token(cancel))
            }
            DriverArg::Async => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Client(format!("cannot start the async runtime: {e}")))?;
                let client = d1_export_reqwest::Client::new(config)?.with_shutdown_token(cancel);
                Self::Async(client, runtime)
            }
        })
    }

    /// Finds a database by name (or checks an id).
    pub fn find_database(
        &self,
        account: &AccountId,
        name_or_id: &str,
    ) -> Result<DatabaseInfo, Error> {
        match self {
            Self::Blocking(c) => c.find_database(account, name_or_id),
            Self::Async(c, rt) => rt.block_on(c.find_database(account, name_or_id)),
        }
    }

    /// Exports every selected database of the account into `dir`.
    pub fn export_all(
        &self,
        account: &AccountId,
        dir: &Path,
        options: &FleetOptions,
        hooks: &(impl FleetHooks + Sync),
    ) -> Result<Vec<DatabaseReport>, Error> {
        match self {
            Self::Blocking(c) => c.export_all(account, dir, options, hooks),
            Self::Async(c, rt) => rt.block_on(c.export_all(account, dir, options, hooks)),
        }
    }

    /// Runs one export into `destination`.
    pub fn export(
        &self,
        job: &Job,
        destination: Destination<'_>,
        on_event: impl FnMut(&Event) + Send,
    ) -> Result<ExportOutcome, Error> {
        match (self, destination) {
            (Self::Blocking(c), Destination::File(p)) => c.export_to_path(job, p, on_event),
            (Self::Blocking(c), Destination::Stdout) => {
                c.export_to_writer(job, &mut std::io::stdout().lock(), on_event)
            }
            (Self::Async(c, rt), Destination::File(p)) => {
                rt.block_on(c.export_to_path(job, p, on_event))
            }
            (Self::Async(c, rt), Destination::Stdout) => rt.block_on(async {
                c.export_to_writer(job, &mut tokio::io::stdout(), on_event)
                    .await
            }),
        }
    }
}
