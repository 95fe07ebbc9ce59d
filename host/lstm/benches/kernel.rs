//! The native kernel alone on the b-tag model: time per jet at batch 1, 16 and 64 with the golden
//! sample's mix of lengths (mean 5.7 real tracks), for each variant this CPU runs (one it cannot
//! run is measured as the best it can).
//! `cargo bench -p hepinfer-lstm --bench kernel`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hepinfer_lstm::{Kernel, LstmClassifier};

/// Track counts of a realistic mix (the golden jets' first 64 counts cycle through these).
const LENGTHS: [i64; 16] = [6, 4, 9, 0, 5, 7, 3, 15, 6, 5, 2, 8, 6, 4, 7, 5];

fn bench(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../plugins/btag-rnn/model/model.onnx"
    );
    let bytes = std::fs::read(path).expect("b-tag model");
    let model = LstmClassifier::from_onnx(&bytes).expect("recognised");
    let mut g = c.benchmark_group("btag-lstm");
    for kernel in [Kernel::Avx512, Kernel::Fma, Kernel::Portable] {
        let m = model.clone().with_kernel(kernel);
        for batch in [1usize, 16, 64] {
            let lens: Vec<i64> = (0..batch).map(|j| LENGTHS[j % LENGTHS.len()]).collect();
            let steps = lens.iter().copied().max().unwrap_or(1).max(1) as usize;
            let x: Vec<f32> = (0..batch * steps * 6)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::new(kernel.name(), batch), &batch, |b, _| {
                b.iter(|| m.run(&x, [batch, steps, 6], &lens).expect("run"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
