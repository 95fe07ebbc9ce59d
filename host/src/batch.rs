//! Cross-event batching: the model stage of many asynchronous calls merged into one model call.
//!
//! A plugin that opts in (`Plugin::batched_model`) splits a call into prepare → model → finish.
//! [`Instance::submit`](crate::Instance::submit) runs `prepare` on the caller's thread and hands
//! the model inputs to the instance's [`Batcher`], which keeps one queue per (loaded model,
//! input signature). Requests in one queue are concatenated along their first dimension, run as
//! one call of [`Model::run`](crate::runtime::Model::run) — whatever the backend: ONNX Runtime,
//! libtorch or a remote server — and each request gets back exactly its own rows.
//!
//! Merging rules:
//! - only requests for the same loaded model (one payload, so one interval of validity) are
//!   merged: events of runs served by different payloads never share a call;
//! - only inputs whose names, dtypes and every dimension but the first agree are merged; jagged
//!   model inputs (with offsets) and requests whose inputs disagree on the row count run alone;
//! - a queue is executed when it would exceed `max_items` rows (by the submitting thread) or when
//!   its oldest request has waited `max_delay_us` (by the host's flusher thread);
//! - a merged call that fails is retried request by request, so one event's bad rows fail that
//!   event only.
//!
//! Threads: one flusher thread per host (`hepinfer-batch`), started at the first request that is
//! queued, never when batching is off or only synchronous calls are made. It sleeps on a condition
//! variable until the earliest deadline; it never polls.

use crate::error::{Error, Result};
use crate::logging::Logger;
use crate::models::LoadedModel;
use hepinfer_plugin_api::{DType, LogLevel, Tensor, TensorBuf, TensorView};
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default largest batch: the btag-rnn curve is flat from 32 rows (9.3 µs/jet, 9.1 at 64) and
/// jet-cnn's best is 16–32 (11.4–11.9 µs/image); larger batches only add latency. jet-cnn
/// instances in the demo and the batching bench set 16 (`{"batching": {"max_items": 16}}`): the
/// same speed per image, and a p99 latency inside max delay + 2 batches with two threads on two
/// cores, where 32 exceeded it in 7 of 12 runs.
pub const DEFAULT_MAX_ITEMS: usize = 32;
/// Default longest wait of a request for company: about one batch's execution time.
pub const DEFAULT_MAX_DELAY_US: u64 = 500;
/// Largest accepted `max_delay_us` (1 s): longer is a configuration mistake, not a policy.
pub const MAX_DELAY_LIMIT_US: u64 = 1_000_000;

/// The `batching` object of the host configuration (defaults for every instance) and of an
/// instance configuration (overrides, key by key).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BatchingConfig {
    /// `false`: asynchronous calls run unbatched, no thread is started. Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A queue is executed before it would exceed this many rows (items). Default 32.
    #[serde(default)]
    pub max_items: Option<usize>,
    /// A queue is executed at the latest this long after its first request (µs). Default 500.
    #[serde(default)]
    pub max_delay_us: Option<u64>,
}

/// Effective batching settings of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BatchSettings {
    /// Whether asynchronous calls are batched.
    pub enabled: bool,
    /// Largest batch in rows.
    pub max_items: usize,
    /// Longest wait in microseconds.
    pub max_delay_us: u64,
}

impl BatchingConfig {
    /// `self` with the keys `over` sets replaced.
    pub fn merged(&self, over: &BatchingConfig) -> BatchingConfig {
        BatchingConfig {
            enabled: over.enabled.or(self.enabled),
            max_items: over.max_items.or(self.max_items),
            max_delay_us: over.max_delay_us.or(self.max_delay_us),
        }
    }

