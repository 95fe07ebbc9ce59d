//! A configured plugin instance: validation, model lookup per event, the call into the plugin.

use crate::batch::{BatchCounters, BatchSettings, Batcher, Flusher, Request};
use crate::error::{Error, Result};
use crate::logging::Logger;
use crate::models::{LoadedModel, ModelCache, ModelSource, Resolution};
use crate::stats::Stats;
use crate::validate;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RStr, RVec};
use arc_swap::ArcSwap;
use hepinfer_plugin_api::{
    CallContext, CallContext_TO, EventKey, LogLevel, ModelSpec, PluginError, PluginInfo,
    PluginInstanceBox, StagedInstanceBox, Tensor, TensorView,
};
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// The model serving one call, with its provenance.
#[derive(Clone)]
struct Current {
    model: Arc<LoadedModel>,
    // Built once per interval of validity, so a call's provenance costs a reference count.
    provenance: Arc<Provenance>,
}

/// An interval of validity a slot has met: the answer and, weakly, its model. The model cache's
/// byte budget decides which models stay loaded; an evicted one is loaded again from the
/// payload (local payload cache first) when an event of its interval comes back.
struct Known {
    res: Resolution,
    provenance: Arc<Provenance>,
    model: Weak<LoadedModel>,
    // `Model::merging_pays` of the model (a property of the payload): lets `submit` choose its
    // path without touching the model's reference count, shared by every thread.
    merging_pays: bool,
}

/// One model an instance runs, with every interval of validity it has met, sorted by since
/// (the intervals of one tag do not overlap).
struct ModelSlot {
    name: String,
    record: String,
    label: String,
    known: ArcSwap<Vec<Arc<Known>>>,
    resolving: Mutex<()>,
}

impl ModelSlot {
    /// `f` of the known interval holding `event`: lock-free (an atomic load and a binary
    /// search).
    #[inline]
    fn with_known<T>(&self, event: EventKey, f: impl FnOnce(&Known) -> Option<T>) -> Option<T> {
        let known = self.known.load();
        let k = known.first()?.res.key_of(event);
        let i = known.partition_point(|e| e.res.since <= k).checked_sub(1)?;
        let e = &known[i];
        if k >= e.res.till {
            return None;
        }
        f(e)
    }

    /// The model for `event` if its interval is known and its model still loaded: lock-free
    /// (plus a weak-reference upgrade).
    #[inline]
    fn lookup(&self, event: EventKey) -> Option<Current> {
        self.with_known(event, |e| {
            Some(Current {
                model: e.model.upgrade()?,
                provenance: e.provenance.clone(),
            })
        })
    }

    /// Whether merging calls pays for the model of `event`'s interval, when that interval is
    /// known: without touching reference counts.
    #[inline]
    fn merging_pays(&self, event: EventKey) -> Option<bool> {
        self.with_known(event, |e| Some(e.merging_pays))
    }

    /// The known interval holding `event`, loaded or not.
    fn known_interval(&self, event: EventKey) -> Option<Arc<Known>> {
        let known = self.known.load();
        known.iter().find(|e| e.res.contains(event)).cloned()
    }

    /// Adds (or replaces, after a reload) the interval of `e`, keeping the list sorted.
    fn remember(&self, e: Known) {
        let mut v: Vec<Arc<Known>> = self.known.load().iter().cloned().collect();
        let i = v.partition_point(|x| x.res.since < e.res.since);
        if v.get(i).is_some_and(|x| x.res.since == e.res.since) {
            v[i] = Arc::new(e);
        } else {
            v.insert(i, Arc::new(e));
        }
        self.known.store(Arc::new(v));
    }
}

/// Provenance of one model used by a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Model name as the plugin calls it.
    pub model: String,
    /// Conditions record.
    pub record: String,
    /// Label.
    pub label: String,
    /// SHA-256 of the payload.
    pub hash: String,
    /// For a model the payload only points to (a remote model): what serves it — server(s),
    /// model name and version, and the SHA-256 the server reported for its model file.
    pub served_by: Option<String>,
}

impl Provenance {
    /// This provenance for a call that `served` says ran elsewhere: its description, and the
    /// hash of the payload that really ran (a remote model's local fallback) when it differs.
    fn served(&self, served: &crate::runtime::Served) -> Provenance {
        let hash = served
            .payload
            .as_deref()
            .map_or_else(|| self.hash.clone(), str::to_string);
        Provenance {
            served_by: Some(served.description.to_string()),
            hash,
            ..self.clone()
        }
    }
}

