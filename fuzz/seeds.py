#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*).

Each seed is encoded for the byte layout of its harness function in
core/src/harness.rs, from the reply shapes of shared/spec/d1-export-api.md:

  reply    fuzz_reply:     u16 status-100 | u8 header count (%4) | per header: u8 selector
                           (0 retry-after: 12 bytes, 1 content-type: 20 bytes,
                           2 cf-mitigated: challenge, 3 date: fixed, 4 content-range: 24 bytes)
                           | u16 limit-64 | body
  machine  actions_from_bytes: a list of opcodes (see ACTIONS below)
  download fuzz_download:  u16 requested | u16 status-100 | u8 (even: Content-Length) u16 |
                           u8 (even: Content-Range) u8 len (%30) bytes | u16 received
                           (the same bytes then also run through the machine as a script)
  import   import_actions_from_bytes: a list of opcodes (see IMPORT below)
  fleet    fuzz_fleet:     budget and fleet settings, then one answer per request (see FLEET)
  request  fuzz_request:   u8 len (%40) account | u8 len (%40) database | u8 contents (%3) |
                           u8 compatibility (%3) | u8 tables (%4) × (u8 len (%12) name) |
                           u8 len (%30) bookmark

Run from anywhere: `python3 fuzz/seeds.py`. It rewrites every seed-* file and removes
seed-* files it no longer writes, so the seeds are reproducible; fuzzer finds kept in the
corpus (hash-named, after `cargo fuzz cmin`) are left alone.
"""

import json
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# ---------------------------------------------------------------- reply

RETRY_AFTER, CONTENT_TYPE, CF_MITIGATED, DATE, CONTENT_RANGE = range(5)
WIDTH = {RETRY_AFTER: 12, CONTENT_TYPE: 20, CONTENT_RANGE: 24}


def reply(status, body, headers=(), limit=65599):
    """Encodes one reply for `fuzz_reply`. `headers` is a list of (selector, value)."""
    assert 100 <= status < 600 and len(headers) <= 3 and 64 <= limit <= 65599
    out = struct.pack(">HB", status - 100, len(headers))
    for sel, value in headers:
        out += bytes([sel])
        if sel in WIDTH:
            value = value.encode()
            assert len(value) <= WIDTH[sel], value
            # The harness takes exactly WIDTH bytes; pad with spaces (trimmed or harmless).
            out += value.ljust(WIDTH[sel], b" ")
    out += struct.pack(">H", limit - 64)
    if isinstance(body, (dict, list)):
        body = json.dumps(body, separators=(",", ":"))
    if isinstance(body, str):
        body = body.encode()
    return out + body


def envelope(result, success=True, errors=(), messages=(), **extra):
    e = {"success": success, "errors": list(errors), "messages": list(messages), "result": result}
    e.update(extra)
    return e


def err(code, message):
    return {"code": code, "message": message}


SIGNED = "https://bucket.test/xxxx-yyyy.sql?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc"
JSON = (CONTENT_TYPE, "application/json")
HTML = (CONTENT_TYPE, "text/html")

REPLY = {
    # Part 1's example response, verbatim (its signed_url is not a URL).
    "spec-example": reply(
        200,
        {
            "errors": [{"code": 1000, "message": "message", "documentation_url": "documentation_url",
                        "source": {"pointer": "pointer"}}],
            "messages": [{"code": 1000, "message": "message", "documentation_url": "documentation_url",
                          "source": {"pointer": "pointer"}}],
            "result": {"at_bookmark": "at_bookmark", "error": "error", "messages": ["string"],
                       "result": {"filename": "filename", "signed_url": "signed_url"},
                       "status": "complete", "success": True, "type": "export"},
            "success": True,
        },
        [JSON],
    ),
    "202-active": reply(
        202,
        envelope({"at_bookmark": "00000001-00000002-00004f6d-a4e5c1b1", "status": "active",
                  "type": "export", "messages": ["Generating xxxx-yyyy.sql"]}),
        [JSON],
    ),
    "200-active": reply(200, envelope({"at_bookmark": "bm-1", "status": "active", "type": "export"})),
    "no-status": reply(
        200, envelope({"at_bookmark": "bm-1", "type": "export",
                       "messages": ["Uploaded part 2", "Uploaded part 1"]}), [JSON]),
    "complete": reply(
        200,
        envelope({"at_bookmark": "bm-1", "status": "complete", "type": "export", "success": True,
                  "messages": ["Uploaded part 3", "Finished uploading xxxx-yyyy.sql in 4 parts."],
                  "result": {"filename": "xxxx-yyyy.sql", "signed_url": SIGNED}}),
        [JSON],
    ),
    "complete-no-url": reply(
        200, envelope({"at_bookmark": "bm-1", "status": "complete", "result": {"filename": "f.sql"}})),
    "complete-http-url": reply(
        200, envelope({"status": "complete", "result": {"signed_url": "http://evil.test/f.sql?s=1"}})),
    "complete-loopback-url": reply(
        200, envelope({"status": "complete", "result": {"signed_url": "http://127.0.0.1:8787/f.sql"}})),
    # Layer 1: the envelope.
    "401-auth": reply(401, envelope(None, False, [err(10000, "Authentication error")]), [JSON]),
    "403-account": reply(403, envelope(None, False, [err(
        7403, "The given account is not valid or is not authorized to access this service")])),
    "404-database": reply(404, envelope(None, False, [err(7404, "Database not found")])),
    "400-already-running": reply(400, envelope(None, False, [err(
        7500, "Currently processing a long-running export. Cannot start a new export until that "
        "completes or times out.")])),
    "500-internal": reply(500, envelope(None, False, [err(7500, "Internal error")]), [JSON]),
    "200-success-false": reply(200, envelope(None, False, [err(7003, "Could not route")])),
    # Layer 2: result.success false (wrangler's PollingFailure).
    "polling-failure-fts5": reply(
        200, envelope({"success": False, "error": "cannot export databases with Virtual Tables (fts5)"})),
    # Layer 3: status error.
    "status-error": reply(
        200, envelope({"status": "error", "error": "Export failed: internal",
                       "messages": ["Generating xxxx-yyyy.sql"]})),
    "status-error-job-gone": reply(
        200, envelope({"status": "error", "error": "Export job not found or cancelled for this bookmark"})),
    "status-error-no-message": reply(200, envelope({"status": "error"})),
    # Proxies.
    "502-html": reply(
        502, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
        "</h1></center><hr><center>cloudflare</center></body></html>", [HTML]),
    "403-challenge": reply(
        403, "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>",
        [HTML, (CF_MITIGATED, None)]),
    "404-html": reply(404, "<html>not found</html>", [HTML]),
    # 429.
    "429-retry-after-seconds": reply(
        429, envelope(None, False, [err(10013, "rate limited")]), [(RETRY_AFTER, "30"), JSON]),
    # The harness reads 12 bytes of Retry-After, so a full HTTP-date (29 bytes) cannot be
    # expressed; this seed holds the Date header and a date cut to 12 bytes.
    "429-retry-after-date": reply(
        429, "{}", [(DATE, None), (RETRY_AFTER, "Wed, 25 Nov "), JSON]),
    "429-no-retry-after": reply(429, ""),
    # Unknown fields, unknown status, malformed JSON.
    "unknown-fields": reply(
        200, envelope({"at_bookmark": "bm-1", "status": "active", "type": "export",
                       "progress": {"pct": 40}, "new_thing": [1, 2, 3]},
                      result_info={"page": 1}, extra=None)),
    "unknown-status": reply(200, envelope({"at_bookmark": "bm-1", "status": "exporting-soon"})),
    "null-fields": reply(200, '{"success":true,"errors":null,"messages":null,"result":{"messages":null}}'),
    "no-result": reply(200, '{"success":true,"errors":[],"messages":[]}'),
    "truncated-json": reply(200, '{"success":tr'),
    "json-array": reply(200, "[1,2,3]"),
    "empty-200": reply(200, ""),
    "408-empty": reply(408, ""),
    "too-large": reply(200, envelope({"status": "active", "messages": ["x" * 200]}), limit=64),
    "content-range": reply(200, envelope({"status": "active"}), [(CONTENT_RANGE, "bytes 0-99/100")]),
    # Lookup endpoint shape (also parsed by the harness as DatabaseInfo).
    "lookup": reply(
        200, envelope({"uuid": "0a1b2c3d-0000-4000-8000-00000000abcd", "name": "prod-db"}), [JSON]),
}

# ---------------------------------------------------------------- machine


def running(form=0, held_ms=0, parts=0, other_bookmark=False):
    return bytes([0, form]) + struct.pack(">H", held_ms) + bytes([parts, 255 if other_bookmark else 0])


COMPLETE = bytes([2])


def failure(i):
    return bytes([3, i])


def throttled(secs):
    return bytes([4, secs])


def raw(status, body):
    body = body.encode() if isinstance(body, str) else body
    assert len(body) < 64
    return struct.pack(">BHB", 5, status - 100, len(body)) + body


def transport(k):
    return bytes([6, k])


def head(k):
    return bytes([7, k])


def body(share=255, clean=True):
    return bytes([8, share, 1 if clean else 0])


def sleep(ms):
    return bytes([10]) + struct.pack(">H", ms)


CANCEL = bytes([11, 0])
STALE = bytes([11, 1])

# Head kinds (harness): 0/1 honours Range, 2 ignores Range, 3 403, 4 503, 5 404,
# 6 an inconsistent 206, 7 a transport failure.
MACHINE = {
    "happy": running(0, 0, 2) + running(2, 1500, 1) + COMPLETE + head(0) + body(),
    "happy-202-then-200": running(0) + running(1) + running(1, 2999, 3) + COMPLETE + head(1) + body(),
    "resume-after-break": running() + COMPLETE + head(0) + body(100, False) + head(0) + body(),
    "resume-twice": running() + COMPLETE + head(0) + body(50, False) + head(0) + body(128, False)
    + head(1) + body(),
    "range-ignored": running() + COMPLETE + head(0) + body(80, False) + head(2) + body(),
    "clean-but-short": running() + COMPLETE + head(0) + body(200, True) + head(0) + body(),
    "url-expired": running() + COMPLETE + head(0) + body(100, False) + head(3) + COMPLETE + head(0)
    + body(),
    "url-expired-too-often": running() + COMPLETE + head(3) + COMPLETE + head(3) + COMPLETE + head(3)
    + COMPLETE + head(3) + COMPLETE + head(3),
    "download-503-then-ok": running() + COMPLETE + head(4) + head(0) + body(),
    "download-404": running() + COMPLETE + head(5),
    "download-inconsistent-206": running() + COMPLETE + head(0) + body(10, False) + head(6) + head(0)
    + body(),
    "download-transport": running() + COMPLETE + head(7) + head(0) + body(),
    "retries": transport(0) + transport(1) + throttled(2) + failure(7) + failure(8) + running(0, 100, 1)
    + transport(2) + running(2) + COMPLETE + head(0) + body(),
    "throttled-long": running() + throttled(255) + throttled(0) + running() + COMPLETE + head(0) + body(),
    "retries-spent": transport(0) * 9,
    "auth-error": failure(0),
    "account-error": failure(1),
    "not-found": failure(2),
    "already-running": failure(3),
    "orphan-after-lost-reply": transport(1) + failure(3) + running() + COMPLETE + head(0) + body(),
    "fts5": running() + failure(4),
    "status-error": running() + failure(5),
    "job-gone": running(0, 0, 1) + failure(6),
    "unknown-status": running() + failure(9) + failure(9) + running() + COMPLETE + head(0) + body(),
    "unknown-status-forever": failure(9) * 40,
    "complete-no-url": running() + failure(10) + COMPLETE + head(0) + body(),
    "truncated-json": running() + failure(11) + running() + COMPLETE + head(0) + body(),
    "bookmark-changed": running() + running(0, 0, 0, True),
    "raw-replies": raw(200, '{"success":true,"result":{}}') + raw(502, "<html>") + raw(204, "")
    + raw(200, '{"result":{"status":"active"}}') + COMPLETE + head(0) + body(),
    "cancel-while-polling": running() + CANCEL,
    "cancel-while-downloading": running() + COMPLETE + head(0) + CANCEL,
    "stale-inputs": running() + STALE + running() + STALE + COMPLETE + head(0) + body(),
    "sleeps-past-deadline": (running() + sleep(65535)) * 10,
    "long-polls": running(0, 2999) * 10 + COMPLETE + head(0) + body(),
    "empty": b"",
}

# ---------------------------------------------------------------- download

FILE = 10_000


def download(requested, status, received, length=None, content_range=None):
    out = struct.pack(">HH", requested, status - 100)
    out += bytes([0]) + struct.pack(">H", length) if length is not None else bytes([1])
    if content_range is not None:
        cr = content_range.encode()
        assert len(cr) < 30
        out += bytes([0, len(cr)]) + cr
    else:
        out += bytes([1])
    return out + struct.pack(">H", received)


DOWNLOAD = {
    "200-whole": download(0, 200, FILE, length=FILE),
    "200-short": download(0, 200, FILE - 1, length=FILE),
    "200-long": download(0, 200, FILE + 1, length=FILE),
    "200-no-length": download(0, 200, 1234),
    "200-range-ignored": download(4000, 200, FILE, length=FILE),
    "206-resume": download(4000, 206, FILE - 4000, length=FILE - 4000, content_range="bytes 4000-9999/10000"),
    "206-resume-short": download(4000, 206, 10, length=FILE - 4000, content_range="bytes 4000-9999/10000"),
    "206-unknown-total": download(4000, 206, FILE - 4000, content_range="bytes 4000-9999/*"),
    "206-wrong-start": download(4000, 206, 6001, content_range="bytes 3999-9999/10000"),
    "206-length-mismatch": download(4000, 206, 6000, length=5000, content_range="bytes 4000-9999/10000"),
    "206-not-to-end": download(4000, 206, 1000, content_range="bytes 4000-4999/10000"),
    "206-no-range": download(4000, 206, 6000, length=6000),
    "206-malformed-range": download(4000, 206, 6000, content_range="bytes 9999-4000/10000"),
    "416-already-whole": download(FILE, 416, 0, content_range="bytes */10000"),
    "416-from-zero": download(0, 416, 0, content_range="bytes */0"),
    "416-other-size": download(FILE, 416, 0, content_range="bytes */20000"),
    "403-expired": download(0, 403, 0),
    "503": download(0, 503, 0),
    "429": download(0, 429, 0),
    "404": download(0, 404, 0),
}

# ---------------------------------------------------------------- request

ACCOUNT = "0123456789abcdef0123456789abcdef"
DATABASE = "0a1b2c3d-0000-4000-8000-00000000abcd"


def request(account=ACCOUNT, database=DATABASE, contents=0, compat=0, tables=(), bookmark=""):
    def s(v, mod):
        v = v.encode() if isinstance(v, str) else v
        assert len(v) < mod, v
        return bytes([len(v)]) + v

    out = s(account, 40) + s(database, 40) + bytes([contents, compat, len(tables)])
    for t in tables:
        out += s(t, 12)
    return out + s(bookmark, 30)


REQUEST = {
    "default": request(),
    "schema-only-tables": request(contents=1, tables=["users", "orders"]),
    "data-only": request(contents=2, tables=["t"]),
    "compat-d1": request(compat=1),
    "compat-sqlite3": request(compat=2, tables=["fts_docs"]),
    "compat-with-no-data": request(contents=1, compat=2),
    "empty-table-name": request(tables=["a", ""]),
    "quoted-table-names": request(tables=['t"2', "ta\\ble", "\u00e9t\u00e9"]),
    "bookmark": request(bookmark="00000001-00000002-00004f6d-a4"),
    "bookmark-json-chars": request(bookmark='"}\\u0000{\n'),
    "upper-case-ids": request(account=ACCOUNT.upper(), database=DATABASE.upper()),
    "account-traversal": request(account="../../../../../../../../etc/pass"),
    "database-escape": request(database="0a1b2c3d-0000-4000-8000%2F0000000abcd"),
    "database-name": request(database="my-database"),
    "invalid-utf8": request(tables=[b"\xff\xfe"], bookmark=b"\xc3\x28"),
}

# ---------------------------------------------------------------- import
# import_actions_from_bytes: opcodes 0 upload URL | 1 running: u16 held_ms u8 lines u8 (255:
# other bookmark) | 3 complete: u16 num_queries | 4 failure: u8 | 5 throttled: u8 |
# 6 raw: u16 status-100 u8 len bytes | 7 transport: u8 | 8 upload: u8 kind (0 ok, 1 wrong
# ETag, 2 no ETag, 3 403, 4 503, 5 400, 6 upper-case ETag, 7 breaks off) | 10 sleep: u16 |
# 11: u8 (%8 == 0: cancel, else stale)

I_URL = bytes([0])


def i_running(held_ms=0, lines=0, other_bookmark=False):
    return struct.pack(">BHBB", 1, held_ms, lines, 255 if other_bookmark else 0)


def i_complete(n=3):
    return struct.pack(">BH", 3, n)


def i_failure(i):
    return bytes([4, i])


def i_upload(kind=0):
    return bytes([8, kind])


IMPORT = {
    "happy": I_URL + i_upload(0) + i_running(1000, 1) + i_complete(12),
    "ingest-completes": I_URL + i_upload(0) + i_complete(1),
    "already-uploaded": i_running(0, 2) + i_complete(5),
    "wrong-etag-then-ok": I_URL + i_upload(1) + i_upload(0) + i_running() + i_complete(),
    "no-etag-then-upper": I_URL + i_upload(2) + i_upload(6) + i_running() + i_complete(),
    "expired-upload-url": I_URL + i_upload(3) + I_URL + i_upload(0) + i_complete(),
    "upload-503-break": I_URL + i_upload(4) + i_upload(7) + i_upload(0) + i_complete(),
    "upload-refused": I_URL + i_upload(5),
    "statement-error": I_URL + i_upload(0) + i_running() + i_failure(4),
    "busy": i_failure(2),
    "inner-failure": I_URL + i_upload(0) + i_failure(3),
    "html-then-throttled": i_failure(5) + bytes([5, 2]) + I_URL + i_upload(0) + i_complete(),
    "truncated-json": i_failure(8) + I_URL + i_upload(0) + i_complete(),
    "complete-without-result": I_URL + i_upload(0) + i_failure(9) + i_complete(),
    "unknown-status": I_URL + i_upload(0) + i_failure(7) + i_failure(7) + i_complete(),
    "bookmark-changes": I_URL + i_upload(0) + i_running() + i_running(0, 0, True),
    "timeouts": bytes([7, 1, 7, 2]) + I_URL + bytes([10, 0x10, 0]) + i_upload(0) + i_complete(),
    "cancel-while-polling": I_URL + i_upload(0) + i_running() + bytes([11, 0]),
    "stale": bytes([11, 1]) + I_URL + i_upload(0) + i_complete(),
}

# ---------------------------------------------------------------- fleet
# fuzz_fleet: u8 exports-2 (%5) | u8 limit-1 (%6) | u8 window_s-1 (%5) | u8 concurrency-1 (%6)
# | u16 jitter seed | per API request: u8 answer, u8 latency/50ms (%40) | per body: u8
# (%5 == 0: broken after 4 bytes). Answers (%10): 0-4 running, 5 complete, 6 429 with
# Retry-After (answer/10 %4) s, 7 503, 8 transport failure (answer/10 %5), 9 job gone.

RUN, COMPLETE, THROTTLED, UNAVAILABLE, TRANSPORT, GONE = 0, 5, 6, 7, 8, 9


def fleet(exports, limit, window_s, concurrency, *answers):
    head = bytes([exports - 2, limit - 1, window_s - 1, concurrency - 1, 0, 7])
    return head + b"".join(bytes([a, l]) for a, l in answers)


FLEET = {
    # Six exports at one request a second: admission stops at what can be kept polled.
    "tight-budget": fleet(6, 1, 1, 6, *[(RUN, 2)] * 40),
    "ample-budget": fleet(4, 6, 1, 2, *[(RUN, 1), (RUN, 1), (COMPLETE, 1)] * 6),
    "throttled": fleet(3, 3, 2, 3, (RUN, 1), (RUN, 1), (THROTTLED + 30, 1), (RUN, 1), (RUN, 0)),
    "failures": fleet(3, 2, 1, 3, (UNAVAILABLE, 4), (TRANSPORT, 39), (TRANSPORT + 10, 0), (RUN, 2)),
    "job-gone-restart": fleet(2, 4, 3, 2, (RUN, 1), (RUN, 1), (GONE, 1), (RUN, 1), (RUN, 1)),
    "held-polls": fleet(5, 2, 2, 5, *[(RUN, 39)] * 20),
    "one-per-five-seconds": fleet(2, 1, 5, 2, *[(RUN, 0)] * 12),
}

TARGETS = {
    "fleet": FLEET,
    "reply": REPLY,
    "machine": MACHINE,
    "download": DOWNLOAD,
    "request": REQUEST,
    "import": IMPORT,
}


def main():
    total = 0
    for target, seeds in TARGETS.items():
        folder = os.path.join(ROOT, target)
        os.makedirs(folder, exist_ok=True)
        wanted = {f"seed-{name}" for name in seeds}
        for old in os.listdir(folder):
            if old.startswith("seed-") and old not in wanted:
                os.remove(os.path.join(folder, old))
        for name, data in seeds.items():
            with open(os.path.join(folder, f"seed-{name}"), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"{target}: {len(seeds)} seeds", file=sys.stderr)
    print(f"{total} bytes in all", file=sys.stderr)


if __name__ == "__main__":
    main()