    /// The effective settings, checked.
    pub fn settings(&self) -> Result<BatchSettings> {
        let s = BatchSettings {
            enabled: self.enabled.unwrap_or(true),
            max_items: self.max_items.unwrap_or(DEFAULT_MAX_ITEMS),
            max_delay_us: self.max_delay_us.unwrap_or(DEFAULT_MAX_DELAY_US),
        };
        if s.max_items == 0 {
            return Err(Error::InvalidConfig(
                "batching.max_items must be ≥ 1".into(),
            ));
        }
        if s.max_delay_us > MAX_DELAY_LIMIT_US {
            return Err(Error::InvalidConfig(format!(
                "batching.max_delay_us must be ≤ {MAX_DELAY_LIMIT_US}, got {}",
                s.max_delay_us
            )));
        }
        Ok(s)
    }
}

/// What a finished request receives: its rows of the model outputs, or the error.
pub(crate) type Done = Box<dyn FnOnce(Result<Vec<Tensor>>) + Send>;

/// One event's model stage waiting in a queue.
pub(crate) struct Request {
    /// The model inputs, each `[rows, ...]`.
    pub inputs: Vec<Tensor>,
    /// Called exactly once, on the thread that executes the batch.
    pub done: Done,
}

/// Names, dtypes and non-batch dimensions of a request's inputs: requests merge only when equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature(Vec<(String, DType, Vec<i64>)>);

impl Signature {
    /// The signature of `inputs` (allocates: built once per queue, not per request).
    fn of(inputs: &[Tensor]) -> Self {
        Signature(
            inputs
                .iter()
                .map(|t| (t.name.to_string(), t.data.dtype(), t.shape[1..].to_vec()))
                .collect(),
        )
    }

    /// Whether `inputs` (mergeable, see [`mergeable_rows`]) have this signature.
    fn matches(&self, inputs: &[Tensor]) -> bool {
        self.0.len() == inputs.len()
            && self.0.iter().zip(inputs).all(|((name, dtype, dims), t)| {
                name.as_str() == t.name.as_str()
                    && *dtype == t.data.dtype()
                    && dims.as_slice() == &t.shape[1..]
            })
    }
}

/// The rows of a request, or `None` when it cannot be merged with others (no inputs, a scalar,
/// inputs of different row counts, jagged inputs).
fn mergeable_rows(inputs: &[Tensor]) -> Option<usize> {
    let rows = *inputs.first()?.shape.first()?;
    let ok = rows >= 0
        && inputs
            .iter()
            .all(|t| t.shape.first() == Some(&rows) && t.offsets.is_empty());
    ok.then_some(rows as usize)
}

struct Queue {
    model: Arc<LoadedModel>,
    sig: Signature,
    generation: u64,
    rows: usize,
    reqs: Vec<(usize, Request)>,
}

/// Counters of one batcher, for the instance statistics.
#[derive(Debug, Default, Serialize, PartialEq, Clone, Copy)]
pub struct BatchCounters {
    /// Model calls made for queued requests.
    pub model_calls: u64,
    /// Rows (items) in those calls.
    pub items: u64,
    /// Requests served by those calls.
    pub requests: u64,
    /// Calls executed because the oldest request reached `max_delay_us`.
    pub deadline_flushes: u64,
    /// Merged calls that failed and were retried request by request.
    pub split_retries: u64,
}

#[derive(Default)]
struct Counters {
    model_calls: AtomicU64,
    items: AtomicU64,
    requests: AtomicU64,
    deadline_flushes: AtomicU64,
    split_retries: AtomicU64,
}

struct BatcherShared {
    settings: BatchSettings,
    queues: Mutex<Vec<Queue>>,
    next_generation: AtomicU64,
    // Requests accepted and not yet completed; dropping the instance waits for 0. An atomic, so
    // that completing a request takes no lock; `idle_lock` is taken only to wake a drainer.
    in_flight: AtomicUsize,
    idle_lock: Mutex<()>,
    idle: Condvar,
    counters: Counters,
    logger: Arc<Logger>,
    plugin: String,
}

/// The batching layer of one instance: queues over any [`crate::runtime::Model`].
pub(crate) struct Batcher {
    shared: Arc<BatcherShared>,
    flusher: Arc<Flusher>,
}

