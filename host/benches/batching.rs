//! Cross-event batching, off vs on, side by side in one run: two framework threads each keep up
//! to `--in-flight` asynchronous calls outstanding (`Instance::submit`), for btag-rnn called per
//! jet and per 4-jet event and jet-cnn per image. Prints throughput and p50/p99 latency (submit →
//! completion) per mode, medians over interleaved repetitions, the achieved items per model call,
//! and the latency bound of the issue (max delay + 2 × one full batch's execution).
//!
//! Needs the release plugins: `scripts/build.sh release`, then
//! `cargo bench -p hepinfer --bench batching` (`-- --reps 5 --calls 20000 --in-flight 32`, and
//! `--max-items N --max-delay-us US` for other settings than the defaults, `--only per jet` for
//! one workload, `--mode TEXT` for the modes whose name contains TEXT, `--threads N` for another
//! number of framework threads).
//!
//! btag-rnn runs twice: on the native LSTM kernel (the default, `native`) and on ONNX Runtime
//! (`"native_kernels": false`, `ort`), each with batching off and on, all four interleaved; the
//! `vs ort off` column compares with unbatched calls on ONNX Runtime, the set-up the batching
//! goal of issue #12 was measured against.

use hepinfer::{Host, Instance};
use hepinfer_plugin_api::{EventKey, TensorView};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// One call's inputs: (name, shape, data, offsets) per input.
type Call = Vec<(&'static str, Vec<i64>, Vec<f32>, Vec<i64>)>;

fn plugins_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("hepinfer-plugins");
    assert!(
        dir.is_dir(),
        "{} missing: run scripts/build.sh release first",
        dir.display()
    );
    dir
}

fn model(plugin: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../plugins/{plugin}/model/model.onnx"))
}

/// `n` btag-rnn calls of `jets` toy-detector jets each.
fn btag_calls(n: usize, jets: usize) -> Vec<Call> {
    let mut gen = toydet::flavour::FlavourGenerator::new(3);
    (0..n)
        .map(|_| {
            let js: Vec<_> = (0..jets).map(|_| gen.next_jet()).collect();
            let f = toydet::flavour::flatten(&js);
            let mut jet = Vec::new();
            for j in 0..jets {
                jet.extend([f.jet_pt[j], f.jet_eta[j], f.jet_phi[j]]);
            }
            let mut trk = Vec::new();
            for t in 0..f.trk_pt.len() {
                trk.extend([
                    f.trk_pt[t],
                    f.trk_eta[t],
                    f.trk_phi[t],
                    f.trk_d0[t],
                    f.trk_z0[t],
                    f.trk_sigma_d0[t],
                    f.trk_sigma_z0[t],
                ]);
            }
            let nt = f.trk_pt.len() as i64;
            vec![
                ("jets", vec![jets as i64, 3], jet, vec![]),
                ("tracks", vec![nt, 7], trk, f.offsets),
            ]
        })
        .collect()
}

/// `n` jet-cnn calls of one jet image each.
fn cnn_calls(n: usize) -> Vec<Call> {
    let mut gen = toydet::jetimage::JetImageGenerator::new(3);
    (0..n)
        .map(|_| {
            let c: Vec<f32> = gen
                .next_jet()
                .constituents
                .iter()
                .flat_map(|k| [k.eta, k.phi, k.pt])
                .collect();
            let m = (c.len() / 3) as i64;
            vec![("constituents", vec![m, 3], c, vec![0, m])]
        })
        .collect()
}

fn views(call: &Call) -> Vec<TensorView<'_>> {
    call.iter()
        .map(|(name, shape, data, offsets)| {
            let mut v = TensorView::f32(name, shape, data);
            v.offsets = offsets.as_slice().into();
            v
        })
        .collect()
}

struct Window {
    in_flight: Mutex<usize>,
    cv: Condvar,
}

struct Run {
    calls_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    // Rows per model call; None when the instance does not batch.
    items_per_call: Option<f64>,
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1e3
}

