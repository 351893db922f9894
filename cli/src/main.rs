//! `d1-export`: export a Cloudflare D1 database as SQL. See `d1-export --help`.

mod args;
mod demo;
mod destination;
mod driver;
mod exit;
mod fit;
mod fleet;
mod generate;
mod import;
mod manifest;
mod report;
mod restore_ready;
mod signals;
mod text;

use args::{Args, Command, CompatibilityArg};
use clap::Parser;
use d1_export_core::{
    AccountId, ApiBase, ApiToken, Compatibility, Contents, DatabaseId, DumpOptions, Job,
};
use d1_export_transport::{CancelToken, ClientConfig, ENV_TOKEN};
use destination::Output;
use driver::Driver;
use exit::{Code, Failure};
use manifest::{Facts, Manifest};
use report::{Reporter, Style};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Code::Usage.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match &args.command {
        None => export_main(&args),
        Some(Command::Completions { shell }) => {
            print_generated(|out| generate::completions(*shell, out))
        }
        Some(Command::Man) => print_generated(generate::man),
        Some(Command::Import(import)) => import::main(import),
    }
}

/// `d1-export <DATABASE> ...`, `--demo` and `--all`: the export, with its reporting.
fn export_main(args: &Args) -> ExitCode {
    let style = Style::detect(args.quiet);
    let mut reporter = Reporter::new(style, args.verbose);
    match run(args, &mut reporter) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            reporter.clear();
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: {}",
                text::clean(&failure.message)
            );
            if args.json && !failure.reported {
                let obj = serde_json::json!({"ok": false, "exit_code": failure.code as u8, "error": failure.message});
                println!("{obj}");
            }
            failure.code.into()
        }
    }
}

/// Prints what `write` generates on stdout; a closed pipe (`| head`) is not a failure.
fn print_generated(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> ExitCode {
    match write(&mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "error: writing to stdout: {e}");
            Code::Other.into()
        }
    }
}

/// What one export needs, once the arguments are checked.
struct Plan {
    job: Job,
    name: Option<String>,
    output: PathBuf,
}

fn run(args: &Args, reporter: &mut Reporter) -> Result<(), Failure> {
    let cancel = CancelToken::new();
    signals::install(&cancel);
    restore_ready::watch(cancel.clone());
    if args.demo {
        return run_demo(args, reporter, cancel);
    }
    let config = client_config(args)?;
    let account = account(args)?;
    let options = dump_options(args)?;
    restore_ready::Wanted::from_args(args)?;
    if args.all {
        let driver =
            Driver::new(args.driver, config, cancel).map_err(|e| Failure::from_error(&e))?;
        return fleet::run(args, &driver, &account, options);
    }
    let driver = Driver::new(args.driver, config, cancel).map_err(|e| Failure::from_error(&e))?;
    // The output directory must be writable before any request (a name lookup included);
    // object storage settings are checked then too.
    if let Some(output) = args.output.as_deref() {
        if destination::is_object_storage(output) {
            Output::plan(output, args.compress)?;
        }
    }
    if let Some(output) = args
        .output
        .as_deref()
        .filter(|o| *o != Path::new("-") && !o.is_dir() && !destination::is_object_storage(o))
    {
        d1_export_transport::check_destination(output).map_err(|e| {
            let e = d1_export_transport::Error::sink(
                "create a temporary file beside",
                Some(output.into()),
                e,
            );
            Failure::from_error(&e)
        })?;
    }
    let database = args.database.as_deref().unwrap_or_default();
    let (database, name) = resolve(&driver, &account, database)?;
    let output = args
        .output
        .clone()
        .ok_or_else(|| Failure::usage("--output is required"))?;
    let plan = Plan {
        job: Job {
            account,
            database,
            options,
        },
        name,
        output,
    };
    export(args, reporter, &driver, &plan).map(|_| ())
}

