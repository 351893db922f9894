//! One export through a chosen driver, timed, for `scripts/bench-transports.sh`.
//!
//! Usage: `bench_driver ureq|reqwest DATABASE_ID OUTPUT` with the same environment as the
//! examples. Prints one line: the bytes, the whole export's time, and the download phase's
//! time and throughput (from the download request to the verified end, before the file is
//! synced and renamed). `BENCH_BUFFER_SIZE` overrides the download buffer size (bytes).

use d1_export_core::{AccountId, DatabaseId, DumpOptions, Event, Job};
use d1_export_reqwest::ClientConfig;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [driver, database, output] = args.as_slice() else {
        return Err("usage: bench_driver ureq|reqwest DATABASE_ID OUTPUT".into());
    };
    let account =
        std::env::var("CLOUDFLARE_ACCOUNT_ID").map_err(|_| "CLOUDFLARE_ACCOUNT_ID is not set")?;
    let job = Job {
        account: AccountId::new(&account)?,
        database: DatabaseId::new(database)?,
        options: DumpOptions::default(),
    };
    let mut config = ClientConfig::from_env()?;
    if let Ok(bytes) = std::env::var("BENCH_BUFFER_SIZE") {
        config = config.buffer_size(bytes.parse()?);
    }
    let start = Instant::now();
    let (mut download_start, mut verified) = (None, None);
    let on_event = |event: &Event| match event {
        Event::DownloadStarted { .. } => {
            download_start.get_or_insert_with(Instant::now);
        }
        Event::Completed(_) => verified = Some(Instant::now()),
        _ => {}
    };
    let outcome = match driver.as_str() {
        "ureq" => d1_export_ureq::Client::new(config)?.export_to_path(&job, output, on_event)?,
        "reqwest" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let client = d1_export_reqwest::Client::new(config)?;
                client.export_to_path(&job, output, on_event).await
            })?,
        other => return Err(format!("unknown driver {other:?}").into()),
    };
    let end = Instant::now();
    // The download phase: from the request to the verified end (before the fsync and rename).
    let download = verified.unwrap_or(end) - download_start.unwrap_or(start);
    let mb = outcome.bytes as f64 / 1e6;
    println!(
        "driver={driver} bytes={} export_s={:.3} download_s={:.3} download_MBps={:.1}",
        outcome.bytes,
        (end - start).as_secs_f64(),
        download.as_secs_f64(),
        mb / download.as_secs_f64(),
    );
    Ok(())
}
