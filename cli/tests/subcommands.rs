//! The subcommands beside the export (`completions`, `man`, `import`), and that they take no
//! database name away: a database named like a subcommand is still exported with `--` or a
//! flag first.

use d1_emulator::{DumpOptions, Emulator, EmulatorConfig};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Every export flag: completions and the man page must know them all.
const FLAGS: &[&str] = &[
    "--output",
    "--table",
    "--no-data",
    "--no-schema",
    "--compatibility",
    "--account-id",
    "--api-base",
    "--json",
    "--quiet",
    "--verbose",
    "--driver",
    "--no-manifest",
    "--no-restart",
    "--all",
    "--output-dir",
    "--concurrency",
    "--include",
    "--exclude",
    "--skip-unchanged",
    "--rate-limit",
    "--demo",
    "--verify",
    "--format",
    "--importable",
    "--compress",
    "--keep",
];

/// The import's own flags: in the man page and the completions too.
const IMPORT_FLAGS: &[&str] = &["--file", "--yes"];

fn d1_export(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_d1-export"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("generated text is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn completions_for_each_shell_name_every_flag() {
    let markers = [
        ("bash", "complete -F"),
        ("zsh", "#compdef d1-export"),
        ("fish", "complete -c d1-export"),
        ("powershell", "Register-ArgumentCompleter"),
    ];
    for (shell, marker) in markers {
        let o = d1_export(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        assert!(o.stderr.is_empty(), "{shell}: stderr {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for flag in FLAGS.iter().chain(IMPORT_FLAGS) {
            // fish lists long flags as `-l output`.
            let named = script.contains(flag)
                || (shell == "fish" && script.contains(&format!("-l {}", &flag[2..])));
            assert!(named, "{shell} completion lacks {flag}");
        }
        for word in [
            "completions",
            "man",
            "import",
            "async",
            "blocking",
            "sqlite3_cli_only",
        ] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn the_bash_completion_is_valid_bash_and_completes_flags() {
    let o = d1_export(&["completions", "bash"]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("d1-export.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    // The function bash calls on <TAB>, as the script registers it.
    let text = stdout(&o);
    let function = text
        .split_whitespace()
        .skip_while(|w| *w != "-F")
        .nth(1)
        .expect("the script registers a function with complete -F");
    // Load the script and ask it, as bash would on <TAB>, to complete `d1-export --no-`.
    let probe = format!(
        "source {}; COMP_WORDS=(d1-export --no-); COMP_CWORD=1; COMP_LINE='d1-export --no-'; \
         COMP_POINT=${{#COMP_LINE}}; {function} d1-export --no- d1-export; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut offered: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    offered.sort();
    // Exactly the `--no-…` flags that --help lists.
    let help = stdout(&d1_export(&["--help"]));
    let mut expected: Vec<String> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--no-"))
        .map(str::to_owned)
        .collect();
    expected.sort();
    expected.dedup();
    assert!(expected.len() >= 3, "--help lists {expected:?}");
    assert_eq!(offered, expected, "bash offered {offered:?}");
}

#[test]
fn the_man_page_is_roff_naming_every_flag_and_subcommand() {
    let o = d1_export(&["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.contains(".TH d1-export 1"), "no title header");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS"] {
        assert!(page.contains(section), "no {section}");
    }
    assert!(page.contains(env!("CARGO_PKG_VERSION")));
    // roff escapes `-` as `\-`.
    for flag in FLAGS {
        let escaped = flag.replace('-', "\\-");
        assert!(page.contains(&escaped), "man page lacks {flag}");
    }
    for flag in IMPORT_FLAGS {
        let escaped = flag.replace('-', "\\-");
        assert!(page.contains(&escaped), "man page lacks import's {flag}");
    }
    // Every subcommand in full: its own usage line, not a pointer to a page never installed.
    for sub in ["completions", "man", "import"] {
        assert!(
            page.contains(&format!(".SS \"d1-export {sub}\"")),
            "man page lacks the {sub} command"
        );
    }
    assert!(
        !page.contains("d1\\-export\\-import(1)"),
        "points to a missing page"
    );
    for section in [".SH ENVIRONMENT", ".SH \"EXIT STATUS\"", ".SH EXAMPLES"] {
        assert!(page.contains(section), "no {section}");
    }
    for name in [
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_BASE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_MAX_ATTEMPTS",
    ] {
        assert!(page.contains(name), "man page lacks {name}");
    }
    // Every exit code the README lists.
    for code in ["0", "1", "2", "3", "4", "5", "6", "7", "130"] {
        assert!(
            page.contains(&format!(".TP\n\\fB{code}\\fR")),
            "man page lacks exit code {code}"
        );
    }
}

#[test]
fn the_man_page_renders_without_warnings() {
    let o = d1_export(&["man"]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("d1-export.1");
    std::fs::write(&page, &o.stdout).unwrap();
    let Ok(r) = Command::new("groff")
        .args(["-man", "-Tascii", "-ww"])
        .arg(&page)
        .output()
    else {
        eprintln!("groff not installed: rendering not checked");
        return;
    };
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(r.stderr.is_empty(), "groff warned: {}", stderr(&r));
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("--output"), "rendered page lacks --output");
    assert!(text.contains("CLOUDFLARE_API_TOKEN"));
}

#[test]
fn subcommands_refuse_export_flags_and_bad_shells() {
    for args in [
        &["man", "--json"][..],
        &["man", "-o", "x.sql"],
        &["completions"],
        &["completions", "tcsh"],
        &["completions", "bash", "extra"],
    ] {
        let o = d1_export(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(stderr(&o).contains("error"), "{args:?}");
    }
}

#[test]
fn a_database_named_like_a_subcommand_is_exported_with_a_flag_or_dashes_first() {
    let names = ["man", "completions", "import", "help"];
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new()
        .work_dir(dir.path().join("emu"))
        .polls_before_complete(1)
        .poll_hold(Duration::from_millis(10));
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let id = format!("5ab5ab50-0000-4000-8000-00000000000{i}");
        let db = dir.path().join(format!("{name}.sqlite"));
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE t(x TEXT); INSERT INTO t VALUES('{name}');"
        ))
        .unwrap();
        config = config.database(&id, &db).database_name(&id, *name);
        ids.push(id);
    }
    let emulator = Emulator::start(config).unwrap();
    let export = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_d1-export"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CLOUDFLARE_API_TOKEN", emulator.token())
            .env("CLOUDFLARE_ACCOUNT_ID", emulator.account_id())
            .env("CLOUDFLARE_API_BASE_URL", emulator.base_url())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for (name, id) in names.iter().zip(&ids) {
        let expected = emulator.dump_bytes(id, &DumpOptions::default()).unwrap();
        let dashes = out_dir.join(format!("{name}-dashes.sql"));
        let flag_first = out_dir.join(format!("{name}-flag.sql"));
        let dashes_s = dashes.display().to_string();
        let flag_s = flag_first.display().to_string();
        for (args, out) in [
            (vec!["-o", &dashes_s, "--", name], &dashes),
            (vec!["--output", &flag_s, name], &flag_first),
        ] {
            let o = export(&args);
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
            assert_eq!(std::fs::read(out).unwrap(), expected, "{args:?}");
            assert!(Path::new(&format!("{}.manifest.json", out.display())).exists());
        }
    }
    // `help` is no subcommand at all: as the first word it is a database too.
    let bare = out_dir.join("help-bare.sql");
    let o = export(&["help", "-o", &bare.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&bare).unwrap(),
        emulator
            .dump_bytes(&ids[3], &DumpOptions::default())
            .unwrap()
    );
    assert_eq!(emulator.stats().jobs_created, 9);
}
