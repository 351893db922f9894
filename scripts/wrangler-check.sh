#!/usr/bin/env bash
# Proof by a client nobody here wrote: wrangler's `d1 export --remote` against the emulator.
#
# Installs wrangler (and a Node.js it supports) from the npm registry into target/wrangler,
# starts the d1-emulator binary on a sample database with awkward values added, points
# wrangler at it (CLOUDFLARE_API_BASE_URL etc. and a wrangler.json declaring the database),
# and exports with and without --table, --no-data and --no-schema. Each file must
#   1. be byte-identical to the emulator's own dump for the same options, and
#   2. round-trip exactly: loaded into an empty SQLite database, every exported table has the
#      source's schema and rows, with the same storage classes (checked with Python's sqlite3).
# Finally no download may have carried an Authorization header.
#
# Usage: scripts/wrangler-check.sh            (WRANGLER_VERSION=4.164.0 NODE_MAJOR=22 by default)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
WRANGLER_VERSION=${WRANGLER_VERSION:-4.164.0}
NODE_MAJOR=${NODE_MAJOR:-22}
cache="$root/target/wrangler"
target_dir=${CARGO_TARGET_DIR:-$root/target}
uuid=0b1c2d3e-0000-4000-8000-00000000d1e1
account=0123456789abcdef0123456789abcdef
token=wrangler-check-token