/// `--threads` framework threads (2 by default), each with at most `window` calls outstanding.
fn run(inst: &Instance, calls: &[Call], threads: usize, window: usize, help: bool) -> Run {
    let before = inst.batching().1.unwrap_or_default();
    let t0 = Instant::now();
    let lat: Arc<Vec<AtomicU64>> = Arc::new((0..calls.len()).map(|_| AtomicU64::new(0)).collect());
    let failed = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (lat, failed) = (lat.clone(), failed.clone());
            s.spawn(move || {
                let w = Arc::new(Window {
                    in_flight: Mutex::new(0),
                    cv: Condvar::new(),
                });
                for (i, call) in calls.iter().enumerate().skip(t).step_by(threads) {
                    {
                        let mut n = w.in_flight.lock().unwrap();
                        if help && *n >= window {
                            // Rather than sleep, run what waits in the queues on this thread.
                            drop(n);
                            inst.flush();
                            n = w.in_flight.lock().unwrap();
                        }
                        while *n >= window {
                            n = w.cv.wait(n).unwrap();
                        }
                        *n += 1;
                    }
                    let (w2, lat, failed) = (w.clone(), lat.clone(), failed.clone());
                    let start = Instant::now();
                    let key = EventKey {
                        run: 1,
                        lumi: 1,
                        event: i as u64,
                    };
                    let r = inst.submit(
                        key,
                        &views(call),
                        Box::new(move |r| {
                            lat[i].store(start.elapsed().as_nanos() as u64, Relaxed);
                            if r.is_err() {
                                failed.fetch_add(1, Relaxed);
                            }
                            *w2.in_flight.lock().unwrap() -= 1;
                            w2.cv.notify_one();
                        }),
                    );
                    r.expect("submit");
                }
                let mut n = w.in_flight.lock().unwrap();
                while *n > 0 {
                    n = w.cv.wait(n).unwrap();
                }
            });
        }
    });
    let wall = t0.elapsed();
    assert_eq!(failed.load(Relaxed), 0, "calls failed");
    let mut l: Vec<u64> = lat.iter().map(|a| a.load(Relaxed)).collect();
    l.sort_unstable();
    let after = inst.batching().1.unwrap_or_default();
    let (calls_m, items) = (
        after.model_calls - before.model_calls,
        after.items - before.items,
    );
    Run {
        calls_per_s: calls.len() as f64 / wall.as_secs_f64(),
        p50_us: quantile(&l, 0.5),
        p99_us: quantile(&l, 0.99),
        items_per_call: (calls_m > 0).then(|| items as f64 / calls_m as f64),
    }
}

/// The median; NaN for no values (a mode left out by `--mode`).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median time of one synchronous call of `call` (a full batch), in µs.
fn exec_us(inst: &Instance, call: &Call) -> f64 {
    let key = EventKey::default();
    let mut t = Vec::new();
    for _ in 0..50 {
        let s = Instant::now();
        inst.process(key, &views(call)).expect("process");
        t.push(s.elapsed().as_secs_f64() * 1e6);
    }
    median(t)
}

/// jet-cnn's `max_items` (instance setting; the demo's too): per image, batches of 16 run as fast
/// as 32 (11.4 vs 11.9 µs/image), and with two threads on two cores the p99 latency of batches of
/// 32 exceeded the bound (max delay + 2 batches) in 7 of 12 runs, of 16 in none of 6
/// (BENCHMARKS.md).
const JET_CNN_MAX_ITEMS: usize = 16;

