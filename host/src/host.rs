//! The host: configuration, plugins, model source and cache, shared by all instances of a job.

use crate::abi::hepinfer_log_callback;
use crate::config::{HostConfig, InstanceConfig};
use crate::error::{Error, Result};
use crate::instance::{Instance, PluginObject};
use crate::loader::{self, PluginRegistry};
use crate::logging::{parse_level, LogSink, Logger};
use crate::models::{FileSource, ModelCache, ModelSource};
use crate::runtime::{self, LoadOptions};
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RStr};
use hepinfer_plugin_api::{HostServices, HostServices_TO, LogLevel};
use std::ffi::c_void;
use std::sync::Arc;

/// One job's inference host. Create it once; share it by reference among threads.
pub struct Host {
    config: HostConfig,
    logger: Arc<Logger>,
    registry: PluginRegistry,
    source: Arc<dyn ModelSource>,
    cache: Arc<ModelCache>,
    ort: Arc<runtime::onnx::OrtEnv>,
    // The batching flusher thread, started by the first queued asynchronous request.
    flusher: Arc<crate::batch::Flusher>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.flusher.stop();
    }
}

struct Services(Arc<Logger>);

impl HostServices for Services {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        // Called by plugins through abi_stable's vtable, which aborts on unwinding.
        let _ = crate::error::catch(|| {
            self.0.log(level, message.as_str());
            Ok(())
        });
    }
}

/// `config` with its `payload_cache` dropped, and a warning logged, when the directory cannot be
/// created: the cache only saves time, so a job must not fail for want of it.
fn usable_cache(config: &HostConfig, logger: &Logger) -> HostConfig {
    let mut config = config.clone();
    if let Some(dir) = &config.payload_cache {
        if let Err(e) = std::fs::create_dir_all(dir) {
            logger.log(
                LogLevel::Warn,
                &format!(
                    "payload_cache '{}' cannot be created ({e}): running without a payload cache",
                    dir.display()
                ),
            );
            config.payload_cache = None;
        }
    }
    config
}

impl Host {
    /// Creates a host from its JSON configuration, with an optional C log callback.
    pub fn new(
        config_json: &str,
        log: hepinfer_log_callback,
        user_data: *mut c_void,
    ) -> Result<Host> {
        Self::with_log_sink(config_json, LogSink::from_c(log, user_data))
    }

    /// Creates a host from its JSON configuration, logging to `sink`.
    pub fn with_log_sink(config_json: &str, sink: LogSink) -> Result<Host> {
        let config = HostConfig::from_json(config_json)?;
        let logger = Arc::new(Logger::new(parse_level(&config.log_level)?, sink));
        let ort = runtime::onnx::environment(config.onnxruntime.as_deref())?;
        logger.log(
            LogLevel::Info,
            &format!("ONNX Runtime {} from {}", ort.version, ort.path.display()),
        );
        let dirs = loader::search_dirs(&config.plugin_dirs)?;
        let registry = PluginRegistry::scan(&dirs)?;
        logger.log(
            LogLevel::Info,
            &format!(
                "plugins found: {} (searched {:?})",
                registry.names().join(", "),
                dirs
            ),
        );
        let source: Arc<dyn ModelSource> = match (&config.conddb, &config.global_tag) {
            (Some(url), Some(gt)) => {
                if !config.models.is_empty() {
                    return Err(Error::InvalidConfig(
                        "give models either as files ('models') or through a conditions database ('conddb'), not both".into(),
                    ));
                }
                let source = crate::conditions::CondSource::open(&usable_cache(&config, &logger))?;
                logger.log(
                    LogLevel::Info,
                    // Display of the URLs redacts passwords (conddb's `redact_url`).
                    &format!("conditions: global tag '{gt}' from {url}"),
                );
                Arc::new(source)
            }
            _ => Arc::new(FileSource::new(config.models.clone())),
        };
        let opts = LoadOptions {
            intra_op_threads: config.intra_op_threads,
            session_mode: config.session_mode,
            pool_size: config.session_pool_size,
            cpu_arena: config.cpu_arena,
            native_kernels: config.native_kernels,
        };
        let warn_to = logger.clone();
        let cache = Arc::new(
            ModelCache::new(config.model_cache_bytes, opts)
                .with_warnings(Arc::new(move |m: &str| warn_to.log(LogLevel::Warn, m))),
        );
        Ok(Host {
            config,
            logger,
            registry,
            source,
            cache,
            ort,
            flusher: crate::batch::Flusher::new(),
        })
    }

    /// Creates an instance of plugin `plugin` with its JSON configuration.
    pub fn instance(&self, plugin: &str, config_json: &str) -> Result<Instance> {
        let p = self.registry.get(plugin)?;
        let cfg = InstanceConfig::from_json(config_json)?;
        let services = HostServices_TO::from_value(Services(self.logger.clone()), TD_Opaque);
        let services: HostServices_TO<'static, RBox<()>> = services;
        // Every model the instance will need must be servable: fail here, once, not per event.
        for m in p.info.models.iter() {
            let label = cfg
                .model_labels
                .get(m.name.as_str())
                .map_or(m.label.as_str(), String::as_str);
            self.source.check(&m.record, label).map_err(|e| match e {
                Error::Conditions(msg) => {
                    Error::Conditions(format!("instance of '{plugin}', model '{}': {msg}", m.name))
                }
                other => other,
            })?;
        }
        let settings = self.config.batching.merged(&cfg.batching).settings()?;
        // Plugins built before plugin ABI 1.1 have no staged module: they run unbatched.
        let inner = match p.staged.map(|m| m.create_staged()) {
            Some(create) => create(RStr::from_str(&cfg.plugin_json), services)
                .into_result()
                .map(|i| PluginObject::Staged(Arc::new(i))),
            None => (p.module.create())(RStr::from_str(&cfg.plugin_json), services)
                .into_result()
                .map(PluginObject::Plain),
        }
        .map_err(|e| Error::from_plugin(plugin, e))?;
        Instance::new(
            p.info.clone(),
            inner,
            &cfg.model_labels,
            self.source.clone(),
            self.cache.clone(),
            self.logger.clone(),
            (settings, self.flusher.clone()),
        )
    }

    /// Whether the batching flusher thread has been started.
    pub fn batch_thread_started(&self) -> bool {
        self.flusher.started()
    }

    /// The plugins this host found.
    pub fn plugins(&self) -> &PluginRegistry {
        &self.registry
    }

    /// The process-wide model cache.
    pub fn model_cache(&self) -> &Arc<ModelCache> {
        &self.cache
    }

    /// The configuration the host was created with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The ONNX Runtime this host uses.
    pub fn onnxruntime(&self) -> &runtime::onnx::OrtEnv {
        &self.ort
    }

    /// The host's logger.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }
}