/// The outputs of one call and the models that produced them.
#[derive(Debug, Default)]
pub struct CallOutputs {
    /// Named output tensors.
    pub tensors: Vec<Tensor>,
    /// Every model used by the call (in first-use order).
    pub provenance: Vec<Arc<Provenance>>,
}

/// The plugin object of an instance: a plugin built before plugin ABI 1.1 offers only `process`.
pub(crate) enum PluginObject {
    /// `create` only: every call runs in one piece.
    Plain(PluginInstanceBox),
    /// `create_staged`: calls may also run as prepare → model → finish.
    Staged(Arc<StagedInstanceBox>),
}

/// What a completed asynchronous call receives: its outputs or its error.
pub type Completion = Box<dyn FnOnce(Result<CallOutputs>) + Send>;

/// A plugin instance as the host holds it. `process` may be called from many threads at once.
pub struct Instance {
    plugin: String,
    info: PluginInfo,
    inner: PluginObject,
    slots: Vec<ModelSlot>,
    source: Arc<dyn ModelSource>,
    cache: Arc<ModelCache>,
    logger: Arc<Logger>,
    stats: Arc<Stats>,
    // (slot of the batched model, its batcher) when the plugin opts in and batching is on.
    // Declared last but dropped explicitly first (see Drop): pending requests complete before
    // the rest of the instance goes.
    batching: Option<(usize, Batcher)>,
    batch_settings: BatchSettings,
    // What every asynchronous call's finish stage needs, behind one reference count (a staged
    // plugin only).
    finisher: Option<Arc<Finisher>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Shutdown with requests in flight: each is executed and completed, none is lost.
        if let Some((_, b)) = self.batching.take() {
            b.drain();
        }
    }
}

impl Instance {
    pub(crate) fn new(
        info: PluginInfo,
        inner: PluginObject,
        labels: &std::collections::BTreeMap<String, String>,
        source: Arc<dyn ModelSource>,
        cache: Arc<ModelCache>,
        logger: Arc<Logger>,
        batch: (BatchSettings, Arc<Flusher>),
    ) -> Result<Self> {
        for name in labels.keys() {
            if !info.models.iter().any(|m| m.name.as_str() == name) {
                let known: Vec<&str> = info.models.iter().map(|m| m.name.as_str()).collect();
                return Err(Error::InvalidConfig(format!(
                    "model_labels: plugin '{}' has no model '{name}' (its models: {known:?})",
                    info.name
                )));
            }
        }
        let slots = info
            .models
            .iter()
            .map(|m| ModelSlot {
                name: m.name.to_string(),
                record: m.record.to_string(),
                label: labels
                    .get(m.name.as_str())
                    .cloned()
                    .unwrap_or_else(|| m.label.to_string()),
                known: ArcSwap::from_pointee(Vec::new()),
                resolving: Mutex::new(()),
            })
            .collect();
        let (batch_settings, flusher) = batch;
        let batching = match &inner {
            PluginObject::Staged(p) if batch_settings.enabled => {
                match p.batched_model().into_option() {
                    None => None,
                    Some(name) => {
                        let index = info
                            .models
                            .iter()
                            .position(|m| m.name.as_str() == name.as_str())
                            .ok_or_else(|| {
                                Error::Internal(format!(
                                    "plugin '{}' batches model '{name}', which it does not declare",
                                    info.name
                                ))
                            })?;
                        Some((
                            index,
                            Batcher::new(batch_settings, flusher, logger.clone(), &info.name),
                        ))
                    }
                }
            }
            _ => None,
        };
        let stats = Arc::new(Stats::default());
        let finisher = match &inner {
            PluginObject::Staged(p) => Some(Arc::new(Finisher {
                plugin: p.clone(),
                name: info.name.to_string(),
                logger: logger.clone(),
                stats: stats.clone(),
            })),
            PluginObject::Plain(_) => None,
        };
        Ok(Instance {
            batching,
            batch_settings,
            plugin: info.name.to_string(),
            info,
            inner,
            slots,
            source,
            cache,
            logger,
            stats,
            finisher,
        })
    }

    /// The plugin's declarations.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Call statistics.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The plugin name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Resolves and loads every model for `event` now, so that configuration errors (no mapping,
    /// corrupt payload, signature mismatch) surface at set-up rather than at the first event.
    pub fn prefetch(&self, event: EventKey) -> Result<()> {
        for i in 0..self.slots.len() {
            self.model_for(i, event)?;
        }
        Ok(())
    }