/// The value after `name` on the command line.
fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn arg(name: &str, default: usize) -> usize {
    text_arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let reps = arg("--reps", 5);
    let n = arg("--calls", 20000);
    let window = arg("--in-flight", 32);
    let threads = arg("--threads", 2);
    // `--help-when-full`: a framework thread whose window is full calls `Instance::flush` (runs
    // the waiting batches itself) before it sleeps, as a scheduler that helps while it waits would.
    let help = std::env::args().any(|a| a == "--help-when-full");
    // `--max-items N` for every workload; otherwise each model's own setting: the host's default
    // for btag-rnn, and for jet-cnn the instance setting the demo uses (`JET_CNN_MAX_ITEMS`).
    let max_items_arg = {
        let v = arg("--max-items", 0);
        (v > 0).then_some(v)
    };
    let delay_us = arg(
        "--max-delay-us",
        hepinfer::batch::DEFAULT_MAX_DELAY_US as usize,
    ) as u64;
    let config = serde_json::json!({
        "plugin_dirs": [plugins_dir()],
        "models": {"BTagRnnRcd": model("btag-rnn"), "JetCnnRcd": model("jet-cnn")},
        "log_level": "warn",
        "batching": {"max_delay_us": delay_us},
    })
    .to_string();
    let host = Host::new(&config, None, std::ptr::null_mut()).expect("host");
    let config_ort = {
        let mut c: serde_json::Value = serde_json::from_str(&config).expect("json");
        c["native_kernels"] = serde_json::Value::Bool(false);
        c.to_string()
    };
    let host_ort = Host::new(&config_ort, None, std::ptr::null_mut()).expect("host");
    println!(
        "batching bench: {threads} framework threads, {window} calls in flight per thread, {n} calls per \
         run, median of {reps} interleaved runs; on = max_items {} (btag-rnn) / {} (jet-cnn), \
         max_delay_us {delay_us}",
        max_items_arg.unwrap_or(hepinfer::batch::DEFAULT_MAX_ITEMS),
        max_items_arg.unwrap_or(JET_CNN_MAX_ITEMS),
    );
    println!(
        "{:<22} {:>11} {:>12} {:>8} {:>10} {:>9} {:>9} {:>10} {:>9}",
        "workload",
        "mode",
        "calls/s",
        "speedup",
        "vs ort off",
        "p50 µs",
        "p99 µs",
        "items/call",
        "bound µs"
    );
    let scenarios: Vec<(&str, &str, Vec<Call>, usize)> = vec![
        ("btag-rnn per jet", "btag-rnn", btag_calls(n, 1), 1),
        ("btag-rnn 4-jet events", "btag-rnn", btag_calls(n / 4, 4), 4),
        ("jet-cnn per image", "jet-cnn", cnn_calls(n / 2), 1),
    ];
    // `--only TEXT`: just the workloads whose label contains TEXT (e.g. for a profiler).
    let only = text_arg("--only");
    // `--mode TEXT`: run only the modes whose name contains TEXT (for a profiler); the speed-up
    // columns then compare with whatever base ran, if any.
    let mode_filter = text_arg("--mode");
    for (label, plugin, calls, items) in &scenarios {
        if only.as_deref().is_some_and(|o| !label.contains(o)) {
            continue;
        }
        let off = host
            .instance(plugin, r#"{"batching": {"enabled": false}}"#)
            .expect("instance");
        let max_items = max_items_arg.unwrap_or(if *plugin == "jet-cnn" {
            JET_CNN_MAX_ITEMS
        } else {
            hepinfer::batch::DEFAULT_MAX_ITEMS
        });
        let on_config = format!(r#"{{"batching": {{"max_items": {max_items}}}}}"#);
        let on = host.instance(plugin, &on_config).expect("instance");
        // The b-tag model also on ONNX Runtime (jet-cnn always runs there).
        let ort = (*plugin == "btag-rnn").then(|| {
            (
                host_ort
                    .instance(plugin, r#"{"batching": {"enabled": false}}"#)
                    .expect("instance"),
                host_ort.instance(plugin, &on_config).expect("instance"),
            )
        });
        // One full batch, run synchronously: the unit of the latency bound.
        let full: Call = {
            let pool: Vec<Call> = if *plugin == "btag-rnn" {
                btag_calls(1, max_items)
            } else {
                Vec::new()
            };
            pool.into_iter().next().unwrap_or_else(|| calls[0].clone())
        };
        let batch_us = if *plugin == "btag-rnn" {
            exec_us(&off, &full)
        } else {
            // jet-cnn: one call of max_items images, made from single images.
            let mut c = Vec::new();
            let mut o = vec![0i64];
            for call in calls.iter().take(max_items) {
                c.extend_from_slice(&call[0].2);
                o.push((c.len() / 3) as i64);
            }
            let m = (c.len() / 3) as i64;
            exec_us(&off, &vec![("constituents", vec![m, 3], c, o)])
        };
        let bound = delay_us as f64 + 2.0 * batch_us;
        // The ONNX Runtime backend's own bound (its batch runs at another speed).
        let bound_ort = ort
            .as_ref()
            .map(|(o, _)| delay_us as f64 + 2.0 * exec_us(o, &full));
        let mut modes: Vec<(&str, &Instance)> = vec![("native off", &off), ("native on", &on)];
        if let Some((o, b)) = &ort {
            modes.push(("ort off", o));
            modes.push(("ort on", b));
        } else {
            modes = vec![("off", &off), ("on", &on)];
        }
        let keep: Vec<bool> = modes
            .iter()
            .map(|(m, _)| mode_filter.as_deref().is_none_or(|f| m.contains(f)))
            .collect();
        // Warm-up of every instance.
        for (_, inst) in modes.iter().zip(&keep).filter(|(_, k)| **k).map(|(m, _)| m) {
            run(inst, &calls[..calls.len().min(500)], threads, window, help);
        }
        let mut res: Vec<Vec<Run>> = modes.iter().map(|_| Vec::new()).collect();
        for _ in 0..reps {
            for ((r, (_, inst)), _) in res.iter_mut().zip(&modes).zip(&keep).filter(|(_, k)| **k) {
                r.push(run(inst, calls, threads, window, help));
            }
        }
        let tput_of = |rs: &[Run]| median(rs.iter().map(|r| r.calls_per_s).collect());
        // Each "on" compares with the "off" of its backend; "vs ort off" with ONNX Runtime unbatched.
        let ort_off = if ort.is_some() {
            tput_of(&res[2])
        } else {
            tput_of(&res[0])
        };
        for (k, ((mode, _), rs)) in modes.iter().zip(&res).enumerate() {
            if rs.is_empty() {
                continue;
            }
            let tput = tput_of(rs);
            let base = tput_of(&res[k & !1]);
            println!(
                "{:<22} {:>11} {:>12.0} {:>7.2}x {:>9.2}x {:>9.0} {:>9.0} {:>10.1} {:>9}",
                label,
                mode,
                tput,
                tput / base,
                tput / ort_off,
                median(rs.iter().map(|r| r.p50_us).collect()),
                median(rs.iter().map(|r| r.p99_us).collect()),
                median(
                    rs.iter()
                        .map(|r| r.items_per_call.unwrap_or(*items as f64))
                        .collect()
                ),
                if mode.ends_with("on") {
                    let b = if mode.starts_with("ort") {
                        bound_ort.unwrap_or(bound)
                    } else {
                        bound
                    };
                    format!("{b:.0}")
                } else {
                    String::new()
                },
            );
        }
    }
}
