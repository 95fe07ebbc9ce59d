//! track-gnn through `hepinfer::Host`: latency vs event size (25-200 particles), throughput on
//! 1 and 2 threads sharing one instance (100-particle events), graph building alone vs hits, and
//! a scaling fit: time vs hits from 1,000 to 100,000 for graph building and for the whole call,
//! with the fitted exponent t ∝ n^k.
//!
//! ```sh
//! cargo bench -p track-gnn --bench latency            # everything
//! cargo bench -p track-gnn --bench latency -- scaling  # the scaling table only
//! TRACK_GNN_BASELINE=old.onnx cargo bench -p track-gnn --bench latency -- baseline
//!                      # 1,000-particle events: this model vs another (or another configuration,
//!                      # TRACK_GNN_BASELINE_CONFIG='{"max_edges_per_call": 4000}'), interleaved
//! ```
//! Toy events from `toydet tracker` (about 8.3 hits per particle); ONNX Runtime with one
//! intra-op thread.

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hepinfer::Instance;
use hepinfer_plugin_api::{EventKey, TensorBuf, TensorData, TensorView};
use std::time::{Duration, Instant};
use toydet::tracker::{event_rng, generate_event, TrackerConfig};
use track_gnn::graph::{build_edges, HitGeometry};

struct Event {
    hits: Vec<f32>,
    layers: Vec<i32>,
}

fn event(particles: usize, seed: u64) -> Event {
    let cfg = TrackerConfig {
        n_particles: particles,
        ..TrackerConfig::default()
    };
    let ev = generate_event(&cfg, &mut event_rng(seed, 0));
    Event {
        hits: ev
            .hits
            .iter()
            .flat_map(|h| [h.x_mm, h.y_mm, h.z_mm])
            .collect(),
        layers: ev.hits.iter().map(|h| i32::from(h.layer)).collect(),
    }
}

fn call(inst: &Instance, e: &Event) {
    std::hint::black_box(call_out(inst, e));
}

/// One call's outputs.
fn call_out(inst: &Instance, e: &Event) -> hepinfer::CallOutputs {
    let (hs, ls) = ([e.layers.len() as i64, 3], [e.layers.len() as i64]);
    inst.process(
        EventKey::default(),
        &[
            TensorView::f32("hits", &hs, &e.hits),
            TensorView::new(
                "hit_layer",
                &ls,
                TensorData::I32(e.layers.as_slice().into()),
            ),
        ],
    )
    .expect("track-gnn call")
}

/// The plugin's `stage_time_us` output: graph construction, edge classification, track building.
fn stage_us(out: &hepinfer::CallOutputs) -> [f64; 3] {
    let t = out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "stage_time_us")
        .expect("stage_time_us output");
    match &t.data {
        TensorBuf::F64(v) if v.len() == 3 => [v[0], v[1], v[2]],
        _ => panic!("stage_time_us is not f64 [3]"),
    }
}

fn graph(e: &Event) -> usize {
    let geo = HitGeometry::new(&e.hits, &e.layers).expect("layers");
    std::hint::black_box(geo.node_features());
    build_edges(&geo).len()
}

/// Least-squares slope of ln t vs ln n.
fn exponent(points: &[(f64, f64)]) -> f64 {
    let k = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p.0.ln(), a.1 + p.1.ln()));
    let (sxx, sxy) = points.iter().fold((0.0, 0.0), |a, p| {
        (a.0 + p.0.ln().powi(2), a.1 + p.0.ln() * p.1.ln())
    });
    (k * sxy - sx * sy) / (k * sxx - sx * sx)
}

fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The scaling table (printed, not a criterion group: the largest points take seconds).
fn scaling(inst: &Instance) {
    let mut gp = Vec::new();
    let mut fp = Vec::new();
    eprintln!(
        "\ntrack-gnn scaling (median of 9 calls up to 2,500 particles, of 3 above; stages as the \
         plugin reports them, median call):"
    );
    eprintln!(
        "{:>8} {:>9} {:>10} {:>12} {:>12} {:>11} {:>11} {:>11}",
        "hits", "particles", "edges", "graph ms", "call ms", "stage1 ms", "stage2 ms", "stage3 ms"
    );
    for particles in [120usize, 250, 500, 1200, 2500, 5000, 12_000] {
        let e = event(particles, 5);
        let n = e.layers.len() as f64;
        // The small events take milliseconds: more calls steady the fit's low end, where one
        // disturbed call moves the exponent by several hundredths.
        let reps = if particles <= 2500 { 9 } else { 3 };
        let mut edges = 0;
        let tg = median_secs(reps, || edges = graph(&e));
        gp.push((n, tg));
        let mut stages = Vec::new();
        let tc = median_secs(reps, || stages.push(stage_us(&call_out(inst, &e))));
        fp.push((n, tc));
        stages.sort_by(|a, b| a.iter().sum::<f64>().total_cmp(&b.iter().sum::<f64>()));
        let st = stages[stages.len() / 2];
        eprintln!(
            "{n:>8} {particles:>9} {edges:>10} {:>12.2} {:>12.1} {:>11.2} {:>11.2} {:>11.2}",
            1e3 * tg,
            1e3 * tc,
            st[0] / 1e3,
            st[1] / 1e3,
            st[2] / 1e3
        );
    }
    eprintln!(
        "fitted exponent t ~ hits^k: graph building k = {:.2}, whole call k = {:.2}",
        exponent(&gp),
        exponent(&fp)
    );
}