impl Batcher {
    pub(crate) fn new(
        settings: BatchSettings,
        flusher: Arc<Flusher>,
        logger: Arc<Logger>,
        plugin: &str,
    ) -> Self {
        Batcher {
            shared: Arc::new(BatcherShared {
                settings,
                queues: Mutex::new(Vec::new()),
                next_generation: AtomicU64::new(1),
                in_flight: AtomicUsize::new(0),
                idle_lock: Mutex::new(()),
                idle: Condvar::new(),
                counters: Counters::default(),
                logger,
                plugin: plugin.to_string(),
            }),
            flusher,
        }
    }

    /// The counters so far.
    pub(crate) fn counters(&self) -> BatchCounters {
        let c = &self.shared.counters;
        BatchCounters {
            model_calls: c.model_calls.load(Relaxed),
            items: c.items.load(Relaxed),
            requests: c.requests.load(Relaxed),
            deadline_flushes: c.deadline_flushes.load(Relaxed),
            split_retries: c.split_retries.load(Relaxed),
        }
    }

    /// Queues `req` for `model`. Full queues are executed on this thread before returning.
    pub(crate) fn submit(&self, model: Arc<LoadedModel>, req: Request) {
        let sh = &self.shared;
        sh.in_flight.fetch_add(1, AcqRel);
        let max = sh.settings.max_items;
        let Some(rows) = mergeable_rows(&req.inputs).filter(|rows| *rows < max) else {
            // Cannot merge, or a full batch by itself: run it now, alone.
            sh.execute(&model, vec![(0, req)], false);
            return;
        };
        let mut ready: Vec<Queue> = Vec::new();
        let mut new_deadline = None;
        {
            let mut queues = sh.queues.lock();
            let pos = queues
                .iter()
                .position(|q| Arc::ptr_eq(&q.model, &model) && q.sig.matches(&req.inputs));
            let pos = match pos {
                Some(p) if queues[p].rows + rows > max => {
                    // Would overflow: the queue goes now, this request starts the next one.
                    ready.push(queues.swap_remove(p));
                    None
                }
                p => p,
            };
            match pos {
                Some(p) => {
                    let q = &mut queues[p];
                    q.rows += rows;
                    q.reqs.push((rows, req));
                    if q.rows >= max {
                        ready.push(queues.swap_remove(p));
                    }
                }
                None => {
                    let generation = sh.next_generation.fetch_add(1, Relaxed);
                    queues.push(Queue {
                        model: model.clone(),
                        sig: Signature::of(&req.inputs),
                        generation,
                        rows,
                        reqs: vec![(rows, req)],
                    });
                    new_deadline = Some(generation);
                }
            }
        }
        if let Some(generation) = new_deadline {
            let deadline = Instant::now() + Duration::from_micros(sh.settings.max_delay_us);
            self.flusher
                .schedule(deadline, Arc::downgrade(&self.shared), generation);
        }
        for q in ready {
            sh.execute(&q.model, q.reqs, true);
        }
    }

    /// Executes every queued request now, on this thread (end of a run, shutdown).
    pub(crate) fn flush(&self) {
        let queues = std::mem::take(&mut *self.shared.queues.lock());
        for q in queues {
            self.shared.execute(&q.model, q.reqs, true);
        }
    }

    /// Executes what is queued and waits until every accepted request has completed, including
    /// batches other threads are executing: after this no completion of this batcher runs.
    pub(crate) fn drain(&self) {
        self.flush();
        let sh = &self.shared;
        let mut g = sh.idle_lock.lock();
        // Checked under `idle_lock`: a completion that reaches 0 takes it before notifying, so
        // its wake-up cannot fall between this check and the wait.
        while sh.in_flight.load(Acquire) > 0 {
            sh.idle.wait(&mut g);
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.drain();
    }
}

impl BatcherShared {
    /// Whether queue `generation` still waits to be executed. Takes the queues' lock: callers
    /// must not hold it (the flusher calls this under its own lock, which `submit` never holds
    /// together with the queues' lock).
    fn is_waiting(&self, generation: u64) -> bool {
        self.queues
            .lock()
            .iter()
            .any(|q| q.generation == generation)
    }

