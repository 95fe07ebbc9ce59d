//! Conditions database for hepinfer, modelled on the CMS conditions database (CondDB).
//!
//! Model files ("payloads") are stored content-addressed by SHA-256. A *tag* is a named sequence
//! of intervals of validity (IOVs), each pointing to a payload from a run (or run/lumi) onwards.
//! A *global tag* maps (record, label) pairs to tags and freezes what is visible with a snapshot
//! time, so that a job configured with one global tag always gets the same models.
//!
//! Two backends share one schema and one implementation of every rule: SQLite (`sqlite://path`,
//! the embedded default) and PostgreSQL (`postgresql://user@host:port/db`).
//!
//! ```no_run
//! use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey};
//! let db = ConditionsDb::open("sqlite:///data/conditions.db", &ConnectOptions::default())?;
//! let r = db.resolve("GT_2026_v1", "BTagRnnRcd", "", IovKey::new(362_000, 12))?;
//! let model = db.payload(&r.payload_hash)?;
//! # Ok::<(), hepinfer_conddb::CondError>(())
//! ```

#![warn(missing_docs)]

mod backend;
mod cache;
pub mod cli;
mod copy;
mod db;
mod httpget;
mod iovs;
pub mod remote;
mod schema;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "test-support")]
pub mod testserver;
#[cfg(feature = "test-support")]
pub mod testsquid;
mod time;
mod url;
pub mod validate;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use copy::{CopyScope, CopyStats, DbContent, GtDiff, GtDiffEntry};
pub use db::{ConditionsDb, GlobalTagInfo, IovInfo, MapEntry, TagInfo, TagLogEntry};
pub use iovs::{IovGroups, TagIovs, DEFAULT_IOV_GROUP};
pub use remote::{GlobalTagDoc, HttpOptions};
pub use schema::SCHEMA_VERSION;
pub use url::{redact_url, DbUrl};

#[doc(hidden)]
pub use backend::raw_execute;

/// Lowercase hexadecimal SHA-256 of a payload's bytes.
pub type Hash = String;

/// Microseconds since the Unix epoch (UTC), the unit of every stored time.
pub type Micros = i64;

/// Snapshot time meaning "no snapshot": every insertion is visible.
pub const SNAPSHOT_LATEST: Micros = i64::MAX;

/// The unit of a tag's IOV keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeType {
    /// Keys are run numbers.
    Run,
    /// Keys are `run << 32 | lumi`, as in CMS and ATLAS.
    Lumi,
}

impl TimeType {
    /// The name stored in the database (`run` or `lumi`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeType::Run => "run",
            TimeType::Lumi => "lumi",
        }
    }

    /// Formats a key of this time type for people: `362000` or `362000:12`.
    pub fn format_key(self, value: u64) -> String {
        match self {
            TimeType::Run => value.to_string(),
            TimeType::Lumi if value == u64::MAX => "inf".to_string(),
            TimeType::Lumi => format!("{}:{}", value >> 32, value & 0xffff_ffff),
        }
    }
}

impl std::str::FromStr for TimeType {
    type Err = CondError;
    fn from_str(s: &str) -> Result<Self, CondError> {
        match s {
            "run" => Ok(TimeType::Run),
            "lumi" => Ok(TimeType::Lumi),
            other => Err(CondError::Invalid(format!(
                "unknown time type `{other}` (expected `run` or `lumi`)"
            ))),
        }
    }
}

impl fmt::Display for TimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Synchronization policy of a tag, as in CMS: which new IOVs a tag accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronization {
    /// No checks: IOVs may be added anywhere, also before existing ones.
    Any,
    /// Append only: a new `since` must be after the last one already in the tag.
    Offline,
    /// Monte Carlo: a single IOV with since 1, frozen once written.
    Mc,
}

impl Synchronization {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronization::Any => "any",
            Synchronization::Offline => "offline",
            Synchronization::Mc => "mc",
        }
    }
}

