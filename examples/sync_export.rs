//! Exports a D1 database to a file with the blocking driver (`d1-export-ureq`).
//!
//! Usage: `sync_export DATABASE_ID OUTPUT`, with `CLOUDFLARE_API_TOKEN`,
//! `CLOUDFLARE_ACCOUNT_ID` and optionally `CLOUDFLARE_API_BASE_URL` in the environment.

use d1_export_ureq::{AccountId, Client, DatabaseId, DumpOptions, Event, Job};
use std::process::ExitCode;

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
    let [database, output] = args.as_slice() else {
        return Err("usage: sync_export DATABASE_ID OUTPUT".into());
    };
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let account = env("CLOUDFLARE_ACCOUNT_ID")?;
    // Checked at build(): the token, the API base (here from CLOUDFLARE_API_BASE_URL, else
    // the real API; `.api_base(url)` sets it), the policies.
    let client = Client::builder()
        .token(env("CLOUDFLARE_API_TOKEN")?)
        .build()?;
    let job = Job {
        account: AccountId::new(&account)?, // `?` works: invalid ids are Config errors
        database: DatabaseId::new(database)?,
        options: DumpOptions::default(),
    };
    let outcome = client.export_to_path(&job, output, |event| match event {
        Event::Log(line) => eprintln!("{line}"),
        Event::RetryScheduled { delay, reason, .. } => eprintln!("retrying in {delay:?}: {reason}"),
        _ => {}
    })?;
    println!(
        "{output}: {} bytes, sha256 {}",
        outcome.bytes, outcome.sha256
    );
    Ok(())
}
