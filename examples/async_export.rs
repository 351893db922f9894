//! Exports a D1 database to a file with the async driver (`d1-export-reqwest` on tokio).
//! Ctrl-C cancels: the partial file is removed.
//!
//! Usage: `async_export DATABASE_ID OUTPUT`, with `CLOUDFLARE_API_TOKEN`,
//! `CLOUDFLARE_ACCOUNT_ID` and optionally `CLOUDFLARE_API_BASE_URL` in the environment.

use d1_export_reqwest::{
    AccountId, CancelToken, Client, DatabaseId, DumpOptions, ErrorKind, Event, Job,
};
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
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let account = env("CLOUDFLARE_ACCOUNT_ID")?;
    // The API base from CLOUDFLARE_API_BASE_URL, else the real API; checked at build().
    let client = Client::builder()
        .token(env("CLOUDFLARE_API_TOKEN")?)
        .build()?;
    let job = Job {
        account: AccountId::new(&account)?,
        database: DatabaseId::new(database)?,
        options: DumpOptions::default(),
    };
    // This export's own token: cancelling it ends this export only.
    let cancel = CancelToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    // The future owns what it needs, so it can be spawned as is.
    let export = tokio::spawn(
        client.export_to_path_with_cancel(&job, output, &cancel, |event| match event {
            Event::Log(line) => eprintln!("{line}"),
            Event::RetryScheduled { delay, reason, .. } => {
                eprintln!("retrying in {delay:?}: {reason}")
            }
            _ => {}
        }),
    );
    let outcome = match export.await? {
        Ok(outcome) => outcome,
        Err(e) if e.kind() == ErrorKind::Cancelled => return Err("cancelled".into()),
        Err(e) if e.kind() == ErrorKind::Auth => return Err(format!("check the token: {e}").into()),
        Err(e) => return Err(e.into()),
    };
    println!(
        "{output}: {} bytes, sha256 {}",
        outcome.bytes, outcome.sha256
    );
    Ok(())
}
