//! `hepinfer-demo`: the main job. Toy events go through every plugin on several threads, each call
//! through the C ABI exactly as a C++ framework's; at the end it prints, per plugin, calls,
//! throughput, latency quantiles and the physics quality measured on this run.
//!
//! `--plots DIR` draws the physics (PNG, SVG, the numbers as JSON) and writes `DIR/report.html`;
//! `--compare GT` runs every event through a second global tag as well and reports what changes
//! (see `compare.rs`).

mod btag;
mod calogan;
mod compare;
mod fidelity;
mod figure;
mod jetcnn;
mod plots;
mod report;
mod seq;
mod trackgnn;
mod workload;

use clap::Parser;
use hepinfer::abi::hepinfer_event_key;
use hepinfer_plugin_testing::cabi::{CHost, CInstance};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use workload::{EventOutput, Results, Workload};

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
    /// Also run every event through this global tag and report what changes (payloads, outputs
    /// event by event, figures of merit, overlaid plots).
    #[arg(long, value_name = "GLOBAL_TAG")]
    compare: Option<String>,
    /// Write plots (PNG, SVG, JSON numbers), summary.json and report.html into this directory.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// With --compare: an event counts as changed when an output differs by more than this
    /// (absolute; the default is the ONNX Runtime / libtorch parity tolerance).
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// track-gnn runs on every this many events (its densities cycle 250/500/1000/2000 particles).
    #[arg(long, default_value_t = 200)]
    gnn_every: u64,
    /// Seed of calo-gan's toy reference showers and of its fidelity classifier.
    #[arg(long, default_value_t = 1)]
    fidelity_seed: u64,
    /// Call the plugins that opt in (btag-rnn, jet-cnn) asynchronously, so that the host merges
    /// the model calls of many events (cross-event batching); prints the items per model call.
    #[arg(long, conflicts_with = "compare")]
    batching: bool,
    /// With --batching: asynchronous calls each worker thread keeps in flight.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
}

