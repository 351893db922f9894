//! Helpers shared by the integration tests: temp dirs, fixture databases and a tiny HTTP client.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::Connection;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "d1-emulator-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates a SQLite file from a SQL script.
pub fn make_db(path: &Path, sql: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body ended before `Content-Length` (the connection closed early).
    pub short: bool,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the reply.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    s.write_all(&bytes)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    if raw.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no response"));
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let declared = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let short = if method == "HEAD" {
        body.clear();
        false
    } else {
        declared.is_some_and(|n| body.len() < n)
    };
    Ok(Resp {
        status,
        headers,
        body,
        short,
    })
}

/// The path and query of a URL on the emulator (`http://host:port/rest` -> `/rest`).
pub fn target_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    rest[rest.find('/').unwrap()..].to_owned()
}

pub const UUID: &str = "0b1c2d3e-0000-4000-8000-000000000001";

/// A small database for API tests.
pub fn small_db(dir: &TempDir) -> PathBuf {
    let path = dir.path("small.sqlite");
    make_db(
        &path,
        "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, score REAL, pic BLOB);
         INSERT INTO users(name, score, pic) VALUES ('Ada', 2.0, X'00ff'), ('O''Brien', -0.0, NULL), ('Zoë\nLine', 1e-300, X'');
         CREATE TABLE other (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
         INSERT INTO other VALUES ('a', 1), ('b', NULL);
         CREATE INDEX users_name ON users(name);",
    );
    path
}

/// Talks to one emulator as a client would.
pub struct Client {
    pub addr: SocketAddr,
    pub account: String,
    pub token: String,
}

impl Client {
    pub fn new(emulator: &d1_emulator::Emulator) -> Client {
        Client {
            addr: emulator.addr(),
            account: emulator.account_id().to_owned(),
            token: emulator.token().to_owned(),
        }
    }

    pub fn api(&self, method: &str, rest: &str, body: Option<&str>) -> io::Result<Resp> {
        let auth = format!("Bearer {}", self.token);
        request(
            self.addr,
            method,
            &format!("/client/v4/accounts/{}{rest}", self.account),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.map(str::as_bytes),
        )
    }

    /// POST export with `body`.
    pub fn export(&self, uuid: &str, body: &str) -> Resp {
        self.api("POST", &format!("/d1/database/{uuid}/export"), Some(body))
            .unwrap()
    }

    /// Starts an export with these dump options; returns the reply.
    pub fn start(&self, uuid: &str, dump_options: &str) -> Resp {
        self.export(
            uuid,
            &format!(r#"{{"output_format":"polling","dump_options":{dump_options}}}"#),
        )
    }

    pub fn poll(&self, uuid: &str, bookmark: &str) -> Resp {
        self.export(
            uuid,
            &format!(r#"{{"output_format":"polling","current_bookmark":"{bookmark}"}}"#),
        )
    }

    /// Polls until `complete`; returns (reply, every message seen from the start).
    pub fn run_to_completion(
        &self,
        uuid: &str,
        dump_options: &str,
    ) -> (serde_json::Value, Vec<String>) {
        let mut messages = Vec::new();
        let mut reply = self.start(uuid, dump_options).json();
        for _ in 0..100 {
            let result = &reply["result"];
            messages.extend(
                result["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| m.as_str().unwrap().to_owned()),
            );
            if result["status"] == "complete" || result["status"] == "error" {
                return (reply, messages);
            }
            let bookmark = result["at_bookmark"].as_str().unwrap().to_owned();
            reply = self.poll(uuid, &bookmark).json();
        }
        panic!("no completion after 100 polls: {reply}");
    }

    /// GETs a signed URL (no Authorization header).
    pub fn download(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, "GET", &target_of(url), headers, None).unwrap()
    }
}
