#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for SECONDS each, on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]        default: 60 s, all targets
#
#   FUZZ_SANITIZER=none|address (default none; address needs RUSTC_BOOTSTRAP=1 on stable)
#
# The checked-in corpus (fuzz/corpus/<target>) is read, never written: new inputs go to a
# scratch corpus under fuzz/target/scratch-corpus/<target> (gitignored). A crash leaves its
# input in fuzz/artifacts/<target>/ and fails the script; minimise it with
# `cargo fuzz tmin --sanitizer none TARGET ARTIFACT` and check it into fuzz/regressions/<target>/,
# where `cargo test` replays it (core/src/proptests.rs, replay_fuzz_corpora).
#
# Needs cargo-fuzz: `cargo install cargo-fuzz --locked`.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(reply machine download request import fleet)
fi
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 1
fi

echo "== fuzz build (sanitizer: $sanitizer)"
mkdir -p fuzz/target
if ! cargo fuzz build --sanitizer "$sanitizer" >fuzz/target/fuzz-build.log 2>&1; then
  tail -n 40 fuzz/target/fuzz-build.log >&2
  exit 1
fi
tail -n 1 fuzz/target/fuzz-build.log

summary=()
status=0
for t in "${targets[@]}"; do
  scratch="fuzz/target/scratch-corpus/$t"
  mkdir -p "$scratch" "fuzz/artifacts/$t"
  log="fuzz/target/fuzz-$t.log"
  echo "== fuzz $t for ${secs}s"
  # -timeout: an input that runs 10 s is a hang; -rss_limit_mb: a leak or a blow-up.
  if cargo fuzz run --sanitizer "$sanitizer" "$t" "$scratch" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    tail -n 40 "$log" >&2
    for a in "fuzz/artifacts/$t"/*; do
      [ -f "$a" ] || continue
      echo "-- crash input $a:" >&2
      od -A d -t x1z "$a" | head -n 20 >&2
    done
  fi
  runs=$(grep -ho 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
  rate=$(grep -ho 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{print $2}')
  line=$(printf '%-9s %-6s %12s execs %9s execs/s  cov %s  (%ss)' "$t" "$result" "$runs" "$rate" "${cov:-?}" "$secs")
  echo "$line"
  summary+=("$line")
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit "$status"
