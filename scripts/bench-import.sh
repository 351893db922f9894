#!/usr/bin/env bash
# Upload throughput of `d1-export import` on each driver against `curl -T` to an upload URL
# of the same emulator, and the peak RSS of the whole import for a small and a large file.
#
# The file is SQL whose first statement fails on the service, so each import ends right
# after its upload (exit 5) and the figure is the upload alone. Throughput is measured by the
# emulator for every client alike (Stats::last_upload_nanos: from the end of the request head
# to the last byte on disk). Each run gets a fresh emulator and a file with its own md5 (a
# trailing comment), so nothing is skipped as "already uploaded". Runs alternate curl, async,
# blocking; medians are printed.
#
# Usage: scripts/bench-import.sh [SIZE_MIB (default 1024)] [RUNS (default 3)] [SMALL_MIB (default 64)]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
size_mib=${1:-1024}
runs=${2:-3}
small_mib=${3:-64}
target_dir=${CARGO_TARGET_DIR:-$root/target}
uuid=0b1c2d3e-0000-4000-8000-00000000be01
account=0123456789abcdef0123456789abcdef
token=bench-import-token

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-import.XXXXXX")
emulator_pid=""
stop_emulator() {
    if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
    emulator_pid=""
}
cleanup() { stop_emulator; rm -rf "$work"; }
trap cleanup EXIT

echo "== build (release)"
cargo build -q --release -p d1-emulator -p d1-export-cli
emu="$target_dir/release/d1-emulator"
cli="$target_dir/release/d1-export"

gen() { # FILE MIB
    python3 - "$1" "$2" <<'PY'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
row = "INSERT INTO t VALUES(%d,'" + "x" * 980 + "');\n"
block = "".join(row % i for i in range(1024)).encode()
with open(path, "wb") as f:
    f.write(b"INSERT INTO no_such_table VALUES(0);\n")
    written = 0
    while written < mib << 20:
        f.write(block)
        written += len(block)
PY
}
echo "== files: ${size_mib} MiB and ${small_mib} MiB of SQL"
gen "$work/big.sql" "$size_mib"
gen "$work/small.sql" "$small_mib"
big_base=$(stat -c %s "$work/big.sql")
small_base=$(stat -c %s "$work/small.sql")

start_emulator() {
    : >"$work/target.sqlite"
    rm -rf "$work/emu" "$work/emulator.out"
    "$emu" --db "$uuid=$work/target.sqlite" --account "$account" --token "$token" --port 0 \
        --quiet --work-dir "$work/emu" >"$work/emulator.out" 2>"$work/emulator.err" &
    emulator_pid=$!
    for _ in $(seq 200); do [ -s "$work/emulator.out" ] && break; sleep 0.05; done
    base=$(head -n 1 "$work/emulator.out")
    [ -n "$base" ] || { cat "$work/emulator.err"; echo "the emulator did not start" >&2; exit 1; }
    origin=${base%/client/v4}
}

# Makes FILE's md5 its own for run N (a trailing comment), at its base size BASE.
stamp() { truncate -s "$2" "$1"; printf -- '-- run %s\n' "$3" >>"$1"; }

# Prints "MB/s" of the last upload the emulator received, checking it was whole.
last_upload() {
    curl -sf "$origin/__emulator/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
want = int(sys.argv[1])
assert s["last_upload_bytes"] == want, (s["last_upload_bytes"], want)
assert s["uploads_with_authorization"] == 0, "an upload carried Authorization"
print("%.1f" % (s["last_upload_bytes"] / (s["last_upload_nanos"] / 1e9) / 1e6))
' "$1"
}

curl_run() { # FILE
    local md5 url
    md5=$(md5sum "$1" | cut -d" " -f1)
    url=$(curl -sf -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
        -d "{\"action\":\"init\",\"etag\":\"$md5\"}" \
        "$base/accounts/$account/d1/database/$uuid/import" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["upload_url"])')
    curl -sf -o /dev/null -T "$1" "$url"
}

driver_run() { # FILE DRIVER -> prints peak RSS KiB
    local code=0
    /usr/bin/time -f "%M" -o "$work/rss" env CLOUDFLARE_API_TOKEN="$token" CLOUDFLARE_ACCOUNT_ID="$account" \
        CLOUDFLARE_API_BASE_URL="$base" "$cli" import "$uuid" --file "$1" --yes -q \
        --driver "$2" >/dev/null 2>"$work/cli.err" || code=$?
    [ "$code" = 5 ] || { cat "$work/cli.err"; echo "expected exit 5 (the import fails after the upload), got $code" >&2; exit 1; }
    # (time's first line says the command exited 5; the figure is the last line)
    tail -n 1 "$work/rss"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: >"$work/curl" ; : >"$work/async" ; : >"$work/blocking"
: >"$work/rss-async-big" ; : >"$work/rss-blocking-big"
n=0
for run in $(seq "$runs"); do
    for who in curl async blocking; do
        n=$((n + 1))
        stamp "$work/big.sql" "$big_base" "$n"
        start_emulator
        if [ "$who" = curl ]; then
            curl_run "$work/big.sql"
        else
            driver_run "$work/big.sql" "$who" >>"$work/rss-$who-big"
        fi
        mbs=$(last_upload "$(stat -c %s "$work/big.sql")")
        echo "$mbs" >>"$work/$who"
        echo "  run $run $who: $mbs MB/s"
        stop_emulator
    done
done

echo "== peak RSS on the small file"
for who in async blocking; do
    n=$((n + 1))
    stamp "$work/small.sql" "$small_base" "$n"
    start_emulator
    driver_run "$work/small.sql" "$who" >"$work/rss-$who-small"
    stop_emulator
done

c=$(median <"$work/curl"); a=$(median <"$work/async"); b=$(median <"$work/blocking")
echo
echo "bench-import: ${size_mib} MiB upload, $runs alternating runs, medians (load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '  curl -T         %8s MB/s\n' "$c"
printf '  async (reqwest) %8s MB/s  (%.2fx curl)\n' "$a" "$(echo "$a / $c" | bc -l)"
printf '  blocking (ureq) %8s MB/s  (%.2fx curl)\n' "$b" "$(echo "$b / $c" | bc -l)"
for who in async blocking; do
    printf '  peak RSS %-8s %6.1f MiB (%s MiB file)  %6.1f MiB (%s MiB file)\n' "$who" \
        "$(echo "$(cat "$work/rss-$who-small") / 1024" | bc -l)" "$small_mib" \
        "$(echo "$(median <"$work/rss-$who-big") / 1024" | bc -l)" "$size_mib"
done
