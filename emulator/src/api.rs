//! The `/client/v4` API: routing, faults, authentication, database lookup and list, the
//! time-travel bookmark.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::bookmark;
use crate::config::DatabaseConfig;
use crate::export::export;
use crate::faults::Injection;
use crate::http::{Request, Response};
use crate::import::import;
use crate::server::Shared;
use crate::timefmt;

/// What the connection should do.
pub(crate) enum Reply {
    /// Send this response; the route name is for the statistics.
    Respond(String, Response),
    /// Reset the connection without a response.
    Reset(String),
}

/// An API answer before it is serialized (so faults can reshape it).
pub(crate) struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Answer {
    pub(crate) fn ok(status: u16, result: Value) -> Answer {
        Answer {
            status,
            body: json!({"success": true, "errors": [], "messages": [], "result": result}),
            headers: Vec::new(),
        }
    }

    pub(crate) fn error(status: u16, code: u32, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: json!({
                "success": false,
                "errors": [{"code": code, "message": message.into()}],
                "messages": [],
                "result": null
            }),
            headers: Vec::new(),
        }
    }
}

/// The API routes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    List { account: String },
    Get { account: String, database: String },
    Export { account: String, database: String },
    Import { account: String, database: String },
    Bookmark { account: String, database: String },
    Unknown,
}

impl Route {
    fn parse(path: &str) -> Route {
        let rest = path.strip_prefix("/client/v4").unwrap_or("");
        let segs: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(crate::http::percent_decode)
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["accounts", acc, "d1", "database"] => Route::List {
                account: (*acc).to_owned(),
            },
            ["accounts", acc, "d1", "database", db] => Route::Get {
                account: (*acc).to_owned(),
                database: (*db).to_owned(),
            },
            ["accounts", acc, "d1", "database", db, "export"] => Route::Export {
                account: (*acc).to_owned(),
                database: (*db).to_owned(),
            },
            ["accounts", acc, "d1", "database", db, "import"] => Route::Import {
                account: (*acc).to_owned(),
                database: (*db).to_owned(),
            },
            ["accounts", acc, "d1", "database", db, "time_travel", "bookmark"] => Route::Bookmark {
                account: (*acc).to_owned(),
                database: (*db).to_owned(),
            },
            _ => Route::Unknown,
        }
    }

    fn template(&self) -> &'static str {
        match self {
            Route::List { .. } => "/accounts/:account/d1/database",
            Route::Get { .. } => "/accounts/:account/d1/database/:database",
            Route::Export { .. } => "/accounts/:account/d1/database/:database/export",
            Route::Import { .. } => "/accounts/:account/d1/database/:database/import",
            Route::Bookmark { .. } => {
                "/accounts/:account/d1/database/:database/time_travel/bookmark"
            }
            Route::Unknown => "(unknown API route)",
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Route::Export { .. } | Route::Import { .. } => "POST",
            _ => "GET",
        }
    }
}

/// Handles one API request, faults included.
pub(crate) fn handle(shared: &Arc<Shared>, req: &Request) -> Reply {
    let route = Route::parse(&req.path);
    let name = format!("{} {}", req.method, route.template());
    let injection = {
        let mut st = shared.lock();
        let inj = st.faults.next(&shared.config.faults, Instant::now());
        if inj != Injection::None {
            st.stats.record_fault(inj.name());
        }
        inj
    };
    let answer = match injection {
        Injection::Reset => return Reply::Reset(name),
        Injection::ServiceUnavailable => {
            let resp = Response::new(
                503,
                "text/html; charset=UTF-8",
                "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
            );
            return Reply::Respond(name, resp);
        }
        Injection::OversizedBadGateway => {
            let filler = "<!-- padding -->".repeat(1_572_864 / 16);
            let resp = Response::new(
                502,
                "text/html; charset=UTF-8",
                format!("<html><head><title>502 Bad Gateway</title></head><body>{filler}<center>cloudflare</center></body></html>\r\n"),
            );
            return Reply::Respond(name, resp);
        }
        Injection::TooManyRequests(secs) => {
            let mut a = Answer::error(
                429,
                971,
                "Please wait and consider throttling your request speed",
            );
            a.headers.push(("Retry-After".into(), secs.to_string()));
            a
        }
        Injection::None | Injection::InvalidJson => dispatch(shared, req, &route),
    };
    let mut body = answer.body;
    if shared.config.faults.extra_fields {
        add_extra_fields(&mut body);
    }
    let mut resp = Response::json(answer.status, &body);
    for (n, v) in answer.headers {
        resp = resp.with_header(&n, v);
    }
    if injection == Injection::InvalidJson {
        resp.status = 200;
        let keep = (resp.body.len() / 2).max(1);
        resp.body.truncate(keep);
    }
    Reply::Respond(name, resp)
}