work=$(mktemp -d "${TMPDIR:-/tmp}/wrangler-check.XXXXXX")
emulator_pid=""
cleanup() {
    if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "wrangler $WRANGLER_VERSION (node $NODE_MAJOR) in $cache"
mkdir -p "$cache"
installed=$(cd "$cache" && node -e 'try{console.log(require("./node_modules/wrangler/package.json").version)}catch(e){}' 2>/dev/null || true)
if [ "$installed" != "$WRANGLER_VERSION" ] || [ ! -x "$cache/node_modules/node/bin/node" ]; then
    # wrangler 4 needs Node >= 22; the `node` package brings that binary from the registry.
    npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
        "wrangler@$WRANGLER_VERSION" "node@$NODE_MAJOR"
fi
export PATH="$cache/node_modules/node/bin:$PATH"
wrangler="$cache/node_modules/.bin/wrangler"
echo "node $(node --version), wrangler $("$wrangler" --version 2>/dev/null | tail -n 1)"

step "build d1-emulator"
cargo build -q -p d1-emulator --release
bin="$target_dir/release/d1-emulator"

step "sample database (+ awkward values)"
db="$work/app.sqlite"
"$bin" sample --out "$db" --size "${SAMPLE_SIZE:-4MiB}"
python3 - "$db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript('''
CREATE TABLE "odd ""names"" ✓" ("a col" TEXT, "quo""te" INTEGER, v);
CREATE TABLE kv (k TEXT PRIMARY KEY, v ANY) WITHOUT ROWID;
CREATE INDEX "odd idx" ON "odd ""names"" ✓"("quo""te");
''')
values = [None, 0, -1, 2**63 - 1, -2**63, 2.0, -0.0, 1e-300, 5e-324, 1.7976931348623157e308,
          float('inf'), float('-inf'), 0.1, 1/3, '', "it's", "a\nb", "a\r\nb\r", "\t\x01\x7f",
          'Zoë 日本語 🙂', 'NULL', "X'00'", b'', b'\x00\xff', bytes(range(256))]
for i, v in enumerate(values):
    c.execute('INSERT INTO "odd ""names"" ✓" VALUES (?, ?, ?)', (f'row {i}', i, v))
    c.execute('INSERT INTO kv VALUES (?, ?)', (f'k{i:02}', v))
c.commit()
PY

step "start the emulator"
"$bin" --db "$uuid=$db" --db-name "$uuid=app" --account "$account" --token "$token" \
    --port 0 --quiet >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do [ -s "$work/emulator.out" ] && break; sleep 0.05; done
base=$(head -n 1 "$work/emulator.out")
[ -n "$base" ] || { cat "$work/emulator.err"; echo "the emulator did not start" >&2; exit 1; }
origin=${base%/client/v4}
echo "API base: $base"

cat >"$work/wrangler.json" <<EOF
{
  "name": "d1-emulator-check",
  "compatibility_date": "2025-01-01",
  "d1_databases": [
    { "binding": "DB", "database_name": "app", "database_id": "$uuid" }
  ]
}
EOF

export CLOUDFLARE_API_BASE_URL="$base"
export CLOUDFLARE_API_TOKEN="$token"
export CLOUDFLARE_ACCOUNT_ID="$account"
export WRANGLER_SEND_METRICS=false
export CI=true
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME"

# compare.py SOURCE MODE FILE... : load the files into an empty database and compare.
cat >"$work/compare.py" <<'PY'
import sqlite3, struct, sys
src, mode, files = sys.argv[1], sys.argv[2], sys.argv[3:]
only = {t.lower() for t in mode.split(',')[1:]} if mode.startswith('tables,') else None

def schema(conn):
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE "
                        "'sqlite_autoindex%' AND name != 'sqlite_sequence' ORDER BY type, name").fetchall()
    return [r for r in rows if only is None or (r[2].lower() in only and r[0] != 'view')]

def rows(conn, table):
    conn.text_factory = bytes  # compare text as bytes
    try:
        out = []
        for r in conn.execute('SELECT * FROM "%s"' % table.replace('"', '""')):
            out.append([('real', struct.pack('<d', v)) if isinstance(v, float) else (type(v).__name__, v)
                        for v in r])
        return out
    finally:
        conn.text_factory = str

def sequence(conn):
    try:
        seq = conn.execute('SELECT name, seq FROM sqlite_sequence ORDER BY name').fetchall()
    except sqlite3.OperationalError:
        return []
    return [r for r in seq if only is None or r[0].lower() in only]

source = sqlite3.connect(src)
dst = sqlite3.connect(':memory:')
for f in files:
    dst.executescript(open(f, encoding='utf-8', newline='').read())
s_schema, d_schema = schema(source), schema(dst)
assert s_schema == d_schema, 'schema differs:\n%r\n%r' % (s_schema, d_schema)
tables = [r[1] for r in d_schema if r[0] == 'table']
count = 0
for t in tables:
    got = rows(dst, t)
    count += len(got)
    if mode == 'no-data':
        assert got == [], 'rows in %s after a --no-data export' % t
    else:
        assert rows(source, t) == got, 'rows of %s differ' % t
if mode != 'no-data':
    assert sequence(source) == sequence(dst), 'sqlite_sequence differs'
print('  round trip OK: %d schema objects, %d tables, %d rows' % (len(d_schema), len(tables), count))
PY

pass=0
check() { # NAME MODE DUMP_FLAGS -- WRANGLER_FLAGS
    local name=$1 mode=$2; shift 2
    local dump_flags=() wrangler_flags=()
    while [ "$1" != "--" ]; do dump_flags+=("$1"); shift; done; shift
    wrangler_flags=("$@")
    step "wrangler d1 export app --remote ${wrangler_flags[*]}"
    local out="$work/$name.sql"
    (cd "$work" && "$wrangler" d1 export app --remote --output "$out" "${wrangler_flags[@]}") \
        >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; echo "wrangler failed" >&2; exit 1; }
    grep -E 'Downloaded|Uploaded|Finished|Generating' "$work/$name.log" | sed 's/^/  /' | tail -n 3 || true
    "$bin" dump --db "$db" "${dump_flags[@]}" >"$work/$name.expected.sql"
    cmp "$out" "$work/$name.expected.sql"
    echo "  $(wc -c <"$out") bytes, identical to the emulator's dump"
    case "$mode" in
        no-schema) python3 "$work/compare.py" "$db" full "$work/no-data.sql" "$out" ;;
        *) python3 "$work/compare.py" "$db" "$mode" "$out" ;;
    esac
    pass=$((pass + 1))
}

check full full -- 
check table tables,users --table users -- --table users
check tables tables,kv,odd\ \"names\"\ ✓ --table kv --table 'odd "names" ✓' -- --table kv --table 'odd "names" ✓'
check no-data no-data --no-data -- --no-data
check no-schema no-schema --no-schema -- --no-schema

step "emulator statistics"
stats=$(curl -sf "$origin/__emulator/stats")
echo "$stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("  jobs created %d, completed %d, cancelled %d; downloads %d; bytes served %d; with Authorization %d"
      % (s["jobs_created"], s["jobs_completed"], s["jobs_cancelled"], s["downloads_completed"],
         s["bytes_served"], s["downloads_with_authorization"]))
for route, by in sorted(s["requests"].items()):
    print("  %-60s %s" % (route, by))
assert s["downloads_with_authorization"] == 0, "wrangler sent the API token to the signed URL"
assert s["jobs_completed"] == 5
'
echo
echo "wrangler-check: $pass passed, 0 failed"
