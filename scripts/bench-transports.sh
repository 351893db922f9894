#!/usr/bin/env bash
# Benchmarks the two drivers against the emulator, on loopback:
#  (a) download throughput of each driver against `curl -o` on the same kind of signed URL,
#      a ~1 GiB dump, alternating runs (target: each driver >= 0.95x curl);
#  (b) peak RSS of a whole export through each driver, for a ~10 MiB and a ~1 GiB dump
#      (target: the two within 2 MiB of each other, both under 20 MiB).
#
# Usage: scripts/bench-transports.sh [BIG_DB_SIZE [RUNS]]   (defaults: 870MiB, 3)
# Sizes are the SQLite files' (8MiB and BIG_DB_SIZE); the sample's dump is about 1.23 times
# its file, so the dumps are about 10 MiB and 1 GiB. The dumps' sizes are printed.
# Needs curl, jq and /usr/bin/time. Everything it writes goes to temporary directories that
# are removed at the end. The downloaded files go to /dev/shm when it exists (RAM), so the
# disk's write-back does not drown the transports' differences; set BENCH_OUT_DIR to choose.
# Each timed download, curl's included, follows a fresh export (the emulator has just written
# that dump), so every contender runs in the same conditions.
set -euo pipefail

cd "$(dirname "$0")/.."
BIG_SIZE=${1:-870MiB}
RUNS=${2:-3}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release

for tool in curl jq /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-transports: $tool is required" >&2; exit 2; }
done

echo "== building (release)"
cargo build --release -q -p d1-emulator -p d1-export-examples

WORK=$(mktemp -d "${TMPDIR:-/tmp}/d1-bench.XXXXXX")
OUT_PARENT=${BENCH_OUT_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo "$WORK")}
OUT=$(mktemp -d "$OUT_PARENT/d1-bench-out.XXXXXX")
EMU_PID=
cleanup() {
    if [ -n "$EMU_PID" ]; then
        kill "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK" "$OUT"
}
trap cleanup EXIT INT TERM

SMALL=0b1c2d3e-0000-4000-8000-0000000000a1
BIG=0b1c2d3e-0000-4000-8000-0000000000a2
ACCOUNT=0123456789abcdef0123456789abcdef
TOKEN=bench-token

echo "== generating sample databases (8MiB and $BIG_SIZE)"
"$BIN/d1-emulator" sample --out "$WORK/small.sqlite" --size 8MiB >/dev/null
"$BIN/d1-emulator" sample --out "$WORK/big.sqlite" --size "$BIG_SIZE" >/dev/null

"$BIN/d1-emulator" --quiet --account "$ACCOUNT" --token "$TOKEN" --work-dir "$WORK/emu" \
    --idle-cancel 60s \
    --db "$SMALL=$WORK/small.sqlite" --db "$BIG=$WORK/big.sqlite" \
    >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
for _ in $(seq 100); do
    [ -s "$WORK/emulator.out" ] && break
    sleep 0.1
done
BASE=$(head -n1 "$WORK/emulator.out")
[ -n "$BASE" ] || { echo "the emulator did not start:" >&2; cat "$WORK/emulator.err" >&2; exit 1; }
echo "   emulator at $BASE"

export CLOUDFLARE_API_BASE_URL=$BASE CLOUDFLARE_API_TOKEN=$TOKEN CLOUDFLARE_ACCOUNT_ID=$ACCOUNT

# Runs one export with curl (start, poll until complete) and prints the signed URL.
signed_url() {
    local db=$1 body='{"output_format":"polling"}' reply status bookmark
    while :; do
        reply=$(curl -sS -X POST -H "Authorization: Bearer $TOKEN" \
            -H 'Content-Type: application/json' -d "$body" \
            "$BASE/accounts/$ACCOUNT/d1/database/$db/export")
        status=$(jq -r '.result.status // "active"' <<<"$reply")
        bookmark=$(jq -r '.result.at_bookmark // empty' <<<"$reply")
        case $status in
            complete) jq -r '.result.result.signed_url' <<<"$reply"; return ;;
            active) body="{\"output_format\":\"polling\",\"current_bookmark\":\"$bookmark\"}" ;;
            *) echo "export failed: $reply" >&2; return 1 ;;
        esac
    done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== (a) download throughput, $RUNS alternating runs (MB/s, 1 MB = 10^6 bytes)"
declare -A ALL=([curl]= [ureq]= [reqwest]=)
for run in $(seq "$RUNS"); do
    # curl on the signed URL: time_total covers the request and the whole body.
    URL=$(signed_url "$BIG")
    read -r size secs < <(curl -sS -o "$OUT/curl.sql" -w '%{size_download} %{time_total}\n' "$URL")
    mbps=$(awk -v s="$size" -v t="$secs" 'BEGIN { printf "%.1f", s / t / 1e6 }')
    rm -f "$OUT/curl.sql"
    printf '   run %d  curl     %8.1f MB/s  (%s bytes)\n' "$run" "$mbps" "$size"
    ALL[curl]+=" $mbps"
    for driver in ureq reqwest; do
        # The driver's own export: the download phase is timed from the download request to
        # the verified end of the body (the fsync and rename after it are not counted).
        line=$("$BIN/bench_driver" "$driver" "$BIG" "$OUT/$driver.sql")
        rm -f "$OUT/$driver.sql"
        mbps=$(sed -n 's/.*download_MBps=\([0-9.]*\).*/\1/p' <<<"$line")
        printf '   run %d  %-8s %8.1f MB/s  (%s)\n' "$run" "$driver" "$mbps" "$line"
        ALL[$driver]+=" $mbps"
    done
done
curl_median=$(median <<<"${ALL[curl]}")
for driver in ureq reqwest; do
    m=$(median <<<"${ALL[$driver]}")
    printf '   median %-8s %8.1f MB/s  = %sx curl (median %s MB/s)   target >= 0.95x\n' \
        "$driver" "$m" "$(ratio "$m" "$curl_median")" "$curl_median"
done
echo "   (load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg); figures on a busy machine are noisy)"

echo "== (b) peak RSS of a whole export (MiB)"
for db in "$SMALL" "$BIG"; do
    label=$([ "$db" = "$SMALL" ] && echo small || echo big)
    declare -A RSS=()
    for driver in ureq reqwest; do
        /usr/bin/time -v "$BIN/bench_driver" "$driver" "$db" "$OUT/rss.sql" \
            >"$WORK/rss.out" 2>"$WORK/rss.err"
        bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$WORK/rss.out")
        kib=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$WORK/rss.err")
        RSS[$driver]=$kib
        rm -f "$OUT/rss.sql"
        printf '   %-12s %-8s dump %12s bytes   peak RSS %6.1f MiB\n' \
            "$label" "$driver" "$bytes" "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')"
    done
    printf '   %-12s difference %.1f MiB   targets: <= 2 MiB apart, each < 20 MiB\n' "$label" \
        "$(awk -v a="${RSS[ureq]}" -v b="${RSS[reqwest]}" 'BEGIN { d = a - b; if (d < 0) d = -d; print d / 1024 }')"
    unset RSS
done
