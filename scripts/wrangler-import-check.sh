#!/usr/bin/env bash
# Proof by a client nobody here wrote: wrangler's `d1 execute --remote --file` (D1's import:
# init → PUT upload URL → ingest → poll) against the emulator's import endpoint.
#
# Installs wrangler (and a Node.js it supports) from the npm registry into target/wrangler,
# writes a sample database with awkward values added and its D1 dump, starts the d1-emulator
# binary serving an EMPTY database, points wrangler at it (CLOUDFLARE_API_BASE_URL etc. and a
# wrangler.json declaring the database) and runs
#   wrangler d1 execute app --remote --file dump.sql -y
# Then the imported database must equal the dump's source:
#   1. its dump (the emulator's, D1's format) is byte-identical to the source's, and
#   2. schema and every row, with storage classes, match the source (Python's sqlite3).
# Finally: one import, one upload, and no upload carrying an Authorization header.
#
# Usage: scripts/wrangler-import-check.sh     (WRANGLER_VERSION=4.164.0 NODE_MAJOR=22 by default)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
WRANGLER_VERSION=${WRANGLER_VERSION:-4.164.0}
NODE_MAJOR=${NODE_MAJOR:-22}
cache="$root/target/wrangler"
target_dir=${CARGO_TARGET_DIR:-$root/target}
uuid=0b1c2d3e-0000-4000-8000-00000000d1e2
account=0123456789abcdef0123456789abcdef
token=wrangler-import-check-token

work=$(mktemp -d "${TMPDIR:-/tmp}/wrangler-import-check.XXXXXX")
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
db="$work/source.sqlite"
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

step "the dump to import, and an empty database to import it into"
"$bin" dump --db "$db" >"$work/dump.sql"
echo "  dump.sql: $(wc -c <"$work/dump.sql") bytes"
target="$work/target.sqlite"
: >"$target"

step "start the emulator (serving the empty database)"
"$bin" --db "$uuid=$target" --db-name "$uuid=app" --account "$account" --token "$token" \
    --port 0 --quiet >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do [ -s "$work/emulator.out" ] && break; sleep 0.05; done
base=$(head -n 1 "$work/emulator.out")
[ -n "$base" ] || { cat "$work/emulator.err"; echo "the emulator did not start" >&2; exit 1; }
origin=${base%/client/v4}
echo "API base: $base"

cat >"$work/wrangler.json" <<EOF
{
  "name": "d1-emulator-import-check",
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

step "wrangler d1 execute app --remote --file dump.sql -y"
(cd "$work" && "$wrangler" d1 execute app --remote --file "$work/dump.sql" -y) \
    >"$work/execute.log" 2>&1 || { cat "$work/execute.log"; echo "wrangler failed" >&2; exit 1; }
grep -E 'Executed|bookmark|Upload|Importing|Import complete' "$work/execute.log" | sed 's/^/  /' | tail -n 8 || true

step "the imported database equals the source"
"$bin" dump --db "$target" >"$work/after.sql"
cmp "$work/dump.sql" "$work/after.sql"
echo "  its dump is byte-identical to the source's ($(wc -c <"$work/after.sql") bytes)"
python3 - "$db" "$target" <<'PY'
import sqlite3, struct, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])

def schema(conn):
    return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE "
                        "'sqlite_autoindex%' AND name != 'sqlite_sequence' ORDER BY type, name").fetchall()

def rows(conn, table):
    conn.text_factory = bytes  # compare text as bytes
    try:
        out = [[('real', struct.pack('<d', v)) if isinstance(v, float) else (type(v).__name__, v)
                for v in r] for r in conn.execute('SELECT * FROM "%s"' % table.replace('"', '""'))]
        return sorted(out, key=repr)
    finally:
        conn.text_factory = str

assert schema(src) == schema(dst), 'schema differs'
tables = [r[1] for r in schema(src) if r[0] == 'table']
count = 0
for t in tables:
    a, b = rows(src, t), rows(dst, t)
    assert a == b, 'rows of %s differ' % t
    count += len(a)
assert dst.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
assert dst.execute('PRAGMA foreign_key_check').fetchall() == []
print('  same schema (%d objects), %d tables, %d rows with their storage classes; integrity ok'
      % (len(schema(src)), len(tables), count))
PY

step "emulator statistics"
stats=$(curl -sf "$origin/__emulator/stats")
echo "$stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("  imports created %d, completed %d, failed %d; uploads %d (%d bytes), with Authorization %d"
      % (s["imports_created"], s["imports_completed"], s["imports_failed"], s["uploads"],
         s["bytes_uploaded"], s["uploads_with_authorization"]))
for route, by in sorted(s["requests"].items()):
    print("  %-60s %s" % (route, by))
assert s["uploads_with_authorization"] == 0, "wrangler sent the API token to the upload URL"
assert (s["imports_created"], s["imports_completed"], s["uploads"]) == (1, 1, 1)
'
echo
echo "wrangler-import-check: passed"
