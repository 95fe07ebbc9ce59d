//! `hepinfer-demo`: the main job. Toy events go through every plugin on several threads, each call
//! through the C ABI exactly as a C++ framework's; at the end it prints, per plugin, calls,
//! throughput, latency quantiles and the physics quality measured on this run.

mod btag;
mod calogan;
mod jetcnn;
mod seq;
mod trackgnn;
mod workload;

use clap::Parser;
use hepinfer::abi::hepinfer_event_key;
use hepinfer::cabi::{CHost, CInstance};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use workload::Workload;

#[derive(Parser)]
#[command(
    name = "hepinfer-demo",
    about = "The hepinfer demo job: toy events through every plugin"
)]
struct Args {
    /// Conditions database URL serving the models.
    #[arg(long)]
    conddb: String,
    /// Global tag.
    #[arg(long, default_value = "HEPINFER_DEMO_V1")]
    global_tag: String,
    /// Plugin directory. Default: `hepinfer-plugins/` beside this executable.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Events to process.
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Events per run: the run number advances every this many events (crossing IOVs).
    #[arg(long, default_value_t = 5_000)]
    events_per_run: u64,
    /// Only these plugins (repeatable); default: all.
    #[arg(long = "only")]
    only: Vec<String>,
    /// Call the plugins that opt in (btag-rnn, jet-cnn) asynchronously, so that the host merges
    /// the model calls of many events (cross-event batching); prints the items per model call.
    #[arg(long)]
    batching: bool,
    /// With --batching: asynchronous calls each worker thread keeps in flight.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
}

/// Asynchronous calls of one worker thread still in flight, and the wait for a free slot.
#[derive(Default)]
struct Window {
    n: std::sync::Mutex<usize>,
    cv: std::sync::Condvar,
}

impl Window {
    fn acquire(&self, max: usize) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= max {
            n = self.cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
    }
    fn release(&self) {
        *self.n.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.cv.notify_all();
    }
}

fn source_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn progress(done: u64, total: u64, start: Instant) {
    let width = 40;
    let filled = ((done as f64 / total.max(1) as f64) * width as f64) as usize;
    let rate = done as f64 / start.elapsed().as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {done}/{total} events  {rate:.0} events/s ",
        "#".repeat(filled),
        "-".repeat(width - filled)
    );
    let _ = std::io::stderr().flush();
}

fn run(args: Args) -> Result<(), String> {
    let plugin_dir = match args.plugin_dir {
        Some(d) => d,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .map(|d| d.join("hepinfer-plugins"))
            .ok_or("no executable directory")?,
    };
    let config = serde_json::json!({
        "plugin_dirs": [plugin_dir], "conddb": args.conddb, "global_tag": args.global_tag, "log_level": "warn",
    })
    .to_string();
    let mut workloads: Vec<Box<dyn Workload>> = vec![Box::new(seq::Seq::load(
        &source_tree().join("plugins/seq-classifier/model"),
    )?)];
    workloads.push(Box::new(btag::BTag::new()));
    workloads.push(Box::new(jetcnn::JetCnn::new()));
    workloads.push(Box::new(trackgnn::TrackGnn::new()));
    workloads.push(Box::new(calogan::CaloGan::new()));
    if !args.only.is_empty() {
        workloads.retain(|w| args.only.iter().any(|o| o == w.plugin()));
    }
    let host = CHost::new(&config).map_err(|e| e.to_string())?;
    let instances: Vec<CInstance> = workloads
        .iter()
        .map(|w| {
            host.instance(w.plugin(), &w.config())
                .map_err(|e| format!("{}: {e}", w.plugin()))
        })
        .collect::<Result<_, _>>()?;
    let shared = Arc::new((workloads, instances));
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    eprintln!(
        "hepinfer-demo: {} events on {} threads, global tag {}, plugins: {}",
        args.events,
        args.threads,
        args.global_tag,
        shared
            .0
            .iter()
            .map(|w| w.plugin())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (events, per_run) = (args.events, args.events_per_run.max(1));
    let (batching, in_flight) = (args.batching, args.in_flight.max(1));
    let workers: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let (shared, next, failures) = (shared.clone(), next.clone(), failures.clone());
            let window = Arc::new(Window::default());
            std::thread::spawn(move || loop {
                let ev = next.fetch_add(1, Ordering::Relaxed);
                if ev >= events {
                    // Wait for this thread's asynchronous calls before leaving.
                    window.acquire(1);
                    break;
                }
                let key = hepinfer_event_key {
                    run: 1 + (ev / per_run) as u32,
                    lumi: 1 + (ev % per_run / 1000) as u32,
                    event: ev,
                };
                // Like a framework's path: every algorithm runs on every event.
                for (w, inst) in shared.0.iter().zip(&shared.1) {
                    let result = if batching {
                        window.acquire(in_flight);
                        let (win, fails, plugin) = (window.clone(), failures.clone(), w.plugin());
                        let done = Box::new(move |r: Result<(), hepinfer::cabi::CError>| {
                            if let Err(e) = r {
                                if fails.fetch_add(1, Ordering::Relaxed) < 5 {
                                    eprintln!("\n{plugin} event {ev}: {e}");
                                }
                            }
                            win.release();
                        });
                        match w.submit(inst, key, ev, done) {
                            Some(r) => {
                                if r.is_err() {
                                    window.release(); // refused: no callback
                                }
                                r
                            }
                            None => {
                                window.release();
                                w.process(inst, key, ev)
                            }
                        }
                    } else {
                        w.process(inst, key, ev)
                    };
                    if let Err(e) = result {
                        if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("\n{} event {ev}: {e}", w.plugin());
                        }
                    }
                }
                if ev % 500 == 0 {
                    progress(ev, events, start);
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| "a worker thread panicked".to_string())?;
    }
    progress(events, events, start);
    eprintln!();
    let wall = start.elapsed().as_secs_f64();
    println!();
    println!(
        "{:<15} {:>8} {:>10} {:>9} {:>9} {:>8}  physics on this run",
        "plugin", "calls", "calls/s", "p50 µs", "p99 µs", "failed"
    );
    for (w, inst) in shared.0.iter().zip(&shared.1) {
        let s = inst.stats().map_err(|e| e.to_string())?;
        let get = |k: &str| s[k].as_f64().unwrap_or(0.0);
        println!(
            "{:<15} {:>8} {:>10.0} {:>9.1} {:>9.1} {:>8}  {}",
            w.plugin(),
            get("calls"),
            get("calls") / wall,
            get("p50_us"),
            get("p99_us"),
            get("failures"),
            w.quality()
        );
    }
    println!(
        "\n{events} events in {wall:.1} s ({:.0} events/s) on {} threads",
        events as f64 / wall,
        args.threads
    );
    if batching {
        for (w, inst) in shared.0.iter().zip(&shared.1) {
            let b = inst.batching().map_err(|e| e.to_string())?;
            if b["batched"] == true {
                println!(
                    "{}: cross-event batching, {:.1} items per model call ({} items in {} calls, max {}, max delay {} µs)",
                    w.plugin(),
                    b["items_per_call"].as_f64().unwrap_or(0.0),
                    b["items"],
                    b["model_calls"],
                    b["max_items"],
                    b["max_delay_us"]
                );
            }
        }
    }
    match failures.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} calls failed")),
    }
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hepinfer-demo: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
