//! Micro-benchmark of one poll step: take a reply, judge it, produce the next request.
//!
//! Run: `cargo bench -p d1-export-core --bench step`.

use d1_export_core::{
    AccountId, ApiBase, ApiToken, Config, DatabaseId, DumpOptions, Export, Input, Job, Machine,
    Output,
};
use std::time::{Duration, Instant};

fn main() {
    divan::main();
}

const REPLY: &[u8] = br#"{"success":true,"errors":[],"messages":[],"result":{"at_bookmark":"00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683","status":"active","type":"export","messages":["Uploaded part 3","Uploaded part 2"]}}"#;

/// One step: a held poll's reply in, the next poll request out.
#[divan::bench(sample_count = 500, sample_size = 200)]
fn poll_step(bencher: divan::Bencher<'_, '_>) {
    let start = Instant::now();
    let mut config = Config::new(ApiBase::default(), ApiToken::new("token").unwrap());
    config.deadline = Duration::from_secs(1 << 40);
    let job = Job {
        account: AccountId::new("0123456789abcdef0123456789abcdef").unwrap(),
        database: DatabaseId::new("0a1b2c3d-0000-4000-8000-00000000abcd").unwrap(),
        options: DumpOptions::default(),
    };
    let mut export = Export::new(config, job, start).unwrap();
    let mut now = start;
    let Output::Send { mut id, .. } = export.poll_output() else {
        unreachable!()
    };
    bencher.bench_local(move || {
        // The service held the poll open for a second: the next poll goes out at once.
        now += Duration::from_secs(1);
        let response = http::Response::builder()
            .status(202)
            .body(REPLY.to_vec())
            .unwrap();
        export
            .handle_input(now, Input::Reply { id, response })
            .unwrap();
        loop {
            match export.poll_output() {
                Output::Send { id: next, request } => {
                    id = next;
                    break divan::black_box(request);
                }
                Output::Event(e) => {
                    divan::black_box(e);
                }
                other => panic!("{other:?}"),
            }
        }
    });
}
