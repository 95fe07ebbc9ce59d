//! The schema and its migrations. Each migration is applied once, in a transaction, and
//! recorded in `schema_version`; `init` brings any database up to [`SCHEMA_VERSION`].

use crate::backend::{Backend, Dialect};
use crate::{CondError, Micros};

/// The schema version this library writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

/// Migration `n` (1-based) takes the database from version `n - 1` to `n`.
fn migration(version: i64, d: Dialect) -> Option<String> {
    let blob = d.blob_type();
    let serial = d.serial_pk();
    match version {
        1 => Some(format!(
            "CREATE TABLE payload (
                hash TEXT PRIMARY KEY,
                object_type TEXT NOT NULL,
                data {blob} NOT NULL,
                size BIGINT NOT NULL,
                insertion_time BIGINT NOT NULL
            );
            CREATE TABLE tag (
                name TEXT PRIMARY KEY,
                object_type TEXT NOT NULL,
                time_type TEXT NOT NULL CHECK (time_type IN ('run', 'lumi')),
                synchronization TEXT NOT NULL CHECK (synchronization IN ('any', 'offline', 'mc')),
                description TEXT NOT NULL,
                locked BIGINT NOT NULL DEFAULT 0,
                insertion_time BIGINT NOT NULL
            );
            CREATE TABLE iov (
                tag_name TEXT NOT NULL REFERENCES tag(name),
                since BIGINT NOT NULL,
                insertion_time BIGINT NOT NULL,
                payload_hash TEXT NOT NULL REFERENCES payload(hash),
                PRIMARY KEY (tag_name, since, insertion_time)
            );
            CREATE TABLE global_tag (
                name TEXT PRIMARY KEY,
                description TEXT NOT NULL,
                release TEXT NOT NULL,
                snapshot_time BIGINT NOT NULL,
                locked BIGINT NOT NULL DEFAULT 0,
                insertion_time BIGINT NOT NULL
            );
            CREATE TABLE global_tag_map (
                global_tag_name TEXT NOT NULL REFERENCES global_tag(name),
                record TEXT NOT NULL,
                label TEXT NOT NULL,
                tag_name TEXT NOT NULL REFERENCES tag(name),
                PRIMARY KEY (global_tag_name, record, label)
            );
            CREATE TABLE tag_log (
                id {serial},
                tag_name TEXT NOT NULL,
                event_time BIGINT NOT NULL,
                action TEXT NOT NULL,
                user_name TEXT NOT NULL,
                host_name TEXT NOT NULL,
                command TEXT NOT NULL,
                user_text TEXT NOT NULL
            );"
        )),
        // Indexes for the two lookups of the hot path and for log listings.
        2 => Some(
            "CREATE INDEX iov_lookup ON iov (tag_name, since, insertion_time);
             CREATE INDEX tag_log_tag ON tag_log (tag_name, event_time);"
                .to_string(),
        ),
        _ => None,
    }
}

/// The schema version of the database, or `None` if it has no hepinfer schema.
pub(crate) fn current_version(b: &mut dyn Backend) -> Result<Option<i64>, CondError> {
    let exists_sql = match b.dialect() {
        Dialect::Sqlite => {
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        }
        Dialect::Postgres => {
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'schema_version'"
        }
    };
    let rows = b.query(exists_sql, &[])?;
    if rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0) == 0 {
        return Ok(None);
    }
    let rows = b.query("SELECT max(version) FROM schema_version", &[])?;
    Ok(rows.first().map(|r| r.opt_int(0)).transpose()?.flatten())
}

/// Applies every pending migration; returns the versions applied.
pub(crate) fn migrate(b: &mut dyn Backend, now: Micros) -> Result<Vec<i64>, CondError> {
    let d = b.dialect();
    b.batch(d.begin())?;
    let result = (|| {
        let mut v = match current_version(b)? {
            Some(v) => v,
            None => {
                b.batch(
                    "CREATE TABLE schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                )?;
                0
            }
        };
        if v > SCHEMA_VERSION {
            return Err(CondError::Schema(format!(
                "database schema version {v} is newer than this hepinfer ({SCHEMA_VERSION})"
            )));
        }
        let mut applied = Vec::new();
        while let Some(sql) = migration(v + 1, d) {
            b.batch(&sql)?;
            v += 1;
            b.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                &[v.into(), now.into()],
            )?;
            applied.push(v);
        }
        Ok(applied)
    })();
    match result {
        Ok(applied) => {
            b.batch("COMMIT")?;
            Ok(applied)
        }
        Err(e) => {
            let _ = b.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Checks that the database was initialised with a schema this library can use.
pub(crate) fn check(b: &mut dyn Backend) -> Result<(), CondError> {
    match current_version(b)? {
        None => Err(CondError::Schema(
            "no hepinfer conditions schema in this database (run `hepinfer conddb init`)".into(),
        )),
        Some(v) if v < SCHEMA_VERSION => Err(CondError::Schema(format!(
            "schema version {v} is older than {SCHEMA_VERSION} (run `hepinfer conddb init` to migrate)"
        ))),
        Some(v) if v > SCHEMA_VERSION => Err(CondError::Schema(format!(
            "schema version {v} is newer than this hepinfer supports ({SCHEMA_VERSION})"
        ))),
        Some(_) => Ok(()),
    }
}
