//! The restore-ready steps of `d1-export` on a local dump, for benchmarks and by hand:
//!
//! ```text
//! restore_ready verify     DUMP.sql SCRATCH.sqlite             # load + integrity/FK checks + counts
//! restore_ready importable DUMP.sql SCRATCH.sqlite OUT.sql     # the same, then importable SQL
//! restore_ready check      DUMP.sql                            # D1's import rules only
//! ```
//!
//! The scratch database must not exist; it is kept (a `--format sqlite` output).

use d1_dump::load::{create_scratch, load_dump, verify, LoadMode};
use d1_dump::{check_path, write_importable};
use rusqlite::Connection;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["check", dump] => {
                let report = check_path(Path::new(dump))?;
                for v in &report.violations {
                    eprintln!("{v}");
                }
                eprintln!(
                    "{} statements, {} bytes, {} violations",
                    report.statements, report.bytes, report.violations_total
                );
                if !report.is_importable() {
                    return Err("not importable".into());
                }
            }
            ["verify", dump, scratch] | ["importable", dump, scratch, _] => {
                let clock = Instant::now();
                let conn = create_scratch(Path::new(scratch))?;
                let file = BufReader::with_capacity(1 << 20, File::open(dump)?);
                let loaded = load_dump(&conn, file, LoadMode::Sqlite, &mut |_| true)?;
                let conn = if loaded.wrote_schema {
                    drop(conn);
                    Connection::open(scratch)?
                } else {
                    conn
                };
                let loaded_at = clock.elapsed();
                let v = verify(&conn)?;
                eprintln!(
                    "loaded {} statements ({} bytes) in {:.2}s, verified in {:.2}s: integrity {}, {} tables, {} rows, {} foreign key violations",
                    loaded.statements,
                    loaded.bytes,
                    loaded_at.as_secs_f64(),
                    (clock.elapsed() - loaded_at).as_secs_f64(),
                    v.integrity_check,
                    v.tables.len(),
                    v.tables.values().sum::<u64>(),
                    v.foreign_key_violations
                );
                if !v.is_ok() {
                    return Err("integrity check failed".into());
                }
                if let ["importable", _, _, out] = args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                    let started = Instant::now();
                    let w = BufWriter::with_capacity(1 << 20, File::create(out)?);
                    let r = write_importable(&conn, w, &mut |_| true)?;
                    eprintln!(
                        "importable: {} statements, {} bytes, {} split values in {:.2}s",
                        r.statements,
                        r.bytes,
                        r.split_values,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            _ => return Err("usage: restore_ready verify DUMP SCRATCH | importable DUMP SCRATCH OUT | check DUMP".into()),
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("restore_ready: {e}");
            ExitCode::FAILURE
        }
    }
}
