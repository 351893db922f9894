//! Exports a D1 database to a file with the async driver (`d1-export-reqwest` on tokio).
//! Ctrl-C cancels: the partial file is removed.
//!
//! Usage: `async_export DATABASE_ID OUTPUT`, with `CLOUDFLARE_API_TOKEN`,
//! `CLOUDFLARE_ACCOUNT_ID` and optionally `CLOUDFLARE_API_BASE_URL` in the environment.

use d1_export_core::{AccountId, DatabaseId, DumpOptions, Event, Job};
use d1_export_reqwest::{Client, ClientConfig};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [database, output] = args.as_slice() else {
        return Err("usage: async_export DATABASE_ID OUTPUT".into());
    };
    let account =
        std::env::var("CLOUDFLARE_ACCOUNT_ID").map_err(|_| "CLOUDFLARE_ACCOUNT_ID is not set")?;
    let job = Job {
        account: AccountId::new(&account)?,
        database: DatabaseId::new(database)?,
        options: DumpOptions::default(),
    };
    let client = Client::new(ClientConfig::from_env()?)?;
    let cancel = client.cancel_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    let outcome = client
        .export_to_path(&job, output, |event| match event {
            Event::Log(line) => eprintln!("{line}"),
            Event::RetryScheduled { delay, reason, .. } => {
                eprintln!("retrying in {delay:?}: {reason}")
            }
            _ => {}
        })
        .await?;
    println!(
        "{output}: {} bytes, sha256 {}",
        outcome.bytes, outcome.sha256
    );
    Ok(())
}
