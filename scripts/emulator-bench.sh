#!/usr/bin/env bash
# Download throughput of the emulator's signed URL against a plain static file server.
#
# Makes a sample database whose dump is about 1 GiB, exports it through the emulator (the
# export's own time and the emulator's peak memory are printed too), writes the same dump
# to a directory served by `python3 -m http.server`, then downloads both with
# `curl -o /dev/null`, alternating, RUNS times each (after one warm-up each), and prints MB/s
# (1 MB = 10^6 bytes) per run and the median.
#
# Usage: scripts/emulator-bench.sh      (DB_SIZE=880MiB RUNS=5 by default; BENCH_DIR to keep files)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DB_SIZE=${DB_SIZE:-880MiB}
RUNS=${RUNS:-5}
target_dir=${CARGO_TARGET_DIR:-$root/target}
uuid=0b1c2d3e-0000-4000-8000-0000000be7c4
account=0123456789abcdef0123456789abcdef
token=bench-token

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/emulator-bench.XXXXXX")}
mkdir -p "$work/static"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

echo "== build (release)"
cargo build -q -p d1-emulator --release
bin="$target_dir/release/d1-emulator"

db="$work/bench.sqlite"
if [ ! -s "$db" ]; then
    echo "== sample database of $DB_SIZE"
    /usr/bin/time -f "   generated in %es, max RSS %M KiB" "$bin" sample --out "$db" --size "$DB_SIZE"
fi

echo "== emulator"
"$bin" --db "$uuid=$db" --account "$account" --token "$token" --quiet \
    --polls-before-complete 0 --poll-hold 5s --idle-cancel 60s >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
pids+=("$emulator_pid")
for _ in $(seq 100); do [ -s "$work/emulator.out" ] && break; sleep 0.05; done
base=$(head -n 1 "$work/emulator.out")
echo "   $base"

# Export: start, then poll until complete (each poll is held up to 5 s while the dump is written).
t0=$(date +%s.%N)
body='{"output_format":"polling"}'
url=""
for _ in $(seq 1000); do
    reply=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "$body" "$base/accounts/$account/d1/database/$uuid/export")
    read -r status bookmark url < <(printf '%s' "$reply" | python3 -c '
import json, sys
r = json.load(sys.stdin)["result"]
print(r.get("status", "active"), r["at_bookmark"], (r.get("result") or {}).get("signed_url", ""))')
    [ "$status" = complete ] && break
    [ "$status" = active ] || { echo "export failed: $reply" >&2; exit 1; }
    body="{\"output_format\":\"polling\",\"current_bookmark\":\"$bookmark\"}"
done
t1=$(date +%s.%N)
size=$(curl -sfI "$url" | tr -d '\r' | awk 'tolower($1)=="content-length:"{print $2}')
echo "   export of $size bytes ready in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s"
echo "   emulator peak RSS after the export: $(awk '/VmHWM/{print $2, $3}' "/proc/$emulator_pid/status")"

echo "== static copy (d1-emulator dump) served by python3 -m http.server"
"$bin" dump --db "$db" >"$work/static/dump.sql"
[ "$(stat -c %s "$work/static/dump.sql")" = "$size" ] || { echo "size mismatch" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/static" >/dev/null 2>&1 &
pids+=("$!")
static="http://127.0.0.1:$port/dump.sql"
for _ in $(seq 100); do curl -sfI "$static" >/dev/null 2>&1 && break; sleep 0.05; done

fetch() { # URL -> MB/s
    curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "$1" |
        awk -v want="$size" '{ if ($1 != want) { print "short download: " $1 > "/dev/stderr"; exit 1 }
                              printf "%.0f\n", $1 / $2 / 1e6 }'
}

echo "== $RUNS alternating runs of curl -o /dev/null ($size bytes), after one warm-up each"
fetch "$url" >/dev/null
fetch "$static" >/dev/null
emu=() stat=()
for i in $(seq "$RUNS"); do
    e=$(fetch "$url"); s=$(fetch "$static")
    emu+=("$e"); stat+=("$s")
    printf '   run %d: emulator %5s MB/s   static (python http.server) %5s MB/s\n' "$i" "$e" "$s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "median: emulator $(median "${emu[@]}") MB/s, python http.server $(median "${stat[@]}") MB/s"
echo "emulator peak RSS at the end: $(awk '/VmHWM/{print $2, $3}' "/proc/$emulator_pid/status")"
curl -sf "${base%/client/v4}/__emulator/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("emulator stats: downloads %d, bytes served %d" % (s["downloads_completed"], s["bytes_served"]))'
