//! A small HTTP/1.1 server-side codec over blocking sockets.
//!
//! The emulator speaks HTTP itself rather than through a framework so that faults can be
//! exact on the wire (a reset with no reply, a body cut short after a full `Content-Length`)
//! and downloads can go from file to socket through the kernel (`std::io::copy` uses
//! `sendfile`/`splice` on Linux).

use std::io::{self, BufRead, Read, Write};
use std::time::SystemTime;

/// The largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request body accepted (the API's bodies are tiny).
const MAX_BODY: usize = 1024 * 1024;

/// A parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// The path, percent-decoding not applied.
    pub path: String,
    /// The raw query string (without `?`), if any.
    pub query: Option<String>,
    /// Headers with lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub http10: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(str::to_ascii_lowercase);
        match conn.as_deref() {
            Some(c) if c.split(',').any(|t| t.trim() == "close") => false,
            Some(c) if c.split(',').any(|t| t.trim() == "keep-alive") => true,
            _ => !self.http10,
        }
    }

    /// The query parameters, percent-decoded (`+` is a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (form_decode(k), form_decode(v))
            })
            .collect()
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection, it failed, or it was idle too long.
    Closed,
    /// The request is malformed; answer this status and close.
    Bad(u16, &'static str),
}

impl From<io::Error> for ReadError {
    /// Any I/O error (EOF, reset, idle timeout) ends the connection.
    fn from(_: io::Error) -> Self {
        ReadError::Closed
    }
}

fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<String, ReadError> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    if n > *budget {
        return Err(ReadError::Bad(431, "request head too large"));
    }
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(ReadError::Closed);
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| ReadError::Bad(400, "request head is not UTF-8"))
}

/// Reads one request. `on_continue` is called when the client waits for `100 Continue`.
pub(crate) fn read_request<R: BufRead>(
    r: &mut R,
    on_continue: &mut dyn FnMut() -> io::Result<()>,
) -> Result<Request, ReadError> {
    let mut budget = MAX_HEAD;
    let mut line = read_line(r, &mut budget)?;
    // Tolerate stray empty lines between requests (RFC 9112 §2.2).
    while line.is_empty() {
        line = read_line(r, &mut budget)?;
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(505, "HTTP version not supported"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut headers = Vec::new();
    loop {
        let h = read_line(r, &mut budget)?;
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            return Err(ReadError::Bad(400, "malformed header"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut req = Request {
        method: method.to_owned(),
        path,
        query,
        headers,
        body: Vec::new(),
        http10: version == "HTTP/1.0",
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = match req.header("content-length") {
        Some(v) => Some(
            v.parse::<usize>()
                .map_err(|_| ReadError::Bad(400, "bad Content-Length"))?,
        ),
        None => None,
    };
    if (chunked || length.is_some_and(|n| n > 0))
        && req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        on_continue()?;
    }
    if req.path.starts_with(crate::import::UPLOAD_PREFIX) {
        // An upload (up to 5 GiB) is streamed to disk by its handler, not read here.
        return Ok(req);
    }
    if chunked {
        req.body = read_chunked(r)?;
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(req)
}

fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(r, &mut budget)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| ReadError::Bad(400, "bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            let mut budget = MAX_HEAD;
            while !read_line(r, &mut budget)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Bad(413, "request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut budget = 2;
        if !read_line(r, &mut budget)?.is_empty() {
            return Err(ReadError::Bad(400, "bad chunk terminator"));
        }
    }
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// The reason phrase for the statuses the emulator uses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A complete response held in memory.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status, "application/json", value.to_string())
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Writes the response; for HEAD, the headers only (with the body's length).
    pub fn write_to<W: Write>(
        &self,
        w: &mut W,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        let mut head = status_line_and_headers(self.status, &self.headers, keep_alive);
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut buf = head.into_bytes();
        if !head_only {
            buf.extend_from_slice(&self.body);
        }
        w.write_all(&buf)?;
        w.flush()
    }
}

/// The status line and headers (with `Date`, `Server` and `Connection`), without the final
/// empty line and without `Content-Length`.
pub(crate) fn status_line_and_headers(
    status: u16,
    headers: &[(String, String)],
    keep_alive: bool,
) -> String {
    let mut s = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    s.push_str(&format!(
        "Date: {}\r\nServer: d1-emulator\r\nConnection: {}\r\n",
        httpdate::fmt_http_date(SystemTime::now()),
        if keep_alive { "keep-alive" } else { "close" }
    ));
    for (n, v) in headers {
        s.push_str(n);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(raw: &str) -> Result<Request, ReadError> {
        read_request(&mut Cursor::new(raw.as_bytes().to_vec()), &mut || Ok(()))
    }

    #[test]
    fn parses_request_with_body() {
        let req =
            parse("POST /a/b?x=1&y=a%20b+c HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/a/b");
        assert_eq!(req.query_param("y").as_deref(), Some("a b c"));
        assert_eq!(req.body, b"{}");
        assert!(req.keep_alive());
    }

    #[test]
    fn parses_chunked_body() {
        let req = parse(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\"}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(req.body, b"{\"a\"}");
    }

    #[test]
    fn closed_and_bad() {
        assert!(matches!(parse(""), Err(ReadError::Closed)));
        assert!(matches!(
            parse("GARBAGE\r\n\r\n"),
            Err(ReadError::Bad(400, _))
        ));
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("my%20db%2"), "my db%2");
        assert_eq!(percent_decode("%E2%9C%93"), "✓");
    }
}
