//! The two SQL engines behind one small interface: every rule of the conditions database is
//! written once, as SQL with `?` placeholders, in `db.rs`; a backend only runs statements.

mod pg;
mod sqlite;

use crate::{CondError, DbUrl};

/// A value passed to or read from a statement; the schema uses only these three column types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub(crate) struct Row(pub Vec<Value>);

impl Row {
    pub fn int(&self, i: usize) -> Result<i64, CondError> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            other => Err(CondError::Backend(format!(
                "column {i}: expected integer, got {other:?}"
            ))),
        }
    }
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, CondError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.int(i).map(Some),
        }
    }
    pub fn text(&self, i: usize) -> Result<String, CondError> {
        match self.0.get(i) {
            Some(Value::Text(v)) => Ok(v.clone()),
            other => Err(CondError::Backend(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }
    pub fn blob(&mut self, i: usize) -> Result<Vec<u8>, CondError> {
        match self.0.get_mut(i) {
            Some(Value::Blob(v)) => Ok(std::mem::take(v)),
            other => Err(CondError::Backend(format!(
                "column {i}: expected blob, got {other:?}"
            ))),
        }
    }
}

/// The SQL differences between the engines that the schema and the queries need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Column type of payload bytes.
    pub fn blob_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "BYTEA",
        }
    }
    /// An auto-incrementing integer primary key column definition.
    pub fn serial_pk(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }
    /// Starts a write transaction. SQLite takes the write lock at once (IMMEDIATE) so two
    /// writers cannot both read a tag's state and then both append.
    pub fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
    /// Suffix that locks the selected row until commit (PostgreSQL); SQLite's IMMEDIATE
    /// transaction already excludes other writers.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// A connection to one database.
pub(crate) trait Backend: Send {
    fn dialect(&self) -> Dialect;
    /// Runs a statement with `?` placeholders; returns the number of changed rows.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, CondError>;
    /// Runs a query with `?` placeholders and returns all rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, CondError>;
    /// Runs several statements without parameters.
    fn batch(&mut self, sql: &str) -> Result<(), CondError>;
    /// Whether the error came from a lost connection (worth reconnecting), not from SQL.
    fn is_connection_lost(&self) -> bool;
}

/// Opens a connection. `create` lets SQLite create a missing file (only `init` does that).
pub(crate) fn connect(url: &DbUrl, create: bool) -> Result<Box<dyn Backend>, String> {
    match url {
        DbUrl::Sqlite(path) => Ok(Box::new(sqlite::SqliteBackend::open(path, create)?)),
        DbUrl::Postgres(u) => Ok(Box::new(pg::PgBackend::connect(u)?)),
        DbUrl::Http(u) => Err(format!(
            "{} is a read-only conditions service, not a database",
            crate::redact_url(u)
        )),
    }
}

/// Raw connection used by tests and benches to tamper with a database behind the library's
/// back (e.g. to corrupt payload bytes); not part of the stable API.
#[doc(hidden)]
pub fn raw_execute(url: &str, sql: &str) -> Result<u64, CondError> {
    let url = DbUrl::parse(url)?;
    let mut b = connect(&url, false).map_err(CondError::Backend)?;
    b.execute(sql, &[])
}
