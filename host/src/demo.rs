//! `hepinfer demo`: the main job — an event loop over toy events on several threads, every call
//! going through the C ABI exactly as a C++ framework's would, with a summary per plugin.

use crate::abi::hepinfer_event_key;
use crate::cabi::{f32_input, CHost};
use std::ffi::CString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Options of the demo job.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Host configuration (JSON).
    pub host_config: String,
    /// Directory with the seq-classifier golden sequences (`golden_x.f32`, `golden_y.i64`).
    pub seq_data: PathBuf,
    /// Events to process.
    pub events: u64,
    /// Worker threads.
    pub threads: usize,
    /// Events per run (the run number changes every this many events).
    pub events_per_run: u64,
}

fn read<T: Copy>(path: &std::path::Path, conv: fn(&[u8]) -> T, size: usize) -> Result<Vec<T>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(b.chunks_exact(size).map(conv).collect())
}

/// Draws a progress bar on stderr.
fn progress(done: u64, total: u64, start: Instant) {
    let frac = done as f64 / total.max(1) as f64;
    let width = 40;
    let filled = (frac * width as f64) as usize;
    let rate = done as f64 / start.elapsed().as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {done}/{total} events  {rate:.0} ev/s ",
        "#".repeat(filled),
        "-".repeat(width - filled)
    );
    let _ = std::io::stderr().flush();
}

/// Runs the job and prints the summary.
pub fn run(opts: &DemoOptions) -> Result<(), String> {
    let x = read(&opts.seq_data.join("golden_x.f32"), |c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]), 4)?;
    let y = read(&opts.seq_data.join("golden_y.i64"), |c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])), 8)?;
    let n_seq = y.len();
    if n_seq == 0 || x.len() != n_seq * 120 {
        return Err("seq-classifier data is empty or inconsistent".into());
    }
    let host = Arc::new(CHost::new(&opts.host_config).map_err(|e| e.to_string())?);
    let inst = Arc::new(host.instance("seq-classifier", "{}").map_err(|e| e.to_string())?);
    let (x, y) = (Arc::new(x), Arc::new(y));
    let next = Arc::new(AtomicU64::new(0));
    let correct = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    eprintln!("hepinfer demo: {} events on {} threads", opts.events, opts.threads);
    let handles: Vec<_> = (0..opts.threads)
        .map(|_| {
            let (inst, x, y, next, correct, seen, failures) =
                (inst.clone(), x.clone(), y.clone(), next.clone(), correct.clone(), seen.clone(), failures.clone());
            let (events, per_run) = (opts.events, opts.events_per_run.max(1));
            std::thread::spawn(move || {
                let name = CString::new("sequences").unwrap_or_default();
                loop {
                    let ev = next.fetch_add(1, Ordering::Relaxed);
                    if ev >= events {
                        break;
                    }
                    // An event holds 1-8 sequences ("jets") taken from the sample.
                    let k = 1 + (ev % 8) as usize;
                    let first = (ev as usize * 13) % (n_seq - k);
                    let shape = [k as i64, 15, 8];
                    let input = [f32_input(&name, &shape, &x[first * 120..(first + k) * 120])];
                    let key = hepinfer_event_key { run: 1 + (ev / per_run) as u32, lumi: 1, event: ev };
                    match inst.process(key, &input).and_then(|o| o.f32("probabilities")) {
                        Ok(p) => {
                            for (j, row) in p.chunks(3).enumerate() {
                                let best = (0..3).fold(0, |b, i| if row[i] > row[b] { i } else { b });
                                if best as i64 == y[first + j] {
                                    correct.fetch_add(1, Ordering::Relaxed);
                                }
                                seen.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if ev % 997 == 0 {
                        progress(ev, events, start);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "a worker thread panicked".to_string())?;
    }
    progress(opts.events, opts.events, start);
    eprintln!();
    let wall = start.elapsed().as_secs_f64();
    let stats = inst.stats().map_err(|e| e.to_string())?;
    let get = |k: &str| stats[k].as_f64().unwrap_or(0.0);
    println!();
    println!("{:<16} {:>8} {:>10} {:>9} {:>9} {:>9}  quality", "plugin", "calls", "events/s", "p50 µs", "p99 µs", "failures");
    println!(
        "{:<16} {:>8} {:>10.0} {:>9.1} {:>9.1} {:>9}  accuracy {:.4} on {} sequences",
        "seq-classifier",
        get("calls"),
        opts.events as f64 / wall,
        get("p50_us"),
        get("p99_us"),
        failures.load(Ordering::Relaxed),
        correct.load(Ordering::Relaxed) as f64 / seen.load(Ordering::Relaxed).max(1) as f64,
        seen.load(Ordering::Relaxed)
    );
    if failures.load(Ordering::Relaxed) > 0 {
        return Err(format!("{} calls failed", failures.load(Ordering::Relaxed)));
    }
    Ok(())
}
