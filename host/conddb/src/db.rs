//! [`ConditionsDb`]: resolution, payload access and the writer operations, written once for
//! both backends.

use crate::backend::{self, Backend, Row, Value};
use crate::cache::PayloadCache;
use crate::iovs::{self, IovGroups, Query, TagIovs};
use crate::remote::{GlobalTagDoc, HttpClient, HttpOptions};
use crate::url::{redact_url, DbUrl};
use crate::{
    payload_hash, schema, CondError, ConnectOptions, Hash, IovKey, Micros, Payload, Resolved,
    Synchronization, TimeType, SNAPSHOT_LATEST,
};
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A connection to a conditions database (SQLite or PostgreSQL), safe to share between threads.
///
/// Reads go through one connection behind a mutex: resolution happens only at IOV boundaries
/// and the host caches both answers and models, so the lock is not on the per-event path.
/// Opened on `http://` services ([`ConditionsDb::open_http`]) the handle is read-only: the
/// reads below answer as the database would, writers and whole-database listings are refused.
pub struct ConditionsDb {
    url: DbUrl,
    opts: ConnectOptions,
    conn: Option<Mutex<Box<dyn Backend>>>,
    remote: Option<HttpClient>,
    cache: Option<PayloadCache>,
    actor: Actor,
}

impl std::fmt::Debug for ConditionsDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL's Display is redacted; the connection itself has nothing useful to show.
        f.debug_struct("ConditionsDb")
            .field("url", &self.url.to_string())
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Who makes changes, recorded in every `tag_log` row.
#[derive(Debug, Clone)]
struct Actor {
    user: String,
    host: String,
    command: String,
}

/// The login name of the real user id, or `uid N` if it has none (batch containers).
fn user_from_uid() -> String {
    // SAFETY: getuid cannot fail; getpwuid returns null or a pointer to a record that stays
    // valid until the next getpw* call, and the name is copied out at once.
    unsafe {
        let uid = libc::getuid();
        let pw = libc::getpwuid(uid);
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            if let Ok(name) = std::ffi::CStr::from_ptr((*pw).pw_name).to_str() {
                return name.to_string();
            }
        }
        format!("uid {uid}")
    }
}

impl Actor {
    fn from_environment() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(user_from_uid);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown".into());
        // Arguments may contain a database URL with a password: redact each one.
        let command = std::env::args()
            .map(|a| redact_url(&a))
            .collect::<Vec<_>>()
            .join(" ");
        Actor {
            user,
            host,
            command,
        }
    }
}

/// A tag's definition and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInfo {
    /// Tag name.
    pub name: String,
    /// Object type every payload of the tag must have.
    pub object_type: String,
    /// Units of the IOV keys.
    pub time_type: TimeType,
    /// Synchronization policy.
    pub synchronization: Synchronization,
    /// Free text.
    pub description: String,
    /// Whether the tag refuses new IOVs.
    pub locked: bool,
    /// Creation time (µs since the epoch).
    pub insertion_time: Micros,
}

/// A global tag's definition and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalTagInfo {
    /// Global tag name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Software release the global tag is meant for.
    pub release: String,
    /// IOVs inserted after this time (µs since the epoch) are invisible; [`SNAPSHOT_LATEST`]
    /// means no snapshot.
    pub snapshot_time: Micros,
    /// Whether the mapping is frozen.
    pub locked: bool,
    /// Creation time (µs since the epoch).
    pub insertion_time: Micros,
}

/// One IOV of a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IovInfo {
    /// First key of validity, in units of the tag's time type.
    pub since: u64,
    /// Insertion time (µs since the epoch).
    pub insertion_time: Micros,
    /// Payload valid from `since`.
    pub payload_hash: Hash,
}

/// One (record, label) → tag entry of a global tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MapEntry {
    /// Record name (e.g. `BTagRnnRcd`).
    pub record: String,
    /// Label distinguishing several payloads of one record (often empty).
    pub label: String,
    /// Tag the pair resolves to.
    pub tag: String,
}

/// One row of the change history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagLogEntry {
    /// Tag concerned; for global-tag actions (`gt_*`), the global tag's name.
    pub tag: String,
    /// Time of the change (µs since the epoch).
    pub time: Micros,
    /// `create`, `append_iov`, `lock`, `gt_create`, `gt_map`, `gt_lock`.
    pub action: String,
    /// User who made the change.
    pub user: String,
    /// Host the change was made from.
    pub host: String,
    /// Command line that made it (URLs redacted).
    pub command: String,
    /// Details of the change.
    pub text: String,
}

use crate::time::now_micros;

