//! `hepinfer bench`: the host's costs measured side by side in one run — the C ABI path against
//! calling ONNX Runtime directly on the same model and inputs, N threads against one, and
//! resident memory with N threads against one.

use crate::cabi::{f32_input, CHost, CInstance};
use hepinfer::abi::hepinfer_event_key;
use hepinfer::config::HostConfig;
use hepinfer::runtime::{onnx, LoadOptions};
use ort::value::TensorRef;
use std::ffi::CString;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Host configuration (JSON) that can create a `seq-classifier` instance.
    pub host_config: String,
    /// The model file the instance uses (for the direct reference).
    pub model: PathBuf,
    /// Batch sizes (sequences per call).
    pub batches: Vec<usize>,
    /// Threads for the scaling measurement.
    pub threads: usize,
    /// Threads for the memory measurement.
    pub memory_threads: usize,
    /// Interleaved rounds per measurement (the median is reported).
    pub rounds: usize,
    /// Duration of one round.
    pub round_time: Duration,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Deterministic inputs: `n` sequences of 15 x 8 with a few padded steps.
pub fn inputs(n: usize) -> Vec<f32> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut v = Vec::with_capacity(n * 120);
    for s in 0..n {
        let len = 3 + s % 13;
        for step in 0..15 {
            for _ in 0..8 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let x = ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0;
                v.push(if step < len { x } else { 0.0 });
            }
        }
    }
    v
}

