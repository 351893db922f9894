#!/usr/bin/env bash
# Prints how long a cancel takes to end an export, in every state and on both drivers:
#  - library: from CancelToken::cancel() to the call's return (conformance/tests/library.rs),
#    in a held long-poll, a connect in progress, a download head wait and a stalled body;
#  - CLI: from SIGINT/SIGTERM to the process's exit, temporary file removed
#    (cli/tests/interrupts_and_files.rs), in the same states, and with a second signal;
#  - the fail-fast preset's time to give up on a refused connection.
# The tests also assert the bound (under 1 s); this script only gathers the figures.
#
# Usage: scripts/bench-cancel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== library: cancel() to return"
cargo test -q -p d1-export-conformance --test library -- --nocapture --test-threads 1 2>/dev/null \
    | grep -oE "(cancel latency|fail-fast).*" | sort
echo "== CLI: signal to exit"
cargo test -q -p d1-export-cli --test interrupts_and_files -- --nocapture --test-threads 1 2>/dev/null \
    | grep -oE "signal to exit.*" | sort
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
