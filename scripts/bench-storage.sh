#!/usr/bin/env bash
# Benchmarks where backups go, against the emulator and a real S3-compatible server (moto)
# on loopback: a ~1 GiB export written as plain .sql, as .sql.zst, and to s3:// (plain and
# zstd), alternating runs; prints throughput (dump bytes / wall time) and peak RSS of each.
# Target: peak RSS under 32 MiB for every kind.
#
# Usage: scripts/bench-storage.sh [DB_SIZE [RUNS [DRIVER]]]   (defaults: 870MiB, 3, async)
# The sample's dump is about 1.23 times its SQLite file, so the default dump is ~1 GiB.
# moto is found through D1_TEST_MOTO (path of moto_server), else target/moto-venv or
# /tmp/moto-venv (see .ci/run). moto keeps objects in memory and is written in Python: its
# own speed bounds the s3:// figures (the run prints moto's CPU time beside them).
# Needs /usr/bin/time and curl. Files go to /dev/shm when it exists (RAM; BENCH_OUT_DIR to
# choose); everything is removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZE=${1:-870MiB}
RUNS=${2:-3}
DRIVER=${3:-async}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release

for tool in curl /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-storage: $tool is required" >&2; exit 2; }
done
MOTO=${D1_TEST_MOTO:-}
for candidate in "$MOTO" target/moto-venv/bin/moto_server /tmp/moto-venv/bin/moto_server; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then MOTO=$candidate; break; fi
done
[ -x "$MOTO" ] || { echo "bench-storage: moto_server not found (set D1_TEST_MOTO)" >&2; exit 2; }

echo "== building (release)"
cargo build --release -q -p d1-emulator -p d1-export-cli

WORK=$(mktemp -d "${TMPDIR:-/tmp}/d1-bench-storage.XXXXXX")
OUT_PARENT=${BENCH_OUT_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo "$WORK")}
OUT=$(mktemp -d "$OUT_PARENT/d1-bench-storage-out.XXXXXX")
EMU_PID=
MOTO_PID=
cleanup() {
    for pid in "$EMU_PID" "$MOTO_PID"; do
        if [ -n "$pid" ]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK" "$OUT"
}
trap cleanup EXIT INT TERM

DB=0b1c2d3e-0000-4000-8000-0000000000b1
ACCOUNT=0123456789abcdef0123456789abcdef
TOKEN=bench-token

echo "== generating a sample database ($SIZE)"
"$BIN/d1-emulator" sample --out "$WORK/big.sqlite" --size "$SIZE" >/dev/null
"$BIN/d1-emulator" --quiet --account "$ACCOUNT" --token "$TOKEN" --work-dir "$WORK/emu" \
    --db "$DB=$WORK/big.sqlite" >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$MOTO" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 300); do
    [ -s "$WORK/emulator.out" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done
BASE=$(head -n1 "$WORK/emulator.out")
[ -n "$BASE" ] || { echo "the emulator did not start:" >&2; cat "$WORK/emulator.err" >&2; exit 1; }
S3=http://127.0.0.1:$PORT
AUTH='Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0'
curl -sf -X PUT -H "$AUTH" "$S3/bench" >/dev/null
echo "   emulator at $BASE, moto at $S3"

export CLOUDFLARE_API_BASE_URL=$BASE CLOUDFLARE_API_TOKEN=$TOKEN CLOUDFLARE_ACCOUNT_ID=$ACCOUNT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$S3

KINDS="plain zst s3 s3zst"
declare -A WALLS RSS
run_one() {
    local kind=$1 out
    case $kind in
        plain) out=$OUT/db.sql ;;
        zst) out=$OUT/db.sql.zst ;;
        s3) out=s3://bench/db.sql ;;
        s3zst) out=s3://bench/db.sql.zst ;;
    esac
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN/d1-export" "$DB" -o "$out" --driver "$DRIVER" \
        --quiet --no-manifest
    read -r wall rss <"$WORK/time"
    WALLS[$kind]+="$wall "
    RSS[$kind]+="$rss "
    case $kind in
        plain) SQL_BYTES=$(stat -c %s "$OUT/db.sql") ;;
        zst) ZST_BYTES=$(stat -c %s "$OUT/db.sql.zst") ;;
    esac
    rm -f "$OUT"/db.sql*
    find "$WORK/emu" -type f -name '*.sql' -delete 2>/dev/null || true   # the emulator's served dumps
    curl -s -X DELETE -H "$AUTH" "$S3/bench/db.sql" >/dev/null || true
    curl -s -X DELETE -H "$AUTH" "$S3/bench/db.sql.zst" >/dev/null || true
    printf '   %-6s run: %6.2f s, peak RSS %6.1f MiB\n' "$kind" "$wall" "$(echo "$rss / 1024" | bc -l)"
}

echo "== $RUNS alternating runs of each ($DRIVER driver)"
for _ in $(seq "$RUNS"); do
    for kind in $KINDS; do run_one "$kind"; done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -n1; }
echo "== results: dump $SQL_BYTES bytes ($(echo "$SQL_BYTES / 1048576" | bc) MiB), .sql.zst $ZST_BYTES bytes (ratio $(echo "scale=2; $SQL_BYTES / $ZST_BYTES" | bc))"
PLAIN=$(echo "${WALLS[plain]}" | median)
for kind in $KINDS; do
    wall=$(echo "${WALLS[$kind]}" | median)
    rss=$(echo "${RSS[$kind]}" | max)
    printf '   %-6s median %6.2f s  %7.1f MB/s of SQL  (%.2fx the plain .sql time)  max peak RSS %5.1f MiB\n' \
        "$kind" "$wall" "$(echo "$SQL_BYTES / $wall / 1000000" | bc -l)" "$(echo "$wall / $PLAIN" | bc -l)" \
        "$(echo "$rss / 1024" | bc -l)"
done
echo "   moto CPU time: $(ps -o times= -p "$MOTO_PID" | tr -d ' ') s; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
