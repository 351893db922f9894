//! Ctrl-C (SIGINT) and SIGTERM mean now: the first cancels the run, which ends within
//! milliseconds in every state (both drivers), removes its temporary file and exits 130. If
//! the run has not ended 900 ms later, or on a second signal, the temporary files are removed
//! here and the process exits 130 at once.

use crate::exit::Code;
use d1_export_transport::{remove_temporary_files, CancelToken};
use std::time::Duration;

/// The longest a cancelled run may take to end by itself.
const GRACE: Duration = Duration::from_millis(900);

/// Installs the handler; a signal cancels `cancel`.
pub fn install(cancel: &CancelToken) {
    let cancel = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if cancel.is_cancelled() {
            exit_now();
        }
        cancel.cancel();
        let _ = std::thread::Builder::new()
            .name("d1-export-grace".into())
            .spawn(|| {
                std::thread::sleep(GRACE);
                exit_now();
            });
    });
}

fn exit_now() -> ! {
    remove_temporary_files();
    let _ = std::io::Write::write_all(&mut std::io::stderr(), b"error: the export was cancelled\n");
    std::process::exit(Code::Interrupted as i32);
}
