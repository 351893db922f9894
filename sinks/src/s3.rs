//! S3 and S3-compatible object storage (Cloudflare R2, MinIO, …) through `object_store`:
//! settings from the standard environment, `s3://bucket/key` URLs, the multipart upload a
//! dump streams into, and the small calls retention and manifests need.
//!
//! Every request goes through `object_store`'s signer and its retries with exponential
//! back-off (5xx, 429, connection failures). Credentials are held only inside the store and
//! [`S3Settings`]; neither's `Debug` shows them, and no error here carries them.

use bytes::{Bytes, BytesMut};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, MultipartUpload, ObjectStore, PutPayload, PutPayloadMut,
    RetryConfig,
};
use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// The environment variables read, as the AWS tools name them.
pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// The secret key.
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// A session token (temporary credentials), optional.
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The region (`auto` for R2); `AWS_DEFAULT_REGION` is read when it is unset; default
/// `us-east-1`.
pub const ENV_REGION: &str = "AWS_REGION";
/// Attempts per request, the first included (default 9: eight retries).
pub const ENV_MAX_ATTEMPTS: &str = "AWS_MAX_ATTEMPTS";
/// The endpoint of an S3-compatible store (R2: `https://<account>.r2.cloudflarestorage.com`).
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// Size of every part of a multipart upload but the last (S3's minimum; R2 wants equal parts).
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts uploading at once. One part uploads while the next fills, so the upload and the
/// download still overlap; a second part in flight added 5 MiB of peak memory (34 MiB, over
/// the 32 MiB bound) and no throughput against a loopback store.
pub const PARTS_IN_FLIGHT: usize = 1;
/// Bytes handed from the compressor to the uploader at a time.
const HANDOFF: usize = 256 * 1024;

/// An `s3://bucket/key` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key (for a prefix: empty or ending in `/`).
    pub key: String,
}

