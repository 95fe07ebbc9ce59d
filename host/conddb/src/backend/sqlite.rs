//! SQLite backend (rusqlite, bundled SQLite): the embedded default.

use super::{Backend, Dialect, Row, Value};
use crate::CondError;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

pub(crate) struct SqliteBackend {
    conn: Connection,
    // Set when a statement failed in a way that means the file changed under this connection
    // (truncated or rewritten in place): the next read reopens the file instead of failing forever.
    stale: bool,
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn err(e: rusqlite::Error) -> CondError {
    CondError::Backend(e.to_string())
}

/// Whether `e` says the file is no longer the database this connection opened: tables gone
/// (file truncated), not a database, or a corrupt image (rewritten while open). A fresh
/// connection reads the file again; SQL errors of the library's own queries never look like this.
fn file_changed(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase, SchemaChanged};
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            matches!(f.code, DatabaseCorrupt | NotADatabase | SchemaChanged)
                || msg
                    .as_deref()
                    .is_some_and(|m| m.starts_with("no such table"))
        }
        _ => false,
    }
}

impl SqliteBackend {
    pub fn open(path: &Path, create: bool) -> Result<Self, String> {
        // Never create a database as a side effect of opening it: a typo in a job's
        // configuration must fail loudly, not run against an empty database.
        if !create && !path.exists() {
            return Err(format!("no database file at {}", path.display()));
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
        // Concurrent jobs writing the same file wait for each other instead of failing.
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| e.to_string())?;
        // A file that is not a database is only detected on first read.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(|e| e.to_string())?;
        Ok(SqliteBackend { conn, stale: false })
    }
}

impl SqliteBackend {
    /// The driver's result as ours, noting a changed file for `is_connection_lost`.
    fn checked<T>(&mut self, r: rusqlite::Result<T>) -> Result<T, CondError> {
        r.map_err(|e| {
            self.stale |= file_changed(&e);
            err(e)
        })
    }
}

impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, CondError> {
        let r = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(params.iter())));
        Ok(self.checked(r)? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, CondError> {
        let r = self.query_rows(sql, params);
        self.checked(r)
    }

    fn batch(&mut self, sql: &str) -> Result<(), CondError> {
        let r = self.conn.execute_batch(sql);
        self.checked(r)
    }

    fn is_connection_lost(&self) -> bool {
        self.stale
    }
}

impl SqliteBackend {
    fn query_rows(&mut self, sql: &str, params: &[Value]) -> rusqlite::Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let ncol = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut vals = Vec::with_capacity(ncol);
            for i in 0..ncol {
                vals.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Int(v as i64),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }
}