    /// The model that serves `model` (a name from the plugin's `ModelSpec`s) for `event`:
    /// resolved and loaded if the event is outside every interval of validity seen so far.
    /// This is the lookup `hepinfer_process` does for each model a plugin runs.
    pub fn current_model(&self, model: &str, event: EventKey) -> Result<Arc<LoadedModel>> {
        let index = self
            .slots
            .iter()
            .position(|s| s.name == model)
            .ok_or_else(|| {
                Error::Model(format!("plugin '{}' has no model '{model}'", self.plugin))
            })?;
        Ok(self.model_for(index, event)?.model)
    }

    fn model_for(&self, index: usize, event: EventKey) -> Result<Current> {
        let slot = &self.slots[index];
        if let Some(c) = slot.lookup(event) {
            self.cache.touch(&c.model);
            return Ok(c);
        }
        // Slow path, once per slot per new interval of validity (or after the model cache
        // evicted the model): threads crossing the boundary together wait here for one
        // resolution; threads in a known interval whose model is loaded never get here.
        let _g = slot.resolving.lock();
        if let Some(c) = slot.lookup(event) {
            return Ok(c);
        }
        if let Some(known) = slot.known_interval(event) {
            // Known interval, model evicted: load it again (payload cache first, no resolution).
            let model = self.cache.get(&known.res, self.source.as_ref())?;
            slot.remember(Known {
                res: known.res.clone(),
                provenance: known.provenance.clone(),
                model: Arc::downgrade(&model),
                merging_pays: model.model.merging_pays(),
            });
            return Ok(Current {
                model,
                provenance: known.provenance.clone(),
            });
        }
        let res = self.source.resolve(&slot.record, &slot.label, event)?;
        let model = self.cache.get(&res, self.source.as_ref())?;
        check_signature(&self.plugin, &self.info.models[index], &model, &res)?;
        if self.logger.enabled(LogLevel::Info) {
            self.logger.log(
                LogLevel::Info,
                &format!(
                    "{}: model '{}' ({}/{}) for keys [{}, {}) is payload {} from {}",
                    self.plugin,
                    slot.name,
                    slot.record,
                    slot.label,
                    res.since,
                    if res.till == u64::MAX {
                        "∞".to_string()
                    } else {
                        res.till.to_string()
                    },
                    &res.hash[..12.min(res.hash.len())],
                    res.origin
                ),
            );
        }
        let provenance = Arc::new(Provenance {
            model: slot.name.clone(),
            record: slot.record.clone(),
            label: slot.label.clone(),
            hash: model.hash.clone(),
            served_by: model.model.describe(),
        });
        slot.remember(Known {
            res,
            provenance: provenance.clone(),
            model: Arc::downgrade(&model),
            merging_pays: model.model.merging_pays(),
        });
        Ok(Current { model, provenance })
    }

    /// Processes one call: checks `inputs` against the plugin's declarations, runs the plugin,
    /// checks what it returned.
    pub fn process(&self, event: EventKey, inputs: &[TensorView<'_>]) -> Result<CallOutputs> {
        self.recorded(|| self.process_inner(event, inputs))
    }

    /// Runs `f` as one call of this instance: timed and counted (as a failure when it errs) in
    /// the instance's statistics. The one place where calls are recorded; the C and C++ APIs
    /// wrap their input checks and [`Self::process_inner`] in it.
    pub(crate) fn recorded<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let result = f();
        self.stats.record(start.elapsed(), result.is_err());
        result
    }

