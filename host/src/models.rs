//! Which model serves an event, and the process-wide cache of loaded models.
//!
//! A [`ModelSource`] answers "which payload is valid for (record, label) at this event, and for
//! which range of events" and hands out payload bytes by hash. The [`ModelCache`] turns a hash
//! into a loaded model exactly once per process, whatever the number of threads asking.

use crate::error::{Error, Result};
use crate::runtime::{self, LoadOptions, Model};
use hepinfer_plugin_api::EventKey;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Which payload is valid for an event, and for which range of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// SHA-256 of the payload (lower-case hex).
    pub hash: String,
    /// Payload object type (`onnx`, `torchscript`).
    pub object_type: String,
    /// First key of validity.
    pub since: u64,
    /// First key after validity (exclusive); `u64::MAX` when open-ended.
    pub till: u64,
    /// Whether keys are `run << 32 | lumi` (lumi-based tag) rather than the run number.
    pub lumi_based: bool,
    /// Where the answer came from (tag name, file path), for messages and provenance.
    pub origin: String,
}

impl Resolution {
    /// The key of `event` in this resolution's time type.
    #[inline]
    pub fn key_of(&self, event: EventKey) -> u64 {
        if self.lumi_based {
            (u64::from(event.run) << 32) | u64::from(event.lumi)
        } else {
            u64::from(event.run)
        }
    }

    /// Whether `event` lies in `[since, till)`. The only cost on the hot path.
    #[inline]
    pub fn contains(&self, event: EventKey) -> bool {
        let k = self.key_of(event);
        self.since <= k && k < self.till
    }
}

/// A source of models: the conditions database, or plain files.
pub trait ModelSource: Send + Sync {
    /// Which payload serves (record, label) at `event`.
    fn resolve(&self, record: &str, label: &str, event: EventKey) -> Result<Resolution>;
    /// The bytes of payload `hash` (object type, data), verified against the hash.
    fn fetch(&self, hash: &str) -> Result<(String, Vec<u8>)>;
    /// Checks, when an instance is created, that (record, label) can be served at all (e.g. the
    /// global tag maps it), so a misconfigured job fails at start-up instead of on every event.
    fn check(&self, _record: &str, _label: &str) -> Result<()> {
        Ok(())
    }
}

/// SHA-256 of `data` as lower-case hex: the conditions database's payload identity, which a model
/// given as a file shares.
pub use hepinfer_conddb::payload_hash;

/// Models given as files in the host configuration (`"models": {"Record/label": "path"}`),
/// valid for every event. The hash is computed from the file when first asked and checked again
/// whenever the bytes are read.
pub struct FileSource {
    files: HashMap<String, PathBuf>,
    resolved: Mutex<HashMap<String, (String, String, PathBuf)>>, // key -> (hash, type, path)
}

impl FileSource {
    /// A source over `"record/label" -> path`.
    pub fn new(files: impl IntoIterator<Item = (String, PathBuf)>) -> Self {
        FileSource {
            files: files.into_iter().collect(),
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the source knows (record, label).
    pub fn has(&self, record: &str, label: &str) -> bool {
        self.files.contains_key(&key(record, label))
    }
}

fn key(record: &str, label: &str) -> String {
    if label.is_empty() {
        record.to_string()
    } else {
        format!("{record}/{label}")
    }
}

fn object_type_of(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("pt") | Some("torchscript") => "torchscript",
        Some("kserve") => "kserve",
        _ => "onnx",
    }
}

impl ModelSource for FileSource {
    fn resolve(&self, record: &str, label: &str, _event: EventKey) -> Result<Resolution> {
        let k = key(record, label);
        let mut cache = self.resolved.lock();
        if let Some((hash, ty, path)) = cache.get(&k) {
            return Ok(Resolution {
                hash: hash.clone(),
                object_type: ty.clone(),
                since: 0,
                till: u64::MAX,
                lumi_based: false,
                origin: path.display().to_string(),
            });
        }
        let path = self.files.get(&k).ok_or_else(|| {
            Error::Model(format!("no model configured for record '{record}' label '{label}' (host config 'models' key \"{k}\")"))
        })?;
        let data = std::fs::read(path).map_err(|e| {
            Error::Model(format!("cannot read model file '{}': {e}", path.display()))
        })?;
        let hash = payload_hash(&data);
        let ty = object_type_of(path).to_string();
        cache.insert(k, (hash.clone(), ty.clone(), path.clone()));
        Ok(Resolution {
            hash,
            object_type: ty,
            since: 0,
            till: u64::MAX,
            lumi_based: false,
            origin: path.display().to_string(),
        })
    }

