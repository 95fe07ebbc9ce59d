//! Latency of one jet-cnn call through `hepinfer::Host` versus the jets per call (1, 4, 16, 64),
//! the cost of building the images alone, and throughput on 1 and 2 threads sharing one
//! instance.
//!
//! ```sh
//! cargo bench -p jet-cnn --bench latency
//! ```
//! Toy jets from `toydet jetimage` (seed 99, W and QCD, pT 250–300 GeV); ONNX Runtime with one
//! intra-op thread, as the host is configured in production (the framework owns parallelism).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hepinfer::Instance;
use hepinfer_plugin_api::{EventKey, TensorView};
use std::time::Duration;

const BATCHES: [usize; 4] = [1, 4, 16, 64];
/// Jets per call in the throughput benchmark.
const THROUGHPUT_BATCH: usize = 16;

/// One call's inputs: `constituents` [m, 3] (η, φ, pT) and offsets.
struct Inputs {
    constituents: Vec<f32>,
    offsets: Vec<i64>,
}

fn inputs(n: usize, seed: u64) -> Inputs {
    let mut x = Inputs {
        constituents: Vec::new(),
        offsets: vec![0],
    };
    for j in toydet::jetimage::generate(seed, n) {
        x.constituents
            .extend(j.constituents.iter().flat_map(|c| [c.eta, c.phi, c.pt]));
        x.offsets.push((x.constituents.len() / 3) as i64);
    }
    x
}

fn call(inst: &Instance, x: &Inputs) {
    let shape = [(x.constituents.len() / 3) as i64, 3];
    let mut v = TensorView::f32("constituents", &shape, &x.constituents);
    v.offsets = x.offsets.as_slice().into();
    let out = inst
        .process(EventKey::default(), &[v])
        .expect("jet-cnn call");
    std::hint::black_box(out);
}

fn bench(c: &mut Criterion) {
    let (_dir, host) = common::host("JetCnnRcd", "model.onnx");
    let inst = host.instance("jet-cnn", "{}").expect("instance");

    let mut g = c.benchmark_group("jet-cnn/latency");
    for n in BATCHES {
        let x = inputs(n, 99);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("jets_per_call", n), &x, |b, x| {
            b.iter(|| call(&inst, x))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("jet-cnn/preprocess");
    for n in [1, 64] {
        let x = inputs(n, 99);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("jets", n), &x, |b, x| {
            b.iter(|| jet_cnn::preprocess(&x.constituents, &x.offsets).expect("preprocess"))
        });
    }
    g.finish();

    // Each thread makes its own calls on the shared instance; one iteration = one call per thread.
    let mut g = c.benchmark_group("jet-cnn/throughput");
    let per_thread: Vec<Inputs> = (0..2).map(|t| inputs(THROUGHPUT_BATCH, 200 + t)).collect();
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements((threads * THROUGHPUT_BATCH) as u64));
        g.bench_function(BenchmarkId::new("threads_16_jets_per_call", threads), |b| {
            b.iter_custom(|iters| {
                hepinfer_plugin_testing::run_on_threads(threads, iters, |t, _| {
                    call(&inst, &per_thread[t])
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the development machine is shared and loaded.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