/// Calls per second of `f` over `time`.
fn per_call_us(time: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn throughput(inst: &Arc<CInstance>, x: &Arc<Vec<f32>>, threads: usize, time: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (inst, x, stop, calls) = (inst.clone(), x.clone(), stop.clone(), calls.clone());
            std::thread::spawn(move || {
                let name = CString::new("sequences").unwrap_or_default();
                let shape = [1i64, 15, 8];
                let input = [f32_input(&name, &shape, &x[..120])];
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    if inst.process(hepinfer_event_key::default(), &input).is_ok() {
                        n += 1;
                    }
                }
                calls.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(time);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    calls.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Runs every measurement and prints a report; returns an error message on failure.
pub fn run(opts: &BenchOptions) -> Result<(), String> {
    let cfg = HostConfig::from_json(&opts.host_config).map_err(|e| e.to_string())?;
    let rss_start = rss_kib();
    let host = CHost::new(&opts.host_config).map_err(|e| e.to_string())?;
    let inst = Arc::new(
        host.instance("seq-classifier", "{}")
            .map_err(|e| e.to_string())?,
    );
    let env = onnx::current_environment().ok_or("ONNX Runtime environment missing")?;
    let load = LoadOptions {
        intra_op_threads: cfg.intra_op_threads,
        session_mode: cfg.session_mode,
        pool_size: cfg.session_pool_size,
        cpu_arena: cfg.cpu_arena,
        native_kernels: cfg.native_kernels,
    };
    let bytes = std::fs::read(&opts.model).map_err(|e| format!("{}: {e}", opts.model.display()))?;
    let mut direct = onnx::session_builder(&env, &load)
        .map_err(|e| e.to_string())?
        .commit_from_memory(&bytes)
        .map_err(|e| e.to_string())?;
    let name = CString::new("sequences").unwrap_or_default();
    println!("hepinfer bench — seq-classifier (LSTM 64, 15x8 -> 3), ONNX Runtime {} , intra-op threads {}", env.version, cfg.intra_op_threads);
    println!("model: {}", opts.model.display());
    println!(
        "medians of {} interleaved rounds of {:?} each",
        opts.rounds, opts.round_time
    );
    println!();
    println!(
        "{:>6} {:>14} {:>14} {:>12} {:>10}",
        "batch", "direct ort µs", "C ABI µs", "overhead µs", "overhead"
    );
    for &b in &opts.batches {
        let x = inputs(b);
        let shape = [b as i64, 15, 8];
        let input = [f32_input(&name, &shape, &x)];
        // Both sides copy the output out of ONNX Runtime's buffer, as a caller must.
        let mut direct_call = || {
            let t = TensorRef::from_array_view(([b, 15, 8], &x[..])).expect("input view");
            let out = direct.run(ort::inputs![t]).expect("direct run");
            let (_, p) = out[0].try_extract_tensor::<f32>().expect("output");
            std::hint::black_box(p.to_vec());
        };
        let host_call = || {
            let out = inst
                .process(hepinfer_event_key::default(), &input)
                .expect("host call");
            std::hint::black_box(out.f32("probabilities").expect("output"));
        };
        // Warm both paths, then interleave rounds so that drifts of the machine hit both alike.
        per_call_us(opts.round_time / 4, &mut direct_call);
        per_call_us(opts.round_time / 4, host_call);
        let (mut d, mut h) = (Vec::new(), Vec::new());
        // Alternate which side goes first (ABBA), so neither always runs on a warmer cache.
        for r in 0..opts.rounds {
            if r % 2 == 0 {
                d.push(per_call_us(opts.round_time, &mut direct_call));
                h.push(per_call_us(opts.round_time, host_call));
            } else {
                h.push(per_call_us(opts.round_time, host_call));
                d.push(per_call_us(opts.round_time, &mut direct_call));
            }
        }
        let (d, h) = (median(d), median(h));
        println!(
            "{b:>6} {d:>14.2} {h:>14.2} {:>+12.2} {:>+9.1}%",
            h - d,
            (h - d) / d * 100.0
        );
    }
    drop(direct);
    println!("  goal: overhead ≤ 2 µs and ≤ 5 % on a model of ≥ 20 µs");
    println!();

    let x = Arc::new(inputs(1));
    let rss_loaded = rss_kib();
    let t1: Vec<f64> = (0..opts.rounds)
        .map(|_| throughput(&inst, &x, 1, opts.round_time))
        .collect();
    let rss_1 = rss_kib();
    let tn: Vec<f64> = (0..opts.rounds)
        .map(|_| throughput(&inst, &x, opts.threads, opts.round_time))
        .collect();
    throughput(&inst, &x, opts.memory_threads, opts.round_time);
    let rss_n = rss_kib();
    let (t1, tn) = (median(t1), median(tn));
    println!("throughput, batch 1, one shared model through the C ABI:");
    println!("  1 thread : {t1:>10.0} calls/s");
    println!(
        "  {} threads: {tn:>10.0} calls/s   ratio {:.2}x  (goal ≥ 1.7x with 2 threads on 2 cores)",
        opts.threads,
        tn / t1
    );
    println!();
    let mib = |k: u64| k as f64 / 1024.0;
    println!("resident memory (VmRSS):");
    println!("  before host      : {:>8.1} MiB", mib(rss_start));
    println!("  model loaded     : {:>8.1} MiB", mib(rss_loaded));
    println!("  after 1 thread   : {:>8.1} MiB", mib(rss_1));
    println!(
        "  after {} threads  : {:>8.1} MiB   ratio {:.3}  (goal ≤ 1.10: weights loaded once)",
        opts.memory_threads,
        mib(rss_n),
        rss_n as f64 / rss_1 as f64
    );
    let stats = inst.stats().map_err(|e| e.to_string())?;
    println!();
    println!("instance stats: {stats}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `hepinfer bench --btag`: the b-tag model through the C ABI, raw ONNX Runtime (C API) and ONNX
// Runtime from Python, side by side in one run.

/// What the b-tag comparison measures.
#[derive(Debug, Clone)]
pub struct BtagBenchOptions {
    /// Host configuration (JSON) that can create a `btag-rnn` instance.
    pub host_config: String,
    /// The b-tag model file the instance serves (for the raw and Python sides).
    pub model: PathBuf,
    /// Python interpreter with `onnxruntime` and `numpy`, and the script it runs
    /// (`scripts/bench-ort-python.py`, which serves measurement rounds interleaved with the Rust
    /// sides'); `None`: that column is reported missing.
    pub python: Option<(PathBuf, PathBuf)>,
    /// Jets per call.
    pub batches: Vec<usize>,
    /// Thread counts (each thread makes its own calls on the one shared model).
    pub threads: Vec<usize>,
    /// Interleaved rounds per figure (the median is reported).
    pub rounds: usize,
    /// Duration of one round.
    pub round_time: Duration,
}

/// Real tracks per jet of the 50 golden jets of `plugins/btag-rnn/model/golden.npz` (5.82 on
/// average, 5.70 after the cut at 15): the bench's jets cycle through these counts.
const GOLDEN_TRACK_COUNTS: [usize; 50] = [
    8, 6, 1, 3, 5, 4, 4, 4, 6, 5, 6, 9, 7, 3, 5, 6, 5, 2, 5, 3, 9, 10, 3, 2, 9, 2, 2, 5, 2, 2, 6,
    3, 5, 8, 12, 6, 3, 8, 8, 4, 7, 9, 3, 0, 4, 16, 16, 11, 0, 19,
];
/// Steps and features of the b-tag model's padded input, and its sizes (LSTM 6 → 64, Dense 32,
/// Dense 3).
const BT_STEPS: usize = 15;
const BT_FEATURES: usize = 6;
const BT_HIDDEN: f64 = 64.0;

/// FLOPs of one LSTM step of one jet (the two matrix products into the 4 gates, bias, the gate
/// non-linearities and the state update, ~10 per hidden unit).
fn lstm_step_flops() -> f64 {
    2.0 * 4.0 * BT_HIDDEN * (BT_FEATURES as f64 + BT_HIDDEN) + 8.0 * BT_HIDDEN + 10.0 * BT_HIDDEN
}

/// FLOPs after the LSTM (Dense 64→32, ReLU, Dense 32→3, softmax).
fn head_flops() -> f64 {
    2.0 * (64.0 * 32.0 + 32.0 * 3.0) + 32.0 + 32.0 + 3.0 * 4.0
}

/// A deterministic xorshift stream in [0, 1).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// `n` jets in the plugin's raw input format: `jets` [n, 3], `tracks` [m, 7], offsets, with the
/// golden track counts and plausible values (pT, σ > 0).
fn btag_raw_jets(n: usize, first: usize) -> (Vec<f32>, Vec<f32>, Vec<i64>) {
    let mut u = Uniform(0x2545_F491_4F6C_DD1D ^ first as u64);
    let (mut jets, mut tracks, mut offsets) = (Vec::new(), Vec::new(), vec![0i64]);
    for j in 0..n {
        let (eta, phi) = (u.next() * 4.0 - 2.0, u.next() * 6.2 - 3.1);
        jets.extend([20.0 + 200.0 * u.next(), eta, phi]);
        let k = GOLDEN_TRACK_COUNTS[(first + j) % GOLDEN_TRACK_COUNTS.len()];
        for _ in 0..k {
            tracks.extend([
                1.0 + 30.0 * u.next(),
                eta + 0.4 * (u.next() - 0.5),
                phi + 0.4 * (u.next() - 0.5),
                0.2 * (u.next() - 0.5),
                0.4 * (u.next() - 0.5),
                0.01 + 0.02 * u.next(),
                0.02 + 0.03 * u.next(),
            ]);
        }
        offsets.push(offsets[j] + k as i64);
    }
    (jets, tracks, offsets)
}

/// The model inputs of the same jets: `tracks` [n, 15, 6] zero-padded after each jet's real
/// tracks, `n_tracks` [n]. (The values are not the plugin's features: the model's cost does not
/// depend on them.)
fn btag_model_inputs(n: usize, first: usize) -> (Vec<f32>, Vec<i64>) {
    let mut u = Uniform(0x9E37_79B9_7F4A_7C15 ^ first as u64);
    let mut x = vec![0.0f32; n * BT_STEPS * BT_FEATURES];
    let mut counts = Vec::with_capacity(n);
    for j in 0..n {
        let k = GOLDEN_TRACK_COUNTS[(first + j) % GOLDEN_TRACK_COUNTS.len()].min(BT_STEPS);
        for v in &mut x[j * BT_STEPS * BT_FEATURES..(j * BT_STEPS + k) * BT_FEATURES] {
            *v = u.next() * 2.0 - 1.0;
        }
        counts.push(k as i64);
    }
    (x, counts)
}

/// One btag-rnn call through the C ABI on raw jets (`jets`, `tracks`, offsets).
fn btag_abi_call(inst: &CInstance, (jets, tracks, offsets): &(Vec<f32>, Vec<f32>, Vec<i64>)) {
    let (js, ts) = ([(jets.len() / 3) as i64, 3], [(tracks.len() / 7) as i64, 7]);
    let mut tin = f32_input(c"tracks", &ts, tracks);
    tin.offsets = offsets.as_ptr();
    tin.n_offsets = offsets.len();
    let input = [f32_input(c"jets", &js, jets), tin];
    let out = inst
        .process(hepinfer_event_key::default(), &input)
        .expect("btag-rnn call through the C ABI");
    std::hint::black_box(out.f32("probabilities").expect("probabilities"));
}

/// Single-core peak FP32 throughput in GFLOP/s, measured with independent 8-wide fused
/// multiply-adds (AVX2 + FMA) for `time`; `None` where the CPU lacks them.
pub fn fma_peak_gflops(time: Duration) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features the function is compiled for were detected above.
            return Some(unsafe { fma_loop(time) });
        }
    }
    let _ = time;
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(time: Duration) -> f64 {
    use std::arch::x86_64::*;
    // 12 independent accumulators cover the FMA latency (4 cycles) × 2 pipes with room to spare.
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        for _ in 0..100_000 {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        n += 100_000;
    }
    let secs = start.elapsed().as_secs_f64();
    let mut sum = [0.0f32; 8];
    let mut total = _mm256_set1_ps(0.0);
    for x in acc {
        total = _mm256_add_ps(total, x);
    }
    _mm256_storeu_ps(sum.as_mut_ptr(), total);
    std::hint::black_box(sum);
    (n * 12 * 8 * 2) as f64 / secs / 1e9
}

/// A session and per-call C API usage exactly as a C or C++ program would write it: every call
/// creates tensor views of the caller's buffers (`CreateTensorWithDataAsOrtValue`), runs
/// (`Run`), reads the output (`GetTensorMutableData`) and releases the values.
struct RawSession {
    session: *mut ort::sys::OrtSession,
    memory: *mut ort::sys::OrtMemoryInfo,
}

// SAFETY: ONNX Runtime documents `Run` as thread-safe on one session (see runtime/onnx.rs), and
// the memory info is only read.
unsafe impl Send for RawSession {}
unsafe impl Sync for RawSession {}

fn ort_status(status: ort::sys::OrtStatusPtr, what: &str) -> Result<(), String> {
    // SAFETY: `status` comes straight from an ONNX Runtime call; this takes ownership of it.
    unsafe { ort::Error::result_from_status(status) }.map_err(|e| format!("{what}: {e}"))
}

impl RawSession {
    /// A session on `bytes` with one intra-op and one inter-op thread, all graph optimisations,
    /// no CPU memory arena: the host's settings.
    fn new(env: &onnx::OrtEnv, bytes: &[u8], arena: bool) -> Result<Self, String> {
        use ort::AsPointer;
        let api = ort::api();
        let mut opts = ptr::null_mut();
        let mut session = ptr::null_mut();
        let mut memory = ptr::null_mut();
        // SAFETY: plain C API calls with valid out-pointers; the options are released below.
        unsafe {
            ort_status(
                (api.CreateSessionOptions)(&mut opts),
                "CreateSessionOptions",
            )?;
            let r = (|| {
                ort_status((api.SetIntraOpNumThreads)(opts, 1), "SetIntraOpNumThreads")?;
                ort_status((api.SetInterOpNumThreads)(opts, 1), "SetInterOpNumThreads")?;
                ort_status(
                    (api.SetSessionGraphOptimizationLevel)(
                        opts,
                        ort::sys::GraphOptimizationLevel::ORT_ENABLE_ALL,
                    ),
                    "SetSessionGraphOptimizationLevel",
                )?;
                if !arena {
                    ort_status((api.DisableCpuMemArena)(opts), "DisableCpuMemArena")?;
                }
                ort_status(
                    (api.CreateSessionFromArray)(
                        env.ort().ptr(),
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        opts,
                        &mut session,
                    ),
                    "CreateSessionFromArray",
                )
            })();
            (api.ReleaseSessionOptions)(opts);
            r?;
            ort_status(
                (api.CreateCpuMemoryInfo)(
                    ort::sys::OrtAllocatorType::OrtArenaAllocator,
                    ort::sys::OrtMemType::OrtMemTypeDefault,
                    &mut memory,
                ),
                "CreateCpuMemoryInfo",
            )
            .inspect_err(|_| (api.ReleaseSession)(session))?;
        }
        Ok(RawSession { session, memory })
    }

    /// One call: `tracks` [n, steps, 6] and `n_tracks` [n] in, `probs` [n, 3] copied out.
    fn run(
        &self,
        tracks: &[f32],
        steps: usize,
        counts: &[i64],
        out: &mut Vec<f32>,
    ) -> Result<(), String> {
        use ort::sys::ONNXTensorElementDataType as T;
        let api = ort::api();
        let n = counts.len();
        let tshape = [n as i64, steps as i64, BT_FEATURES as i64];
        let nshape = [n as i64];
        let names = [c"tracks".as_ptr(), c"n_tracks".as_ptr()];
        let out_names = [c"probs".as_ptr()];
        let mut values = [ptr::null_mut::<ort::sys::OrtValue>(); 2];
        let mut result = [ptr::null_mut::<ort::sys::OrtValue>(); 1];
        // SAFETY: the views borrow `tracks` and `counts` (read-only for ONNX Runtime) for the
        // duration of this function; every value created here is released before returning.
        unsafe {
            let r = (|| {
                ort_status(
                    (api.CreateTensorWithDataAsOrtValue)(
                        self.memory,
                        tracks.as_ptr().cast_mut().cast(),
                        n * steps * BT_FEATURES * 4,
                        tshape.as_ptr(),
                        3,
                        T::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
                        &mut values[0],
                    ),
                    "CreateTensorWithDataAsOrtValue",
                )?;
                ort_status(
                    (api.CreateTensorWithDataAsOrtValue)(
                        self.memory,
                        counts.as_ptr().cast_mut().cast(),
                        n * 8,
                        nshape.as_ptr(),
                        1,
                        T::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64,
                        &mut values[1],
                    ),
                    "CreateTensorWithDataAsOrtValue",
                )?;
                let inputs = [values[0].cast_const(), values[1].cast_const()];
                ort_status(
                    (api.Run)(
                        self.session,
                        ptr::null(),
                        names.as_ptr(),
                        inputs.as_ptr(),
                        2,
                        out_names.as_ptr(),
                        1,
                        result.as_mut_ptr(),
                    ),
                    "Run",
                )?;
                let mut data = ptr::null_mut();
                ort_status(
                    (api.GetTensorMutableData)(result[0], &mut data),
                    "GetTensorMutableData",
                )?;
                out.clear();
                out.extend_from_slice(std::slice::from_raw_parts(data.cast::<f32>(), 3 * n));
                Ok(())
            })();
            for v in values.into_iter().chain(result) {
                if !v.is_null() {
                    (api.ReleaseValue)(v);
                }
            }
            r
        }
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        let api = ort::api();
        // SAFETY: both were created in `new` and are released once.
        unsafe {
            (api.ReleaseMemoryInfo)(self.memory);
            (api.ReleaseSession)(self.session);
        }
    }
}

/// Calls per second of `threads` threads each running `f(thread)` in a loop for `time`.
fn rate(threads: usize, time: Duration, f: &(dyn Fn(usize) + Sync)) -> f64 {
    let stop = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, calls) = (&stop, &calls);
            s.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    f(t);
                    n += 1;
                }
                calls.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
    });
    calls.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// The Python side: `scripts/bench-ort-python.py` running as a child process that serves one
