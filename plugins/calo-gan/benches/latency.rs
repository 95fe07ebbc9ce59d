//! calo-gan through `hepinfer::Host`: latency vs particles per call (1, 16, 64, 256),
//! throughput (showers/s) on 1 and 2 threads sharing one instance at 64 particles per call, the
//! noise generation alone, and the toy simulation's own time per shower for comparison.
//!
//! ```sh
//! cargo bench -p calo-gan --bench latency
//! ```
//! ONNX Runtime with one intra-op thread (the framework owns parallelism).

#[path = "../tests/common/mod.rs"]
mod common;

use calo_gan::PDG_CODES;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hepinfer::Instance;
use hepinfer_plugin_api::{EventKey, TensorData, TensorView};
use std::time::Duration;

struct Particles {
    pdg: Vec<i32>,
    energy: Vec<f32>,
    zeros: Vec<f32>,
}

fn particles(n: usize) -> Particles {
    Particles {
        pdg: (0..n).map(|i| PDG_CODES[i % 3]).collect(),
        energy: (0..n).map(|i| 1.0 + (i * 37 % 99) as f32).collect(),
        zeros: vec![0.0; n],
    }
}

fn call(inst: &Instance, p: &Particles, event: u64) {
    let n = [p.pdg.len() as i64];
    let out = inst
        .process(
            EventKey {
                run: 1,
                lumi: 1,
                event,
            },
            &[
                TensorView::new("pdg", &n, TensorData::I32(p.pdg.as_slice().into())),
                TensorView::f32("energy", &n, &p.energy),
                TensorView::f32("eta", &n, &p.zeros),
                TensorView::f32("phi", &n, &p.zeros),
            ],
        )
        .expect("calo-gan call");
    std::hint::black_box(out);
}

fn bench(c: &mut Criterion) {
    let (_dir, host) = common::host("CaloGanRcd", "calo_gan.onnx");
    let inst = host.instance("calo-gan", "{}").expect("instance");

    let mut g = c.benchmark_group("calo-gan/latency");
    for n in [1usize, 16, 64, 256] {
        let p = particles(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("particles_per_call", n), &p, |b, p| {
            let mut ev = 0;
            b.iter(|| {
                ev += 1;
                call(&inst, p, ev)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("calo-gan/throughput");
    let p = particles(64);
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(64 * threads as u64));
        g.bench_function(BenchmarkId::new("threads_64_per_call", threads), |b| {
            b.iter_custom(|iters| {
                hepinfer_plugin_testing::run_on_threads(threads, iters, |t, i| {
                    call(&inst, &p, 1_000_000 * t as u64 + i)
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("calo-gan/parts");
    g.throughput(Throughput::Elements(64));
    g.bench_function("noise_64_particles", |b| {
        b.iter(|| calo_gan::rng::event_noise(1, 42, 64, 0))
    });
    let cfg = toydet::calo::CaloConfig::default();
    g.throughput(Throughput::Elements(1));
    g.bench_function("toy_simulation_per_shower", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            toydet::calo::generate_shower(&cfg, 9, i)
        })
    });
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
