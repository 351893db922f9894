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
/// description, options, commands) and ours (environment, exit status, examples).
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    let man = Man::new(Args::command());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    extra_sections().to_writer(out)?;
    man.render_version_section(out)?;
    out.flush()
}

/// The environment variables read.
const ENVIRONMENT: [(&str, &str); 3] = [
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
        Code::Export => "the export failed on the service (or kept failing)",
        Code::Download => "the download, or writing the output, failed",
        Code::Verify => {
            "the dump failed verification (it does not load, or fails the integrity check)"
        }
        Code::Interrupted => "interrupted (Ctrl-C or SIGTERM)",
    }
}

const EXAMPLES: [(&str, &str); 5] = [
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
        "d1-export -o man.sql -- man",
        "A database named like a subcommand.",
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
