//! The listener, one thread per connection, and routing.

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::EmulatorConfig;
use crate::faults::FaultState;
use crate::http::{self, ReadError, Request, Response};
use crate::jobs::{Jobs, Rng};
use crate::stats::Stats;
use crate::{api, download};

/// How long an idle keep-alive connection is kept.
const IDLE_CONNECTION: Duration = Duration::from_secs(120);

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct State {
    pub jobs: Jobs,
    pub imports: crate::import::Imports,
    pub stats: Stats,
    pub faults: FaultState,
    pub rng: Rng,
}

/// What all threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: EmulatorConfig,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    pub work_dir: PathBuf,
    state: Mutex<State>,
    /// Notified when a job's dump is written or fails, and at shutdown.
    pub changed: Condvar,
    pub stopping: AtomicBool,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
    pub generators: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn log(&self, req: &Request, status: u16) {
        if self.config.log_requests {
            eprintln!("d1-emulator: {} {} -> {status}", req.method, req.path);
        }
    }
}

/// A running server: its address and the threads to join.
#[derive(Debug)]
pub(crate) struct Server {
    pub shared: Arc<Shared>,
    pub addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
    remove_work_dir: bool,
}

impl Server {
    pub fn start(config: EmulatorConfig) -> io::Result<Server> {
        for db in &config.databases {
            if !db.path.is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("database {}: no file at {}", db.uuid, db.path.display()),
                ));
            }
        }
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let addr = listener.local_addr()?;
        let (work_dir, remove_work_dir) = match &config.work_dir {
            Some(dir) => (dir.clone(), false),
            None => (fresh_temp_dir()?, true),
        };
        std::fs::create_dir_all(&work_dir)?;
        let shared = Arc::new(Shared {
            origin: format!("http://{addr}"),
            work_dir,
            state: Mutex::new(State {
                jobs: Jobs::default(),
                imports: crate::import::Imports::default(),
                stats: Stats::default(),
                faults: FaultState::default(),
                rng: Rng::new(),
            }),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            generators: Mutex::new(Vec::new()),
            config,
        });
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("d1-emulator-accept".into())
                .spawn(move || accept_loop(&shared, listener))?
        };
        let sweeper = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("d1-emulator-sweeper".into())
                .spawn(move || sweep_loop(&shared))?
        };
        Ok(Server {
            shared,
            addr,
            threads: vec![accept, sweeper],
            remove_work_dir,
        })
    }

    /// Stops accepting, closes connections, cancels jobs, waits for the threads and removes
    /// the dump files. Idempotent.
    pub fn stop(&mut self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            let mut st = self.shared.lock();
            let State { jobs, stats, .. } = &mut *st;
            jobs.cancel_all(stats);
        }
        self.shared.changed.notify_all();
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for (_, conn) in self
            .shared
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            let _ = conn.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let generators: Vec<_> = self
            .shared
            .generators
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for g in generators {
            let _ = g.join();
        }
        self.shared.lock().imports.remove_files();
        if self.remove_work_dir {
            let _ = std::fs::remove_dir_all(&self.shared.work_dir);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A new directory under the system temp dir, after removing the ones left by emulator
/// processes that no longer exist.
fn fresh_temp_dir() -> io::Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("d1-emulator-")) else {
                continue;
            };
            let Some(other) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if other != pid
                && Path::new("/proc/self").exists()
                && !Path::new(&format!("/proc/{other}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!(
        "d1-emulator-{pid}-{}",
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            shared
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, clone);
        }
        let shared2 = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("d1-emulator-conn".into())
            .spawn(move || {
                serve_connection(&shared2, stream);
                shared2
                    .connections
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            });
        if spawned.is_err() {
            shared
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }
}

fn sweep_loop(shared: &Arc<Shared>) {
    let tick = (shared.config.timing.idle_cancel / 4)
        .clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut st = shared.lock();
    while !shared.stopping.load(Ordering::SeqCst) {
        let State { jobs, stats, .. } = &mut *st;
        jobs.sweep(shared.config.timing.idle_cancel, Instant::now(), stats);
        st = shared
            .changed
            .wait_timeout(st, tick)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// What to do with the connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep it open if the request allows.
    Continue,
    /// Close it (gracefully).
    Close,
    /// Reset it: RST, no reply.
    Reset,
}

fn serve_connection(shared: &Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_CONNECTION));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(16 * 1024, read_half);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let mut writer = &stream;
        let req = match http::read_request(&mut reader, &mut || {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        }) {
            Ok(req) => req,
            Err(ReadError::Bad(status, msg)) => {
                let _ =
                    Response::new(status, "text/plain", msg).write_to(&mut &stream, false, false);
                break;
            }
            Err(ReadError::Closed) => break,
        };
        let keep_alive = req.keep_alive();
        let flow = if req.path.starts_with(crate::import::UPLOAD_PREFIX) {
            crate::import::serve_upload(shared, &req, &mut reader, &stream, keep_alive)
        } else {
            route(shared, &req, &stream, keep_alive)
        };
        match flow {
            Flow::Continue if keep_alive => continue,
            Flow::Reset => {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                drop(reader);
                drop(stream);
                return;
            }
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn route(shared: &Arc<Shared>, req: &Request, stream: &TcpStream, keep_alive: bool) -> Flow {
    let head = req.method == "HEAD";
    if req.path.starts_with("/__download/") {
        return download::serve(shared, req, stream, keep_alive);
    }
    let (route_name, response) = if req.path == "/__emulator/stats" {
        let stats = shared.lock().stats.clone();
        let body = serde_json::to_value(&stats).unwrap_or_default();
        (
            "GET /__emulator/stats".to_owned(),
            Response::json(200, &body),
        )
    } else if req.path == "/client/v4" || req.path.starts_with("/client/v4/") {
        match api::handle(shared, req) {
            api::Reply::Respond(route, resp) => (route, resp),
            api::Reply::Reset(route) => {
                shared.lock().stats.record_request(&route, 0);
                shared.log(req, 0);
                return Flow::Reset;
            }
        }
    } else {
        (
            "unknown".to_owned(),
            Response::new(404, "text/plain", "not found\n"),
        )
    };
    shared
        .lock()
        .stats
        .record_request(&route_name, response.status);
    shared.log(req, response.status);
    let mut w = stream;
    match response.write_to(&mut w, head, keep_alive) {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Close,
    }
}