    /// [`Self::process`] without recording it.
    pub(crate) fn process_inner(
        &self,
        event: EventKey,
        inputs: &[TensorView<'_>],
    ) -> Result<CallOutputs> {
        validate::check(&self.plugin, &self.info.inputs, inputs)?;
        let ctx = Ctx {
            inst: self,
            event,
            pinned: RefCell::new(SmallVec::new()),
            served: RefCell::new(SmallVec::new()),
        };
        let ctx_obj = CallContext_TO::from_ptr(&ctx, TD_Opaque);
        let out = match &self.inner {
            PluginObject::Plain(p) => p.process(ctx_obj, RSlice::from_slice(inputs)),
            PluginObject::Staged(p) => p.process(ctx_obj, RSlice::from_slice(inputs)),
        };
        let tensors = match out {
            RResult::ROk(t) => t.into_vec(),
            RResult::RErr(e) => {
                let e = Error::from_plugin(&self.plugin, e);
                if e.status() == crate::error::hepinfer_status::HEPINFER_PANIC {
                    // The plugin's panic was caught without printing: the framework's log gets it.
                    self.logger.log(LogLevel::Error, &e.to_string());
                }
                return Err(e);
            }
        };
        for t in &tensors {
            check_output(&self.plugin, t)?;
        }
        let served = ctx.served.into_inner();
        let provenance = ctx
            .pinned
            .into_inner()
            .into_iter()
            .map(|(i, c)| match served.iter().find(|(j, _)| *j == i) {
                // A remote model: which server (or fallback) served this very call.
                Some((_, s)) => Arc::new(c.provenance.served(s)),
                None => c.provenance,
            })
            .collect();
        Ok(CallOutputs {
            tensors,
            provenance,
        })
    }
}

impl Instance {
    /// The batching settings in force and, when this instance batches, what its batcher did.
    pub fn batching(&self) -> (BatchSettings, Option<BatchCounters>) {
        (
            self.batch_settings,
            self.batching.as_ref().map(|(_, b)| b.counters()),
        )
    }

    /// Executes every queued request of this instance now, on this thread.
    pub fn flush(&self) {
        if let Some((_, b)) = &self.batching {
            b.flush();
        }
    }

