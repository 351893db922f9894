//! Serde types of the JSON the export endpoint speaks, exactly as the spec lays them out.
//!
//! Unknown fields are ignored everywhere (the service adds fields over time); every field the
//! spec marks optional is optional here, so a reply is parsed as far as it goes and judged in
//! the crate's reply judge.

use serde::{Deserialize, Serialize};

/// One `ResponseInfo` entry of an envelope's `errors` or `messages`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct ResponseInfo {
    /// Cloudflare's numeric code (for example 7404, 10000).
    #[serde(default)]
    pub code: i64,
    /// The human-readable message.
    #[serde(default)]
    pub message: String,
    /// A documentation link, when the service gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    /// Where in the request the problem is, when the service says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
}

/// The `source` object of a [`ResponseInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct ErrorSource {
    /// A JSON pointer into the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

/// The shapes only this crate reads and writes (envelope, export result, request body):
/// public only with the `fuzzing` feature.
mod shapes {
    use super::*;

    /// The Cloudflare API envelope around every reply.
    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    pub struct Envelope<T> {
        /// Whether the API call succeeded.
        #[serde(default)]
        pub success: Option<bool>,
        /// Errors, when `success` is false.
        #[serde(default, deserialize_with = "null_as_default")]
        pub errors: Vec<ResponseInfo>,
        /// Informational messages.
        #[serde(default, deserialize_with = "null_as_default")]
        pub messages: Vec<ResponseInfo>,
        /// The payload.
        #[serde(default = "Option::default")]
        pub result: Option<T>,
    }

    /// `result` of the export endpoint.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
    pub struct ExportResult {
        /// The time-travel bookmark of the export; the same for the whole task.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub at_bookmark: Option<String>,
        /// The error message, when `status` is `"error"` or `success` is false.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error: Option<String>,
        /// Log lines since the last poll.
        #[serde(default, deserialize_with = "null_as_default")]
        pub messages: Vec<String>,
        /// The download, once complete.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub result: Option<ExportFile>,
        /// `"active"`, `"complete"`, `"error"`, or absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status: Option<String>,
        /// wrangler's `PollingFailure` layer: `false` with `error`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub success: Option<bool>,
        /// Always `"export"` when present.
        #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
        pub kind: Option<String>,
    }

    /// `result.result` of a complete export.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
    pub struct ExportFile {
        /// The generated SQL file's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub filename: Option<String>,
        /// The presigned download URL, valid one hour.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub signed_url: Option<String>,
    }

    /// The request body of the export endpoint.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
    pub struct ExportRequestBody {
        /// Always `"polling"`.
        pub output_format: String,
        /// The bookmark of the previous reply, from the second request on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub current_bookmark: Option<String>,
        /// What to dump; the same on every request of one export.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dump_options: Option<WireDumpOptions>,
    }

    /// `dump_options` as sent on the wire.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
    pub struct WireDumpOptions {
        /// Only the schema.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub no_data: bool,
        /// Only the data.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub no_schema: bool,
        /// Only these tables (empty: all).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub tables: Vec<String>,
        /// `"d1"` or `"sqlite3_cli_only"` (undocumented, wrangler 4.164).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub compatibility: Option<String>,
    }
}

#[cfg(feature = "fuzzing")]
pub use shapes::{Envelope, ExportFile, ExportRequestBody, ExportResult, WireDumpOptions};
#[cfg(not(feature = "fuzzing"))]
pub(crate) use shapes::{Envelope, ExportRequestBody, ExportResult, WireDumpOptions};

/// One database of the lookup and list endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct DatabaseInfo {
    /// The database's UUID.
    #[serde(default)]
    pub uuid: String,
    /// The database's name.
    #[serde(default)]
    pub name: String,
}

/// `result_info` of a paged list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct ResultInfo {
    /// This page's number (from 1).
    #[serde(default)]
    pub page: u64,
    /// Page size.
    #[serde(default)]
    pub per_page: u64,
    /// Items on this page.
    #[serde(default)]
    pub count: u64,
    /// Items in all pages.
    #[serde(default)]
    pub total_count: Option<u64>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