/// Removes anything that looks like the URL's password from a driver message.
fn scrub(detail: &str, url: &str) -> String {
    let mut d = redact_url(detail);
    if let Ok(pw) = std::env::var("PGPASSWORD") {
        if !pw.is_empty() {
            d = d.replace(&pw, "***");
        }
    }
    if let Some(rest) = url.split_once("://").map(|x| x.1) {
        let auth = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = auth.rsplit_once('@') {
            if let Some((_, pw)) = userinfo.split_once(':') {
                if !pw.is_empty() {
                    d = d.replace(pw, "***");
                }
            }
        }
    }
    d
}

fn connect_with_retry(
    url: &DbUrl,
    raw_url: &str,
    opts: &ConnectOptions,
    create: bool,
) -> Result<Box<dyn Backend>, CondError> {
    // A local SQLite file that cannot be opened (missing, not a database, no permission) will
    // not appear by waiting: fail at once. A locked file is waited for by SQLite's busy timeout.
    let attempts = match url {
        DbUrl::Sqlite(_) => 1,
        _ => opts.retries.saturating_add(1),
    };
    let mut delay = opts.backoff;
    let mut last = String::new();
    for attempt in 1..=attempts {
        match backend::connect(url, create) {
            Ok(b) => return Ok(b),
            Err(e) => last = e,
        }
        if attempt < attempts {
            std::thread::sleep(delay);
            delay = delay.saturating_mul(2).min(Duration::from_secs(60));
        }
    }
    Err(CondError::Unreachable {
        url: url.to_string(),
        attempts,
        detail: scrub(&last, raw_url),
    })
}

/// Validates a name (tag, global tag, record, object type): non-empty, printable, no spaces.
fn check_name(kind: &str, name: &str) -> Result<(), CondError> {
    if name.is_empty()
        || name.len() > 200
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CondError::Invalid(format!(
            "bad {kind} name `{name}` (1-200 printable characters, no spaces)"
        )));
    }
    Ok(())
}

fn key_to_db(v: u64) -> i64 {
    // Stored sinces never exceed i64::MAX (append_iov refuses them), so clamping a lookup key
    // keeps "greatest since not after the key" exact.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn row_to_tag(r: &Row) -> Result<TagInfo, CondError> {
    Ok(TagInfo {
        name: r.text(0)?,
        object_type: r.text(1)?,
        time_type: r.text(2)?.parse()?,
        synchronization: r.text(3)?.parse()?,
        description: r.text(4)?,
        locked: r.int(5)? != 0,
        insertion_time: r.int(6)?,
    })
}

const TAG_COLUMNS: &str =
    "name, object_type, time_type, synchronization, description, locked, insertion_time";
const GT_COLUMNS: &str = "name, description, release, snapshot_time, locked, insertion_time";

fn row_to_gt(r: &Row) -> Result<GlobalTagInfo, CondError> {
    Ok(GlobalTagInfo {
        name: r.text(0)?,
        description: r.text(1)?,
        release: r.text(2)?,
        snapshot_time: r.int(3)?,
        locked: r.int(4)? != 0,
        insertion_time: r.int(5)?,
    })
}

pub(crate) fn get_tag(b: &mut dyn Backend, name: &str, lock: bool) -> Result<TagInfo, CondError> {
    let sql = format!(
        "SELECT {TAG_COLUMNS} FROM tag WHERE name = ?{}",
        if lock { b.dialect().for_update() } else { "" }
    );
    let rows = b.query(&sql, &[name.into()])?;
    match rows.first() {
        Some(r) => row_to_tag(r),
        None => Err(CondError::not_found(format!("tag `{name}`"))),
    }
}

pub(crate) fn get_gt(
    b: &mut dyn Backend,
    name: &str,
    lock: bool,
) -> Result<GlobalTagInfo, CondError> {
    let sql = format!(
        "SELECT {GT_COLUMNS} FROM global_tag WHERE name = ?{}",
        if lock { b.dialect().for_update() } else { "" }
    );
    let rows = b.query(&sql, &[name.into()])?;
    match rows.first() {
        Some(r) => row_to_gt(r),
        None => Err(CondError::not_found(format!("global tag `{name}`"))),
    }
}

/// The IOVs of a tag visible at `snapshot`, one per since (newest insertion wins).
pub(crate) fn visible_iovs(
    b: &mut dyn Backend,
    tag: &str,
    snapshot: Micros,
) -> Result<Vec<(u64, Hash)>, CondError> {
    let rows = b.query(
        "SELECT since, insertion_time, payload_hash FROM iov \
         WHERE tag_name = ? AND insertion_time <= ? ORDER BY since, insertion_time DESC",
        &[tag.into(), snapshot.into()],
    )?;
    let mut out: Vec<(u64, Hash)> = Vec::new();
    for r in rows {
        let since = r.int(0)? as u64;
        if out.last().is_some_and(|(s, _)| *s == since) {
            continue;
        }
        out.push((since, r.text(2)?));
    }
    Ok(out)
}