/// Whole calls and stage times on 1,000-particle events (seeds 21–25), the shipped model against
/// the model file `baseline`, in interleaved rounds (the machine is shared: medians of rounds
/// that alternate which model goes first).
fn baseline(inst: &Instance, baseline: &std::path::Path) {
    // TRACK_GNN_BASELINE_ARENA=1: the baseline host turns ONNX Runtime's CPU arena on.
    let dir = hepinfer_plugin_testing::plugin_dir("track-gnn");
    let mut cfg: serde_json::Value = serde_json::from_str(&hepinfer_plugin_testing::host_config(
        dir.path(),
        "TrackGnnRcd",
        baseline,
    ))
    .expect("host config");
    cfg["cpu_arena"] = (std::env::var("TRACK_GNN_BASELINE_ARENA").as_deref() == Ok("1")).into();
    let host = hepinfer::Host::new(&cfg.to_string(), None, std::ptr::null_mut()).expect("host");
    // TRACK_GNN_BASELINE_CONFIG: the baseline instance's configuration (default `{}`).
    let config = std::env::var("TRACK_GNN_BASELINE_CONFIG").unwrap_or_else(|_| "{}".into());
    let base = host
        .instance("track-gnn", &config)
        .expect("baseline instance");
    let events: Vec<Event> = (21..26).map(|s| event(1000, s)).collect();
    let sides = [("shipped", inst), ("baseline", &base)];
    let mut t = [Vec::new(), Vec::new()];
    let mut st: [Vec<[f64; 3]>; 2] = [Vec::new(), Vec::new()];
    for r in 0..15 {
        for k in 0..2 {
            let i = (k + r) % 2;
            for e in &events {
                let start = Instant::now();
                let out = call_out(sides[i].1, e);
                t[i].push(start.elapsed().as_secs_f64() * 1e3);
                st[i].push(stage_us(&out));
            }
        }
    }
    eprintln!("\ntrack-gnn, 1,000-particle events, median of 75 calls each, interleaved:");
    eprintln!(
        "{:>9} {:>9} {:>11} {:>11} {:>11}",
        "model", "call ms", "stage1 ms", "stage2 ms", "stage3 ms"
    );
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut calls = [0.0; 2];
    for i in 0..2 {
        calls[i] = med(t[i].clone());
        let s = |k: usize| med(st[i].iter().map(|x| x[k] / 1e3).collect());
        eprintln!(
            "{:>9} {:>9.2} {:>11.2} {:>11.2} {:>11.2}",
            sides[i].0,
            calls[i],
            s(0),
            s(1),
            s(2)
        );
    }
    eprintln!("speed-up of the whole call: {:.2}x", calls[1] / calls[0]);
}

fn bench(c: &mut Criterion) {
    // `-- scaling`: the table alone (no criterion group has that name).
    let scaling_only = std::env::args().any(|a| a == "scaling");
    let (_dir, host) = common::host("TrackGnnRcd", "track_gnn.onnx");
    let inst = host.instance("track-gnn", "{}").expect("instance");
    if scaling_only {
        scaling(&inst);
        return;
    }
    if std::env::args().any(|a| a == "baseline") {
        let path = std::env::var_os("TRACK_GNN_BASELINE")
            .expect("-- baseline needs TRACK_GNN_BASELINE=<model.onnx> to compare with");
        baseline(&inst, std::path::Path::new(&path));
        return;
    }

    let mut g = c.benchmark_group("track-gnn/latency");
    for particles in [25usize, 50, 100, 200] {
        let e = event(particles, 11);
        g.throughput(Throughput::Elements(e.layers.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("particles_per_event", particles),
            &e,
            |b, e| b.iter(|| call(&inst, e)),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("track-gnn/throughput");
    let per_thread: Vec<Event> = (0..2).map(|t| event(100, 200 + t)).collect();
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function(
            BenchmarkId::new("threads_100_particle_events", threads),
            |b| {
                b.iter_custom(|iters| {
                    hepinfer_plugin_testing::run_on_threads(threads, iters, |t, _| {
                        call(&inst, &per_thread[t])
                    })
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("track-gnn/graph");
    for particles in [120usize, 1200] {
        let e = event(particles, 13);
        g.throughput(Throughput::Elements(e.layers.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("build_particles", particles),
            &e,
            |b, e| b.iter(|| graph(e)),
        );
    }
    g.finish();

    scaling(&inst);
}

criterion_group! {
    name = benches;
    // Short runs: the development machine is shared and loaded.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
