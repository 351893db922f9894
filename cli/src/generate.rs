//! The subcommands that print something generated from the command-line definition: shell
//! completion scripts and the man page. Both write to stdout and touch nothing else.

use crate::args::{Args, ShellArg};
use crate::exit::Code;
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::io::{self, Write};

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: ShellArg, out: &mut dyn Write) -> io::Result<()> {
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
        ShellArg::Powershell => Shell::PowerShell,
    };
    let mut command = Args::command();
    let name = command.get_name().to_owned();
    clap_complete::generate(shell, &mut command, name, out);
    out.flush()
}

/// Writes the man page, `d1-export(1)` in roff, to `out`: clap's sections (name, synopsis,
/// description, options), every subcommand in full (its synopsis, description and options,
/// so one page documents the whole tool), and ours (environment, exit status, examples).
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    let command = Args::command();
    let man = Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    commands_section(&command).to_writer(out)?;
    extra_sections().to_writer(out)?;
    man.render_version_section(out)?;
    out.flush()
}

/// `COMMANDS`: each subcommand with its usage line, what it does and its own options.
fn commands_section(command: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut sub = sub
            .clone()
            .bin_name(format!("d1-export {}", sub.get_name()));
        let usage = sub.render_usage().to_string();
        let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage).to_owned();
        roff.control("SS", [format!("d1-export {}", sub.get_name()).as_str()]);
        roff.text([bold(usage)]);
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            roff.control("PP", []);
            roff.text([roman(about.to_string())]);
        }
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            roff.control("TP", []);
            roff.text([bold(arg_names(arg))]);
            if let Some(help) = arg.get_long_help().or(arg.get_help()) {
                roff.text([roman(help.to_string())]);
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            if !values.is_empty() {
                roff.text([roman(format!(" [possible values: {}]", values.join(", ")))]);
            }
        }
    }
    roff
}

/// `-s, --long <VALUE>` (or `<NAME>` for a positional argument).
fn arg_names(arg: &clap::Arg) -> String {
    let value = || {
        arg.get_value_names()
            .map(|names| {
                names
                    .iter()
                    .map(|n| format!("<{n}>"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()))
    };
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    if names.is_empty() {
        return value();
    }
    let names = names.join(", ");
    if takes_value {
        format!("{names} {}", value())
    } else {
        names
    }
}

/// The environment variables read.
const ENVIRONMENT: [(&str, &str); 10] = [
    (
        "CLOUDFLARE_API_TOKEN",
        "The API token, allowed to edit D1. Read from the environment only (never a flag) and never printed.",
    ),
    (
        "CLOUDFLARE_ACCOUNT_ID",
        "The account, unless --account-id is given.",
    ),
    (
        "CLOUDFLARE_API_BASE_URL",
        "The API base, /client/v4 included, unless --api-base is given (default https://api.cloudflare.com/client/v4).",
    ),
    (
        d1_export_sinks::s3::ENV_ACCESS_KEY_ID,
        "For s3:// outputs: the access key id (S3, R2, MinIO). Never printed.",
    ),
    (
        d1_export_sinks::s3::ENV_SECRET_ACCESS_KEY,
        "For s3:// outputs: the secret key. Never printed.",
    ),
    (
        d1_export_sinks::s3::ENV_SESSION_TOKEN,
        "For s3:// outputs: a session token (temporary credentials), optional. Never printed.",
    ),
    (
        d1_export_sinks::s3::ENV_REGION,
        "For s3:// outputs: the region (R2: auto); AWS_DEFAULT_REGION is read when it is unset; default us-east-1.",
    ),
    (
        "AWS_DEFAULT_REGION",
        "For s3:// outputs: the region when AWS_REGION is unset.",
    ),
    (
        d1_export_sinks::s3::ENV_ENDPOINT_URL,
        "For s3:// outputs: the endpoint of an S3-compatible store (R2: https://<account>.r2.cloudflarestorage.com); plain http:// only on loopback.",
    ),
    (
        d1_export_sinks::s3::ENV_MAX_ATTEMPTS,
        "For s3:// outputs: attempts per request, the first included (default 9).",
    ),
];

/// Every exit code, in order.
const CODES: [Code; 8] = [
    Code::Other,
    Code::Usage,
    Code::Auth,
    Code::NotFound,
    Code::Export,
    Code::Download,
    Code::Verify,
    Code::Interrupted,
];

/// What an exit code means, for the man page (a new code does not compile until described).
fn meaning(code: Code) -> &'static str {
    match code {
        Code::Other => "any other failure",
        Code::Usage => "bad usage: flags, ids, options or missing settings (nothing was sent)",
        Code::Auth => "authentication: the token or the account was refused",
        Code::NotFound => "the database was not found",
        Code::Export => {
            "the export failed on the service (or kept failing); import: the import failed and D1 rolled it back"
        }
        Code::Download => "the download, or writing the output, failed; import: the upload failed",
        Code::Verify => {
            "the dump failed verification (it does not load, or fails the integrity check); import: the file breaks D1's import rules (nothing was sent)"
        }
        Code::Interrupted => "interrupted (Ctrl-C or SIGTERM)",
    }
}

const EXAMPLES: [(&str, &str); 9] = [
    (
        "d1-export --demo",
        "A complete export from a local emulator: no account needed.",
    ),
    (
        "d1-export my-database -o backup.sql",
        "Export by name (or UUID) with a manifest beside the file.",
    ),
    (
        "d1-export my-database -o - | gzip > backup.sql.gz",
        "The dump on stdout.",
    ),
    (
        "d1-export --all --output-dir backups --include 'prod-*'",
        "Every matching database of the account.",
    ),
    (
        "d1-export my-database -o restore.sql --importable",
        "SQL that D1's import accepts and that reproduces the database (FTS5 included), verified.",
    ),
    (
        "d1-export my-database -o s3://backups/db.sql.zst",
        "Compressed while downloading, straight into an S3-compatible bucket.",
    ),
    (
        "d1-export import my-database --file restore.sql --yes",
        "Restore a SQL file into a D1 database through D1's import.",
    ),
    (
        "d1-export completions bash > ~/.local/share/bash-completion/completions/d1-export",
        "Install tab completion for bash (also zsh, fish, powershell).",
    ),
    (
        "d1-export -o man.sql -- man",
        "A database named like a subcommand (completions, man, import).",
    ),
];

fn extra_sections() -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    roff.control("TP", []);
    roff.text([bold("0")]);
    roff.text([roman("success")]);
    for code in CODES {
        roff.control("TP", []);
        roff.text([bold((code as u8).to_string())]);
        roff.text([roman(meaning(code))]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "After any failure nothing is left at --output; an existing file there is untouched.",
    )]);
    roff.control("SH", ["EXAMPLES"]);
    for (command, what) in EXAMPLES {
        roff.control("TP", []);
        roff.text([bold(command)]);
        roff.text([roman(what)]);
    }
    roff
}
