//! A generator of realistic sample databases of a chosen size (KiB to GiB).
//!
//! The schema: `users` (AUTOINCREMENT, so `sqlite_sequence` is used), `orders` and `events`
//! (text with quotes, newlines and non-ASCII letters, blobs, reals, NULLs), two indexes, a
//! view and a trigger. The content is deterministic: the same size gives the same file.

use std::path::Path;

use rusqlite::{params, Connection};

const SCHEMA: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    bio TEXT,
    balance REAL NOT NULL DEFAULT 0,
    avatar BLOB,
    created_at TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    discount REAL,
    note TEXT,
    placed_at TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    kind TEXT NOT NULL,
    payload TEXT,
    score REAL,
    raw BLOB,
    at INTEGER NOT NULL
);
CREATE INDEX orders_by_user ON orders(user_id);
CREATE INDEX events_by_kind_at ON events(kind, at);
CREATE VIEW user_totals AS
    SELECT u.id, u.email, count(o.id) AS orders, coalesce(sum(o.total_cents), 0) AS cents
    FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id;
CREATE TRIGGER users_delete_orders AFTER DELETE ON users BEGIN
    DELETE FROM orders WHERE user_id = old.id;
END;
";

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSummary {
    /// Rows in `users`.
    pub users: u64,
    /// Rows in `orders`.
    pub orders: u64,
    /// Rows in `events`.
    pub events: u64,
    /// The database file's size in bytes.
    pub file_size: u64,
}

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Linus",
    "Zoë",
    "Łukasz",
    "José",
    "Ngozi",
    "李雷",
    "Aiko",
    "Søren",
    "O'Neil",
    "Mary-Jane",
    "Иван",
    "Fatima",
    "Chloé",
    "Raj",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "O'Brien",
    "Müller",
    "García",
    "Nakamura",
    "Okafor",
    "Ødegaard",
    "Smith",
    "D'Angelo",
    "Kowalski",
    "Петров",
];
const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "JPY", "CHF"];
const KINDS: &[&str] = &[
    "page_view",
    "click",
    "signup",
    "purchase",
    "logout",
    "search",
    "error",
];
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "d1",
    "export",
    "sqlite",
    "café",
    "naïve",
    "“quoted”",
    "it's",
    "日本語",
    "emoji🙂",
    "tab\there",
    "line\nbreak",
    "a'b''c",
    "100%",
    "back\\slash",
];

struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    /// `lo` to `lo + span - 1` words.
    fn some_words(&mut self, lo: u64, span: u64) -> String {
        let n = lo + self.below(span);
        self.words(n)
    }
    /// `lo` to `lo + span - 1` random bytes.
    fn some_bytes(&mut self, lo: u64, span: u64) -> Vec<u8> {
        let n = lo + self.below(span);
        self.bytes(n as usize)
    }
    fn words(&mut self, n: u64) -> String {
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.pick(WORDS));
        }
        s
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn date(day: u64) -> String {
    // Days from 2020-01-01, with a month of 28 days to stay simple and valid.
    let year = 2020 + day / 336;
    let month = 1 + (day / 28) % 12;
    let dom = 1 + day % 28;
    format!(
        "{year:04}-{month:02}-{dom:02}T{:02}:{:02}:00Z",
        day % 24,
        (day * 7) % 60
    )
}

/// Writes a sample database of about `approx_bytes` bytes at `path` (replacing any file
/// there). Fast: one transaction, prepared statements, no journal.
pub fn generate(path: &Path, approx_bytes: u64) -> rusqlite::Result<SampleSummary> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let mut conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=4096;")?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.transaction()?;
    let mut rng = Prng(0x9E37_79B9_7F4A_7C15);
    let mut summary = SampleSummary {
        users: 0,
        orders: 0,
        events: 0,
        file_size: 0,
    };
    {
        let mut user = tx.prepare(
            "INSERT INTO users(email, name, bio, balance, avatar, created_at) VALUES(?1,?2,?3,?4,?5,?6)",
        )?;
        let mut order = tx.prepare(
            "INSERT INTO orders(user_id, total_cents, currency, discount, note, placed_at) VALUES(?1,?2,?3,?4,?5,?6)",
        )?;
        let mut event = tx.prepare(
            "INSERT INTO events(user_id, kind, payload, score, raw, at) VALUES(?1,?2,?3,?4,?5,?6)",
        )?;
        let page_size = tx.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
        let check_every = if approx_bytes < 4 << 20 { 1 } else { 64 };
        loop {
            if summary.users % check_every == 0 {
                let pages = tx.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64;
                if pages * page_size >= approx_bytes {
                    break;
                }
            }
            let n = summary.users + 1;
            let name = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
            let bio = match rng.below(4) {
                0 => None,
                1 => Some(format!("{}\r\n{}", rng.words(6), rng.words(4))),
                _ => Some(rng.some_words(3, 20)),
            };
            let balance = match rng.below(10) {
                0 => 0.0,
                1 => 2.0,
                _ => (rng.below(10_000_000) as f64) / 100.0 - 1000.0,
            };
            let avatar = (rng.below(3) == 0).then(|| rng.some_bytes(32, 96));
            user.execute(params![
                format!("user{n}@example.com"),
                name,
                bio,
                balance,
                avatar,
                date(n % 2000)
            ])?;
            let user_id = tx.last_insert_rowid();
            summary.users += 1;
            for _ in 0..rng.below(6) {
                let discount = (rng.below(3) == 0).then(|| rng.below(50) as f64 / 100.0);
                let note = (rng.below(4) == 0).then(|| rng.some_words(2, 8));
                order.execute(params![
                    user_id,
                    rng.below(500_000) as i64,
                    rng.pick(CURRENCIES),
                    discount,
                    note,
                    date(n % 2000 + rng.below(300))
                ])?;
                summary.orders += 1;
            }
            for _ in 0..rng.below(20) {
                let kind = rng.pick(KINDS);
                let payload = format!(
                    "{{\"path\":\"/p/{}\",\"ua\":\"Mozilla/5.0 ({})\",\"q\":\"{}\"}}",
                    rng.below(1000),
                    rng.pick(&["X11; Linux", "Macintosh", "Windows NT 10.0", "iPhone"]),
                    rng.some_words(1, 5).replace(['"', '\\', '\n', '\t'], " ")
                );
                let score = match rng.below(8) {
                    0 => None,
                    1 => Some(1e-300),
                    _ => Some((rng.next() >> 11) as f64 / (1u64 << 53) as f64),
                };
                let raw = (rng.below(5) == 0).then(|| rng.some_bytes(8, 56));
                let user = (rng.below(10) != 0).then_some(user_id);
                event.execute(params![
                    user,
                    kind,
                    payload,
                    score,
                    raw,
                    1_600_000_000_000i64 + (n * 1000 + rng.below(1000)) as i64
                ])?;
                summary.events += 1;
            }
        }
    }
    tx.commit()?;
    drop(conn);
    summary.file_size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(summary)
}

/// Parses a size like `4096`, `64KiB`, `50MB`, `1GiB`, `1.5G` (K/M/G/T are powers of 1024
/// whatever the spelling, `B` alone is bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number with an optional unit"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("invalid size unit {other:?} in {s:?}")),
    };
    Ok((value * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("50MB"), Ok(50 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert!(parse_size("12 parsecs").is_err());
    }
}
