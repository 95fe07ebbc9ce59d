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
    /// Models given directly as files, keyed `"record/label"`: for development and tests, and
    /// for jobs without a conditions database. Valid for every event.
    #[serde(default)]
    pub models: BTreeMap<String, PathBuf>,
    /// Conditions database URL (`sqlite:///path` or `postgresql://...`).
    #[serde(default)]
    pub conddb: Option<String>,
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
fn default_cache_budget() -> u64 {
    1 << 30
}

impl HostConfig {
    /// Parses and checks a host configuration.
    pub fn from_json(text: &str) -> Result<Self> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let cfg: HostConfig = serde_json::from_str(text)
            .map_err(|e| Error::InvalidConfig(format!("host config: {e}")))?;
        if cfg.intra_op_threads == 0 {
            return Err(Error::InvalidConfig(
                "host config: intra_op_threads must be ≥ 1".into(),
            ));
        }
        if cfg.session_pool_size == 0 {
            return Err(Error::InvalidConfig(
                "host config: session_pool_size must be ≥ 1".into(),
            ));
        }
        crate::logging::parse_level(&cfg.log_level)?;
        if cfg.conddb.is_some() != cfg.global_tag.is_some() {
            return Err(Error::InvalidConfig(
                "host config: 'conddb' and 'global_tag' must be given together".into(),
            ));
        }
        Ok(cfg)
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
        let obj = value.as_object_mut().ok_or_else(|| {
            Error::InvalidConfig("instance config: expected a JSON object".into())
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
    }

    #[test]
    fn instance_config_splits_host_keys() {
        let c = InstanceConfig::from_json(r#"{"model_labels": {"m": "v2"}, "f_c": 0.1}"#).unwrap();
        assert_eq!(c.model_labels["m"], "v2");
        assert_eq!(c.plugin_json, r#"{"f_c":0.1}"#);
        assert!(InstanceConfig::from_json("[1]").is_err());
    }
}
