//! JSON configuration of the host and of instances.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How one loaded ONNX model serves concurrent calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// One ONNX Runtime session shared by all threads, `Run` called concurrently (the default;
    /// see `runtime::onnx` for why this is sound).
    #[default]
    Shared,
    /// A small pool of sessions sharing one prepacked-weights container; each call takes a free
    /// session. The fallback if shared `Run` is ever found unsafe for a model.
    Pool,
}

/// Host configuration, given as JSON to `hepinfer_host_create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Directories searched for plugin `.so` files (besides `HEPINFER_PLUGIN_PATH`).
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Path of `libonnxruntime.so`; else `ORT_DYLIB_PATH`, else the copy installed beside
    /// `libhepinfer.so`, else the one the build fetched.
    #[serde(default)]
    pub onnxruntime: Option<PathBuf>,
    /// Intra-op threads per model (default 1: the framework owns parallelism).
    #[serde(default = "one")]
    pub intra_op_threads: usize,
    /// Minimum level passed to the log callback: trace, debug, info, warn, error.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Concurrency mode of ONNX sessions.
    #[serde(default)]
    pub session_mode: SessionMode,
    /// Sessions per model in [`SessionMode::Pool`].
    #[serde(default = "default_pool")]
    pub session_pool_size: usize,
    /// ONNX Runtime's CPU memory arena. Off by default: its mutex serialises concurrent `Run`s on
    /// one session (measured: 1.0–1.25× with 2 threads with it on, 1.9× off).
    #[serde(default)]
    pub cpu_arena: bool,
    /// Serve ONNX recurrent classifiers (an LSTM read at each row's last real step, dense layers,
    /// softmax: the b-tag RNN) with hepinfer's native kernel instead of ONNX Runtime, after
    /// checking at load that both agree to 1e-5 (default on; ~3× less per small call).
    #[serde(default = "yes")]
    pub native_kernels: bool,
    /// Models given directly as files, keyed `"record/label"`: for development and tests, and
    /// for jobs without a conditions database. Valid for every event.
    #[serde(default)]
    pub models: BTreeMap<String, PathBuf>,
    /// Conditions database: `sqlite:///path`, `postgresql://...`, or `hepinfer conddb serve`
    /// services `http://host:port` (one, or a list tried in order).
    #[serde(default)]
    pub conddb: Option<ConddbUrls>,
    /// HTTP proxies (Squid) for `http://` conditions services, tried in order before going
    /// direct; default: the `http_proxy` environment variable.
    #[serde(default)]
    pub proxies: Vec<String>,
    /// How long one call may wait for the conditions database when its event needs IOVs or a
    /// payload not read yet, in milliseconds. Events in IOVs already read never wait.
    #[serde(default = "default_conddb_deadline")]
    pub conddb_deadline_ms: u64,
    /// Global tag used to resolve models in the conditions database.
    #[serde(default)]
    pub global_tag: Option<String>,
    /// Job-level overrides (CMS `toGet`): take (record, label) from `tag` instead of the global tag's mapping.
    #[serde(default)]
    pub overrides: Vec<TagOverride>,
    /// Local payload cache directory shared by jobs on a node.
    #[serde(default)]
    pub payload_cache: Option<PathBuf>,
    /// Retries of a failing database request before giving up.
    #[serde(default = "default_retries")]
    pub db_retries: u32,
    /// Base delay of the exponential backoff between retries, in milliseconds.
    #[serde(default = "default_backoff")]
    pub db_backoff_ms: u64,
    /// Memory budget of the model cache in bytes (payload sizes); models in use are never evicted.
    #[serde(default = "default_cache_budget")]
    pub model_cache_bytes: u64,
    /// Cross-event batching of asynchronous calls, for every instance (`crate::batch`).
    #[serde(default)]
    pub batching: crate::batch::BatchingConfig,
}

/// The `conddb` key: one URL or a list of `http://` services (failover order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConddbUrls(pub Vec<String>);

impl<'de> Deserialize<'de> for ConddbUrls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(ConddbUrls(match OneOrMany::deserialize(d)? {
            OneOrMany::One(u) => vec![u],
            OneOrMany::Many(v) => v,
        }))
    }
}

impl std::fmt::Display for ConddbUrls {
    /// The URLs, passwords redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<String> = self
            .0
            .iter()
            .map(|u| hepinfer_conddb::redact_url(u))
            .collect();
        f.write_str(&v.join(", "))
    }
}