    fn fetch(&self, hash: &str) -> Result<(String, Vec<u8>)> {
        let find = || {
            self.resolved
                .lock()
                .values()
                .find(|(h, _, _)| h == hash)
                .cloned()
        };
        let mut found = find();
        if found.is_none() {
            // A payload asked for by hash before its key (a remote model's local fallback,
            // configured under a key of its own): hash every configured file once.
            for k in self.files.keys() {
                let (record, label) = k.split_once('/').unwrap_or((k.as_str(), ""));
                let _ = self.resolve(record, label, EventKey::default());
            }
            found = find();
        }
        let (_, ty, path) = found.ok_or_else(|| Error::Model(format!("unknown payload {hash}")))?;
        let data = std::fs::read(&path).map_err(|e| {
            Error::Model(format!("cannot read model file '{}': {e}", path.display()))
        })?;
        let got = payload_hash(&data);
        if got != hash {
            return Err(Error::Model(format!(
                "model file '{}' changed while the job ran: expected SHA-256 {hash}, now {got}",
                path.display()
            )));
        }
        Ok((ty, data))
    }
}

/// A model loaded in the process, with what identifies it.
pub struct LoadedModel {
    /// SHA-256 of the payload it was loaded from (provenance).
    pub hash: String,
    /// Payload object type.
    pub object_type: String,
    /// Payload size in bytes (what the cache budget counts).
    pub size: u64,
    /// The runnable model.
    pub model: Arc<dyn Model>,
    /// The cache clock when the model was last used (least recently used goes first).
    last_used: AtomicU64,
}

enum Slot {
    Loading,
    Ready(Arc<LoadedModel>),
}

/// Loaded models by payload hash: one per hash per process, single-flight loading, LRU eviction
/// of models nobody holds when over the memory budget.
pub struct ModelCache {
    slots: Mutex<HashMap<String, Slot>>,
    loaded: Condvar,
    budget: u64,
    opts: LoadOptions,
    clock: AtomicU64,
    loads: AtomicU64,
    warn: Option<runtime::WarnFn>,
}

impl ModelCache {
    /// An empty cache with a budget in bytes.
    pub fn new(budget: u64, opts: LoadOptions) -> Self {
        ModelCache {
            slots: Mutex::new(HashMap::new()),
            loaded: Condvar::new(),
            budget,
            opts,
            clock: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            warn: None,
        }
    }

    /// Where models that keep running in a degraded way (a remote model on its local fallback)
    /// send their warnings.
    pub fn with_warnings(mut self, warn: runtime::WarnFn) -> Self {
        self.warn = Some(warn);
        self
    }