/// Adds an unknown field to every JSON object.
fn add_extra_fields(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                add_extra_fields(child);
            }
            map.insert(
                "x_emulator_unknown".into(),
                json!({"note": "clients must ignore unknown fields", "list": [1, 2.5, null, true]}),
            );
        }
        Value::Array(items) => items.iter_mut().for_each(add_extra_fields),
        _ => {}
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A D1 database id: a UUID with dashes, or 32 hex digits.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 32 && is_hex(s))
        || (b.len() == 36
            && b.iter().enumerate().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            }))
}

/// Whether two database ids are the same (case and dashes aside).
pub(crate) fn same_uuid(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace('-', "").to_ascii_lowercase();
    norm(a) == norm(b)
}

fn dispatch(shared: &Arc<Shared>, req: &Request, route: &Route) -> Answer {
    if *route == Route::Unknown {
        return Answer::error(404, 7000, "No route for that URI");
    }
    let auth = req.header("authorization");
    let Some(auth) = auth else {
        return Answer::error(401, 10000, "Authentication error");
    };
    let token = auth
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    if token != Some(shared.config.token.as_str()) {
        return Answer::error(403, 10000, "Authentication error");
    }
    let (Route::List { account }
    | Route::Get { account, .. }
    | Route::Export { account, .. }
    | Route::Import { account, .. }
    | Route::Bookmark { account, .. }) = route
    else {
        unreachable!("unknown routes answered above")
    };
    if !(account.len() == 32 && is_hex(account)) {
        return Answer::error(
            400,
            7003,
            format!(
                "Could not route to {}, perhaps your object identifier is invalid?",
                req.path
            ),
        );
    }
    if !account.eq_ignore_ascii_case(&shared.config.account_id) {
        return Answer::error(
            403,
            7403,
            "The given account is not valid or is not authorized to access this service",
        );
    }
    if req.method != route.method() {
        return Answer::error(405, 10405, "Method not allowed");
    }
    match route {
        Route::List { .. } => list(shared, req),
        Route::Get { database, .. } => {
            let db = shared
                .config
                .databases
                .iter()
                .find(|d| same_uuid(&d.uuid, database) || d.name == *database);
            match db {
                Some(db) => Answer::ok(200, database_info(db)),
                None => Answer::error(
                    404,
                    7404,
                    format!("The database {database} could not be found"),
                ),
            }
        }
        Route::Export { database, .. } => match by_uuid(shared, req, database) {
            Ok(db) => export(shared, req, db),
            Err(a) => a,
        },
        Route::Import { database, .. } => match by_uuid(shared, req, database) {
            Ok(db) => import(shared, req, db),
            Err(a) => a,
        },
        // `?timestamp=` (a bookmark in the past) is ignored: the answer is the current one.
        Route::Bookmark { database, .. } => match by_uuid(shared, req, database) {
            Ok(db) => Answer::ok(200, json!({"bookmark": bookmark::current(db)})),
            Err(a) => a,
        },
        Route::Unknown => unreachable!("answered above"),
    }
}