    /// Executes queue `generation` if it is still waiting (the flusher's path).
    fn flush_generation(&self, generation: u64) {
        let q = {
            let mut queues = self.queues.lock();
            match queues.iter().position(|q| q.generation == generation) {
                Some(p) => queues.swap_remove(p),
                None => return, // executed already because it filled up
            }
        };
        self.counters.deadline_flushes.fetch_add(1, Relaxed);
        self.execute(&q.model, q.reqs, true);
    }

    /// Runs `reqs` as one model call and completes each with its rows.
    fn execute(&self, model: &LoadedModel, reqs: Vec<(usize, Request)>, merged: bool) {
        let n = reqs.len();
        let result = if n == 1 || !merged {
            None
        } else {
            Some(run_merged(model, &reqs))
        };
        match result {
            None => {
                for (_, req) in reqs {
                    let out = run_guarded(model, &req.inputs);
                    self.count(1, req.inputs.first().map_or(0, rows_of));
                    self.complete(req.done, out);
                }
            }
            Some(Ok(per_request)) => {
                let rows: usize = reqs.iter().map(|(r, _)| r).sum();
                self.count(n, rows);
                for ((_, req), out) in reqs.into_iter().zip(per_request) {
                    self.complete(req.done, Ok(out));
                }
            }
            Some(Err(e)) => {
                // One bad event must not fail its neighbours: retry each request on its own.
                self.counters.split_retries.fetch_add(1, Relaxed);
                self.logger.log(
                    LogLevel::Warn,
                    &format!(
                        "{}: a merged model call of {n} events failed ({e}); retrying them one by one",
                        self.plugin
                    ),
                );
                for (rows, req) in reqs {
                    let out = run_guarded(model, &req.inputs);
                    self.count(1, rows);
                    self.complete(req.done, out);
                }
            }
        }
    }

    fn count(&self, requests: usize, rows: usize) {
        let c = &self.counters;
        c.model_calls.fetch_add(1, Relaxed);
        c.requests.fetch_add(requests as u64, Relaxed);
        c.items.fetch_add(rows as u64, Relaxed);
    }

    fn complete(&self, done: Done, out: Result<Vec<Tensor>>) {
        // `done` catches its own panics (it runs plugin code and the framework's callback); this
        // barrier only keeps the counter right if it did not.
        let _ = catch_unwind(AssertUnwindSafe(|| done(out)));
        if self.in_flight.fetch_sub(1, AcqRel) == 1 {
            let _g = self.idle_lock.lock();
            self.idle.notify_all();
        }
    }
}

fn rows_of(t: &Tensor) -> usize {
    t.shape.first().map_or(0, |&r| r.max(0) as usize)
}

fn run_guarded(model: &LoadedModel, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let views: Vec<TensorView<'_>> = inputs.iter().map(Tensor::view).collect();
    crate::error::catch(|| model.model.run(&views))
}

/// Concatenates the requests' inputs along the first dimension, runs the model once and splits
/// every output back into the requests' rows.
fn run_merged(model: &LoadedModel, reqs: &[(usize, Request)]) -> Result<Vec<Vec<Tensor>>> {
    let total: usize = reqs.iter().map(|(r, _)| r).sum();
    let first = &reqs[0].1.inputs;
    let mut merged = Vec::with_capacity(first.len());
    for (i, proto) in first.iter().enumerate() {
        let mut shape = proto.shape.to_vec();
        shape[0] = total as i64;
        let parts = reqs.iter().map(|(_, r)| &r.inputs[i].data);
        merged.push(Tensor::new(
            &proto.name,
            shape,
            concat(proto.data.dtype(), parts),
        ));
    }
    let outputs = run_guarded(model, &merged)?;
    let mut per_request: Vec<Vec<Tensor>> = (0..reqs.len())
        .map(|_| Vec::with_capacity(outputs.len()))
        .collect();
    for out in &outputs {
        if out.shape.first() != Some(&(total as i64)) || !out.offsets.is_empty() {
            return Err(Error::Model(format!(
                "output '{}' has shape {:?} for a batch of {total} rows: the model does not keep \
                 its first dimension as the batch",
                out.name,
                out.shape.as_slice()
            )));
        }
        let row_len = out.data.len() / total.max(1);
        let mut start = 0;
        for ((rows, _), dst) in reqs.iter().zip(per_request.iter_mut()) {
            let mut shape = out.shape.to_vec();
            shape[0] = *rows as i64;
            let data = slice(&out.data, start * row_len, (start + rows) * row_len);
            dst.push(Tensor::new(&out.name, shape, data));
            start += rows;
        }
    }
    Ok(per_request)
}

fn concat<'a>(dtype: DType, parts: impl Iterator<Item = &'a TensorBuf> + Clone) -> TensorBuf {
    macro_rules! cat {
        ($var:ident) => {{
            let n = parts.clone().map(TensorBuf::len).sum();
            let mut v = Vec::with_capacity(n);
            for p in parts {
                if let TensorBuf::$var(x) = p {
                    v.extend_from_slice(x.as_slice());
                }
            }
            TensorBuf::$var(v.into())
        }};
    }
    match dtype {
        DType::F32 => cat!(F32),
        DType::F64 => cat!(F64),
        DType::I32 => cat!(I32),
        DType::I64 => cat!(I64),
        DType::U8 => cat!(U8),
    }
}