fn client_config(args: &Args) -> Result<ClientConfig, Failure> {
    let config = api_config(args.api_base.as_deref())?;
    Ok(if args.no_restart {
        config.job_gone(d1_export_core::JobGonePolicy::Fail)
    } else {
        config
    })
}

/// The token (from the environment only) and the API base (`--api-base`, else the default):
/// what export and import both need.
fn api_config(api_base: Option<&str>) -> Result<ClientConfig, Failure> {
    let token = std::env::var(ENV_TOKEN).map_err(|_| {
        Failure::usage(format!(
            "{ENV_TOKEN} is not set (the API token is read from the environment only)"
        ))
    })?;
    let token = ApiToken::new(&token).map_err(|e| Failure::usage(format!("{ENV_TOKEN}: {e}")))?;
    let base = match api_base.map(str::trim) {
        Some(b) if !b.is_empty() => ApiBase::new(b).map_err(|e| Failure::usage(e.to_string()))?,
        _ => ApiBase::default(),
    };
    Ok(ClientConfig::new(base, token))
}

fn account(args: &Args) -> Result<AccountId, Failure> {
    account_id(args.account_id.as_deref())
}

/// `--account-id` (or `CLOUDFLARE_ACCOUNT_ID`, which clap reads), checked.
fn account_id(id: Option<&str>) -> Result<AccountId, Failure> {
    let id = id.ok_or_else(|| {
        Failure::usage("no account: set CLOUDFLARE_ACCOUNT_ID or pass --account-id")
    })?;
    AccountId::new(id.trim()).map_err(|e| Failure::usage(e.to_string()))
}

fn dump_options(args: &Args) -> Result<DumpOptions, Failure> {
    let options = DumpOptions {
        contents: match (args.no_data, args.no_schema) {
            (true, false) => Contents::SchemaOnly,
            (false, true) => Contents::DataOnly,
            (false, false) => Contents::SchemaAndData,
            (true, true) => return Err(Failure::usage("--no-data and --no-schema conflict")),
        },
        tables: args.tables.clone(),
        compatibility: args.compatibility.map(|c| match c {
            CompatibilityArg::D1 => Compatibility::D1,
            CompatibilityArg::Sqlite3CliOnly => Compatibility::Sqlite3CliOnly,
        }),
    };
    options
        .validate()
        .map_err(|e| Failure::usage(e.to_string()))?;
    Ok(options)
}

/// A UUID is used as is; a name is looked up.
fn resolve(
    driver: &Driver,
    account: &AccountId,
    database: &str,
) -> Result<(DatabaseId, Option<String>), Failure> {
    if let Ok(id) = DatabaseId::new(database) {
        return Ok((id, None));
    }
    if d1_export_core::DatabaseName::new(database).is_err() {
        return Err(Failure::usage(format!(
            "{database:?} is neither a database UUID nor a valid database name"
        )));
    }
    let info = driver.find_database(account, database).map_err(|e| {
        let mut f = Failure::from_error(&e);
        if f.code == Code::NotFound {
            f.message = format!(
                "no database named {database:?} in account {account}: {}",
                f.message
            );
        }
        f
    })?;
    if info.name != database {
        return Err(Failure::new(
            Code::NotFound,
            format!(
                "the lookup of {database:?} answered a database named {:?}",
                info.name
            ),
        ));
    }
    let id = DatabaseId::new(&info.uuid).map_err(|e| Failure::new(Code::Other, e.to_string()))?;
    Ok((id, Some(info.name)))
}

