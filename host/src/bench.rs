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