/// One job-level override of the global tag's mapping.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TagOverride {
    /// Conditions record.
    pub record: String,
    /// Label within the record.
    #[serde(default)]
    pub label: String,
    /// Tag to read instead.
    pub tag: String,
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}
fn default_log_level() -> String {
    "info".into()
}
fn default_pool() -> usize {
    2
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    200
}
fn default_conddb_deadline() -> u64 {
    10_000
}
fn default_cache_budget() -> u64 {
    1 << 30
}

/// The allowed range of every numeric host configuration key: `(key, min, max, unit)`.
/// Values outside it are refused at host creation with `HEPINFER_INVALID_CONFIG`: a pool of
/// 10⁸ sessions once aborted a job on its first call instead of failing at start-up.
pub const NUMERIC_LIMITS: &[(&str, u64, u64, &str)] = &[
    // More threads per call than any node has cores only oversubscribes the machine.
    ("intra_op_threads", 1, 256, "threads"),
    // Each session holds its own copy of the activations: a pool of 1000 cost 2.2 s and 370 MB.
    ("session_pool_size", 1, 64, "sessions"),
    // 0 keeps only models in use; 1 TiB is far beyond any node's memory.
    ("model_cache_bytes", 0, 1 << 40, "bytes"),
    ("db_retries", 0, 10, "retries"),
    // Backoff doubles per retry and is capped at 60 s per wait anyway.
    ("db_backoff_ms", 0, 60_000, "ms"),
    // 0 would fail every read; an hour is longer than any job should wait for one.
    ("conddb_deadline_ms", 1, 3_600_000, "ms"),
];

/// Checks the numeric keys of a host configuration object against [`NUMERIC_LIMITS`], before
/// serde sees them (its messages would not name the key).
fn check_numeric(obj: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    for &(key, min, max, unit) in NUMERIC_LIMITS {
        let Some(v) = obj.get(key) else { continue };
        let in_range = v.as_u64().filter(|n| (min..=max).contains(n));
        if in_range.is_none() {
            return Err(Error::InvalidConfig(format!(
                "host config: {key} = {v} is out of range: expected an integer from {min} to {max} ({unit})"
            )));
        }
    }
    Ok(())
}

impl HostConfig {
    /// Parses and checks a host configuration: a JSON object (an empty string means `{}`).
    pub fn from_json(text: &str) -> Result<Self> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::InvalidConfig(format!("host config: {e}")))?;
        // serde would also accept a struct as a JSON array of its fields in order: refuse it.
        let Some(obj) = value.as_object() else {
            return Err(Error::InvalidConfig(format!(
                "host config: expected a JSON object {{\"key\": value, ...}}, got {}",
                json_kind(&value)
            )));
        };
        check_numeric(obj)?;
        let cfg: HostConfig = serde_json::from_value(value)
            .map_err(|e| Error::InvalidConfig(format!("host config: {e}")))?;
        crate::logging::parse_level(&cfg.log_level)?;
        if cfg.conddb.is_some() != cfg.global_tag.is_some() {
            return Err(Error::InvalidConfig(
                "host config: 'conddb' and 'global_tag' must be given together".into(),
            ));
        }
        if let Some(urls) = &cfg.conddb {
            let http = urls.0.iter().filter(|u| u.starts_with("http://")).count();
            if urls.0.is_empty() || (urls.0.len() > 1 && http != urls.0.len()) {
                return Err(Error::InvalidConfig(format!(
                    "host config: 'conddb' must be one URL or a list of http:// services, got [{urls}]"
                )));
            }
            if !cfg.proxies.is_empty() && http == 0 {
                return Err(Error::InvalidConfig(
                    "host config: 'proxies' apply to http:// conditions services only".into(),
                ));
            }
        }
        Ok(cfg)
    }
}

/// The JSON type of `v`, for messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Host-side part of an instance configuration: the JSON object given to
/// `hepinfer_instance_create` may carry `"model_labels": {"<model>": "<label>"}`; the rest goes to
/// the plugin unchanged.
#[derive(Debug, Clone, Default)]
pub struct InstanceConfig {
    /// Label per model name, overriding the plugin's default label.
    pub model_labels: BTreeMap<String, String>,
    /// The configuration passed to the plugin (JSON text).
    pub plugin_json: String,
    /// `"batching": {...}`: overrides of the host's batching settings for this instance.
    pub batching: crate::batch::BatchingConfig,
}