    /// Submits one call asynchronously: `done` receives its outputs later, exactly once.
    ///
    /// Everything that reads `inputs` happens before this returns (validation and, for a plugin
    /// that batches, its prepare stage, which copies what the model needs), so the caller may
    /// free them on return. An error found before the call is queued is returned here and `done`
    /// is dropped uncalled. Otherwise `done` runs on the thread that completes the call: this one
    /// (unbatched plugins, batching off, or a batch this request filled), another caller's
    /// thread whose request filled the batch, or the host's `hepinfer-batch` thread when the
    /// batch's delay expired.
    pub fn submit(
        &self,
        event: EventKey,
        inputs: &[TensorView<'_>],
        done: Completion,
    ) -> Result<()> {
        let Some((index, batcher)) = &self.batching else {
            return self.process(event, inputs).map(|out| done(Ok(out)));
        };
        // A model that gains nothing from merged calls runs this one now, as with batching off.
        // (An event whose model cannot be found goes the usual way, which reports it.) An event
        // of a known interval is decided from what the slot remembers of its model.
        let merging_pays = match self.slots[*index].merging_pays(event) {
            Some(pays) => pays,
            None => self
                .model_for(*index, event)
                .map_or(true, |c| c.model.model.merging_pays()),
        };
        if !merging_pays {
            return self.process(event, inputs).map(|out| done(Ok(out)));
        }
        let start = Instant::now();
        let queued = self.prepare(*index, event, inputs);
        let (prepared, cur, mut provenance) = match queued {
            Ok(q) => q,
            Err(e) => {
                self.stats.record(start.elapsed(), true);
                return Err(e);
            }
        };
        let Some(finisher) = &self.finisher else {
            return Err(Error::Internal("batching without stages".into()));
        };
        if let Some(cur) = &cur {
            if !provenance.iter().any(|p| Arc::ptr_eq(p, &cur.provenance)) {
                provenance.push(cur.provenance.clone());
            }
        }
        let finish = Finish {
            shared: finisher.clone(),
            event,
            carry: prepared.carry.into_vec(),
            provenance,
            start,
            done,
        };
        let Some(cur) = cur else {
            // Nothing for the model (e.g. an event without jets): finish now.
            finish.run(Ok(Vec::new()));
            return Ok(());
        };
        let model_inputs = prepared.inputs.into_vec();
        batcher.submit(
            cur.model.clone(),
            Request {
                inputs: model_inputs,
                done: Box::new(move |out| finish.run(out)),
            },
        );
        Ok(())
    }

    /// Validation and the plugin's prepare stage on the caller's thread; the batched model's
    /// inputs are checked against the model here, so a bad event never reaches a merged call.
    fn prepare(&self, index: usize, event: EventKey, inputs: &[TensorView<'_>]) -> Result<Staged> {
        validate::check(&self.plugin, &self.info.inputs, inputs)?;
        let PluginObject::Staged(plugin) = &self.inner else {
            return Err(Error::Internal("batching without stages".into()));
        };
        let ctx = Ctx {
            inst: self,
            event,
            pinned: RefCell::new(SmallVec::new()),
            served: RefCell::new(SmallVec::new()),
        };
        let ctx_obj = CallContext_TO::from_ptr(&ctx, TD_Opaque);
        let prepared = match plugin.prepare(ctx_obj, RSlice::from_slice(inputs)) {
            RResult::ROk(p) => p,
            RResult::RErr(e) => return Err(Error::from_plugin(&self.plugin, e)),
        };
        let pinned = ctx.pinned.into_inner();
        // As in `process`: a call whose model stage has no input runs no model and names none.
        let cur = if prepared.inputs.is_empty() {
            None
        } else {
            let cur = match pinned.iter().find(|(i, _)| *i == index) {
                Some((_, c)) => c.clone(),
                None => self.model_for(index, event)?,
            };
            let views: SmallVec<[TensorView<'_>; 4]> =
                prepared.inputs.iter().map(Tensor::view).collect();
            crate::runtime::check_inputs(cur.model.model.inputs(), &views)?;
            Some(cur)
        };
        let provenance = pinned
            .into_iter()
            .map(|(_, c)| c.provenance.clone())
            .collect();
        Ok((prepared, cur, provenance))
    }
}

/// A call after its prepare stage: the batched model's inputs and carry, the model that will
/// run them (none when there are no inputs), the models prepare itself used.
type Staged = (
    hepinfer_plugin_api::Prepared,
    Option<Current>,
    Vec<Arc<Provenance>>,
);

/// The last stage of a batched call, run where its batch completes.
struct Finish {
    shared: Arc<Finisher>,
    event: EventKey,
    carry: Vec<Tensor>,
    provenance: Vec<Arc<Provenance>>,
    start: Instant,
    done: Completion,
}

/// The instance's part of every finish stage: the plugin, its name, the log and the statistics.
struct Finisher {
    plugin: Arc<StagedInstanceBox>,
    name: String,
    logger: Arc<Logger>,
    stats: Arc<Stats>,
}

impl Finish {
    fn run(self, model_outputs: Result<Vec<Tensor>>) {
        let sh = &*self.shared;
        let ctx = FinishCtx {
            event: self.event,
            plugin: &sh.name,
            logger: &sh.logger,
        };
        let result = model_outputs.and_then(|outs| {
            let ctx_obj = CallContext_TO::from_ptr(&ctx, TD_Opaque);
            match sh.plugin.finish(ctx_obj, self.carry.into(), outs.into()) {
                RResult::ROk(t) => {
                    let tensors = t.into_vec();
                    for t in &tensors {
                        check_output(&sh.name, t)?;
                    }
                    Ok(CallOutputs {
                        tensors,
                        provenance: self.provenance,
                    })
                }
                RResult::RErr(e) => Err(Error::from_plugin(&sh.name, e)),
            }
        });
        sh.stats.record(self.start.elapsed(), result.is_err());
        (self.done)(result);
    }
}

/// The context of a finish stage: the event and the log; models ran already.
struct FinishCtx<'a> {
    event: EventKey,
    plugin: &'a str,
    logger: &'a Logger,
}

impl CallContext for FinishCtx<'_> {
    fn event(&self) -> EventKey {
        self.event
    }

    fn run_model(
        &self,
        model: RStr<'_>,
        _inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        RResult::RErr(PluginError::new(
            hepinfer_plugin_api::ErrorKind::Internal,
            format!("model '{model}' run from finish: a staged call runs models only in prepare and in the batched stage"),
        ))
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        self.logger
            .log(level, &format!("{}: {message}", self.plugin));
    }
}

/// Checks a freshly resolved model against what the plugin declares it feeds, so a payload with
/// the wrong signature fails when it is loaded, naming the payload, not deep inside a call.
fn check_signature(
    plugin: &str,
    spec: &ModelSpec,
    model: &LoadedModel,
    res: &Resolution,
) -> Result<()> {
    if spec.inputs.is_empty() {
        return Ok(());
    }
    let ports = model.model.inputs();
    let fail = |what: String| {
        Err(Error::Model(format!(
            "plugin '{plugin}' model '{}': payload {} ({}) {what}",
            spec.name, res.hash, res.origin
        )))
    };
    for want in spec.inputs.iter() {
        let Some(p) = ports.iter().find(|p| p.name == want.name.as_str()) else {
            let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
            return fail(format!(
                "has no input '{}' (its inputs: {names:?})",
                want.name
            ));
        };
        let dims_ok = p.shape.len() == want.shape.len()
            && p.shape
                .iter()
                .zip(want.shape.iter())
                .all(|(&m, d)| m < 0 || d.size < 0 || m == d.size);
        if p.dtype != want.dtype || !dims_ok {
            return fail(format!(
                "input '{}' is {} {:?}, the plugin feeds {} {}",
                p.name,
                p.dtype,
                p.shape,
                want.dtype,
                want.shape_string()
            ));
        }
    }
    if let Some(extra) = ports
        .iter()
        .find(|p| !spec.inputs.iter().any(|w| w.name.as_str() == p.name))
    {
        return fail(format!(
            "has input '{}' that the plugin does not feed",
            extra.name
        ));
    }
    Ok(())
}

fn check_output(plugin: &str, t: &Tensor) -> Result<()> {
    let n: i64 = t.shape.iter().product();
    if t.shape.iter().any(|&d| d < 0) || n as usize != t.data.len() {
        return Err(Error::Internal(format!(
            "plugin '{plugin}' produced output '{}' with shape {:?} but {} elements",
            t.name,
            t.shape.as_slice(),
            t.data.len()
        )));
    }
    Ok(())
}

/// In debug builds (the test suite's), a plugin asking [`CallContext::run_model`] for this model
/// makes the host panic inside the call, so tests can show that such a panic becomes the call's
/// `HEPINFER_PANIC` rather than aborting the process (`tests/plugins/faulty`, event 17).
#[cfg(debug_assertions)]
pub const TEST_HOST_PANIC_MODEL: &str = "hepinfer-test:host-panic";

/// Models a call has used: (slot index, model and provenance), on the stack for up to two models.
type Pinned = SmallVec<[(usize, Current); 2]>;

/// The per-call context handed to the plugin.
struct Ctx<'a> {
    inst: &'a Instance,
    event: EventKey,
    // Models used by this call, pinned at first use so that a call never mixes two models.
    pinned: RefCell<Pinned>,
    // Who served the calls of remote models (slot index, last call's server or fallback).
    served: RefCell<SmallVec<[(usize, crate::runtime::Served); 1]>>,
}

impl CallContext for Ctx<'_> {
    fn event(&self) -> EventKey {
        self.event
    }

