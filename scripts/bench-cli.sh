#!/usr/bin/env bash
# End-to-end export of a ~50 MB database through the emulator: `d1-export` against
# `wrangler d1 export --remote` (same emulator, same database, alternating runs).
# Prints wall time, CPU time (user+sys) and peak RSS of each, and the ratios.
#
# Usage: scripts/bench-cli.sh [RUNS]   (SIZE=50MB, DRIVER=async by default)
# Needs: /usr/bin/time (Debian package `time`), npm (wrangler is installed like
# scripts/wrangler-check.sh does, into target/wrangler).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${1:-3}
size=${SIZE:-50MB}
driver=${DRIVER:-async}
WRANGLER_VERSION=${WRANGLER_VERSION:-4.164.0}
NODE_MAJOR=${NODE_MAJOR:-22}
cache="$root/target/wrangler"
target_dir=${CARGO_TARGET_DIR:-$root/target}
uuid=0b1c2d3e-0000-4000-8000-0000000be4c1
account=0123456789abcdef0123456789abcdef
token=bench-token

[ -x /usr/bin/time ] || { apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }; }

mkdir -p "$cache"
if [ ! -x "$cache/node_modules/.bin/wrangler" ] || [ ! -x "$cache/node_modules/node/bin/node" ]; then
    npm install --prefix "$cache" --no-audit --no-fund --loglevel=error "wrangler@$WRANGLER_VERSION" "node@$NODE_MAJOR"
fi
export PATH="$cache/node_modules/node/bin:$PATH"
wrangler="$cache/node_modules/.bin/wrangler"

cargo build -q --release -p d1-emulator -p d1-export-cli
emu="$target_dir/release/d1-emulator"
cli="$target_dir/release/d1-export"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-cli.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$emu" sample --out "$work/app.sqlite" --size "$size" >/dev/null
# The emulator holds polls open while the dump is generated, as the service does.
"$emu" --db "$uuid=$work/app.sqlite" --db-name "$uuid=app" --account "$account" --token "$token" \
    --polls-before-complete 1 --poll-hold 10s --quiet >"$work/emu.out" 2>"$work/emu.err" &
pid=$!
for _ in $(seq 200); do [ -s "$work/emu.out" ] && break; sleep 0.05; done
base=$(head -n 1 "$work/emu.out")
cat >"$work/wrangler.json" <<JSON
{ "name": "bench", "compatibility_date": "2025-01-01",
  "d1_databases": [ { "binding": "DB", "database_name": "app", "database_id": "$uuid" } ] }
JSON
export CLOUDFLARE_API_BASE_URL="$base" CLOUDFLARE_API_TOKEN="$token" CLOUDFLARE_ACCOUNT_ID="$account"
export WRANGLER_SEND_METRICS=false CI=true

measure() { # name, command...
    local name=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    read -r wall user sys rss <"$work/t"
    echo "$name $wall $(echo "$user + $sys" | bc) $rss" >>"$work/results"
    printf '%-10s wall %6.2fs  cpu %6.2fs  peak RSS %7.1f MiB\n' "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)"
}

echo "database: $(du -h "$work/app.sqlite" | cut -f1), $runs alternating runs, d1-export --driver $driver"
for i in $(seq "$runs"); do
    (cd "$work" && measure d1-export "$cli" "$uuid" --output "$work/a.sql" --quiet --no-manifest --driver "$driver")
    (cd "$work" && measure wrangler "$wrangler" d1 export app --remote --output "$work/b.sql")
    cmp -s "$work/a.sql" "$work/b.sql" || { echo "the two dumps differ" >&2; exit 1; }
done
echo "dump: $(stat -c %s "$work/a.sql") bytes, identical from both tools"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for col in 2 3 4; do
    d=$(awk -v c=$col '$1=="d1-export"{print $c}' "$work/results" | median)
    w=$(awk -v c=$col '$1=="wrangler"{print $c}' "$work/results" | median)
    case $col in 2) what="wall (s)";; 3) what="cpu (s)";; 4) what="peak RSS (KiB)";; esac
    printf 'median %-15s d1-export %10s  wrangler %10s  ratio %.3f\n' "$what" "$d" "$w" "$(echo "$d / $w" | bc -l)"
done