fn export(
    args: &Args,
    reporter: &mut Reporter,
    driver: &Driver,
    plan: &Plan,
) -> Result<Manifest, Failure> {
    let output = Output::plan(&plan.output, args.compress)?;
    let to_stdout = output.is_stdout();
    if to_stdout && args.json {
        return Err(Failure::usage(
            "--json and --output - both want stdout; pick one",
        ));
    }
    if let Some(p) = output.local_file() {
        if p.is_dir() {
            return Err(Failure::usage(format!(
                "--output {} is a directory",
                p.display()
            )));
        }
    }
    let started = SystemTime::now();
    let clock = Instant::now();
    reporter.line(&format!(
        "exporting database {}{} ({} driver)",
        plan.job.database,
        plan.name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default(),
        args.driver.name()
    ));
    let (outcome, options, restore_ready) = match restore_ready::Wanted::from_args(args)? {
        Some(wanted) => {
            // Made locally (verified, converted), then written to the destination in one
            // streaming pass (compressed, uploaded).
            let staging = output.staging(&plan.output);
            let done = restore_ready::export(wanted, reporter, driver, &plan.job, staging.path())?;
            let outcome = output
                .deliver(&staging, done.outcome)
                .map_err(|e| Failure::from_error(&e))?;
            (outcome, done.job.options, Some((done.verified, done.made)))
        }
        None => (
            output
                .export(driver, &plan.job, |e| reporter.event(e))
                .map_err(|e| Failure::from_error(&e))?,
            plan.job.options.clone(),
            None,
        ),
    };
    let finished = SystemTime::now();
    let mut manifest = Manifest::new(Facts {
        database_id: plan.job.database.as_str(),
        database_name: plan.name.as_deref(),
        output: &plan.output,
        options: &options,
        outcome: &outcome,
        started,
        finished,
        driver: args.driver.name(),
        compression: output.compression(),
    });
    if let Some((verified, made)) = restore_ready {
        manifest.verified = Some(verified);
        manifest.restore_ready = Some(made);
    }
    if !args.no_manifest {
        output.manifest_at().write(&manifest).map_err(|e| {
            Failure::new(
                Code::Download,
                format!("the dump is complete, but its manifest could not be written: {e}"),
            )
        })?;
    }
    reporter.line(&format!(
        "done: {} ({} bytes, sha256 {}) bookmark {} in {:.1}s",
        manifest.output,
        manifest.bytes,
        manifest.sha256,
        text::clean(outcome.bookmark.as_deref().unwrap_or("-")),
        clock.elapsed().as_secs_f64()
    ));
    if args.json {
        let mut value = serde_json::to_value(&manifest).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("ok".into(), true.into());
        }
        println!("{value}");
    }
    Ok(manifest)
}

fn run_demo(args: &Args, reporter: &mut Reporter, cancel: CancelToken) -> Result<(), Failure> {
    reporter.line("d1-export demo: generating a sample database and starting a local D1 emulator…");
    let demo = demo::Demo::start()?;
    let emulator = &demo.emulator;
    let base = ApiBase::new(&emulator.base_url()).map_err(|e| Failure::usage(e.to_string()))?;
    let token = ApiToken::new(emulator.token()).map_err(|e| Failure::usage(e.to_string()))?;
    let mut config = ClientConfig::new(base, token);
    config.core.pacing.min_interval = std::time::Duration::from_millis(200);
    let account =
        AccountId::new(emulator.account_id()).map_err(|e| Failure::usage(e.to_string()))?;
    let driver = Driver::new(args.driver, config, cancel).map_err(|e| Failure::from_error(&e))?;
    let (database, name) = resolve(&driver, &account, demo::DEMO_NAME)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("demo.sql"));
    if output == Path::new("-") {
        return Err(Failure::usage("--demo writes a file; give --output FILE"));
    }
    let plan = Plan {
        job: Job {
            account,
            database,
            options: DumpOptions::default(),
        },
        name,
        output,
    };
    export(args, reporter, &driver, &plan)?;
    let verdict = demo.verify(&plan.output)?;
    reporter.line(&verdict);
    reporter.line(&format!(
        "\nThe demo exported {:?} from a local emulator to {}.\nNext, against your account:\n  export CLOUDFLARE_API_TOKEN=...   # a token with D1 edit rights\n  export CLOUDFLARE_ACCOUNT_ID=...\n  d1-export <DATABASE-NAME-OR-UUID> --output backup.sql",
        demo::DEMO_NAME,
        plan.output.display()
    ));
    Ok(())
}
