//! One-request calls with the same retries: finding a database by name, listing databases.
//!
//! A [`Call`] is a [`Machine`] like [`crate::Export`], so a driver runs it with the same loop.

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Transient};
use crate::ids::{AccountId, DatabaseId, DatabaseName, InvalidId};
use crate::io::{input_name, Input, InputError, Machine, Output, RequestId};
use crate::reply::{parse_envelope, ReplyError};
use crate::request::api_request;
use crate::wire::{DatabaseInfo, ResultInfo};
use http::HeaderMap;
use std::time::Instant;

/// A page of the database list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The databases on this page.
    pub databases: Vec<DatabaseInfo>,
    /// Paging information, when given.
    pub info: Option<ResultInfo>,
}

impl Page {
    /// The number of the page after `page` (of `per_page` items), if there is one: by
    /// `result_info.total_count` when given, else by whether this page was full.
    pub fn next_page(&self, page: u32, per_page: u32) -> Option<u32> {
        let seen = u64::from(page.max(1)) * u64::from(per_page);
        let more = match self.info.and_then(|i| i.total_count) {
            Some(total) => seen < total && !self.databases.is_empty(),
            None => self.databases.len() >= usize::try_from(per_page).unwrap_or(usize::MAX),
        };
        more.then(|| page.max(1) + 1)
    }
}

type Parser<T> = fn(u16, &HeaderMap, &[u8], usize) -> Result<T, ReplyError>;

#[derive(Debug)]
enum Step {
    Due(Instant),
    Waiting(RequestId),
    Over,
}

/// A single GET of the API, retried like the export's polls.
#[derive(Debug)]
pub struct Call<T> {
    config: Config,
    uri: http::Uri,
    parse: Parser<T>,
    clock: Clock<T>,
    step: Step,
}

fn parse_info(
    status: u16,
    h: &HeaderMap,
    b: &[u8],
    limit: usize,
) -> Result<DatabaseInfo, ReplyError> {
    let envelope = parse_envelope::<DatabaseInfo>(status, h, b, limit)?;
    match envelope.result {
        Some(info) if DatabaseId::looks_like(&info.uuid) => Ok(info),
        _ => Err(ReplyError::Retry(Transient::InvalidJson {
            status,
            detail: "the lookup reply has no database uuid".to_owned(),
        })),
    }
}

fn parse_page(status: u16, h: &HeaderMap, b: &[u8], limit: usize) -> Result<Page, ReplyError> {
    #[derive(serde::Deserialize)]
    struct Listing {
        #[serde(default)]
        result: Option<Vec<DatabaseInfo>>,
        #[serde(default)]
        result_info: Option<ResultInfo>,
    }
    parse_envelope::<serde::de::IgnoredAny>(status, h, b, limit)?;
    let listing: Listing = serde_json::from_slice(b).map_err(|e| {
        ReplyError::Retry(Transient::InvalidJson {
            status,
            detail: e.to_string(),
        })
    })?;
    Ok(Page {
        databases: listing.result.unwrap_or_default(),
        info: listing.result_info,
    })
}

fn parse_bookmark(
    status: u16,
    h: &HeaderMap,
    b: &[u8],
    limit: usize,
) -> Result<String, ReplyError> {
    #[derive(serde::Deserialize)]
    struct Bookmark {
        #[serde(default)]
        bookmark: Option<String>,
    }
    let envelope = parse_envelope::<Bookmark>(status, h, b, limit)?;
    match envelope.result.and_then(|r| r.bookmark) {
        Some(bookmark) if !bookmark.is_empty() => Ok(bookmark),
        _ => Err(ReplyError::Retry(Transient::InvalidJson {
            status,
            detail: "the bookmark reply has no bookmark".to_owned(),
        })),
    }
}

/// The database's current time-travel bookmark, without starting an export:
/// `GET …/d1/database/{id}/time_travel/bookmark`. An export taken now would carry it, so a
/// backup whose manifest holds the same bookmark is still current.
pub fn current_bookmark(
    config: Config,
    account: &AccountId,
    database: &DatabaseId,
    now: Instant,
) -> Option<Call<String>> {
    let uri = format!(
        "{}/accounts/{account}/d1/database/{database}/time_travel/bookmark",
        config.api_base
    );
    Call::new(config, &uri, parse_bookmark, now)
}