    fn run_model(
        &self,
        model: RStr<'_>,
        inputs: RSlice<'_, TensorView<'_>>,
    ) -> RResult<RVec<Tensor>, PluginError> {
        let inst = self.inst;
        // Entered from the plugin through abi_stable's vtable, which aborts on unwinding: a panic
        // here (in the host or in the runtime) must become this call's error.
        let run = || -> Result<Vec<Tensor>> {
            #[cfg(debug_assertions)]
            if model.as_str() == TEST_HOST_PANIC_MODEL {
                panic!("deliberate host panic in run_model (debug builds only)");
            }
            let index = inst
                .slots
                .iter()
                .position(|s| s.name == model.as_str())
                .ok_or_else(|| {
                    Error::Model(format!(
                        "plugin '{}' asked for undeclared model '{model}'",
                        inst.plugin
                    ))
                })?;
            if !self.pinned.borrow().iter().any(|(i, _)| *i == index) {
                let m = inst.model_for(index, self.event)?;
                self.pinned.borrow_mut().push((index, m));
            }
            // Run from the pinned entry itself: no reference counts to touch (shared by every
            // thread) on the way. Nothing below borrows `pinned` mutably.
            let pinned = self.pinned.borrow();
            let m = pinned
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, m)| m)
                .ok_or_else(|| Error::Internal(format!("model '{model}' not pinned")))?;
            let (t, served) = m.model.model.run_traced(inputs.as_slice())?;
            drop(pinned);
            if let Some(s) = served {
                let mut all = self.served.borrow_mut();
                match all.iter_mut().find(|(i, _)| *i == index) {
                    Some(slot) => slot.1 = s,
                    None => all.push((index, s)),
                }
            }
            Ok(t)
        };
        match crate::error::catch(run) {
            Ok(t) => RResult::ROk(t.into()),
            Err(e) => RResult::RErr(e.to_plugin_error()),
        }
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        // Entered from the plugin through abi_stable's vtable, which aborts on unwinding.
        let _ = crate::error::catch(|| {
            let logger = &self.inst.logger;
            if logger.enabled(level) {
                logger.log(level, &format!("{}: {message}", self.inst.plugin));
            }
            Ok(())
        });
    }
}