/// measurement round per request, so that its rounds interleave with the Rust sides'.
struct PythonSide {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    _dir: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl PythonSide {
    /// Starts the script on the inputs of `n` jets (the same as the raw sides'); an error says
    /// why the Python side cannot be measured.
    fn start(opts: &BtagBenchOptions, n: usize) -> Result<Self, String> {
        use std::io::BufRead;
        let Some((python, script)) = &opts.python else {
            return Err("no Python interpreter given".into());
        };
        let dir = TempDir(
            std::env::temp_dir().join(format!("hepinfer-bench-btag-{}", std::process::id())),
        );
        std::fs::create_dir_all(&dir.0).map_err(|e| e.to_string())?;
        let (x, counts) = btag_model_inputs(n, 0);
        let xb: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let nb: Vec<u8> = counts.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.0.join("tracks.f32"), xb).map_err(|e| e.to_string())?;
        std::fs::write(dir.0.join("n_tracks.i64"), nb).map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(python)
            .arg(script)
            .arg(&opts.model)
            .arg(&dir.0)
            .arg(n.to_string())
            .env("ORT_DISABLE_TELEMETRY", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("no pipes to the Python process".into());
        };
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        if !line.starts_with("ready") {
            let _ = child.kill();
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            return Err(format!(
                "{} {} did not start: {}",
                python.display(),
                script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(PythonSide {
            child,
            stdin,
            stdout,
            _dir: dir,
        })
    }

    /// One round: µs per jet at `batch` jets per call on `threads` threads.
    fn round(&mut self, batch: usize, threads: usize, time: Duration) -> Result<f64, String> {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{batch} {threads} {}", time.as_millis())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("Python side: {e}"))?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("Python side: {e}"))?;
        line.trim()
            .parse()
            .map_err(|_| format!("Python side answered {line:?}"))
    }
}

impl Drop for PythonSide {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the b-tag comparison and prints one table.
pub fn run_btag(opts: &BtagBenchOptions) -> Result<(), String> {
    let cfg = HostConfig::from_json(&opts.host_config).map_err(|e| e.to_string())?;
    let host = CHost::new(&opts.host_config).map_err(|e| e.to_string())?;
    let inst = host.instance("btag-rnn", "{}").map_err(|e| e.to_string())?;
    // The same plugin and model file with the native kernel off: ONNX Runtime serves the model.
    let mut ort_cfg: serde_json::Value =
        serde_json::from_str(&opts.host_config).map_err(|e| e.to_string())?;
    ort_cfg["native_kernels"] = serde_json::Value::Bool(false);
    let host_ort = CHost::new(&ort_cfg.to_string()).map_err(|e| e.to_string())?;
    let inst_ort = host_ort
        .instance("btag-rnn", "{}")
        .map_err(|e| e.to_string())?;
    let env = onnx::current_environment().ok_or("ONNX Runtime environment missing")?;
    let bytes = std::fs::read(&opts.model).map_err(|e| format!("{}: {e}", opts.model.display()))?;
    let raw = RawSession::new(&env, &bytes, cfg.cpu_arena)?;
    let kernel = hepinfer_lstm::LstmClassifier::from_onnx(&bytes)
        .map_err(|e| format!("{}: {e}", opts.model.display()))?;
    // The peak is measured several times during the run and the best kept: on a shared machine a
    // single measurement may catch a busy moment.
    let mut peak = fma_peak_gflops(Duration::from_millis(300));
    let max_threads = opts.threads.iter().max().copied().unwrap_or(1);

    println!(
        "hepinfer bench --btag — btag-rnn (LSTM 64 over ≤ 15 tracks × 6, Dense 32, Dense 3), ONNX Runtime {}",
        env.version
    );
    println!("model: {}", opts.model.display());
    let useful: f64 = GOLDEN_TRACK_COUNTS
        .iter()
        .map(|&k| k.clamp(1, BT_STEPS) as f64 * lstm_step_flops() + head_flops())
        .sum::<f64>()
        / GOLDEN_TRACK_COUNTS.len() as f64;
    let padded = BT_STEPS as f64 * lstm_step_flops() + head_flops();
    println!(
        "jets: the golden sample's track counts (mean {:.2} real tracks); FLOPs per jet: {:.3} M over the real tracks, {:.3} M padded to 15 steps",
        GOLDEN_TRACK_COUNTS.iter().map(|&k| k.min(BT_STEPS) as f64).sum::<f64>() / 50.0,
        useful / 1e6,
        padded / 1e6
    );
    println!(
        "medians of {} interleaved rounds of {:?}; µs per jet = wall time / jets over all threads",
        opts.rounds, opts.round_time
    );
    println!(
        "columns: hepinfer = btag-rnn plugin through the C ABI from raw jets and tracks (preprocessing, \
         variable-length packing, model, discriminant), the model served by the native LSTM kernel \
         ({}, the default) or by ONNX Runtime (\"native_kernels\": false); kernel = the native \
         kernel alone on the preprocessed inputs cut at the batch's longest jet; raw ORT = the model through the ONNX Runtime C API \
         (CreateTensorWithDataAsOrtValue + Run + GetTensorMutableData per call), inputs already \
         preprocessed, padded to 15 steps or cut at the batch's longest jet; Python = onnxruntime's \
         InferenceSession.run, padded to 15 steps",
        kernel.kernel().name()
    );
    println!();

    let n_py = opts.batches.iter().max().copied().unwrap_or(1) * max_threads;
    let mut py = PythonSide::start(opts, n_py);
    let py_error = py.as_ref().err().cloned();
    let mut rows: Vec<(usize, usize, Vec<f64>, Option<f64>)> = Vec::new();
    for &b in &opts.batches {
        // Per thread its own jets, the same on every side.
        let raw_in: Vec<(Vec<f32>, Vec<i64>)> = (0..max_threads)
            .map(|t| btag_model_inputs(b, t * b))
            .collect();
        let longest: Vec<(Vec<f32>, usize)> = raw_in
            .iter()
            .map(|(x, n)| {
                let steps = n.iter().copied().max().unwrap_or(1).max(1) as usize;
                let cut = x
                    .chunks_exact(BT_STEPS * BT_FEATURES)
                    .flat_map(|jet| jet[..steps * BT_FEATURES].iter().copied())
                    .collect();
                (cut, steps)
            })
            .collect();
        let raw_jets: Vec<_> = (0..max_threads).map(|t| btag_raw_jets(b, t * b)).collect();
        let abi_call = |t: usize| btag_abi_call(&inst, &raw_jets[t]);
        let abi_call_ort = |t: usize| btag_abi_call(&inst_ort, &raw_jets[t]);
        let native_alone = |t: usize| {
            let (x, steps) = &longest[t];
            let out = kernel
                .run(x, [b, *steps, BT_FEATURES], &raw_in[t].1)
                .expect("native kernel");
            std::hint::black_box(out);
        };
        let raw_padded = |t: usize| {
            let mut out = Vec::new();
            raw.run(&raw_in[t].0, BT_STEPS, &raw_in[t].1, &mut out)
                .expect("raw ORT call");
            std::hint::black_box(out);
        };
        let raw_longest = |t: usize| {
            let mut out = Vec::new();
            raw.run(&longest[t].0, longest[t].1, &raw_in[t].1, &mut out)
                .expect("raw ORT call");
            std::hint::black_box(out);
        };
        let sides: [&(dyn Fn(usize) + Sync); 5] = [
            &abi_call,
            &abi_call_ort,
            &native_alone,
            &raw_padded,
            &raw_longest,
        ];
        for &threads in &opts.threads {
            for side in sides {
                rate(threads, opts.round_time / 4, side); // warm-up
            }
            if let Ok(p) = py.as_mut() {
                p.round(b, threads, opts.round_time / 4)?; // warm-up
            }
            // The Python side is the last of the rotation when it runs.
            let n_sides = sides.len() + usize::from(py.is_ok());
            let mut figures = vec![Vec::new(); n_sides];
            for r in 0..opts.rounds {
                // Rotate which side goes first, so none always runs on a warmer machine.
                for k in 0..n_sides {
                    let i = (k + r) % n_sides;
                    if i == sides.len() {
                        if let Ok(p) = py.as_mut() {
                            figures[i].push(p.round(b, threads, opts.round_time)?);
                        }
                        continue;
                    }
                    let calls = rate(threads, opts.round_time, sides[i]);
                    figures[i].push(1e6 / (calls * b as f64));
                }
            }
            let mut us: Vec<f64> = figures.into_iter().map(median).collect();
            let python = (us.len() > sides.len()).then(|| us.remove(sides.len()));
            rows.push((b, threads, us, python));
            let p = fma_peak_gflops(Duration::from_millis(100));
            peak = match (peak, p) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    match peak {
        Some(p) => println!(
            "single-core peak FP32 (8-wide FMA loop, best of the measurements during this run): {p:.1} GFLOP/s; \
             % peak = real-track FLOPs per jet / time per jet / (threads × peak) (on an AVX-512 CPU, whose \
             16-wide peak is twice this, the native kernel runs 16-wide: read its % against twice the figure)"
        ),
        None => println!("single-core peak: not measured (no AVX2+FMA); % peak not shown"),
    }
    println!();
    let fmt = |us: f64, threads: usize| match peak {
        Some(p) => format!(
            "{us:>8.2} {:>5.1}%",
            useful / (us * 1e-6) / 1e9 / (p * threads as f64) * 100.0
        ),
        None => format!("{us:>8.2}      "),
    };
    let heads = [
        "hepinfer native",
        "hepinfer ORT",
        "kernel alone",
        "raw ORT 15 st.",
        "raw ORT longest",
        "Python 15 st.",
    ];
    print!("{:>5} {:>7}", "batch", "threads");
    for h in heads {
        print!("  {h:>15}");
    }
    println!();
    print!("{:>5} {:>7}", "", "");
    for _ in heads {
        print!("  {:>15}", "µs/jet  %peak");
    }
    println!();
    let rows_summary: Vec<(usize, usize, Vec<f64>, ())> = rows
        .iter()
        .map(|(b, t, us, _)| (*b, *t, us.clone(), ()))
        .collect();
    for (b, threads, us, python) in rows {
        let python = match python {
            None => format!("{:>15}", "MISSING"),
            Some(us) => fmt(us, threads),
        };
        print!("{b:>5} {threads:>7}");
        for &u in &us {
            print!("  {}", fmt(u, threads));
        }
        println!("  {python}");
    }
    if let Some(e) = &py_error {
        println!();
        println!("!!! ONNX Runtime from Python NOT MEASURED: {e}");
        println!(
            "!!! set it up with `scripts/setup-bench-python.sh` (a venv with the onnxruntime wheel"
        );
        println!(
            "!!! the host uses, and numpy), or point --python at an interpreter that has them."
        );
    }
    println!();
    println!(
        "goals (issue #16): hepinfer ≤ 15 µs/jet at batch 1, ≤ 7 µs/jet at batch 64 (one thread)"
    );
    for (b, threads, us, _) in rows_summary {
        println!(
            "batch {b:>2}, {threads} thread(s): hepinfer native is {:.2}x hepinfer on ONNX Runtime, {:.2}x raw ORT (longest)",
            us[1] / us[0],
            us[4] / us[0]
        );
    }
    Ok(())
}
