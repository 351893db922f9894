//! Building requests. Ids and the API base are validated before this point, so building
//! cannot fail; the token goes only on requests to the API base.

use crate::config::{ApiBase, Job};
use crate::secret::SignedUrl;
use crate::wire::ExportRequestBody;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, IF_RANGE, RANGE,
};
use http::{Method, Request, Uri};

/// The export endpoint's URI for a job.
pub(crate) fn export_uri(base: &ApiBase, job: &Job) -> Result<Uri, http::uri::InvalidUri> {
    format!(
        "{}/accounts/{}/d1/database/{}/export",
        base.as_str(),
        job.account,
        job.database
    )
    .parse()
}

/// The body of one export request.
pub(crate) fn export_body(job: &Job, bookmark: Option<&str>) -> Vec<u8> {
    let body = ExportRequestBody {
        output_format: "polling".to_owned(),
        current_bookmark: bookmark.map(str::to_owned),
        dump_options: job.options.wire(),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// An API request with the token and JSON headers.
pub(crate) fn api_request(
    method: Method,
    uri: Uri,
    authorization: &HeaderValue,
    body: Vec<u8>,
) -> Request<Vec<u8>> {
    let has_body = !body.is_empty();
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, authorization.clone());
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if has_body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    request
}

/// A GET of the signed URL: never an `Authorization` header; always `Accept-Encoding:
/// identity`; `Range: bytes=N-` when resuming or confirming a length (`ranged`), with
/// `If-Range` when a validator is known, so a changed file comes back whole (200).
pub(crate) fn download_request(
    url: &SignedUrl,
    from: u64,
    ranged: bool,
    if_range: Option<&str>,
) -> Request<()> {
    let mut request = Request::new(());
    *request.uri_mut() = url.expose().clone();
    let headers = request.headers_mut();
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if from > 0 || ranged {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes={from}-")) {
            headers.insert(RANGE, v);
        }
        if let Some(v) = if_range.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(IF_RANGE, v);
        }
    }
    request
}