/// Finds a database by name (or checks an id): `GET …/d1/database/{name}`.
pub fn find_database(
    config: Config,
    account: &AccountId,
    name_or_id: &str,
    now: Instant,
) -> Result<Call<DatabaseInfo>, InvalidId> {
    let key = match DatabaseId::new(name_or_id) {
        Ok(id) => id.to_string(),
        Err(_) => DatabaseName::new(name_or_id)?.to_string(),
    };
    let uri = format!(
        "{}/accounts/{account}/d1/database/{key}?fields=uuid,name",
        config.api_base
    );
    Call::new(config, &uri, parse_info, now).ok_or_else(|| InvalidId {
        kind: "database name",
        expected: "a name that fits in a URL",
        value: name_or_id.chars().take(64).collect(),
    })
}

/// One page of the account's databases: `GET …/d1/database?page=P&per_page=N`.
/// `None` only if the URL cannot be formed (never, for a valid [`Config`]).
pub fn list_databases(
    config: Config,
    account: &AccountId,
    page: u32,
    per_page: u32,
    now: Instant,
) -> Option<Call<Page>> {
    let uri = format!(
        "{}/accounts/{account}/d1/database?page={}&per_page={}",
        config.api_base,
        page.max(1),
        per_page.clamp(1, 10_000)
    );
    Call::new(config, &uri, parse_page, now)
}

impl<T: Clone> Call<T> {
    fn new(config: Config, uri: &str, parse: Parser<T>, now: Instant) -> Option<Self> {
        let clock = Clock::new(now, config.deadline, config.retry);
        Some(Self {
            uri: uri.parse().ok()?,
            config,
            parse,
            clock,
            step: Step::Due(now),
        })
    }
}

impl<T: Clone> Machine for Call<T> {
    type Outcome = T;

    fn poll_output(&mut self) -> Output<T> {
        if let Some(out) = self.clock.poll_queued() {
            return out;
        }
        match self.step {
            Step::Due(at) if at > self.clock.now() => self.clock.wait_until(at),
            Step::Due(_) => {
                let id = self.clock.new_id();
                self.step = Step::Waiting(id);
                let request = api_request(
                    http::Method::GET,
                    self.uri.clone(),
                    &self.config.token.header_value(),
                    Vec::new(),
                );
                Output::Send { id, request }
            }
            Step::Waiting(_) | Step::Over => self.clock.wait_until(self.clock.deadline()),
        }
    }

    fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        let outstanding = match self.step {
            Step::Waiting(id) => Some(id),
            _ => None,
        };
        if let Some(got) = input.id() {
            if Some(got) != outstanding {
                return Err(InputError::UnexpectedId { got, outstanding });
            }
        }
        self.clock.advance(now);
        if self.clock.is_done() {
            self.step = Step::Over;
            return Ok(());
        }
        match input {
            Input::Tick => {}
            Input::Cancel => {
                self.clock.finish(Err(Error::Cancelled));
                self.step = Step::Over;
            }
            Input::Reply { response, .. } => {
                let (parts, body) = response.into_parts();
                match (self.parse)(
                    parts.status.as_u16(),
                    &parts.headers,
                    &body,
                    self.config.max_reply_bytes,
                ) {
                    Ok(value) => {
                        self.clock.finish(Ok(value));
                        self.step = Step::Over;
                    }
                    Err(ReplyError::Fatal(e)) => {
                        self.clock.finish(Err(e));
                        self.step = Step::Over;
                    }
                    Err(ReplyError::Retry(t)) => self.retry(t),
                }
            }
            Input::Failed { failure, .. } => self.retry(Transient::Transport(failure)),
            other => {
                return Err(InputError::WrongInput {
                    input: input_name(&other),
                    state: "call",
                })
            }
        }
        Ok(())
    }

    fn reply_limit(&self) -> usize {
        self.config.max_reply_bytes
    }
}

impl<T: Clone> Call<T> {
    /// When the call's request is due (`None` while events wait, the request is out, or the
    /// call is over), for a scheduler such as [`crate::Fleet`].
    pub fn next_request(&self) -> Option<Instant> {
        if self.clock.has_events() || self.clock.is_done() {
            return None;
        }
        match self.step {
            Step::Due(at) => Some(at.min(self.clock.deadline())),
            Step::Waiting(_) | Step::Over => None,
        }
    }

    fn retry(&mut self, reason: Transient) {
        self.step = match self.clock.retry(reason, None) {
            Some(at) => Step::Due(at),
            None => Step::Over,
        };
    }
}