    /// Number of model loads performed so far (for tests and stats).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Hashes of the models currently loaded.
    pub fn loaded_hashes(&self) -> Vec<String> {
        let slots = self.slots.lock();
        let mut v: Vec<String> = slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Ready(_)))
            .map(|(h, _)| h.clone())
            .collect();
        v.sort();
        v
    }

    /// Marks `model` as used now, for the least-recently-used order, without taking the cache's
    /// lock: instances call it on their lock-free path. It writes only when the cache's clock
    /// moved since the last mark, so threads sharing a model do not fight over its cache line.
    #[inline]
    pub fn touch(&self, model: &LoadedModel) {
        let now = self.clock.load(Ordering::Relaxed);
        if model.last_used.load(Ordering::Relaxed) < now {
            model.last_used.store(now, Ordering::Relaxed);
        }
    }

    /// The model for `r`, loading it from `source` if no thread has yet. Threads asking for a
    /// model being loaded wait for that load; threads using other models are not blocked (the
    /// load runs outside the lock).
    pub fn get(&self, r: &Resolution, source: &dyn ModelSource) -> Result<Arc<LoadedModel>> {
        let mut slots = self.slots.lock();
        loop {
            match slots.get_mut(&r.hash) {
                Some(Slot::Ready(model)) => {
                    let t = self.clock.fetch_add(1, Ordering::Relaxed);
                    model.last_used.store(t, Ordering::Relaxed);
                    return Ok(model.clone());
                }
                Some(Slot::Loading) => self.loaded.wait(&mut slots),
                None => break,
            }
        }
        slots.insert(r.hash.clone(), Slot::Loading);
        drop(slots);

        let result = (|| {
            let (object_type, data) = source.fetch(&r.hash)?;
            let got = payload_hash(&data);
            if got != r.hash {
                return Err(Error::Model(format!(
                    "payload integrity check failed: expected SHA-256 {}, got {got}; refusing to load it",
                    r.hash
                )));
            }
            // A payload may name another by hash (a remote model's local fallback): loaded
            // through this cache, so it is shared with any local use of the same payload.
            let load_payload = |hash: &str| -> Result<Arc<dyn Model>> {
                let (ty, _) = source.fetch(hash)?;
                if !matches!(ty.as_str(), "onnx" | "torchscript") {
                    return Err(Error::Model(format!(
                        "payload {hash} is of object type '{ty}', not a local model"
                    )));
                }
                let r = Resolution {
                    hash: hash.to_string(),
                    object_type: ty,
                    since: 0,
                    till: u64::MAX,
                    lumi_based: false,
                    origin: format!("fallback of payload {}", r.hash),
                };
                Ok(self.get(&r, source)?.model.clone())
            };
            let ctx = runtime::LoadContext {
                load_payload: Some(&load_payload),
                warn: self.warn.clone(),
            };
            let model = runtime::load_with(&object_type, &data, &self.opts, &ctx)?;
            self.loads.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(LoadedModel {
                hash: r.hash.clone(),
                object_type,
                size: data.len() as u64,
                model,
                last_used: AtomicU64::new(0),
            }))
        })();

        let mut slots = self.slots.lock();
        match &result {
            Ok(m) => {
                let t = self.clock.fetch_add(1, Ordering::Relaxed);
                m.last_used.store(t, Ordering::Relaxed);
                slots.insert(r.hash.clone(), Slot::Ready(m.clone()));
                self.evict(&mut slots);
            }
            Err(_) => {
                slots.remove(&r.hash);
            }
        }
        self.loaded.notify_all();
        result
    }

    /// Drops least-recently-used models that only the cache holds until under budget.
    fn evict(&self, slots: &mut HashMap<String, Slot>) {
        loop {
            let total: u64 = slots
                .values()
                .map(|s| match s {
                    Slot::Ready(model) => model.size,
                    Slot::Loading => 0,
                })
                .sum();
            if total <= self.budget {
                return;
            }
            let victim = slots
                .iter()
                .filter_map(|(h, s)| match s {
                    // Instances hold models weakly between calls: only calls in flight pin them.
                    Slot::Ready(model) if Arc::strong_count(model) == 1 => {
                        Some((model.last_used.load(Ordering::Relaxed), h.clone()))
                    }
                    _ => None,
                })
                .min();
            match victim {
                Some((_, h)) => {
                    slots.remove(&h);
                }
                None => return, // everything over budget is in use
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SessionMode;
    use std::path::Path;

    fn cache(budget: u64) -> ModelCache {
        crate::runtime::onnx::environment(None)
            .expect("ONNX Runtime (scripts/fetch-onnxruntime.sh)");
        ModelCache::new(
            budget,
            LoadOptions {
                intra_op_threads: 1,
                session_mode: SessionMode::Shared,
                pool_size: 1,
                cpu_arena: false,
                native_kernels: true,
            },
        )
    }

    fn source() -> (FileSource, Resolution, Resolution) {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/seq-classifier/model");
        let src = FileSource::new([
            ("A".to_string(), d.join("model.onnx")),
            ("B".to_string(), d.join("model_v2.onnx")),
        ]);
        let a = src.resolve("A", "", EventKey::default()).unwrap();
        let b = src.resolve("B", "", EventKey::default()).unwrap();
        (src, a, b)
    }

    #[test]
    fn over_budget_evicts_the_least_recently_used_model_nobody_holds() {
        let (src, a, b) = source();
        // Room for one model only.
        let c = cache(100_000);
        drop(c.get(&a, &src).unwrap());
        assert_eq!(c.loaded_hashes(), vec![a.hash.clone()]);
        let held_b = c.get(&b, &src).unwrap();
        assert_eq!(
            c.loaded_hashes(),
            vec![b.hash.clone()],
            "A, unused, made room for B"
        );
        // B is in use: loading A again goes over budget rather than pull B from under its user.
        let held_a = c.get(&a, &src).unwrap();
        let mut both = vec![a.hash.clone(), b.hash.clone()];
        both.sort();
        assert_eq!(c.loaded_hashes(), both);
        assert_eq!(c.loads(), 3);
        drop(held_b);
        // Eviction happens when a model is inserted: B, no longer used, is still there meanwhile.
        let again_b = c.get(&b, &src).unwrap();
        assert_eq!(c.loads(), 3);
        drop(again_b);
        // With A still held, A is never the victim: dropping B's users and asking for A is a hit.
        assert!(Arc::ptr_eq(&held_a, &c.get(&a, &src).unwrap()));
        drop(held_a);
        // Within budget nothing is reloaded.
        let big = cache(u64::MAX);
        for _ in 0..3 {
            big.get(&a, &src).unwrap();
            big.get(&b, &src).unwrap();
        }
        assert_eq!(big.loads(), 2);
    }

    #[test]
    fn a_payload_whose_bytes_changed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.onnx");
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/seq-classifier/model");
        std::fs::copy(d.join("model.onnx"), &f).unwrap();
        let src = FileSource::new([("R".to_string(), f.clone())]);
        let r = src.resolve("R", "", EventKey::default()).unwrap();
        let mut bytes = std::fs::read(&f).unwrap();
        let n = bytes.len() / 2;
        bytes[n] ^= 1;
        std::fs::write(&f, bytes).unwrap();
        let e = cache(u64::MAX)
            .get(&r, &src)
            .err()
            .expect("changed bytes must be refused")
            .to_string();
        assert!(e.contains("changed while the job ran"), "{e}");
    }
}
