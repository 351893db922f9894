#!/usr/bin/env bash
# Fleet export benchmark: N emulated databases (default 200) under a scaled-down request
# budget (default 40 requests per second). Prints the total time against the bound the budget
# imposes: API requests made ÷ allowed rate. Target: within 10% of it.
#
# Usage: scripts/bench-fleet.sh [DATABASES] [REQUESTS/SECONDS] [CONCURRENCY]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-200}
rate=${2:-40/1}
concurrency=${3:-16}
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -q --release -p d1-emulator -p d1-export-cli
emu="$target_dir/release/d1-emulator"
cli="$target_dir/release/d1-export"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-fleet.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$work" "$n" <<'PY'
import sqlite3, sys, shutil
work, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(f"{work}/tiny.sqlite")
c.executescript("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES(1,'a'),(2,'b');")
c.close()
for i in range(n):
    shutil.copy(f"{work}/tiny.sqlite", f"{work}/db{i}.sqlite")
PY
args=()
for i in $(seq 0 $((n - 1))); do
    u=$(printf 'f1ee7000-0000-4000-8000-%012d' "$i")
    args+=(--db "$u=$work/db$i.sqlite" --db-name "$u=app-$(printf '%03d' "$i")")
done
"$emu" "${args[@]}" --polls-before-complete 1 --poll-hold 5s --quiet >"$work/emu.out" 2>"$work/emu.err" &
pid=$!
for _ in $(seq 200); do [ -s "$work/emu.out" ] && break; sleep 0.05; done
base=$(head -n 1 "$work/emu.out")
export CLOUDFLARE_API_BASE_URL="$base" CLOUDFLARE_API_TOKEN=test-token CLOUDFLARE_ACCOUNT_ID=0123456789abcdef0123456789abcdef

start=$(date +%s.%N)
"$cli" --all --output-dir "$work/out" --rate-limit "$rate" --concurrency "$concurrency" --json -q >"$work/summary.json"
end=$(date +%s.%N)
origin=${base%/client/v4}
curl -s "$origin/__emulator/stats" >"$work/stats.json"
python3 - "$work" "$start" "$end" "$rate" "$n" <<'PY'
import json, sys
work, start, end, rate, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
summary = json.load(open(f"{work}/summary.json"))
stats = json.load(open(f"{work}/stats.json"))
api = sum(sum(by.values()) for route, by in stats["requests"].items() if "__download" not in route and "__emulator" not in route)
throttled = sum(by.get("429", 0) for by in stats["requests"].values())
limit, secs = rate.split("/")
per_sec = int(limit) / float(secs.rstrip("s"))
bound = api / per_sec
took = end - start
print(f"databases: {n}, exported {summary['totals']['exported']}, failed {summary['totals']['failed']}, jobs created {stats['jobs_created']}")
print(f"API requests: {api} (429s: {throttled}), budget {rate} = {per_sec:g}/s")
print(f"total time {took:.2f}s, bound {bound:.2f}s (requests / rate), ratio {took / bound:.3f}")
PY