/// The database a route names by UUID: 400/7003 if `database` is not a UUID, 404/7404 if
/// there is no such database.
fn by_uuid<'a>(
    shared: &'a Shared,
    req: &Request,
    database: &str,
) -> Result<&'a DatabaseConfig, Answer> {
    if !is_uuid(database) {
        return Err(Answer::error(
            400,
            7003,
            format!(
                "Could not route to {}, perhaps your object identifier is invalid?",
                req.path
            ),
        ));
    }
    shared
        .config
        .databases
        .iter()
        .find(|d| same_uuid(&d.uuid, database))
        .ok_or_else(|| {
            Answer::error(
                404,
                7404,
                format!("The database {database} could not be found"),
            )
        })
}

fn database_info(db: &DatabaseConfig) -> Value {
    let meta = std::fs::metadata(&db.path).ok();
    let created = meta
        .as_ref()
        .and_then(|m| m.created().or_else(|_| m.modified()).ok())
        .map(timefmt::rfc3339);
    let num_tables = rusqlite::Connection::open_with_flags(
        &db.path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| {
        c.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
            [],
            |r| r.get::<_, i64>(0),
        )
    })
    .unwrap_or(0);
    json!({
        "uuid": db.uuid,
        "name": db.name,
        "created_at": created,
        "version": "production",
        "num_tables": num_tables,
        "file_size": meta.map_or(0, |m| m.len()),
    })
}

fn list(shared: &Arc<Shared>, req: &Request) -> Answer {
    let number = |name: &str, default: usize, max: usize| -> Result<usize, Answer> {
        match req.query_param(name) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(Answer::error(
                    400,
                    7400,
                    format!("{name} must be an integer between 1 and {max}"),
                )),
            },
        }
    };
    let page = match number("page", 1, usize::MAX) {
        Ok(n) => n,
        Err(a) => return a,
    };
    let per_page = match number("per_page", 1000, 10_000) {
        Ok(n) => n,
        Err(a) => return a,
    };
    let filter = req.query_param("name");
    let matching: Vec<&DatabaseConfig> = shared
        .config
        .databases
        .iter()
        .filter(|d| filter.as_deref().is_none_or(|f| d.name.contains(f)))
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|d| database_info(d))
        .collect();
    let mut a = Answer::ok(200, Value::Null);
    a.body["result_info"] = json!({
        "page": page,
        "per_page": per_page,
        "count": items.len(),
        "total_count": matching.len(),
    });
    a.body["result"] = Value::Array(items);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("/client/v4/accounts/a/d1/database/b/export"),
            Route::Export {
                account: "a".into(),
                database: "b".into()
            }
        );
        assert_eq!(
            Route::parse("/client/v4/accounts/a/d1/database/my%20db"),
            Route::Get {
                account: "a".into(),
                database: "my db".into()
            }
        );
        assert_eq!(
            Route::parse("/client/v4/accounts/a/d1/database/b/time_travel/bookmark"),
            Route::Bookmark {
                account: "a".into(),
                database: "b".into()
            }
        );
        assert_eq!(
            Route::parse("/client/v4/accounts/a/d1/database/b/time_travel"),
            Route::Unknown
        );
        assert_eq!(Route::parse("/client/v4/user"), Route::Unknown);
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("0b1c2d3e-0000-4000-8000-000000000001"));
        assert!(is_uuid("0b1c2d3e000040008000000000000001"));
        assert!(!is_uuid("my-db"));
    }

    #[test]
    fn extra_fields_everywhere() {
        let mut v = json!({"a": {"b": [{"c": 1}]}});
        add_extra_fields(&mut v);
        assert!(v["x_emulator_unknown"].is_object());
        assert!(v["a"]["x_emulator_unknown"].is_object());
        assert!(v["a"]["b"][0]["x_emulator_unknown"].is_object());
    }
}
