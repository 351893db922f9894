//! What a driver's loop needs from a machine beyond [`Machine`], and what it returns.

use crate::digest::Digest;
use crate::error::Error;
use d1_export_core::lookup::Call;
use d1_export_core::{Event, Export, Gated, Import, Machine, Outcome, Prioritized, State};

/// A [`Machine`] a driver can run: the export, or a lookup [`Call`].
///
/// The extra methods let a driver deliver progress events while it streams a body, without
/// moving the machine on.
pub trait Drive: Machine {
    /// The next queued event, if any (see [`Export::poll_event`]).
    fn poll_event(&mut self) -> Option<Event>;

    /// Whether the run has ended (a driver streaming a body stops reading then).
    fn is_over(&self) -> bool;
}

impl Drive for Export {
    fn poll_event(&mut self) -> Option<Event> {
        Export::poll_event(self)
    }

    fn is_over(&self) -> bool {
        matches!(self.state(), State::Complete | State::Failed)
    }
}

impl Drive for Import {
    fn poll_event(&mut self) -> Option<Event> {
        Import::poll_event(self)
    }

    fn is_over(&self) -> bool {
        Import::is_over(self)
    }
}

impl<M: Drive + Prioritized> Drive for Gated<M> {
    fn poll_event(&mut self) -> Option<Event> {
        self.inner_mut().poll_event()
    }

    fn is_over(&self) -> bool {
        self.inner().is_over()
    }
}

impl<T: Clone> Drive for Call<T> {
    fn poll_event(&mut self) -> Option<Event> {
        None
    }

    fn is_over(&self) -> bool {
        false
    }
}

/// The result of a whole export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOutcome {
    /// The service's name for the dump file.
    pub filename: String,
    /// The time-travel bookmark the dump was taken at.
    pub bookmark: Option<String>,
    /// Bytes written to the sink.
    pub bytes: u64,
    /// The SHA-256 of those bytes, lower-case hex.
    pub sha256: String,
}

impl ExportOutcome {
    /// Joins the core's outcome with the digest of the sink, checking they agree on the size.
    pub fn new(outcome: Outcome, digest: &Digest) -> Result<Self, Error> {
        if outcome.bytes != digest.bytes() {
            return Err(Error::Internal(format!(
                "the core counted {} bytes, the sink holds {}",
                outcome.bytes,
                digest.bytes()
            )));
        }
        Ok(Self {
            filename: outcome.filename,
            bookmark: outcome.bookmark,
            bytes: outcome.bytes,
            sha256: digest.hex(),
        })
    }
}

/// Removes any `Authorization` header from a download request: the signed URL is a credential
/// of its own and the API token must never reach its host. (The core never adds one; this is
/// a second lock on the same door.)
pub fn strip_authorization<B>(request: &mut http::Request<B>) {
    request.headers_mut().remove(http::header::AUTHORIZATION);
    request
        .headers_mut()
        .remove(http::header::PROXY_AUTHORIZATION);
}
