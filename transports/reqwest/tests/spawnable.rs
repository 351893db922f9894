//! The async client's futures are `Send + 'static`: spawnable exactly as a tokio user writes
//! it. This test fails by not compiling.

use d1_export_reqwest::{AccountId, Client, DatabaseId, DumpOptions, Event, Job};
use std::future::Future;

fn assert_spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
}

#[test]
fn every_call_returns_a_send_static_future() {
    let client = Client::builder()
        .api_base("http://127.0.0.1:9/client/v4")
        .token("t")
        .build()
        .expect("client");
    let job = Job {
        account: AccountId::new("0123456789abcdef0123456789abcdef").expect("account"),
        database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").expect("db"),
        options: DumpOptions::default(),
    };
    // The line from the issue, as written (not run: it would write x.sql here).
    let _as_written = || tokio::spawn(client.export_to_path(&job, "x.sql", |e| eprintln!("{e:?}")));

    let dir = tempfile::tempdir().expect("dir");
    let dest = dir.path().join("x.sql");
    let cancel = d1_export_reqwest::CancelToken::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let export = tokio::spawn(assert_spawnable(client.export_to_path(
            &job,
            dest.clone(),
            |_: &Event| {},
        )));
        let with_cancel = tokio::spawn(assert_spawnable(client.export_to_path_with_cancel(
            &job,
            dest.clone(),
            &cancel,
            |_: &Event| {},
        )));
        let to_writer = tokio::spawn(assert_spawnable(client.export_to_writer(
            &job,
            tokio::io::sink(),
            |_: &Event| {},
        )));
        let lookup = tokio::spawn(assert_spawnable(client.find_database(&job.account, "app")));
        let list = tokio::spawn(assert_spawnable(client.list_databases(&job.account, 1, 10)));
        let bookmark = tokio::spawn(assert_spawnable(
            client.current_bookmark(&job.account, &job.database),
        ));
        cancel.cancel();
        // Nothing listens on port 9: every call ends (cancelled or failed), none hangs.
        client.shutdown_token().cancel();
        for handle in [export, with_cancel, to_writer] {
            assert!(handle.await.expect("join").is_err());
        }
        assert!(lookup.await.expect("join").is_err());
        assert!(list.await.expect("join").is_err());
        assert!(bookmark.await.expect("join").is_err());
    });
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}
