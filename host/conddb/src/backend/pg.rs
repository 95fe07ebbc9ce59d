//! PostgreSQL backend (the synchronous `postgres` crate), for a shared server.

use super::{Backend, Dialect, Row, Value};
use crate::CondError;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) struct PgBackend {
    client: Client,
    // Prepared statements by SQL text: saves a round trip per query on the hot resolve path.
    stmts: HashMap<String, Statement>,
    // Set when a call failed because the server ended the session: the driver may not have
    // seen the socket close yet when the error (e.g. 57P01 after pg_terminate_backend) arrives.
    lost: bool,
}

/// Whether `e` means the session is gone: the socket closed, a connection exception (SQLSTATE
/// class 08) or an operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03
/// cannot connect now).
fn ends_session(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.as_db_error().is_some_and(|db| {
            let c = db.code().code();
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03")
        })
}

fn err(e: postgres::Error) -> CondError {
    // The driver's messages carry no password; the DB error's detail is the useful part.
    match e.as_db_error() {
        Some(db) => CondError::Backend(format!("{} ({})", db.message(), db.code().code())),
        None => CondError::Backend(with_causes(&e)),
    }
}

/// The error and its chain of causes: the driver's own message for a failed connection is only
/// "error connecting to server"; the cause (connection refused, timeout, name resolution) is
/// what an operator needs.
fn with_causes(e: &postgres::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Rewrites `?` placeholders as PostgreSQL's `$1, $2, ...`. The library's SQL never has a `?`
/// inside a string literal, so a plain scan is enough.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Fills in what the URL leaves out from the libpq environment variables (`PGUSER`,
/// `PGPASSWORD`, `PGHOST`, `PGPORT`, `PGDATABASE`), as libpq-based tools do.
fn config_from(url: &str) -> Result<Config, String> {
    let mut cfg: Config = url
        .parse()
        .map_err(|e: postgres::Error| format!("bad PostgreSQL URL: {e}"))?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if cfg.get_user().is_none() {
        if let Some(u) = env("PGUSER").or_else(|| env("USER")) {
            cfg.user(&u);
        }
    }
    if cfg.get_password().is_none() {
        if let Some(p) = env("PGPASSWORD") {
            cfg.password(p);
        }
    }
    if cfg.get_hosts().is_empty() {
        cfg.host(&env("PGHOST").unwrap_or_else(|| "localhost".into()));
    }
    if cfg.get_ports().is_empty() {
        if let Some(p) = env("PGPORT").and_then(|p| p.parse().ok()) {
            cfg.port(p);
        }
    }
    if cfg.get_dbname().is_none() {
        if let Some(d) = env("PGDATABASE") {
            cfg.dbname(&d);
        }
    }
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(10));
    }
    Ok(cfg)
}

impl PgBackend {
    pub fn connect(url: &str) -> Result<Self, String> {
        let cfg = config_from(url)?;
        let client = cfg.connect(NoTls).map_err(|e| match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => with_causes(&e),
        })?;
        Ok(PgBackend {
            client,
            stmts: HashMap::new(),
            lost: false,
        })
    }
}

impl PgBackend {
    /// The driver's result as ours, noting a lost session for `is_connection_lost`.
    fn checked<T>(&mut self, r: Result<T, postgres::Error>) -> Result<T, CondError> {
        r.map_err(|e| {
            self.lost |= ends_session(&e);
            err(e)
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, CondError> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let r = self.client.prepare(&numbered(sql));
        let s = self.checked(r)?;
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

impl Backend for PgBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, CondError> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(as_sql).collect();
        let stmt = self.statement(sql)?;
        let r = self.client.execute(&stmt, &refs);
        self.checked(r)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, CondError> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(as_sql).collect();
        let stmt = self.statement(sql)?;
        let r = self.client.query(&stmt, &refs);
        let rows = self.checked(r)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut vals = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let t = col.type_();
                let v = if *t == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)
                        .map_err(err)?
                        .map(Value::Int)
                } else if *t == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(err)?
                        .map(|v| Value::Int(v.into()))
                } else if *t == Type::INT2 {
                    row.try_get::<_, Option<i16>>(i)
                        .map_err(err)?
                        .map(|v| Value::Int(v.into()))
                } else if *t == Type::BOOL {
                    row.try_get::<_, Option<bool>>(i)
                        .map_err(err)?
                        .map(|v| Value::Int(v.into()))
                } else if *t == Type::BYTEA {
                    row.try_get::<_, Option<Vec<u8>>>(i)
                        .map_err(err)?
                        .map(Value::Blob)
                } else {
                    row.try_get::<_, Option<String>>(i)
                        .map_err(err)?
                        .map(Value::Text)
                };
                vals.push(v.unwrap_or(Value::Null));
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), CondError> {
        let r = self.client.batch_execute(sql);
        self.checked(r)
    }

    fn is_connection_lost(&self) -> bool {
        self.lost || self.client.is_closed()
    }
}

fn as_sql(v: &Value) -> &(dyn ToSql + Sync) {
    // NULL is never bound by the library; an untyped None of i64 is the closest stand-in.
    const NULL: Option<i64> = None;
    match v {
        Value::Null => &NULL,
        Value::Int(i) => i,
        Value::Text(s) => s,
        Value::Blob(b) => b,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_come_from_the_environment_unless_in_the_url() {
        // Only this test touches these variables.
        std::env::set_var("PGPASSWORD", "from-env");
        std::env::set_var("PGUSER", "envuser");
        let cfg = super::config_from("postgresql://127.0.0.1:5433/cond").unwrap();
        assert_eq!(cfg.get_password(), Some(&b"from-env"[..]));
        assert_eq!(cfg.get_user(), Some("envuser"));
        assert_eq!(cfg.get_dbname(), Some("cond"));
        let cfg = super::config_from("postgresql://alice:inurl@127.0.0.1/cond").unwrap();
        assert_eq!(cfg.get_password(), Some(&b"inurl"[..]));
        assert_eq!(cfg.get_user(), Some("alice"));
        std::env::remove_var("PGPASSWORD");
        std::env::remove_var("PGUSER");
    }

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(
            super::numbered("SELECT a FROM t WHERE b = ? AND c <= ?"),
            "SELECT a FROM t WHERE b = $1 AND c <= $2"
        );
    }
}