impl InstanceConfig {
    /// Splits an instance configuration into its host and plugin parts.
    pub fn from_json(text: &str) -> Result<Self> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let mut value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::InvalidConfig(format!("instance config: {e}")))?;
        let kind = json_kind(&value);
        let obj = value.as_object_mut().ok_or_else(|| {
            Error::InvalidConfig(format!(
                "instance config: expected a JSON object, got {kind}"
            ))
        })?;
        let model_labels = match obj.remove("model_labels") {
            None => BTreeMap::new(),
            Some(v) => serde_json::from_value(v)
                .map_err(|e| Error::InvalidConfig(format!("instance config: model_labels: {e}")))?,
        };
        let batching = match obj.remove("batching") {
            None => Default::default(),
            Some(v) => serde_json::from_value(v)
                .map_err(|e| Error::InvalidConfig(format!("instance config: batching: {e}")))?,
        };
        Ok(InstanceConfig {
            batching,
            model_labels,
            plugin_json: value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = HostConfig::from_json("{}").unwrap();
        assert_eq!(c.intra_op_threads, 1);
        assert_eq!(c.session_mode, SessionMode::Shared);
        assert!(!c.cpu_arena);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let e = HostConfig::from_json(r#"{"plugin_dir": []}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `plugin_dir`"), "{e}");
        assert!(HostConfig::from_json(r#"{"intra_op_threads": 0}"#).is_err());
        assert!(HostConfig::from_json(r#"{"log_level": "loud"}"#).is_err());
        assert!(HostConfig::from_json("{not json").is_err());
        assert!(HostConfig::from_json(r#"{"conddb": "sqlite:///x"}"#).is_err());
        let two = HostConfig::from_json(
            r#"{"conddb": ["http://a:1", "http://b:2"], "global_tag": "G", "proxies": ["http://squid:3128"]}"#,
        )
        .unwrap();
        assert_eq!(two.conddb.unwrap().0.len(), 2);
        for bad in [
            r#"{"conddb": [], "global_tag": "G"}"#,
            r#"{"conddb": ["sqlite:///a", "http://b:2"], "global_tag": "G"}"#,
            r#"{"conddb": "sqlite:///a", "global_tag": "G", "proxies": ["http://s:3128"]}"#,
            r#"{"conddb": 5, "global_tag": "G"}"#,
        ] {
            assert!(HostConfig::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instance_config_splits_host_keys() {
        let c = InstanceConfig::from_json(r#"{"model_labels": {"m": "v2"}, "f_c": 0.1}"#).unwrap();
        assert_eq!(c.model_labels["m"], "v2");
        assert_eq!(c.plugin_json, r#"{"f_c":0.1}"#);
        assert!(InstanceConfig::from_json("[1]").is_err());
    }

    #[test]
    fn numeric_keys_are_bounded_and_named_in_the_error() {
        let e = HostConfig::from_json(r#"{"session_pool_size": 100000000}"#).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("session_pool_size") && m.contains("100000000") && m.contains("1 to 64"),
            "{m}"
        );
        assert!(matches!(e, Error::InvalidConfig(_)));
        for bad in [
            r#"{"intra_op_threads": 0}"#,
            r#"{"intra_op_threads": 100000}"#,
            r#"{"intra_op_threads": -1}"#,
            r#"{"intra_op_threads": 1.5}"#,
            r#"{"intra_op_threads": "2"}"#,
            r#"{"session_pool_size": 0}"#,
            r#"{"model_cache_bytes": 1e300}"#,
            r#"{"model_cache_bytes": 18446744073709551615}"#,
            r#"{"db_retries": 4294967296}"#,
            r#"{"db_retries": 11}"#,
            r#"{"db_backoff_ms": 3600000}"#,
        ] {
            let e = HostConfig::from_json(bad).unwrap_err().to_string();
            let key = bad.split('"').nth(1).unwrap();
            assert!(e.contains(key) && e.contains("out of range"), "{bad}: {e}");
        }
        for good in [
            r#"{"intra_op_threads": 256, "session_pool_size": 64, "db_retries": 0}"#,
            r#"{"model_cache_bytes": 0, "db_backoff_ms": 60000}"#,
        ] {
            HostConfig::from_json(good).unwrap();
        }
    }

    #[test]
    fn the_host_config_must_be_an_object() {
        for bad in ["[]", "[[], null, 1]", "42", r#""{}""#, "null", "true"] {
            let e = HostConfig::from_json(bad).unwrap_err();
            assert!(
                e.to_string().contains("expected a JSON object"),
                "{bad}: {e}"
            );
        }
    }
}
