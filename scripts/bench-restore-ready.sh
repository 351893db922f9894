#!/usr/bin/env bash
# Restore-ready backups on a ~1 GiB dump: what `d1-export --verify` and `--importable` do
# after the download (load the dump into a scratch SQLite database as a stream, run
# integrity_check and foreign_key_check, count rows; then write importable SQL) against
# `sqlite3 new.db < dump.sql` on the same file. Prints wall time, CPU time and peak RSS of
# each, the ratios, and whether they meet the targets (time <= 1.5x sqlite3's, peak RSS
# <= 64 MiB).
#
# sqlite3 is measured two ways, both with the scratch database's settings (no journal, no
# syncs), since a D1 dump has no BEGIN/COMMIT and sqlite3's defaults would sync the disk
# after every one of its millions of INSERTs (hours at this size):
#   sqlite3     sqlite3 -cmd 'PRAGMA journal_mode=OFF' -cmd 'PRAGMA synchronous=OFF' new.db < dump.sql
#   sqlite3-tx  the same with the dump wrapped in BEGIN; ... COMMIT; (the fastest sqlite3 can load it)
# The targets are judged against sqlite3-tx, the stronger baseline.
#
# Usage: scripts/bench-restore-ready.sh      (SIZE=1GiB; E2E=1 also runs the whole CLI
#        through the emulator: plain export vs --verify vs --importable)
# Needs: sqlite3 and /usr/bin/time (Debian: apt-get install -y sqlite3 time), bc.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
size=${SIZE:-1GiB}
target_dir=${CARGO_TARGET_DIR:-$root/target}

need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2" >&2; exit 1; }; }
need sqlite3 sqlite3
need bc bc
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 1; }

cargo build -q --release -p d1-emulator -p d1-export-cli
cargo build -q --release -p d1-dump --example restore_ready
emu="$target_dir/release/d1-emulator"
cli="$target_dir/release/d1-export"
rr="$target_dir/release/examples/restore_ready"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-restore-ready.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$emu" sample --out "$work/app.sqlite" --size "$size" >/dev/null
"$emu" dump --db "$work/app.sqlite" >"$work/dump.sql"
dump_bytes=$(stat -c %s "$work/dump.sql")
echo "dump: $dump_bytes bytes ($(echo "$dump_bytes / 1048576" | bc) MiB), $(wc -l <"$work/dump.sql") lines; load average $(cut -d' ' -f1-3 /proc/loadavg)"

measure() { # name, command...
    local name=$1; shift
    sync
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    read -r wall user sys rss <"$work/t"
    echo "$name $wall $(echo "$user + $sys" | bc) $rss" >>"$work/results"
    printf '%-12s wall %7.2fs  cpu %7.2fs  peak RSS %7.1f MiB\n' "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)"
    [ -s "$work/err" ] && sed 's/^/             /' "$work/err" || true
}

measure sqlite3 bash -c "sqlite3 -cmd 'PRAGMA journal_mode=OFF' -cmd 'PRAGMA synchronous=OFF' '$work/s1.db' < '$work/dump.sql'"
rm -f "$work/s1.db"
measure sqlite3-tx bash -c "{ echo 'BEGIN;'; cat '$work/dump.sql'; echo 'COMMIT;'; } | sqlite3 -cmd 'PRAGMA journal_mode=OFF' -cmd 'PRAGMA synchronous=OFF' '$work/s2.db'"
rm -f "$work/s2.db"
measure verify "$rr" verify "$work/dump.sql" "$work/v.sqlite"
rm -f "$work/v.sqlite"
measure importable "$rr" importable "$work/dump.sql" "$work/i.sqlite" "$work/importable.sql"
rm -f "$work/i.sqlite"
"$rr" check "$work/importable.sql" 2>&1 | tail -n 1 | sed 's/^/importable.sql passes D1'"'"'s rules: /'

col() { awk -v n="$1" -v c="$2" '$1==n{print $c}' "$work/results"; }
base=$(col sqlite3-tx 2)
for name in verify importable; do
    wall=$(col $name 2); rss=$(col $name 4)
    ratio=$(echo "$wall / $base" | bc -l)
    ratio1=$(echo "$wall / $(col sqlite3 2)" | bc -l)
    ok_t=$(echo "$ratio <= 1.5" | bc); ok_m=$(echo "$rss <= 65536" | bc)
    printf '%-10s %.2fx sqlite3-tx (%.2fx sqlite3), peak RSS %.1f MiB: time %s, memory %s\n' "$name" "$ratio" "$ratio1" \
        "$(echo "$rss / 1024" | bc -l)" "$([ "$ok_t" = 1 ] && echo ok || echo OVER)" "$([ "$ok_m" = 1 ] && echo ok || echo OVER)"
done

if [ "${E2E:-0}" = 1 ]; then
    uuid=0b1c2d3e-0000-4000-8000-0000000be4c2
    account=0123456789abcdef0123456789abcdef
    token=bench-token
    "$emu" --db "$uuid=$work/app.sqlite" --db-name "$uuid=app" --account "$account" --token "$token" \
        --polls-before-complete 1 --poll-hold 10s --quiet >"$work/emu.out" 2>"$work/emu.err" &
    pid=$!
    for _ in $(seq 200); do [ -s "$work/emu.out" ] && break; sleep 0.05; done
    export CLOUDFLARE_API_BASE_URL=$(head -n 1 "$work/emu.out") CLOUDFLARE_API_TOKEN="$token" CLOUDFLARE_ACCOUNT_ID="$account"
    echo "end to end through the emulator (export + download included):"
    measure cli-plain "$cli" app --output "$work/a.sql" --quiet
    rm -f "$work/a.sql"*
    measure cli-verify "$cli" app --output "$work/b.sql" --quiet --verify
    rm -f "$work/b.sql"*
    measure cli-import "$cli" app --output "$work/c.sql" --quiet --importable
fi