/// Resolves `q.key` in `tag` as seen at `snapshot`: two statements, one for the global tag and
/// mapping (done by the caller) and this one for the IOV and the start of the next one.
fn resolve_in(
    b: &mut dyn Backend,
    q: &Query<'_>,
    tag: &str,
    time_type: TimeType,
    snapshot: Micros,
) -> Result<Resolved, CondError> {
    let key = q.key.value(time_type);
    let rows = b.query(
        "SELECT i.since, i.payload_hash, p.object_type, \
           (SELECT min(n.since) FROM iov n \
             WHERE n.tag_name = i.tag_name AND n.since > i.since AND n.insertion_time <= ?) \
         FROM iov i JOIN payload p ON p.hash = i.payload_hash \
         WHERE i.tag_name = ? AND i.since <= ? AND i.insertion_time <= ? \
         ORDER BY i.since DESC, i.insertion_time DESC LIMIT 1",
        &[
            snapshot.into(),
            tag.into(),
            key_to_db(key).into(),
            snapshot.into(),
        ],
    )?;
    let Some(r) = rows.first() else {
        return Err(iovs::no_iov(q, tag, time_type));
    };
    Ok(Resolved {
        global_tag: q.global_tag.to_string(),
        record: q.record.to_string(),
        label: q.label.to_string(),
        tag: tag.to_string(),
        payload_hash: r.text(1)?,
        object_type: r.text(2)?,
        since: r.int(0)? as u64,
        till: r.opt_int(3)?.map_or(u64::MAX, |t| t as u64),
        time_type,
    })
}

/// The "global tag not found" error of a resolution, worded the same by every backend.
fn gt_not_found(q: &Query<'_>) -> CondError {
    CondError::not_found(format!(
        "global tag `{}` (asked for record `{}` label `{}` at run {} lumi {})",
        q.global_tag, q.record, q.label, q.key.run, q.key.lumi
    ))
}

fn fetch_payload(b: &mut dyn Backend, hash: &str, source: &str) -> Result<Payload, CondError> {
    let mut rows = b.query(
        "SELECT object_type, data, size FROM payload WHERE hash = ?",
        &[hash.into()],
    )?;
    let Some(r) = rows.first_mut() else {
        return Err(CondError::not_found(format!("payload {hash}")));
    };
    let object_type = r.text(0)?;
    let data = r.blob(1)?;
    let size = r.int(2)?;
    let integrity = |detail: String| CondError::Integrity {
        hash: hash.to_string(),
        source_name: source.to_string(),
        detail,
    };
    let actual = payload_hash(&data);
    if actual != hash {
        return Err(integrity(format!(
            "stored bytes hash to {actual}; refusing to use them"
        )));
    }
    if size != data.len() as i64 {
        return Err(integrity(format!(
            "size column says {size} bytes, data has {}",
            data.len()
        )));
    }
    Ok(Payload {
        hash: hash.to_string(),
        object_type,
        data,
    })
}

impl ConditionsDb {
    /// Opens an existing, initialised database, retrying with backoff if it cannot be reached.
    /// A `sqlite://` path that does not exist is an error (only [`ConditionsDb::init`] creates).
    pub fn open(url: &str, opts: &ConnectOptions) -> Result<Self, CondError> {
        let db = Self::connect(url, opts, false)?;
        // A service checks its own database's schema when it starts.
        if db.remote.is_none() {
            let mut conn = db.lock()?;
            schema::check(&mut **conn)?;
        }
        Ok(db)
    }

    /// Creates the database if needed (SQLite file or tables in an existing PostgreSQL
    /// database) and applies pending schema migrations; safe to run on an up-to-date database.
    pub fn init(url: &str, opts: &ConnectOptions) -> Result<Self, CondError> {
        let db = Self::connect(url, opts, true)?;
        {
            let mut conn = db.lock()?;
            schema::migrate(&mut **conn, now_micros())?;
        }
        Ok(db)
    }

    /// Opens read-only access through `hepinfer conddb serve` services, tried in order
    /// (failover), through `http.proxies` or the `http_proxy` environment variable.
    pub fn open_http(
        servers: &[String],
        http: &HttpOptions,
        opts: &ConnectOptions,
    ) -> Result<Self, CondError> {
        let client = HttpClient::new(servers, http, opts.retries, opts.backoff)?;
        let cache = match &opts.payload_cache {
            Some(dir) => Some(PayloadCache::new(dir)?),
            None => None,
        };
        Ok(ConditionsDb {
            url: DbUrl::Http(servers[0].clone()),
            opts: opts.clone(),
            conn: None,
            remote: Some(client),
            cache,
            actor: Actor::from_environment(),
        })
    }