/// Asynchronous calls of one worker thread still in flight, and the wait for a free slot.
#[derive(Default)]
struct Window {
    n: Mutex<usize>,
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

/// One global tag's host, workloads and instances, and the payloads seen per plugin.
struct Side {
    global_tag: String,
    workloads: Vec<Box<dyn Workload>>,
    instances: Vec<CInstance>,
    provenance: Vec<Mutex<BTreeSet<(String, String)>>>,
    // Dropped after the instances (fields drop in declaration order).
    _host: CHost,
}

impl Side {
    fn new(args: &Args, plugin_dir: &Path, global_tag: &str) -> Result<Self, String> {
        let config = serde_json::json!({
            "plugin_dirs": [plugin_dir], "conddb": args.conddb, "global_tag": global_tag, "log_level": "warn",
        })
        .to_string();
        let mut workloads: Vec<Box<dyn Workload>> = vec![Box::new(seq::Seq::load(
            &source_tree().join("plugins/seq-classifier/model"),
        )?)];
        workloads.push(Box::new(btag::BTag::new()));
        workloads.push(Box::new(jetcnn::JetCnn::new()));
        workloads.push(Box::new(trackgnn::TrackGnn::new(args.gnn_every)));
        workloads.push(Box::new(calogan::CaloGan::new(args.fidelity_seed)));
        if !args.only.is_empty() {
            workloads.retain(|w| args.only.iter().any(|o| o == w.plugin()));
        }
        let host = CHost::new(&config).map_err(|e| format!("{global_tag}: {e}"))?;
        let instances: Vec<CInstance> = workloads
            .iter()
            .map(|w| {
                host.instance(w.plugin(), &w.config())
                    .map_err(|e| format!("{}: {e}", w.plugin()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Side {
            global_tag: global_tag.into(),
            provenance: workloads.iter().map(|_| Mutex::default()).collect(),
            workloads,
            instances,
            _host: host,
        })
    }

    /// Runs workload `i` on one event and notes which payloads served it.
    fn process(&self, i: usize, key: hepinfer_event_key, ev: u64) -> Result<EventOutput, String> {
        let out = self.workloads[i]
            .process(&self.instances[i], key, ev)
            .map_err(|e| {
                format!(
                    "{} ({}) event {ev}: {e}",
                    self.workloads[i].plugin(),
                    self.global_tag
                )
            })?;
        self.note(i, &out);
        Ok(out)
    }

    /// Notes which payloads served an event of workload `i`.
    fn note(&self, i: usize, out: &EventOutput) {
        if !out.provenance.is_empty() {
            let mut p = self.provenance[i].lock().unwrap_or_else(|e| e.into_inner());
            for entry in &out.provenance {
                if !p.contains(entry) {
                    p.insert(entry.clone());
                }
            }
        }
    }

    /// The caption of workload `i`'s plots: global tag and the payloads that ran.
    fn caption(&self, i: usize, events: u64) -> String {
        let p = self.provenance[i].lock().unwrap_or_else(|e| e.into_inner());
        let payloads: Vec<String> = p
            .iter()
            .map(|(m, h)| format!("{m} {}", &h[..12.min(h.len())]))
            .collect();
        format!(
            "global tag {} · payloads {} · {events} events",
            self.global_tag,
            if payloads.is_empty() {
                "none".into()
            } else {
                payloads.join(", ")
            }
        )
    }
}

fn run(args: Args) -> Result<(), String> {
    let plugin_dir = match &args.plugin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .map(|d| d.join("hepinfer-plugins"))
            .ok_or("no executable directory")?,
    };
    if args.plots.is_some() {
        // Fail before the event loop, not after it.
        plots::init_font()?;
    }
    let mut sides = vec![Side::new(&args, &plugin_dir, &args.global_tag)?];
    if let Some(b) = &args.compare {
        sides.push(Side::new(&args, &plugin_dir, b)?);
    }
    let differs: Vec<compare::Differ> = sides[0]
        .workloads
        .iter()
        .map(|_| compare::Differ::new(args.tolerance))
        .collect();
    let shared = Arc::new((sides, differs));
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    eprintln!(
        "hepinfer-demo: {} events on {} threads, global tag {}{}, plugins: {}",
        args.events,
        args.threads,
        args.global_tag,
        args.compare
            .as_ref()
            .map_or(String::new(), |b| format!(" compared with {b}")),
        shared.0[0]
            .workloads
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
                    // This thread's asynchronous calls complete before it leaves.
                    window.acquire(1);
                    break;
                }
                let key = hepinfer_event_key {
                    run: 1 + (ev / per_run) as u32,
                    lumi: 1 + (ev % per_run / 1000) as u32,
                    event: ev,
                };
                let (sides, differs) = &*shared;
                // Like a framework's path: every algorithm runs on every event.
                for (i, differ) in differs.iter().enumerate() {
                    if batching {
                        // One global tag (--batching excludes --compare): submit, record later.
                        let side = &sides[0];
                        window.acquire(in_flight);
                        let (win, fails, sh) = (window.clone(), failures.clone(), shared.clone());
                        let done = Box::new(
                            move |r: Result<EventOutput, hepinfer_plugin_testing::cabi::CError>| {
                                match r {
                                    Ok(out) => sh.0[0].note(i, &out),
                                    Err(e) => {
                                        if fails.fetch_add(1, Ordering::Relaxed) < 5 {
                                            eprintln!(
                                                "\n{} event {ev}: {e}",
                                                sh.0[0].workloads[i].plugin()
                                            );
                                        }
                                    }
                                }
                                win.release();
                            },
                        );
                        match side.workloads[i].submit(&side.instances[i], key, ev, done) {
                            Some(Ok(())) => continue,
                            Some(Err(e)) => {
                                window.release(); // refused at once: no callback
                                if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                                    eprintln!("\n{} event {ev}: {e}", side.workloads[i].plugin());
                                }
                                continue;
                            }
                            None => window.release(), // runs synchronously below
                        }
                    }
                    let outs: Vec<Result<EventOutput, String>> =
                        sides.iter().map(|s| s.process(i, key, ev)).collect();
                    match &outs[..] {
                        [Ok(a), Ok(b)] => differ.add(key.run, ev, a, b),
                        _ => {
                            for e in outs.iter().filter_map(|o| o.as_ref().err()) {
                                if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                                    eprintln!("\n{e}");
                                }
                            }
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
    let (sides, differs) = &*shared;
    let stats_header: Vec<String> = [
        "global tag",
        "plugin",
        "calls",
        "calls/s",
        "p50 µs",
        "p99 µs",
        "failed",
        "physics on this run",
    ]
    .map(String::from)
    .to_vec();
    let mut stats_rows = Vec::new();
    let mut results: Vec<Vec<Results>> = Vec::new();
    for side in sides {
        println!(
            "\n{}\n{:<15} {:>8} {:>10} {:>9} {:>9} {:>8}  physics on this run",
            side.global_tag, "plugin", "calls", "calls/s", "p50 µs", "p99 µs", "failed"
        );
        let mut side_results = Vec::new();
        for (i, (w, inst)) in side.workloads.iter().zip(&side.instances).enumerate() {
            let s = inst.stats().map_err(|e| e.to_string())?;
            let get = |k: &str| s[k].as_f64().unwrap_or(0.0);
            let mut r = w.results();
            for f in &mut r.figures {
                f.caption = side.caption(i, events);
            }
            println!(
                "{:<15} {:>8} {:>10.0} {:>9.1} {:>9.1} {:>8}  {}",
                w.plugin(),
                get("calls"),
                get("calls") / wall,
                get("p50_us"),
                get("p99_us"),
                get("failures"),
                r.quality
            );
            stats_rows.push(vec![
                side.global_tag.clone(),
                w.plugin().to_string(),
                format!("{}", get("calls")),
                format!("{:.0}", get("calls") / wall),
                format!("{:.1}", get("p50_us")),
                format!("{:.1}", get("p99_us")),
                format!("{}", get("failures")),
                r.quality.clone(),
            ]);
            side_results.push(r);
        }
        results.push(side_results);
    }
    println!(
        "\n{events} events in {wall:.1} s ({:.0} events/s) on {} threads",
        events as f64 / wall,
        args.threads
    );
    if batching {
        for (w, inst) in sides[0].workloads.iter().zip(&sides[0].instances) {
            let b = inst.batching().map_err(|e| e.to_string())?;
            if b["batched"] == true && b["model_calls"] == 0 {
                // The model's backend gains nothing from merged calls (the native LSTM kernel).
                println!(
                    "{}: cross-event batching on, calls run unmerged (the model's backend has no per-call cost to amortise)",
                    w.plugin()
                );
            } else if b["batched"] == true {
                println!(
                    "{}: cross-event batching, {:.1} items per model call ({} items in {} calls; max {}, max delay {} µs)",
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
    let comparisons = match &args.compare {
        Some(b) => Some(compare_tags(&args, b, &sides[0], differs, &results)?),
        None => None,
    };
    if let Some(dir) = &args.plots {
        write_outputs(
            dir,
            &args,
            sides,
            &results,
            comparisons.as_deref(),
            (stats_header, stats_rows),
            wall,
        )?;
    }
    match failures.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} calls failed")),
    }
}

/// Prints and returns the per-plugin comparison of the first global tag with `b`.
fn compare_tags(
    args: &Args,
    b: &str,
    side: &Side,
    differs: &[compare::Differ],
    results: &[Vec<Results>],
) -> Result<Vec<compare::PluginComparison>, String> {
    let changes = compare::payload_changes(&args.conddb, &args.global_tag, b)?;
    println!(
        "\n{} vs {b}: {} record(s) with other payloads; per-event tolerance {:.0e}",
        args.global_tag,
        changes.len(),
        args.tolerance
    );
    println!(
        "{:<15} {:<17} {:<22} {:>16} {:>11} {:>11}",
        "plugin", "verdict", "records changed", "events changed", "max |A-B|", "mean |A-B|"
    );
    let mut out = Vec::new();
    for (i, w) in side.workloads.iter().enumerate() {
        let mine: Vec<compare::PayloadChange> = changes
            .iter()
            .filter(|c| w.records().contains(&c.record.as_str()))
            .cloned()
            .collect();
        let c = compare::PluginComparison::new(
            w.plugin(),
            w.compared(),
            mine,
            differs[i].stats(),
            results[0][i].merits.clone(),
            results[1][i].merits.clone(),
        );
        println!(
            "{:<15} {:<17} {:<22} {:>9} of {:<4} {:>11.3e} {:>11.3e}",
            c.plugin,
            c.verdict,
            if c.payload_changes.is_empty() {
                "none".to_string()
            } else {
                c.payload_changes
                    .iter()
                    .map(|p| p.record.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            },
            c.diff.changed,
            c.diff.events,
            c.diff.max_abs_diff,
            c.diff.mean_abs_diff
        );
        if c.diff.values_changed > 0 {
            println!(
                "    {} of {} values of {} changed ({:.1} %)",
                c.diff.values_changed,
                c.diff.values,
                c.output,
                100.0 * c.diff.values_changed_fraction()
            );
        }
        for (ma, mb) in &c.merits {
            println!(
                "    {:<40} {:>12.5} {:>12.5}  ({:+.5})",
                ma.name,
                ma.value,
                mb.value,
                mb.value - ma.value
            );
        }
        out.push(c);
    }
    Ok(out)
}

/// Plots, `summary.json`, `compare.json` and `report.html` into `dir`.
fn write_outputs(
    dir: &Path,
    args: &Args,
    sides: &[Side],
    results: &[Vec<Results>],
    comparisons: Option<&[compare::PluginComparison]>,
    stats: (Vec<String>, Vec<Vec<String>>),
    wall: f64,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Compared: one figure per plot with B over A; else A's own.
    let figures: Vec<Vec<figure::Figure>> = (0..sides[0].workloads.len())
        .map(|i| match results.get(1) {
            Some(rb) => results[0][i]
                .figures
                .iter()
                .zip(&rb[i].figures)
                .map(|(a, b)| {
                    figure::Figure::overlay(a, b, &sides[0].global_tag, &sides[1].global_tag)
                })
                .collect(),
            None => results[0][i].figures.clone(),
        })
        .collect();
    let mut written = 0;
    for f in figures.iter().flatten() {
        plots::write(f, dir)?;
        written += 1;
    }
    let summary = serde_json::json!({
        "events": args.events,
        "threads": args.threads,
        "wall_s": wall,
        "conddb": args.conddb,
        "global_tags": sides.iter().map(|s| s.global_tag.clone()).collect::<Vec<_>>(),
        "plugins": sides.iter().zip(results).map(|(s, rs)| {
            s.workloads.iter().zip(rs).enumerate().map(|(i, (w, r))| serde_json::json!({
                "global_tag": s.global_tag,
                "plugin": w.plugin(),
                "quality": r.quality,
                "merits": r.merits,
                "payloads": s.provenance[i].lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect::<Vec<_>>(),
                "figures": r.figures.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
                "extra": r.extra,
            })).collect::<Vec<_>>()
        }).collect::<Vec<_>>(),
    });
    let write_json = |name: &str, v: &serde_json::Value| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_string_pretty(v).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    write_json("summary.json", &summary)?;
    if let Some(c) = comparisons {
        write_json("compare.json", &serde_json::to_value(c).unwrap_or_default())?;
    }
    let tags: Vec<String> = sides.iter().map(|s| s.global_tag.clone()).collect();
    // Each global tag's tables, titled with it when there are two.
    let tables: Vec<Vec<workload::Table>> = (0..sides[0].workloads.len())
        .map(|i| {
            sides
                .iter()
                .zip(results)
                .flat_map(|(s, r)| {
                    r[i].tables.iter().map(move |t| workload::Table {
                        title: if sides.len() > 1 {
                            format!("{}: {}", s.global_tag, t.title)
                        } else {
                            t.title.clone()
                        },
                        ..t.clone()
                    })
                })
                .collect()
        })
        .collect();
    let page = report::Page {
        title: match &args.compare {
            Some(b) => format!("hepinfer: {} vs {b}", args.global_tag),
            None => format!("hepinfer physics validation: {}", args.global_tag),
        },
        facts: vec![
            ("conditions database".into(), args.conddb.clone()),
            ("global tag(s)".into(), tags.join(" vs ")),
            (
                "events".into(),
                format!("{} on {} threads, {wall:.1} s", args.events, args.threads),
            ),
            (
                "per-event tolerance".into(),
                format!("{:e}", args.tolerance),
            ),
        ],
        stats,
        sections: sides[0]
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| report::PluginSection {
                plugin: w.plugin(),
                quality: sides
                    .iter()
                    .zip(results)
                    .map(|(s, r)| (s.global_tag.clone(), r[i].quality.clone()))
                    .collect(),
                figures: &figures[i],
                tables: &tables[i],
                merits: &results[0][i].merits,
                comparison: comparisons.map(|c| &c[i]),
            })
            .collect(),
        tags,
    };
    let html = report::write(dir, &page)?;
    eprintln!(
        "hepinfer-demo: {written} plots and {} written",
        html.display()
    );
    Ok(())
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