impl std::str::FromStr for Synchronization {
    type Err = CondError;
    fn from_str(s: &str) -> Result<Self, CondError> {
        match s {
            "any" => Ok(Synchronization::Any),
            "offline" => Ok(Synchronization::Offline),
            "mc" => Ok(Synchronization::Mc),
            other => Err(CondError::Invalid(format!(
                "unknown synchronization `{other}` (expected `any`, `offline` or `mc`)"
            ))),
        }
    }
}

impl fmt::Display for Synchronization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The position of an event in data-taking time: run and luminosity block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IovKey {
    /// Run number.
    pub run: u32,
    /// Luminosity block within the run (0 = from the start of the run).
    pub lumi: u32,
}

impl IovKey {
    /// A key for `run`, `lumi`.
    pub fn new(run: u32, lumi: u32) -> Self {
        IovKey { run, lumi }
    }

    /// The key's value in the units of `time_type`: the run for run tags (the lumi is
    /// ignored: run-based conditions hold for a whole run), `run << 32 | lumi` for lumi tags.
    pub fn value(self, time_type: TimeType) -> u64 {
        match time_type {
            TimeType::Run => u64::from(self.run),
            TimeType::Lumi => (u64::from(self.run) << 32) | u64::from(self.lumi),
        }
    }

    /// The inverse of [`IovKey::value`].
    pub fn from_value(value: u64, time_type: TimeType) -> Self {
        match time_type {
            TimeType::Run => IovKey::new(u32::try_from(value).unwrap_or(u32::MAX), 0),
            TimeType::Lumi => IovKey::new((value >> 32) as u32, (value & 0xffff_ffff) as u32),
        }
    }
}

impl fmt::Display for IovKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.run, self.lumi)
    }
}

impl std::str::FromStr for IovKey {
    type Err = CondError;
    /// Parses `RUN` (lumi 0) or `RUN:LUMI`.
    fn from_str(s: &str) -> Result<Self, CondError> {
        let bad = || CondError::Invalid(format!("bad run/lumi `{s}` (expected RUN or RUN:LUMI)"));
        let (run, lumi) = match s.split_once(':') {
            Some((r, l)) => (r, Some(l)),
            None => (s, None),
        };
        let run = run.trim().parse::<u32>().map_err(|_| bad())?;
        let lumi = match lumi {
            Some(l) => l.trim().parse::<u32>().map_err(|_| bad())?,
            None => 0,
        };
        Ok(IovKey::new(run, lumi))
    }
}

/// The answer of a resolution: which payload holds for a key, and over which range of keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// Global tag that was asked.
    pub global_tag: String,
    /// Record that was asked.
    pub record: String,
    /// Label that was asked.
    pub label: String,
    /// Tag the (record, label) resolved to.
    pub tag: String,
    /// Hash of the payload valid for the key.
    pub payload_hash: Hash,
    /// Object type of the payload (`onnx`, `torchscript`, `json`, ...).
    pub object_type: String,
    /// First key of the validity range, in units of `time_type`.
    pub since: u64,
    /// First key after the validity range (exclusive); `u64::MAX` if open-ended.
    pub till: u64,
    /// Units of `since` and `till`.
    pub time_type: TimeType,
}

impl Resolved {
    /// Whether `key` lies in `[since, till)`, compared in the units of this answer's time type.
    pub fn contains(&self, key: IovKey) -> bool {
        let v = key.value(self.time_type);
        self.since <= v && v < self.till
    }
}

/// A payload as read from the database or the local cache, with its hash already verified.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    /// SHA-256 of `data`.
    pub hash: Hash,
    /// Object type (`onnx`, `torchscript`, `json`, ...).
    pub object_type: String,
    /// The payload bytes.
    pub data: Vec<u8>,
}

impl fmt::Debug for Payload {
    // The bytes are a model file: printing them helps nobody.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("hash", &self.hash)
            .field("object_type", &self.object_type)
            .field("len", &self.data.len())
            .finish()
    }
}