impl S3Url {
    /// Whether `text` names object storage (starts with `s3://`).
    pub fn is_s3(text: &str) -> bool {
        text.get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("s3://"))
    }

    /// Parses `s3://bucket/key`. The bucket must be a valid bucket name; the key must not
    /// hold empty, `.` or `..` segments or control characters.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !Self::is_s3(text) {
            return Err(format!("{text:?} is not an s3:// URL"));
        }
        let rest = &text[5..];
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(format!(
                "{bucket:?} is not a valid bucket name (3-63 of a-z, 0-9, '-', '.')"
            ));
        }
        if key.chars().any(char::is_control) {
            return Err("the object key holds control characters".to_owned());
        }
        let trimmed = key.strip_suffix('/').unwrap_or(key);
        if !trimmed.is_empty()
            && trimmed
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(format!(
                "{key:?} is not a valid object key (empty, . or .. segment)"
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The URL of another key in the same bucket.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self {
            bucket: self.bucket.clone(),
            key: key.into(),
        }
    }

    /// The key as a prefix: empty, or ending in `/`.
    pub fn as_prefix(&self) -> String {
        if self.key.is_empty() || self.key.ends_with('/') {
            self.key.clone()
        } else {
            format!("{}/", self.key)
        }
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Credentials and endpoint for S3, from the standard environment.
#[derive(Clone)]
pub struct S3Settings {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
    endpoint: Option<String>,
    max_retries: usize,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl S3Settings {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`
    /// (else `AWS_DEFAULT_REGION`, else `us-east-1`), `AWS_ENDPOINT_URL` and
    /// `AWS_MAX_ATTEMPTS`.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let (Some(access_key_id), Some(secret_access_key)) =
            (get(ENV_ACCESS_KEY_ID), get(ENV_SECRET_ACCESS_KEY))
        else {
            return Err(format!(
                "object storage needs credentials: set {ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY}"
            ));
        };
        let region = get(ENV_REGION)
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = get(ENV_ENDPOINT_URL);
        if let Some(e) = &endpoint {
            check_endpoint(e)?;
        }
        let max_retries = match get(ENV_MAX_ATTEMPTS) {
            None => 8,
            Some(n) => match n.parse::<usize>() {
                Ok(n @ 1..=100) => n - 1,
                _ => return Err(format!("{ENV_MAX_ATTEMPTS} {n:?}: expected 1 to 100")),
            },
        };
        Ok(Self {
            access_key_id,
            secret_access_key,
            session_token: get(ENV_SESSION_TOKEN),
            region,
            endpoint,
            max_retries,
        })
    }

    /// Retries of each request (default 8), with exponential back-off from 100 ms to 10 s.
    #[must_use]
    pub fn max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }

    /// The endpoint, if one is set.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }
}

/// An endpoint is `https://…`, or `http://…` on a loopback host only.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| format!("{ENV_ENDPOINT_URL} {endpoint:?} is not a URL"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(format!(
            "{ENV_ENDPOINT_URL}: plain http is accepted only on loopback; use https for {host}"
        )),
        _ => Err(format!(
            "{ENV_ENDPOINT_URL} {endpoint:?} must be an https:// URL"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A runtime of its own for the store's requests, so either driver (and any thread) can use
/// it; shut down without blocking when the last handle goes.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One bucket, opened with [`S3Settings`]: the upload a dump streams into, and the small
/// calls (list, get, put, delete) retention and manifests need. Cheap to clone.
#[derive(Clone)]
pub struct Bucket {
    name: String,
    store: Arc<AmazonS3>,
    runtime: Arc<Runtime>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The full key.
    pub key: String,
    /// Its size.
    pub size: u64,
}

impl Bucket {
    /// Opens `bucket` (no request is made yet).
    pub fn open(settings: &S3Settings, bucket: &str) -> Result<Self, String> {
        let mut options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(120));
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(10),
                    base: 2.0,
                },
                max_retries: settings.max_retries,
                retry_timeout: Duration::from_secs(180),
            });
        if let Some(token) = &settings.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &settings.endpoint {
            let http = endpoint.to_ascii_lowercase().starts_with("http://");
            options = options.with_allow_http(http);
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder
            .with_client_options(options)
            .build()
            .map_err(|e| format!("cannot set up object storage for bucket {bucket:?}: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("d1-export-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the object storage runtime: {e}"))?;
        Ok(Self {
            name: bucket.to_owned(),
            store: Arc::new(store),
            runtime: Arc::new(Runtime(Some(runtime))),
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn handle(&self) -> Result<tokio::runtime::Handle, String> {
        self.runtime
            .0
            .as_ref()
            .map(|r| r.handle().clone())
            .ok_or_else(|| "the object storage runtime is gone".to_owned())
    }

    /// Runs `fut` on the bucket's runtime and waits for it (from any thread, also from inside
    /// another runtime: the wait is a plain channel, not `block_on`).
    fn call<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, String>> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle()?.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| "the object storage call was dropped".to_owned())?
    }

    /// Keys directly under `prefix` (empty or ending in `/`), with their sizes.
    pub fn list(&self, prefix: &str) -> Result<Vec<Listed>, String> {
        let store = self.store.clone();
        let prefix = prefix.to_owned();
        self.call(async move {
            let path = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.trim_end_matches('/')));
            let listing = store
                .list_with_delimiter(path.as_ref())
                .await
                .map_err(|e| format!("cannot list {prefix:?}: {e}"))?;
            Ok(listing
                .objects
                .into_iter()
                .map(|o| Listed {
                    key: o.location.to_string(),
                    size: o.size,
                })
                .collect())
        })
    }

    /// Reads a small object (at most `limit` bytes); `None` if it does not exist.
    pub fn get_small(&self, key: &str, limit: usize) -> Result<Option<Vec<u8>>, String> {
        let store = self.store.clone();
        let key = key.to_owned();
        self.call(async move {
            let path = ObjectPath::from(key.as_str());
            match store.get(&path).await {
                Ok(got) => {
                    if got.meta.size > limit as u64 {
                        return Err(format!("{key:?} is larger than {limit} bytes"));
                    }
                    let bytes = got
                        .bytes()
                        .await
                        .map_err(|e| format!("cannot read {key:?}: {e}"))?;
                    Ok(Some(bytes.to_vec()))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(format!("cannot read {key:?}: {e}")),
            }
        })
    }

    /// Writes a small object in one request.
    pub fn put_small(&self, key: &str, bytes: Vec<u8>) -> Result<(), String> {
        let store = self.store.clone();
        let key = key.to_owned();
        self.call(async move {
            store
                .put(&ObjectPath::from(key.as_str()), PutPayload::from(bytes))
                .await
                .map(drop)
                .map_err(|e| format!("cannot write {key:?}: {e}"))
        })
    }

    /// Deletes an object (a missing one is not an error).
    pub fn delete(&self, key: &str) -> Result<(), String> {
        let store = self.store.clone();
        let key = key.to_owned();
        self.call(async move {
            match store.delete(&ObjectPath::from(key.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(format!("cannot delete {key:?}: {e}")),
            }
        })
    }

    /// Starts a multipart upload to `key` and returns the writer feeding it. The upload is
    /// created before this returns, so bad credentials or a missing bucket fail here.
    pub(crate) fn upload(&self, key: &str) -> Result<ObjectWriter, String> {
        let (tx, rx) = mpsc::channel(4);
        let (ready_tx, ready) = oneshot::channel();
        let (done_tx, done) = std::sync::mpsc::channel();
        let store: Arc<dyn ObjectStore> = self.store.clone();
        let path = ObjectPath::from(key);
        let url = format!("s3://{}/{key}", self.name);
        let open = OpenUpload::new();
        self.handle()?.spawn(async move {
            let result = run_upload(store, path, rx, ready_tx).await;
            drop(open);
            let _ = done_tx.send(result);
        });
        match ready.blocking_recv() {
            Ok(Ok(())) => Ok(ObjectWriter {
                tx: Some(tx),
                buf: BytesMut::with_capacity(HANDOFF),
                done,
                ended: false,
                url,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("the upload to {url} did not start")),
        }
    }
}

/// Multipart uploads started and not yet completed or aborted, in this process.
static OPEN_UPLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Waits (at most `limit`) until every multipart upload of this process is completed or
/// aborted: for a program about to exit on a signal, so it leaves no orphaned parts. True if
/// none is left.
pub fn settle_uploads(limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while OPEN_UPLOADS.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Counts an upload open while it lives.
struct OpenUpload;

impl OpenUpload {
    fn new() -> Self {
        OPEN_UPLOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self
    }
}

impl Drop for OpenUpload {
    fn drop(&mut self) {
        OPEN_UPLOADS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What the compressor hands the uploader.
enum UploadMessage {
    Data(Bytes),
    Restart,
    Complete(oneshot::Sender<Result<(), String>>),
}

/// One multipart upload: fixed-size parts, a few in flight, aborted on any failure.
///
/// (`object_store`'s `WriteMultipart` is not used: when a part fails, its `finish` returns
/// without aborting, which would leave the parts stored and billed.)
struct Multipart {
    upload: Box<dyn MultipartUpload>,
    buffer: PutPayloadMut,
    tasks: JoinSet<object_store::Result<()>>,
    parts: usize,
}

impl Multipart {
    async fn start(store: &dyn ObjectStore, path: &ObjectPath) -> Result<Self, String> {
        let upload = store
            .put_multipart(path)
            .await
            .map_err(|e| format!("cannot start the upload: {e}"))?;
        Ok(Self {
            upload,
            buffer: PutPayloadMut::new(),
            tasks: JoinSet::new(),
            parts: 0,
        })
    }

    async fn settle(&mut self, below: usize) -> Result<(), String> {
        while self.tasks.len() > below {
            match self.tasks.join_next().await {
                Some(Ok(Ok(()))) | None => {}
                Some(Ok(Err(e))) => return Err(format!("a part failed to upload: {e}")),
                Some(Err(e)) => return Err(format!("a part's upload task failed: {e}")),
            }
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), String> {
        self.settle(PARTS_IN_FLIGHT - 1).await?;
        let part: PutPayload = std::mem::take(&mut self.buffer).freeze();
        self.tasks.spawn(self.upload.put_part(part));
        self.parts += 1;
        Ok(())
    }

    async fn put(&mut self, mut bytes: Bytes) -> Result<(), String> {
        while !bytes.is_empty() {
            let room = PART_SIZE - self.buffer.content_length();
            if bytes.len() < room {
                self.buffer.push(bytes);
                return Ok(());
            }
            self.buffer.push(bytes.split_to(room));
            self.send_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(), String> {
        let result = async {
            if self.buffer.content_length() > 0 || self.parts == 0 {
                self.send_part().await?;
            }
            self.settle(0).await?;
            self.upload
                .complete()
                .await
                .map(drop)
                .map_err(|e| format!("cannot complete the upload: {e}"))
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.abort_after(e).await),
        }
    }

    /// Aborts, removing every stored part; the error says if that failed too.
    async fn abort(mut self) -> Result<(), String> {
        self.tasks.shutdown().await;
        self.upload
            .abort()
            .await
            .map_err(|e| format!("aborting the upload failed (parts may remain): {e}"))
    }

    async fn abort_after(self, error: String) -> String {
        match self.abort().await {
            Ok(()) => format!("{error}; the upload was aborted"),
            Err(also) => format!("{error}; {also}"),
        }
    }
}

/// The one upload path, for both drivers: parts from `messages` until `Complete`; a
/// `Restart` aborts and begins a new upload; a closed channel (a failed or cancelled export)
/// aborts.
async fn run_upload(
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    mut messages: mpsc::Receiver<UploadMessage>,
    ready: oneshot::Sender<Result<(), String>>,
) -> Result<(), String> {
    let mut current = match Multipart::start(store.as_ref(), &path).await {
        Ok(m) => {
            let _ = ready.send(Ok(()));
            m
        }
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            return Err(e);
        }
    };
    loop {
        match messages.recv().await {
            Some(UploadMessage::Data(bytes)) => {
                if let Err(e) = current.put(bytes).await {
                    return Err(current.abort_after(e).await);
                }
            }
            Some(UploadMessage::Restart) => {
                current.abort().await?;
                current = Multipart::start(store.as_ref(), &path).await?;
            }
            Some(UploadMessage::Complete(reply)) => {
                let result = current.finish().await;
                let _ = reply.send(result.clone());
                return result;
            }
            None => {
                current.abort().await?;
                return Err("the upload was aborted".to_owned());
            }
        }
    }
}

/// The compressor's side of an upload: a [`Write`] that hands the uploader fixed pieces.
pub(crate) struct ObjectWriter {
    tx: Option<mpsc::Sender<UploadMessage>>,
    buf: BytesMut,
    done: std::sync::mpsc::Receiver<Result<(), String>>,
    /// The uploader already ended (its result was taken).
    ended: bool,
    url: String,
}

impl ObjectWriter {
    /// The URL written to.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Why the uploader stopped (waits for it to end).
    fn failure(&mut self) -> String {
        self.tx = None;
        self.ended = true;
        match self.done.recv() {
            Ok(Err(e)) => e,
            Ok(Ok(())) => "the upload ended early".to_owned(),
            Err(_) => "the upload stopped".to_owned(),
        }
    }

    fn send(&mut self, message: UploadMessage) -> io::Result<()> {
        let sent = match &self.tx {
            Some(tx) => tx.blocking_send(message).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(io::Error::other(self.failure()))
        }
    }

    fn hand_off(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            // A fresh buffer each time: a split-off piece would keep its whole (possibly
            // doubled) allocation alive while its part uploads.
            let piece = std::mem::replace(&mut self.buf, BytesMut::with_capacity(HANDOFF));
            self.send(UploadMessage::Data(piece.freeze()))?;
        }
        Ok(())
    }

    /// Drops what was written; the next bytes begin a new upload.
    pub(crate) fn restart(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.send(UploadMessage::Restart)
    }

    /// Uploads the rest and completes the upload: the object appears now.
    pub(crate) fn complete(mut self) -> io::Result<()> {
        self.hand_off()?;
        let (reply, answer) = oneshot::channel();
        self.send(UploadMessage::Complete(reply))?;
        let result = answer
            .blocking_recv()
            .unwrap_or_else(|_| Err("the upload stopped".to_owned()));
        self.tx = None;
        let _ = self.done.recv();
        result.map_err(io::Error::other)
    }

    /// Aborts the upload and waits until the parts are removed.
    pub(crate) fn abort(mut self) -> Result<(), String> {
        self.tx = None;
        if self.ended {
            // The uploader already ended on its own failure, aborting (its error said so).
            return Ok(());
        }
        match self.done.recv() {
            Ok(Err(e)) if e == "the upload was aborted" => Ok(()),
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Ok(()),
            Err(_) => Err("the upload stopped before it could be aborted".to_owned()),
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        // Dropped unfinished: closing the channel aborts; wait until the parts are gone.
        if self.tx.take().is_some() {
            let _ = self.done.recv();
        }
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Fill up to the hand-off size exactly, so the buffer never reallocates.
        let room = HANDOFF - self.buf.len();
        let take = data.len().min(room);
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() >= HANDOFF {
            self.hand_off()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = S3Url::parse("s3://my-bucket/backups/db.sql.zst").unwrap();
        assert_eq!(u.bucket, "my-bucket");
        assert_eq!(u.key, "backups/db.sql.zst");
        assert_eq!(u.to_string(), "s3://my-bucket/backups/db.sql.zst");
        assert_eq!(S3Url::parse("s3://b12/").unwrap().as_prefix(), "");
        assert_eq!(S3Url::parse("s3://b12/p").unwrap().as_prefix(), "p/");
        for bad in [
            "s3://B/x",
            "s3://ab/x",
            "s3://bucket/a//b",
            "s3://bucket/../x",
            "http://b/x",
            "s3://bucket/a\u{1b}b",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_need_credentials_and_redact_them() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(S3Settings::from_lookup(env(&[]))
            .unwrap_err()
            .contains(ENV_ACCESS_KEY_ID));
        let s = S3Settings::from_lookup(env(&[
            (ENV_ACCESS_KEY_ID, "AKIAEXAMPLEKEY"),
            (ENV_SECRET_ACCESS_KEY, "s3cr3t-value"),
            (ENV_SESSION_TOKEN, "tok-value"),
        ]))
        .unwrap();
        let shown = format!("{s:?}");
        for secret in ["AKIAEXAMPLEKEY", "s3cr3t-value", "tok-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("us-east-1"));
        let bucket = Bucket::open(&s, "some-bucket").unwrap();
        let shown = format!("{bucket:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("AKIA"),
            "{shown}"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "https://acc.r2.cloudflarestorage.com",
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1:9000",
            "ftp://x",
            "nonsense",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }
}