    fn connect(url: &str, opts: &ConnectOptions, create: bool) -> Result<Self, CondError> {
        let parsed = DbUrl::parse(url)?;
        if let DbUrl::Http(u) = &parsed {
            if create {
                return Err(CondError::Invalid(format!(
                    "{parsed} is a read-only conditions service: initialise the database behind it"
                )));
            }
            return Self::open_http(std::slice::from_ref(u), &HttpOptions::default(), opts);
        }
        let conn = connect_with_retry(&parsed, url, opts, create)?;
        let cache = match &opts.payload_cache {
            Some(dir) => Some(PayloadCache::new(dir)?),
            None => None,
        };
        Ok(ConditionsDb {
            url: parsed,
            opts: opts.clone(),
            conn: Some(Mutex::new(conn)),
            remote: None,
            cache,
            actor: Actor::from_environment(),
        })
    }

    /// The database URL (its `Display` redacts the password).
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// Sets the command recorded in `tag_log` rows (default: this process's arguments, with
    /// URL passwords redacted).
    pub fn set_log_command(&mut self, command: &str) {
        self.actor.command = redact_url(command);
    }

    fn lock(&self) -> Result<MutexGuard<'_, Box<dyn Backend>>, CondError> {
        let Some(conn) = &self.conn else {
            return Err(CondError::Invalid(format!(
                "{} is a read-only conditions service: this operation needs the database itself",
                self.url
            )));
        };
        conn.lock()
            .map_err(|_| CondError::Backend("connection mutex poisoned".into()))
    }

    /// The raw URL is needed to reconnect; only the redacted form is ever shown.
    fn raw_url(&self) -> String {
        match &self.url {
            DbUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DbUrl::Postgres(u) | DbUrl::Http(u) => u.clone(),
        }
    }

    /// Runs a read; if the connection was lost, reconnects (with the configured retries and
    /// backoff) and runs it once more.
    pub(crate) fn with_read<T>(
        &self,
        mut f: impl FnMut(&mut dyn Backend) -> Result<T, CondError>,
    ) -> Result<T, CondError> {
        let mut conn = self.lock()?;
        match f(&mut **conn) {
            Err(_) if conn.is_connection_lost() => {
                *conn = connect_with_retry(&self.url, &self.raw_url(), &self.opts, false)?;
                f(&mut **conn)
            }
            other => other,
        }
    }

    /// Runs `f` in a write transaction, committed if `f` succeeds and rolled back otherwise.
    pub(crate) fn with_tx<T>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T, CondError>,
    ) -> Result<T, CondError> {
        let mut conn = self.lock()?;
        if conn.is_connection_lost() {
            *conn = connect_with_retry(&self.url, &self.raw_url(), &self.opts, false)?;
        }
        let b = &mut **conn;
        b.batch(b.dialect().begin())?;
        match f(b) {
            Ok(v) => {
                b.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = b.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn log(
        &self,
        b: &mut dyn Backend,
        tag: &str,
        time: Micros,
        action: &str,
        text: &str,
    ) -> Result<(), CondError> {
        b.execute(
            "INSERT INTO tag_log (tag_name, event_time, action, user_name, host_name, command, user_text) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[
                tag.into(),
                time.into(),
                action.into(),
                (&self.actor.user).into(),
                (&self.actor.host).into(),
                (&self.actor.command).into(),
                text.into(),
            ],
        )?;
        Ok(())
    }

    // ---------------------------------------------------------------- resolution and payloads

    /// The payload valid for `key` of (record, label) in `global_tag`, with its validity range.
    pub fn resolve(
        &self,
        global_tag: &str,
        record: &str,
        label: &str,
        key: IovKey,
    ) -> Result<Resolved, CondError> {
        let q = Query {
            global_tag,
            record,
            label,
            key,
        };
        if let Some(remote) = &self.remote {
            let doc = remote.global_tag(global_tag).map_err(|e| match e {
                CondError::NotFound { .. } => gt_not_found(&q),
                e => e,
            })?;
            let Some(m) = doc
                .map
                .iter()
                .find(|m| m.record == record && m.label == label)
            else {
                return Err(CondError::not_found(format!(
                    "no mapping for record `{record}` label `{label}` in global tag `{global_tag}` (run {} lumi {})",
                    key.run, key.lumi
                )));
            };
            return self.resolve_remote(remote, &q, &m.tag, doc.global_tag.snapshot_time);
        }
        self.with_read(|b| {
            let rows = b.query(
                "SELECT g.snapshot_time, m.tag_name, t.time_type FROM global_tag g \
                 LEFT JOIN global_tag_map m \
                   ON m.global_tag_name = g.name AND m.record = ? AND m.label = ? \
                 LEFT JOIN tag t ON t.name = m.tag_name \
                 WHERE g.name = ?",
                &[record.into(), label.into(), global_tag.into()],
            )?;
            let Some(r) = rows.first() else {
                return Err(gt_not_found(&q));
            };
            let (Value::Text(tag), Value::Text(tt)) = (&r.0[1], &r.0[2]) else {
                return Err(CondError::not_found(format!(
                    "no mapping for record `{record}` label `{label}` in global tag `{global_tag}` (run {} lumi {})",
                    key.run, key.lumi
                )));
            };
            let tt: TimeType = tt.parse()?;
            resolve_in(b, &q, tag, tt, r.int(0)?)
        })
    }

    /// Job-level override (CMS `toGet`): resolves (record, label) in `tag` directly instead of
    /// the tag the global tag maps it to, still honouring the global tag's snapshot time.
    pub fn resolve_in_tag(
        &self,
        global_tag: &str,
        record: &str,
        label: &str,
        tag: &str,
        key: IovKey,
    ) -> Result<Resolved, CondError> {
        let q = Query {
            global_tag,
            record,
            label,
            key,
        };
        if let Some(remote) = &self.remote {
            let gt = remote.global_tag(global_tag)?;
            return self.resolve_remote(remote, &q, tag, gt.global_tag.snapshot_time);
        }
        self.with_read(|b| {
            let gt = get_gt(b, global_tag, false)?;
            let t = get_tag(b, tag, false)?;
            resolve_in(b, &q, tag, t.time_type, gt.snapshot_time)
        })
    }

    /// Resolution over HTTP: the group of IOVs holding the key, resolved in memory.
    fn resolve_remote(
        &self,
        remote: &HttpClient,
        q: &Query<'_>,
        tag: &str,
        snapshot: Micros,
    ) -> Result<Resolved, CondError> {
        let groups = remote.groups(tag, snapshot, iovs::DEFAULT_IOV_GROUP)?;
        let Some((from, to)) = groups.group_of(q.key.value(groups.time_type)) else {
            return Err(iovs::no_iov(q, tag, groups.time_type));
        };
        remote.iovs(tag, snapshot, from, to)?.resolve(q)
    }

    /// The group boundaries of `tag` under `snapshot`, `group` IOVs per group: a job reads these
    /// once, then [`ConditionsDb::tag_iovs`] of the groups its events fall in.
    pub fn iov_groups(
        &self,
        tag: &str,
        snapshot: Micros,
        group: usize,
    ) -> Result<IovGroups, CondError> {
        if group == 0 {
            return Err(CondError::Invalid(
                "IOV group size must be at least 1".into(),
            ));
        }
        if let Some(remote) = &self.remote {
            return remote.groups(tag, snapshot, group);
        }
        self.with_read(|b| {
            let t = get_tag(b, tag, false)?;
            let sinces: Vec<u64> = b
                .query(
                    "SELECT DISTINCT since FROM iov WHERE tag_name = ? AND insertion_time <= ? ORDER BY since",
                    &[tag.into(), snapshot.into()],
                )?
                .iter()
                .map(|r| r.int(0).map(|v| v as u64))
                .collect::<Result<_, _>>()?;
            Ok(IovGroups {
                tag: t.name,
                time_type: t.time_type,
                object_type: t.object_type,
                snapshot,
                count: sinces.len() as u64,
                boundaries: iovs::boundaries(&sinces, group),
            })
        })
    }

    /// The IOVs of `tag` visible under `snapshot` with since in `[from, to)`, one per since.
    pub fn tag_iovs(
        &self,
        tag: &str,
        snapshot: Micros,
        from: u64,
        to: u64,
    ) -> Result<TagIovs, CondError> {
        if let Some(remote) = &self.remote {
            return remote.iovs(tag, snapshot, from, to);
        }
        self.with_read(|b| {
            let t = get_tag(b, tag, false)?;
            let iovs = visible_iovs(b, tag, snapshot)?
                .into_iter()
                .filter(|(s, _)| (from..to).contains(s))
                .collect();
            Ok(TagIovs {
                tag: t.name,
                time_type: t.time_type,
                object_type: t.object_type,
                snapshot,
                from,
                to,
                iovs,
            })
        })
    }

    /// A global tag and its mapping, in one request over HTTP.
    pub fn global_tag_doc(&self, name: &str) -> Result<GlobalTagDoc, CondError> {
        if let Some(remote) = &self.remote {
            return remote.global_tag(name);
        }
        Ok(GlobalTagDoc {
            global_tag: self.global_tag(name)?,
            map: self.global_tag_map(name)?,
        })
    }

    /// A payload by hash: from the local cache if there, else from the database (retrying a
    /// lost connection), verified against its hash either way, then stored in the cache.
    pub fn payload(&self, hash: &str) -> Result<Payload, CondError> {
        if hash.len() != 64 || !hash.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(CondError::Invalid(format!(
                "`{hash}` is not a lowercase hex SHA-256"
            )));
        }
        if let Some(cache) = &self.cache {
            if let Some(p) = cache.get(hash)? {
                return Ok(p);
            }
        }
        let p = self.payload_uncached(hash)?;
        if let Some(cache) = &self.cache {
            // The cache only saves time: a full or read-only cache directory must not stop a
            // job that has a verified payload in hand.
            let _ = cache.put(&p);
        }
        Ok(p)
    }

    /// A payload straight from the database (no cache), verified against its hash.
    pub fn payload_uncached(&self, hash: &str) -> Result<Payload, CondError> {
        if let Some(remote) = &self.remote {
            return remote.payload(hash);
        }
        let source = format!("database {}", self.url);
        self.with_read(|b| fetch_payload(b, hash, &source))
    }

    // ---------------------------------------------------------------- writers

    /// Stores a payload and returns its hash. Storing the same bytes again is a no-op (payloads
    /// are never overwritten); the same bytes under another object type are refused.
    pub fn insert_payload(
        &self,
        object_type: &str,
        data: &[u8],
        time: Option<Micros>,
    ) -> Result<Hash, CondError> {
        check_name("object type", object_type)?;
        let hash = payload_hash(data);
        let time = time.unwrap_or_else(now_micros);
        self.with_tx(|b| {
            let rows = b.query(
                "SELECT object_type FROM payload WHERE hash = ?",
                &[(&hash).into()],
            )?;
            if let Some(r) = rows.first() {
                let existing = r.text(0)?;
                if existing != object_type {
                    return Err(CondError::Policy(format!(
                        "payload {hash} is already stored with object type `{existing}`, not `{object_type}`"
                    )));
                }
                return Ok(());
            }
            b.execute(
                "INSERT INTO payload (hash, object_type, data, size, insertion_time) VALUES (?, ?, ?, ?, ?)",
                &[
                    (&hash).into(),
                    object_type.into(),
                    data.into(),
                    (data.len() as i64).into(),
                    time.into(),
                ],
            )?;
            Ok(())
        })?;
        Ok(hash)
    }

    /// Creates a tag.
    pub fn create_tag(
        &self,
        name: &str,
        object_type: &str,
        time_type: TimeType,
        synchronization: Synchronization,
        description: &str,
        time: Option<Micros>,
    ) -> Result<(), CondError> {
        check_name("tag", name)?;
        check_name("object type", object_type)?;
        let time = time.unwrap_or_else(now_micros);
        self.with_tx(|b| {
            if !b.query("SELECT 1 FROM tag WHERE name = ?", &[name.into()])?.is_empty() {
                return Err(CondError::Exists(format!("tag `{name}`")));
            }
            b.execute(
                &format!("INSERT INTO tag ({TAG_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, ?)"),
                &[
                    name.into(),
                    object_type.into(),
                    time_type.as_str().into(),
                    synchronization.as_str().into(),
                    description.into(),
                    time.into(),
                ],
            )?;
            self.log(
                b,
                name,
                time,
                "create",
                &format!("object type {object_type}, time type {time_type}, synchronization {synchronization}"),
            )
        })
    }

    /// Appends an IOV to a tag, enforcing its lock and synchronization policy. `since` is
    /// read in the tag's time type (a run tag refuses a non-zero lumi). `time` overrides the
    /// insertion time (tests use it to build snapshot scenarios).
    pub fn append_iov(
        &self,
        tag: &str,
        since: IovKey,
        payload_hash: &str,
        time: Option<Micros>,
    ) -> Result<(), CondError> {
        let time = time.unwrap_or_else(now_micros);
        self.with_tx(|b| {
            let t = get_tag(b, tag, true)?;
            if t.locked {
                return Err(CondError::Locked(format!("tag `{tag}` is locked and accepts no new IOVs")));
            }
            if t.time_type == TimeType::Run && since.lumi != 0 {
                return Err(CondError::Invalid(format!(
                    "tag `{tag}` is run-based: since {since} has a lumi section"
                )));
            }
            let value = since.value(t.time_type);
            let Ok(db_value) = i64::try_from(value) else {
                return Err(CondError::Invalid(format!("since {since} is beyond the storable range")));
            };
            let rows = b.query("SELECT object_type FROM payload WHERE hash = ?", &[payload_hash.into()])?;
            let Some(r) = rows.first() else {
                return Err(CondError::not_found(format!("payload {payload_hash}")));
            };
            let ptype = r.text(0)?;
            if ptype != t.object_type {
                return Err(CondError::Policy(format!(
                    "tag `{tag}` holds `{}` payloads, payload {payload_hash} is `{ptype}`",
                    t.object_type
                )));
            }
            let last = b
                .query("SELECT max(since), count(*) FROM iov WHERE tag_name = ?", &[tag.into()])?
                .first()
                .map(|r| Ok::<_, CondError>((r.opt_int(0)?, r.int(1)?)))
                .transpose()?
                .unwrap_or((None, 0));
            match t.synchronization {
                Synchronization::Any => {}
                Synchronization::Offline => {
                    if let Some(last) = last.0 {
                        if db_value <= last {
                            return Err(CondError::Policy(format!(
                                "tag `{tag}` is append-only (offline): since {} is not after the last since {}",
                                t.time_type.format_key(value),
                                t.time_type.format_key(last as u64)
                            )));
                        }
                    }
                }
                Synchronization::Mc => {
                    if last.1 > 0 {
                        return Err(CondError::Policy(format!(
                            "tag `{tag}` is an mc tag and already has its single IOV"
                        )));
                    }
                    if since != IovKey::new(1, 0) {
                        return Err(CondError::Policy(format!(
                            "tag `{tag}` is an mc tag: its single IOV must have since 1, not {since}"
                        )));
                    }
                }
            }
            b.execute(
                "INSERT INTO iov (tag_name, since, insertion_time, payload_hash) VALUES (?, ?, ?, ?)",
                &[tag.into(), db_value.into(), time.into(), payload_hash.into()],
            )?;
            self.log(
                b,
                tag,
                time,
                "append_iov",
                &format!("since {} payload {payload_hash}", t.time_type.format_key(value)),
            )
        })
    }

    /// Locks a tag: it accepts no further IOVs.
    pub fn lock_tag(&self, tag: &str, time: Option<Micros>) -> Result<(), CondError> {
        let time = time.unwrap_or_else(now_micros);
        self.with_tx(|b| {
            get_tag(b, tag, true)?;
            b.execute("UPDATE tag SET locked = 1 WHERE name = ?", &[tag.into()])?;
            self.log(b, tag, time, "lock", "tag locked")
        })
    }

    /// Creates a global tag. `snapshot` defaults to [`SNAPSHOT_LATEST`] (everything visible).
    pub fn create_global_tag(
        &self,
        name: &str,
        description: &str,
        release: &str,
        snapshot: Option<Micros>,
        time: Option<Micros>,
    ) -> Result<(), CondError> {
        check_name("global tag", name)?;
        let time = time.unwrap_or_else(now_micros);
        let snapshot = snapshot.unwrap_or(SNAPSHOT_LATEST);
        self.with_tx(|b| {
            if !b
                .query("SELECT 1 FROM global_tag WHERE name = ?", &[name.into()])?
                .is_empty()
            {
                return Err(CondError::Exists(format!("global tag `{name}`")));
            }
            b.execute(
                &format!("INSERT INTO global_tag ({GT_COLUMNS}) VALUES (?, ?, ?, ?, 0, ?)"),
                &[
                    name.into(),
                    description.into(),
                    release.into(),
                    snapshot.into(),
                    time.into(),
                ],
            )?;
            self.log(
                b,
                name,
                time,
                "gt_create",
                &format!(
                    "global tag created, release `{release}`, snapshot {}",
                    crate::time::format_time(snapshot)
                ),
            )
        })
    }

    /// Maps (record, label) of a global tag to a tag, replacing an earlier mapping unless the
    /// global tag is locked.
    pub fn map(
        &self,
        global_tag: &str,
        record: &str,
        label: &str,
        tag: &str,
        time: Option<Micros>,
    ) -> Result<(), CondError> {
        check_name("record", record)?;
        let time = time.unwrap_or_else(now_micros);
        self.with_tx(|b| {
            let gt = get_gt(b, global_tag, true)?;
            if gt.locked {
                return Err(CondError::Locked(format!(
                    "global tag `{global_tag}` is locked and cannot be remapped"
                )));
            }
            get_tag(b, tag, false)?;
            let old = b.query(
                "SELECT tag_name FROM global_tag_map WHERE global_tag_name = ? AND record = ? AND label = ?",
                &[global_tag.into(), record.into(), label.into()],
            )?;
            let old = old.first().map(|r| r.text(0)).transpose()?;
            b.execute(
                "DELETE FROM global_tag_map WHERE global_tag_name = ? AND record = ? AND label = ?",
                &[global_tag.into(), record.into(), label.into()],
            )?;
            b.execute(
                "INSERT INTO global_tag_map (global_tag_name, record, label, tag_name) VALUES (?, ?, ?, ?)",
                &[global_tag.into(), record.into(), label.into(), tag.into()],
            )?;
            let was = old.map(|o| format!(" (was `{o}`)")).unwrap_or_default();
            self.log(b, tag, time, "gt_map", &format!("mapped in global tag `{global_tag}` as record `{record}` label `{label}`{was}"))
        })
    }

    /// Locks a global tag: its mapping can no longer change.
    pub fn lock_global_tag(&self, name: &str, time: Option<Micros>) -> Result<(), CondError> {
        let time = time.unwrap_or_else(now_micros);
        self.with_tx(|b| {
            get_gt(b, name, true)?;
            b.execute(
                "UPDATE global_tag SET locked = 1 WHERE name = ?",
                &[name.into()],
            )?;
            self.log(b, name, time, "gt_lock", "global tag locked")
        })
    }

    // ---------------------------------------------------------------- listings

    /// All global tags, by name.
    pub fn list_global_tags(&self) -> Result<Vec<GlobalTagInfo>, CondError> {
        if let Some(remote) = &self.remote {
            return remote.global_tags();
        }
        self.with_read(|b| {
            b.query(
                &format!("SELECT {GT_COLUMNS} FROM global_tag ORDER BY name"),
                &[],
            )?
            .iter()
            .map(row_to_gt)
            .collect()
        })
    }

    /// All tags, by name.
    pub fn list_tags(&self) -> Result<Vec<TagInfo>, CondError> {
        self.with_read(|b| {
            b.query(&format!("SELECT {TAG_COLUMNS} FROM tag ORDER BY name"), &[])?
                .iter()
                .map(row_to_tag)
                .collect()
        })
    }

    /// One tag.
    pub fn tag(&self, name: &str) -> Result<TagInfo, CondError> {
        if let Some(remote) = &self.remote {
            return remote.tag(name);
        }
        self.with_read(|b| get_tag(b, name, false))
    }

    /// One global tag.
    pub fn global_tag(&self, name: &str) -> Result<GlobalTagInfo, CondError> {
        if let Some(remote) = &self.remote {
            return Ok(remote.global_tag(name)?.global_tag);
        }
        self.with_read(|b| get_gt(b, name, false))
    }

    /// Every IOV of a tag (all insertions), by since then insertion time.
    pub fn list_iovs(&self, tag: &str) -> Result<Vec<IovInfo>, CondError> {
        self.with_read(|b| {
            get_tag(b, tag, false)?;
            b.query(
                "SELECT since, insertion_time, payload_hash FROM iov WHERE tag_name = ? ORDER BY since, insertion_time",
                &[tag.into()],
            )?
            .iter()
            .map(|r| {
                Ok(IovInfo {
                    since: r.int(0)? as u64,
                    insertion_time: r.int(1)?,
                    payload_hash: r.text(2)?,
                })
            })
            .collect()
        })
    }

    /// The (record, label) → tag entries of a global tag.
    pub fn global_tag_map(&self, global_tag: &str) -> Result<Vec<MapEntry>, CondError> {
        if let Some(remote) = &self.remote {
            return Ok(remote.global_tag(global_tag)?.map);
        }
        self.with_read(|b| {
            get_gt(b, global_tag, false)?;
            b.query(
                "SELECT record, label, tag_name FROM global_tag_map WHERE global_tag_name = ? ORDER BY record, label",
                &[global_tag.into()],
            )?
            .iter()
            .map(|r| {
                Ok(MapEntry {
                    record: r.text(0)?,
                    label: r.text(1)?,
                    tag: r.text(2)?,
                })
            })
            .collect()
        })
    }

    /// The change history, of one tag (or global tag) or of everything, oldest first.
    pub fn tag_log(&self, tag: Option<&str>) -> Result<Vec<TagLogEntry>, CondError> {
        let cols = "tag_name, event_time, action, user_name, host_name, command, user_text";
        self.with_read(|b| {
            let rows = match tag {
                Some(t) => b.query(
                    &format!(
                        "SELECT {cols} FROM tag_log WHERE tag_name = ? ORDER BY event_time, id"
                    ),
                    &[t.into()],
                )?,
                None => b.query(
                    &format!("SELECT {cols} FROM tag_log ORDER BY event_time, id"),
                    &[],
                )?,
            };
            rows.iter()
                .map(|r| {
                    Ok(TagLogEntry {
                        tag: r.text(0)?,
                        time: r.int(1)?,
                        action: r.text(2)?,
                        user: r.text(3)?,
                        host: r.text(4)?,
                        command: r.text(5)?,
                        text: r.text(6)?,
                    })
                })
                .collect()
        })
    }

    /// The IOVs of `tag` visible at `snapshot`: one per since, the newest insertion.
    pub fn visible_iovs(&self, tag: &str, snapshot: Micros) -> Result<Vec<(u64, Hash)>, CondError> {
        if self.remote.is_some() {
            return Ok(self.tag_iovs(tag, snapshot, 0, u64::MAX)?.iovs);
        }
        self.with_read(|b| {
            get_tag(b, tag, false)?;
            visible_iovs(b, tag, snapshot)
        })
    }
}
