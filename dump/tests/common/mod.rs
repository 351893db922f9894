//! What the restore tests compare: a database's schema, every row with its storage class
//! and bits, and full-text search results.
#![allow(dead_code)]

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};

/// A value with its storage class and exact bits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum V {
    Null,
    Int(i64),
    Real(u64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl V {
    fn of(v: ValueRef<'_>) -> V {
        match v {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::Int(i),
            ValueRef::Real(f) => V::Real(f.to_bits()),
            ValueRef::Text(t) => V::Text(t.to_vec()),
            ValueRef::Blob(b) => V::Blob(b.to_vec()),
        }
    }
}

/// Everything a restore must reproduce.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `(type, name, tbl_name, sql)` of every schema entry.
    pub schema: BTreeSet<(String, String, String, Option<String>)>,
    /// Rows of every user table in rowid order (virtual tables: rowid first), and of
    /// sqlite_sequence.
    pub rows: BTreeMap<String, Vec<Vec<V>>>,
    /// `MATCH` results (rowids) per full-text table and term.
    pub matches: BTreeMap<(String, String), Vec<i64>>,
}

fn strings(conn: &Connection, sql: &str) -> Vec<(String, String)> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Takes the snapshot; `terms` are searched in every full-text table that has content.
pub fn snapshot(conn: &Connection, terms: &[&str]) -> Snapshot {
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema")
        .unwrap();
    let schema = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = BTreeMap::new();
    let mut matches = BTreeMap::new();
    let tables = strings(
        conn,
        "SELECT l.name, l.type || (CASE WHEN l.wr THEN '-wr' ELSE '' END) FROM pragma_table_list l \
         WHERE l.schema='main' AND l.type IN ('table','virtual') AND l.name NOT LIKE 'sqlite_schema' \
         AND l.name NOT LIKE 'sqlite_temp%'",
    );
    for (name, kind) in tables {
        let sql: String = if name == "sqlite_sequence" {
            String::new()
        } else {
            conn.query_row(
                "SELECT sql FROM sqlite_schema WHERE name=?1",
                [&name],
                |r| r.get(0),
            )
            .unwrap()
        };
        if kind == "virtual" && sql.replace(' ', "").contains("content=''") {
            continue; // contentless: no rows to read
        }
        let q = format!("\"{}\"", name.replace('"', "\"\""));
        let select = match kind.as_str() {
            "table-wr" => format!("SELECT * FROM {q}"),
            _ if name == "sqlite_sequence" => format!("SELECT * FROM {q} ORDER BY name"),
            // A rowid that is no column's is not data: dumps do not keep it (neither D1's
            // nor sqlite3's), so only the row order counts.
            "table" => format!("SELECT * FROM {q} ORDER BY rowid"),
            _ => format!("SELECT rowid, * FROM {q} ORDER BY rowid"),
        };
        let mut stmt = conn.prepare(&select).unwrap();
        let n = stmt.column_count();
        let mut out = Vec::new();
        let mut r = stmt.query([]).unwrap();
        while let Some(row) = r.next().unwrap() {
            out.push((0..n).map(|i| V::of(row.get_ref(i).unwrap())).collect());
        }
        rows.insert(name.clone(), out);
        let module_sql = sql.to_ascii_lowercase();
        if kind == "virtual" && module_sql.contains("fts5") && !module_sql.contains("fts5vocab") {
            for term in terms {
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT rowid FROM {q} WHERE {q} MATCH ?1 ORDER BY rowid"
                    ))
                    .unwrap();
                let ids: Vec<i64> = stmt
                    .query_map([term], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                matches.insert((name.clone(), (*term).to_owned()), ids);
            }
        }
    }
    Snapshot {
        schema,
        rows,
        matches,
    }
}

fn short<T: std::fmt::Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    if s.len() > 300 {
        format!(
            "{}… ({} chars)",
            &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)],
            s.len()
        )
    } else {
        s
    }
}

/// The first difference between two snapshots, in a few lines (None if equal).
pub fn diff(a: &Snapshot, b: &Snapshot) -> Option<String> {
    if a.schema != b.schema {
        let only_a: Vec<_> = a.schema.difference(&b.schema).collect();
        let only_b: Vec<_> = b.schema.difference(&a.schema).collect();
        return Some(format!(
            "schema: only in the first {}; only in the second {}",
            short(&only_a),
            short(&only_b)
        ));
    }
    let ta: Vec<_> = a.rows.keys().collect();
    let tb: Vec<_> = b.rows.keys().collect();
    if ta != tb {
        return Some(format!("tables: {ta:?} vs {tb:?}"));
    }
    for (t, ra) in &a.rows {
        let rb = &b.rows[t];
        if ra.len() != rb.len() {
            return Some(format!(
                "{t}: {} rows vs {}: first {} second {}",
                ra.len(),
                rb.len(),
                short(ra),
                short(rb)
            ));
        }
        for (i, (x, y)) in ra.iter().zip(rb).enumerate() {
            for (j, (u, v)) in x.iter().zip(y).enumerate() {
                if u != v {
                    return Some(format!(
                        "{t} row {i} column {j}: {} vs {}",
                        short(u),
                        short(v)
                    ));
                }
            }
        }
    }
    if a.matches != b.matches {
        return Some(format!("matches: {:?} vs {:?}", a.matches, b.matches));
    }
    None
}

/// A temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("d1-dump-test-")
        .tempdir()
        .unwrap()
}
