//! The async client's futures are `Send + 'static`: spawnable exactly as a tokio user writes
//! it, for every public async method, with borrowed arguments (`&job`, `&dest` a `&PathBuf`,
//! `&account`, `&options`, `&cancel`). This test fails by not compiling; the run part checks
//! that the spawned calls end (cancelled or failed) and leave nothing behind.

use d1_export_reqwest::{
    AccountId, CancelToken, Client, DatabaseId, DatabaseInfo, DatabaseReport, DumpOptions, Event,
    Feed, FleetHooks, FleetOptions, Job, NoHooks,
};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn assert_spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
}

/// Hooks a caller keeps an `Arc` of, to read what they gathered after the run.
#[derive(Default)]
struct Gathered(Mutex<Vec<String>>);

impl FleetHooks for Gathered {
    fn on_done(&self, report: &DatabaseReport) {
        let mut names = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        names.push(report.database.name.clone());
    }
}

fn client() -> Client {
    // Nothing listens on port 9: every call fails or is cancelled, none hangs.
    Client::builder()
        .api_base("http://127.0.0.1:9/client/v4")
        .token("t")
        .fail_fast()
        .build()
        .expect("client")
}

fn job() -> Job {
    Job {
        account: AccountId::new("0123456789abcdef0123456789abcdef").expect("account"),
        database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").expect("db"),
        options: DumpOptions::default(),
    }
}

/// Compile-time only (never called): the export into a feed, whose `Feed` needs a consumer
/// thread to exist.
#[allow(dead_code)]
fn export_to_feed_is_spawnable(client: &Client, job: &Job, feed: Feed, cancel: &CancelToken) {
    drop(tokio::spawn(assert_spawnable(client.export_to_feed(
        job,
        feed,
        cancel,
        |_: &Event| {},
    ))));
}

#[test]
fn every_call_returns_a_send_static_future() {
    let client = client();
    let job = job();
    // The line from the issue, as written (not run: it would write x.sql here).
    let _as_written = || tokio::spawn(client.export_to_path(&job, "x.sql", |e| eprintln!("{e:?}")));

    let dir = tempfile::tempdir().expect("dir");
    let dest: PathBuf = dir.path().join("x.sql");
    let sql: PathBuf = dir.path().join("in.sql");
    std::fs::write(&sql, b"CREATE TABLE t(a);\n").expect("sql");
    let fleet_dir: PathBuf = dir.path().join("fleet");
    std::fs::create_dir(&fleet_dir).expect("fleet dir");
    let options = FleetOptions::default();
    let cancel = CancelToken::new();
    let gathered = Arc::new(Gathered::default());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // Exports: a `&PathBuf` destination, borrowed, like `&job`.
        let exports = vec![
            tokio::spawn(assert_spawnable(client.export_to_path(
                &job,
                &dest,
                |_: &Event| {},
            ))),
            tokio::spawn(assert_spawnable(client.export_to_path_with_cancel(
                &job,
                &dest,
                &cancel,
                |_: &Event| {},
            ))),
            tokio::spawn(assert_spawnable(client.export_to_path(
                &job,
                dest.as_path(),
                |_: &Event| {},
            ))),
            tokio::spawn(assert_spawnable(client.export_to_writer(
                &job,
                tokio::io::sink(),
                |_: &Event| {},
            ))),
            tokio::spawn(assert_spawnable(client.export_to_writer_with_cancel(
                &job,
                tokio::io::sink(),
                &cancel,
                |_: &Event| {},
            ))),
        ];
        let imports = vec![
            tokio::spawn(assert_spawnable(client.import_from_path(
                &job.account,
                &job.database,
                &sql,
                |_: &Event| {},
            ))),
            tokio::spawn(assert_spawnable(client.import_from_path_with_cancel(
                &job.account,
                &job.database,
                &sql,
                &cancel,
                |_: &Event| {},
            ))),
        ];
        let finds = vec![
            tokio::spawn(assert_spawnable(client.find_database(&job.account, "app"))),
            tokio::spawn(assert_spawnable(client.find_database_with_cancel(
                &job.account,
                "app",
                &cancel,
            ))),
        ];
        let pages = vec![
            tokio::spawn(assert_spawnable(client.list_databases(&job.account, 1, 10))),
            tokio::spawn(assert_spawnable(client.list_databases_with_cancel(
                &job.account,
                1,
                10,
                &cancel,
            ))),
        ];
        let bookmarks = vec![
            tokio::spawn(assert_spawnable(
                client.current_bookmark(&job.account, &job.database),
            )),
            tokio::spawn(assert_spawnable(client.current_bookmark_with_cancel(
                &job.account,
                &job.database,
                &cancel,
            ))),
        ];
        let listings = vec![
            tokio::spawn(assert_spawnable(
                client.list_all_databases(&job.account, 10),
            )),
            tokio::spawn(assert_spawnable(client.list_all_databases_with_cancel(
                &job.account,
                10,
                &cancel,
            ))),
        ];
        let fleets = vec![
            tokio::spawn(assert_spawnable(client.export_all(
                &job.account,
                &fleet_dir,
                &options,
                NoHooks,
            ))),
            tokio::spawn(assert_spawnable(client.export_all_with_cancel(
                &job.account,
                &fleet_dir,
                &options,
                &cancel,
                Arc::clone(&gathered),
            ))),
        ];
        cancel.cancel();
        client.shutdown_token().cancel();
        for handle in exports {
            assert!(handle.await.expect("join").is_err());
        }
        for handle in imports {
            assert!(handle.await.expect("join").is_err());
        }
        for handle in finds {
            let found: Result<DatabaseInfo, _> = handle.await.expect("join");
            assert!(found.is_err());
        }
        for handle in pages {
            assert!(handle.await.expect("join").is_err());
        }
        for handle in bookmarks {
            assert!(handle.await.expect("join").is_err());
        }
        for handle in listings {
            assert!(handle.await.expect("join").is_err());
        }
        for handle in fleets {
            // The listing fails (nothing listens) or is cancelled: the whole run fails.
            assert!(handle.await.expect("join").is_err());
        }
    });
    assert!(gathered.0.lock().expect("lock").is_empty());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}: only in.sql and fleet/ remain");
    assert_eq!(std::fs::read_dir(&fleet_dir).expect("fleet").count(), 0);
}