/// SHA-256 of `data` as lowercase hex: the identity of a payload.
pub fn payload_hash(data: &[u8]) -> Hash {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

/// Errors of the conditions database. Messages never contain a database password.
#[derive(Debug, thiserror::Error)]
pub enum CondError {
    /// Something asked for does not exist (global tag, mapping, IOV, tag, payload).
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for, naming every part of the request.
        what: String,
    },
    /// Payload bytes do not match their hash (database or cache corrupted).
    #[error("integrity error: payload {hash} from {source_name}: {detail}")]
    Integrity {
        /// The hash the bytes were expected to have.
        hash: Hash,
        /// Where the bytes came from (database URL, redacted, or cache file).
        source_name: String,
        /// What is wrong.
        detail: String,
    },
    /// The tag or global tag is locked against the requested change.
    #[error("locked: {0}")]
    Locked(String),
    /// The change violates the tag's synchronization policy or another rule of the schema.
    #[error("refused by policy: {0}")]
    Policy(String),
    /// An object to be created exists already.
    #[error("already exists: {0}")]
    Exists(String),
    /// The database cannot be reached or opened (after the configured retries).
    #[error("database {url} unreachable after {attempts} attempt(s): {detail}")]
    Unreachable {
        /// The database URL with its password redacted.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last underlying error.
        detail: String,
    },
    /// The database has no hepinfer schema, or one this version cannot use.
    #[error("schema: {0}")]
    Schema(String),
    /// A bad argument (URL, key, name, object type).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// An error reported by the database engine.
    #[error("database error: {0}")]
    Backend(String),
    /// A file-system error (payload cache, dump files).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl CondError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        CondError::NotFound { what: what.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CondError::Io {
            path: path.into(),
            source,
        }
    }

    /// A short machine-readable name of the error kind (used by the CLI's `--json` output).
    pub fn kind(&self) -> &'static str {
        match self {
            CondError::NotFound { .. } => "not_found",
            CondError::Integrity { .. } => "integrity",
            CondError::Locked(_) => "locked",
            CondError::Policy(_) => "policy",
            CondError::Exists(_) => "exists",
            CondError::Unreachable { .. } => "unreachable",
            CondError::Schema(_) => "schema",
            CondError::Invalid(_) => "invalid",
            CondError::Backend(_) => "backend",
            CondError::Io { .. } => "io",
        }
    }
}

/// How [`ConditionsDb::open`] connects and where it caches payloads.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Extra attempts after a failed connection or read (0 = try once).
    pub retries: u32,
    /// Delay before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// Local payload cache directory, shared safely by concurrent jobs on one node.
    pub payload_cache: Option<PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            retries: 3,
            backoff: Duration::from_millis(250),
            payload_cache: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ConditionsDb>();
    }

    #[test]
    fn key_values_follow_the_time_type() {
        let k = IovKey::new(362_000, 15);
        assert_eq!(k.value(TimeType::Run), 362_000);
        assert_eq!(k.value(TimeType::Lumi), (362_000u64 << 32) | 15);
        assert_eq!(
            IovKey::from_value(k.value(TimeType::Lumi), TimeType::Lumi),
            k
        );
        assert_eq!("362000:15".parse::<IovKey>().unwrap(), k);
        assert_eq!("7".parse::<IovKey>().unwrap(), IovKey::new(7, 0));
        assert!("7:".parse::<IovKey>().is_err());
        assert!("-1".parse::<IovKey>().is_err());
        assert_eq!(
            TimeType::Lumi.format_key(k.value(TimeType::Lumi)),
            "362000:15"
        );
    }

    #[test]
    fn contains_is_half_open_in_key_units() {
        let r = Resolved {
            global_tag: "G".into(),
            record: "R".into(),
            label: String::new(),
            tag: "T".into(),
            payload_hash: payload_hash(b"x"),
            object_type: "onnx".into(),
            since: IovKey::new(5, 10).value(TimeType::Lumi),
            till: IovKey::new(6, 0).value(TimeType::Lumi),
            time_type: TimeType::Lumi,
        };
        assert!(r.contains(IovKey::new(5, 10)));
        assert!(r.contains(IovKey::new(5, u32::MAX)));
        assert!(!r.contains(IovKey::new(5, 9)));
        assert!(!r.contains(IovKey::new(6, 0)));
    }

    #[test]
    fn payload_hash_is_sha256_hex() {
        assert_eq!(
            payload_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
