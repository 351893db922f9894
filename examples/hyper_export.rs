//! Driving the sans-IO core with your own HTTP client: the whole export loop on hyper 1, with
//! live progress. The core decides everything (pacing, retries, resume, validation); this
//! loop only sends what it is given and reports what happened. Plain `http://` for brevity
//! (an emulator on loopback): for `https`, connect through `hyper-rustls` instead.
//!
//! Usage: `hyper_export DATABASE_ID OUTPUT`, with `CLOUDFLARE_API_TOKEN`,
//! `CLOUDFLARE_ACCOUNT_ID` and `CLOUDFLARE_API_BASE_URL` in the environment.

use bytes::Bytes;
use d1_export_core::{
    AccountId, ApiBase, ApiToken, Config, DatabaseId, DumpOptions, Export, Input, Job, Machine,
    Output, TransportFailure,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::io::{Seek, SeekFrom, Write};
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One request on a fresh connection (origin-form URI plus `Host`, as HTTP/1.1 wants).
async fn send<B: Into<Bytes>>(
    request: http::Request<B>,
) -> Result<http::Response<Incoming>, BoxError> {
    let (mut parts, body) = request.into_parts();
    let authority = parts.uri.authority().ok_or("no host")?.clone();
    parts
        .headers
        .insert(http::header::HOST, authority.as_str().parse()?);
    parts.uri = parts
        .uri
        .path_and_query()
        .ok_or("no path")?
        .as_str()
        .parse()?;
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::from_parts(parts, Full::new(body.into()));
    Ok(sender.send_request(request).await?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [database, output] = args.as_slice() else {
        return Err("usage: hyper_export DATABASE_ID OUTPUT".into());
    };
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let mut config = Config::new(
        ApiBase::new(&env("CLOUDFLARE_API_BASE_URL")?)?,
        ApiToken::new(&env("CLOUDFLARE_API_TOKEN")?)?,
    );
    // Randomness is an input, like time: the default seed is a constant (for tests), so a
    // driver draws one per machine from the OS, or every run retries after the same delays.
    config.retry.jitter_seed = getrandom::u64()?;
    let job = Job {
        account: AccountId::new(&env("CLOUDFLARE_ACCOUNT_ID")?)?,
        database: DatabaseId::new(database)?,
        options: DumpOptions::default(),
    };
    let mut export = Export::new(config, job, Instant::now())?;
    // Written beside the destination, renamed over it only once the core has verified it.
    let part = format!("{output}.part");
    let mut file = std::fs::File::create(&part)?;
    let mut held = None; // the download response whose head was fed
    loop {
        let input = match export.poll_output() {
            Output::Event(event) => {
                eprintln!("{event:?}"); // live: progress arrives while the body streams
                continue;
            }
            Output::Done(Ok(outcome)) => {
                file.sync_all()?;
                std::fs::rename(&part, output)?;
                println!("{output}: {} bytes ({})", outcome.bytes, outcome.filename);
                return Ok(());
            }
            Output::Done(Err(e)) => {
                std::fs::remove_file(&part)?;
                return Err(e.into());
            }
            Output::KeepStreaming { .. } => return Err("keep streaming outside a body".into()),
            Output::Send { id, request } => match send(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let limit = export.reply_limit() as u64 + 1;
                    let limited = http_body_util::Limited::new(body, limit as usize);
                    match limited.collect().await {
                        Ok(body) => {
                            let body = body.to_bytes().to_vec();
                            Input::Reply {
                                id,
                                response: http::Response::from_parts(parts, body),
                            }
                        }
                        Err(_) => Input::Failed {
                            id,
                            failure: TransportFailure::BodyTooLarge,
                        },
                    }
                }
                Err(_) => Input::Failed {
                    id,
                    failure: TransportFailure::Connect,
                },
            },
            Output::Download { id, request } => match send(request.map(|()| Bytes::new())).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    held = Some(body);
                    Input::DownloadHead {
                        id,
                        head: http::Response::from_parts(parts, ()),
                    }
                }
                Err(_) => Input::Failed {
                    id,
                    failure: TransportFailure::Connect,
                },
            },
            Output::WriteBody { id, start_at } => {
                let mut body = held.take().ok_or("no held body")?;
                file.set_len(start_at)?;
                file.seek(SeekFrom::Start(start_at))?;
                let mut written = 0u64;
                loop {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            let Ok(data) = frame.into_data() else {
                                continue;
                            };
                            file.write_all(&data)?;
                            written += data.len() as u64;
                            let progress = Input::DownloadProgress { id, written };
                            export.handle_input(Instant::now(), progress)?;
                            // The progress's events, then "keep streaming" (or the end).
                            let keep = loop {
                                match export.poll_output() {
                                    Output::Event(event) => eprintln!("{event:?}"),
                                    Output::KeepStreaming { .. } => break true,
                                    // The run ended (its `Done` comes again).
                                    _ => break false,
                                }
                            };
                            if !keep {
                                break Input::Tick;
                            }
                        }
                        Some(Err(_)) => {
                            break Input::DownloadFailed {
                                id,
                                written,
                                failure: TransportFailure::Reset,
                            }
                        }
                        None => break Input::DownloadEnded { id, written },
                    }
                }
            }
            Output::Upload { .. } => return Err("an export never uploads".into()),
            Output::WaitUntil(at) => {
                tokio::time::sleep_until(at.into()).await;
                Input::Tick
            }
        };
        if !matches!(input, Input::DownloadHead { .. }) {
            held = None;
        }
        export.handle_input(Instant::now(), input)?;
    }
}
