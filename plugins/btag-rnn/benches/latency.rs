//! Latency of one btag-rnn call through `hepinfer::Host` versus the jets per call (1, 4, 16, 64),
//! the cost of the preprocessing alone, and throughput on 1 and 2 threads sharing one instance.
//!
//! ```sh
//! cargo bench -p btag-rnn --bench latency
//! ```
//! Toy jets from `toydet flavour` (seed 99, about 10 tracks per jet); ONNX Runtime with one
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

/// One call's inputs: `jets` [n, 3], `tracks` [m, 7], offsets.
struct Inputs {
    jets: Vec<f32>,
    tracks: Vec<f32>,
    offsets: Vec<i64>,
}

fn inputs(n: usize, seed: u64) -> Inputs {
    let f = toydet::flavour::flatten(&toydet::flavour::generate(seed, n));
    Inputs {
        jets: (0..n)
            .flat_map(|i| [f.jet_pt[i], f.jet_eta[i], f.jet_phi[i]])
            .collect(),
        tracks: (0..f.trk_pt.len())
            .flat_map(|i| {
                [
                    f.trk_pt[i],
                    f.trk_eta[i],
                    f.trk_phi[i],
                    f.trk_d0[i],
                    f.trk_z0[i],
                    f.trk_sigma_d0[i],
                    f.trk_sigma_z0[i],
                ]
            })
            .collect(),
        offsets: f.offsets,
    }
}

fn call(inst: &Instance, x: &Inputs) {
    let js = [(x.jets.len() / 3) as i64, 3];
    let ts = [(x.tracks.len() / 7) as i64, 7];
    let mut tv = TensorView::f32("tracks", &ts, &x.tracks);
    tv.offsets = x.offsets.as_slice().into();
    let out = inst
        .process(
            EventKey::default(),
            &[TensorView::f32("jets", &js, &x.jets), tv],
        )
        .expect("btag-rnn call");
    std::hint::black_box(out);
}

fn bench(c: &mut Criterion) {
    let (_dir, host) = common::host("BTagRnnRcd", "model.onnx");
    let inst = host.instance("btag-rnn", "{}").expect("instance");

    let mut g = c.benchmark_group("btag-rnn/latency");
    for n in BATCHES {
        let x = inputs(n, 99);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("jets_per_call", n), &x, |b, x| {
            b.iter(|| call(&inst, x))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("btag-rnn/preprocess");
    for n in [1, 64] {
        let x = inputs(n, 99);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("jets", n), &x, |b, x| {
            b.iter(|| btag_rnn::preprocess(&x.jets, &x.tracks, &x.offsets).expect("preprocess"))
        });
    }
    g.finish();

    // Each thread makes its own calls on the shared instance; one iteration = one call per thread.
    let mut g = c.benchmark_group("btag-rnn/throughput");
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