fn slice(buf: &TensorBuf, a: usize, b: usize) -> TensorBuf {
    match buf {
        TensorBuf::F32(v) => TensorBuf::F32(v[a..b].to_vec().into()),
        TensorBuf::F64(v) => TensorBuf::F64(v[a..b].to_vec().into()),
        TensorBuf::I32(v) => TensorBuf::I32(v[a..b].to_vec().into()),
        TensorBuf::I64(v) => TensorBuf::I64(v[a..b].to_vec().into()),
        TensorBuf::U8(v) => TensorBuf::U8(v[a..b].to_vec().into()),
    }
}

/// The host's flusher: one thread, `hepinfer-batch`, that executes queues whose oldest request
/// reached its deadline. Started at the first queued request; stopped and joined when the host
/// is dropped.
pub struct Flusher {
    state: Mutex<FlusherState>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    batcher: Weak<BatcherShared>,
    generation: u64,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.deadline, self.seq) == (o.deadline, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(o.deadline, o.seq))
    }
}

#[derive(Default)]
struct FlusherState {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stop: bool,
}

impl Flusher {
    /// A flusher whose thread is not started yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Flusher {
            state: Mutex::new(FlusherState::default()),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        })
    }

    /// Whether the thread has been started (tests check that batching off starts none).
    pub fn started(&self) -> bool {
        self.thread.lock().is_some()
    }

    fn schedule(
        self: &Arc<Self>,
        deadline: Instant,
        batcher: Weak<BatcherShared>,
        generation: u64,
    ) {
        {
            let mut thread = self.thread.lock();
            if thread.is_none() && !self.state.lock().stop {
                let me = Arc::downgrade(self);
                match std::thread::Builder::new()
                    .name("hepinfer-batch".into())
                    .spawn(move || run_flusher(me))
                {
                    Ok(h) => *thread = Some(h),
                    Err(_) => {
                        // No thread: execute the queue now rather than lose it.
                        if let Some(b) = batcher.upgrade() {
                            b.flush_generation(generation);
                        }
                        return;
                    }
                }
            }
        }
        let mut st = self.state.lock();
        if st.stop {
            drop(st);
            if let Some(b) = batcher.upgrade() {
                b.flush_generation(generation);
            }
            return;
        }
        st.seq += 1;
        let seq = st.seq;
        let earliest = st
            .heap
            .peek()
            .is_none_or(|Reverse(e)| deadline < e.deadline);
        st.heap.push(Reverse(Entry {
            deadline,
            seq,
            batcher,
            generation,
        }));
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Stops the thread (executing what is still scheduled) and joins it.
    pub fn stop(&self) {
        self.state.lock().stop = true;
        self.wake.notify_all();
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }
}

