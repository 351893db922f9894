//! Test support (feature `test-support`): a real S3-compatible server, `moto` in server mode,
//! started on loopback for the duration of a test, a fault-injecting proxy in front of it,
//! and plain-HTTP helpers to look into the bucket (objects, incomplete multipart uploads)
//! without going through the code under test.
//!
//! moto is found through `D1_TEST_MOTO` (the path of `moto_server`), else in
//! `target/moto-venv/bin/` or `/tmp/moto-venv/bin/`, else on `PATH`. When it is missing, a
//! test is skipped with a message — unless `CI` is set, where a missing server is a failure.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running moto server; killed on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    addr: SocketAddr,
}

fn find_moto() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("D1_TEST_MOTO") {
        return Some(PathBuf::from(p));
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut candidates = vec![
        workspace.join("target/moto-venv/bin/moto_server"),
        PathBuf::from("/tmp/moto-venv/bin/moto_server"),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("moto_server")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Moto {
    /// Starts moto on a free loopback port, or `None` (with a message) if it is not
    /// installed. Panics if it is missing while `CI` is set, or if it does not come up.
    pub fn start() -> Option<Self> {
        let Some(bin) = find_moto() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but moto_server was not found: set D1_TEST_MOTO (see .ci/run)"
            );
            eprintln!("skipping: moto_server not found (set D1_TEST_MOTO to run this test)");
            return None;
        };
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
            let mut moto = Self {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // the port was taken: try another
                }
                if request(moto.addr, "GET", "/", &[]).is_ok_and(|r| r.status == 200) {
                    return Some(moto);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("moto_server at {} did not start", bin.display());
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment a client needs for this server (test credentials).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env_for(&self.endpoint())
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) {
        let r = request(self.addr, "PUT", &format!("/{bucket}"), &[]).unwrap();
        assert_eq!(r.status, 200, "create bucket: {}", r.text());
    }

    /// Every key in the bucket, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let r = request(
            self.addr,
            "GET",
            &format!("/{bucket}?list-type=2&max-keys=1000"),
            &[],
        )
        .unwrap();
        assert_eq!(r.status, 200, "list: {}", r.text());
        let mut keys = tag_values(&r.text(), "Key");
        keys.sort();
        keys
    }

    /// An object's bytes, if it exists.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let r = request(self.addr, "GET", &format!("/{bucket}/{key}"), &[]).unwrap();
        (r.status == 200).then_some(r.body)
    }

    /// The keys of the multipart uploads started and neither completed nor aborted.
    pub fn incomplete_uploads(&self, bucket: &str) -> Vec<String> {
        let r = request(self.addr, "GET", &format!("/{bucket}?uploads"), &[]).unwrap();
        assert_eq!(r.status, 200, "list uploads: {}", r.text());
        tag_values(&r.text(), "Key")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The AWS environment for a test server at `endpoint`.
pub fn env_for(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing-key-id".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret-key".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
    ]
}

fn tag_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v.to_owned()))
        .collect()
}

/// A plain HTTP response.
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request, read to the end. moto does not check signatures, but reads the
/// caller from the `Authorization` header (an anonymous caller may not read private
/// objects), so a well-formed header with a dummy signature is sent.
pub fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing-key-id/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=0000\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut reader = BufReader::new(s);
    let (status, headers) = read_head(&mut reader)?;
    let status = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other("bad status line"))?;
    let body = read_body(&mut reader, &headers, method == "HEAD")?;
    Ok(Response { status, body })
}

fn read_head(r: &mut impl BufRead) -> io::Result<(String, Vec<(String, String)>)> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Ok((first.trim_end().to_owned(), headers))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    head: bool,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head {
        return Ok(body);
    }
    if header(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..n]);
            if n == 0 {
                return Ok(body);
            }
        }
    }
    match header(headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        None => {
            r.read_to_end(&mut body)?;
        }
    }
    Ok(body)
}

/// What the proxy does to part uploads (`PUT …?partNumber=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFault {
    /// Pass everything.
    None,
    /// Answer the first attempt of each part `503 SlowDown`; retries pass.
    FirstAttempt503,
    /// Answer every part upload past the first `500` (the upload cannot finish).
    AllButFirst500,
}

/// An HTTP proxy in front of an S3 server that injects [`PartFault`]s; one request per
/// connection. Stops on drop.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Part uploads answered with a fault.
    pub faults: Arc<AtomicU64>,
    /// Part uploads passed to the server.
    pub parts_passed: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Starts the proxy on a free loopback port.
    pub fn start(upstream: SocketAddr, fault: PartFault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(AtomicU64::new(0));
        let parts_passed = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
        {
            let (stop, faults, parts_passed) = (stop.clone(), faults.clone(), parts_passed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let (faults, parts_passed, seen) =
                                (faults.clone(), parts_passed.clone(), seen.clone());
                            std::thread::spawn(move || {
                                let _ = proxy_one(
                                    client,
                                    upstream,
                                    fault,
                                    &faults,
                                    &parts_passed,
                                    &seen,
                                );
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Self {
            addr,
            stop,
            faults,
            parts_passed,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn proxy_one(
    client: TcpStream,
    upstream: SocketAddr,
    fault: PartFault,
    faults: &AtomicU64,
    parts_passed: &AtomicU64,
    seen: &Mutex<std::collections::HashSet<String>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let (line, headers) = read_head(&mut reader)?;
    let length = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let is_part = line.starts_with("PUT ") && target.contains("partNumber=");
    if is_part {
        let first_time = seen.lock().unwrap().insert(target.clone());
        let fail = match fault {
            PartFault::None => false,
            PartFault::FirstAttempt503 => first_time,
            PartFault::AllButFirst500 => {
                !target.contains("partNumber=1&") && !target.ends_with("partNumber=1")
            }
        };
        if fail {
            faults.fetch_add(1, Ordering::Relaxed);
            let (code, text) = if fault == PartFault::FirstAttempt503 {
                (503, "SlowDown")
            } else {
                (500, "InternalError")
            };
            let xml = format!("<Error><Code>{text}</Code><Message>injected</Message></Error>");
            write!(
                client,
                "HTTP/1.1 {code} {text}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            )?;
            return Ok(());
        }
        parts_passed.fetch_add(1, Ordering::Relaxed);
    }
    let mut up = TcpStream::connect(upstream)?;
    write!(up, "{line}\r\n")?;
    for (k, v) in &headers {
        if k != "connection" {
            write!(up, "{k}: {v}\r\n")?;
        }
    }
    write!(up, "connection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    client.write_all(&response)?;
    Ok(())
}