fn run_flusher(me: Weak<Flusher>) {
    loop {
        let Some(f) = me.upgrade() else { return };
        let due = {
            let mut st = f.state.lock();
            loop {
                let now = Instant::now();
                match st.heap.peek() {
                    Some(Reverse(e)) if e.deadline <= now || st.stop => {
                        break st.heap.pop().map(|Reverse(e)| e);
                    }
                    None if st.stop => break None,
                    Some(Reverse(e)) => {
                        // A queue that already ran (it filled up, or a thread flushed it) has
                        // nothing to wait for: drop its entry instead of waking for it. Without
                        // this the thread woke once per queue ever made, most for nothing.
                        if !e
                            .batcher
                            .upgrade()
                            .is_some_and(|b| b.is_waiting(e.generation))
                        {
                            st.heap.pop();
                            continue;
                        }
                        let d = e.deadline;
                        f.wake.wait_until(&mut st, d);
                    }
                    None => f.wake.wait(&mut st),
                }
            }
        };
        drop(f);
        match due {
            Some(e) => {
                if let Some(b) = e.batcher.upgrade() {
                    b.flush_generation(e.generation);
                }
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_merge_and_check() {
        let host = BatchingConfig {
            max_items: Some(64),
            ..Default::default()
        };
        let inst: BatchingConfig = serde_json::from_str(r#"{"max_delay_us": 100}"#).unwrap();
        let s = host.merged(&inst).settings().unwrap();
        assert_eq!(
            s,
            BatchSettings {
                enabled: true,
                max_items: 64,
                max_delay_us: 100
            }
        );
        let off: BatchingConfig = serde_json::from_str(r#"{"enabled": false}"#).unwrap();
        assert!(!host.merged(&off).settings().unwrap().enabled);
        let zero: BatchingConfig = serde_json::from_str(r#"{"max_items": 0}"#).unwrap();
        assert!(zero.settings().is_err());
        let long: BatchingConfig = serde_json::from_str(r#"{"max_delay_us": 2000000}"#).unwrap();
        assert!(long.settings().is_err());
        assert!(serde_json::from_str::<BatchingConfig>(r#"{"max_item": 3}"#).is_err());
    }

    #[test]
    fn signatures_separate_non_batch_dims_and_jagged_inputs() {
        let a = Tensor::f32("x", vec![2, 3], vec![0.0; 6]);
        let b = Tensor::f32("x", vec![5, 3], vec![0.0; 15]);
        let c = Tensor::f32("x", vec![2, 4], vec![0.0; 8]);
        let sig = Signature::of(std::slice::from_ref(&a));
        assert!(sig.matches(std::slice::from_ref(&b)));
        assert_eq!(sig, Signature::of(&[b]));
        assert!(!sig.matches(std::slice::from_ref(&c)));
        assert_ne!(sig, Signature::of(&[c]));
        let renamed = Tensor::f32("w", vec![2, 3], vec![0.0; 6]);
        assert!(!sig.matches(&[renamed]));
        let other_dtype = Tensor::new("x", vec![2, 3], TensorBuf::F64(vec![0.0; 6].into()));
        assert!(!sig.matches(&[other_dtype]));
        assert!(!sig.matches(&[a.clone(), a.clone()]));
        assert_eq!(mergeable_rows(std::slice::from_ref(&a)), Some(2));
        let jagged = Tensor::jagged(
            "x",
            vec![2, 3],
            TensorBuf::F32(vec![0.0; 6].into()),
            vec![0, 2],
        );
        assert!(mergeable_rows(&[jagged]).is_none());
        let other_rows = Tensor::f32("y", vec![3], vec![0.0; 3]);
        assert!(mergeable_rows(&[a, other_rows]).is_none());
    }

    #[test]
    fn concat_and_slice_round_trip() {
        let a = TensorBuf::F32(vec![1.0, 2.0].into());
        let b = TensorBuf::F32(vec![3.0].into());
        let m = concat(DType::F32, [&a, &b].into_iter());
        assert_eq!(slice(&m, 2, 3), b);
        assert_eq!(slice(&m, 0, 2), a);
    }
}
