//! ONNX Runtime vs libtorch, side by side in one run: for every model shipped as both
//! `<stem>.onnx` and `<stem>.pt` in `plugins/*/model/`, the latency of one `Model::run` through the
//! host's runtime layer and the throughput it implies, at batch 1 and at the plugin's typical
//! batch, one thread, intra-op threads 1 (the host's default).
//!
//! ```sh
//! eval "$(scripts/setup-torch.sh)" && bash scripts/fetch-onnxruntime.sh
//! cargo bench -p hepinfer --features torch --bench backends
//! ```
//!
//! The two backends are measured in alternating rounds and the median round is reported, so that
//! load from other jobs on the machine hits both alike (run-to-run spread here is up to ~45 %,
//! see BENCHMARKS.md). The load average at start and end is printed with the table.
//! `HEPINFER_BENCH_SECONDS` sets the time per round (default 0.25 s).

#[cfg(feature = "torch")]
#[path = "../tests/torch_common/mod.rs"]
mod torch_common;

#[cfg(not(feature = "torch"))]
fn main() {
    eprintln!("backends: needs the `torch` feature (cargo bench -p hepinfer --features torch --bench backends)");
}

#[cfg(feature = "torch")]
fn main() {
    bench::main();
}

#[cfg(feature = "torch")]
mod bench {
    use super::torch_common::*;
    use hepinfer::runtime::{Model, ModelPort};
    use hepinfer_plugin_api::{DType, TensorBuf};
    use std::time::{Duration, Instant};

    const ROUNDS: usize = 7;

    /// The batches measured per plugin: (label, items per call, inputs).
    fn cases(plugin: &str, ports: &[ModelPort], rng: &mut Rng) -> Vec<(String, f64, Vec<Input>)> {
        let batch = |n: i64, rng: &mut Rng| make_inputs(ports, n, rng);
        match plugin {
            // Jets per event with tracks; per call, one event's jets.
            "btag-rnn" => vec![
                ("1 jet".into(), 1.0, batch(1, rng)),
                ("16 jets".into(), 16.0, batch(16, rng)),
            ],
            "jet-cnn" => vec![
                ("1 jet".into(), 1.0, batch(1, rng)),
                ("8 jets".into(), 8.0, batch(8, rng)),
            ],
            // One event's hit graph per call: a small one, and the held-out size of MODEL.md
            // (≈ 8.4k hits, ≈ 120k edges at 1,000 particles). Items are edges.
            "track-gnn" => vec![
                (
                    "1k hits, 10k edges".into(),
                    10_000.0,
                    graph(1_000, 10_000, rng),
                ),
                (
                    "8.4k hits, 120k edges".into(),
                    120_000.0,
                    graph(8_400, 120_000, rng),
                ),
            ],
            // Showers per call.
            "calo-gan" => vec![
                ("1 shower".into(), 1.0, batch(1, rng)),
                ("64 showers".into(), 64.0, batch(64, rng)),
            ],
            _ => vec![
                ("batch 1".into(), 1.0, batch(1, rng)),
                ("batch 16".into(), 16.0, batch(16, rng)),
            ],
        }
    }

    /// A GNN input graph with `nodes` hits and `edges` edges (inner hit first).
    fn graph(nodes: i64, edges: i64, rng: &mut Rng) -> Vec<Input> {
        let nf = make_inputs(
            &[ModelPort {
                name: "node_features".into(),
                dtype: DType::F32,
                shape: vec![-1, 3],
            }],
            nodes,
            rng,
        );
        let mut src = Vec::with_capacity(edges as usize);
        let mut dst = Vec::with_capacity(edges as usize);
        for _ in 0..edges {
            let a = rng.below(nodes as u64 - 1) as i64;
            src.push(a);
            dst.push(a + 1 + rng.below((nodes - 1 - a).min(400) as u64) as i64);
        }
        src.extend(dst);
        let mut v = nf;
        v.push(Input {
            name: "edge_index".into(),
            shape: vec![2, edges],
            data: TensorBuf::I64(src.into()),
        });
        v
    }

    /// Mean µs per call over one round of at least `secs`.
    fn round(m: &dyn Model, inputs: &[Input], secs: f64) -> f64 {
        let v = views(inputs);
        let start = Instant::now();
        let mut n = 0u32;
        while n < 3 || start.elapsed() < Duration::from_secs_f64(secs) {
            let out = m.run(&v).expect("run");
            std::hint::black_box(out);
            n += 1;
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    }

    pub fn main() {
        let secs: f64 = std::env::var("HEPINFER_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.25);
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!(
            "backends: 1 thread, intra-op 1, {ROUNDS} alternating rounds of {secs} s, median; \
             {cores} cores, load average at start {}",
            loadavg()
        );
        println!();
        println!("| model | per call | backend | µs/call | µs/item | items/s | torch/ort |");
        println!("| --- | --- | --- | ---: | ---: | ---: | ---: |");
        for pair in pairs() {
            let (onnx, torch) = load_pair(&pair, 1);
            let mut rng = Rng(99);
            for (label, items, inputs) in cases(&pair.plugin, onnx.inputs(), &mut rng) {
                // Warm-up: first calls build libtorch's execution plans and ORT's buffers.
                for _ in 0..5 {
                    round(onnx.as_ref(), &inputs, 0.0);
                    round(torch.as_ref(), &inputs, 0.0);
                }
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for _ in 0..ROUNDS {
                    a.push(round(onnx.as_ref(), &inputs, secs));
                    b.push(round(torch.as_ref(), &inputs, secs));
                }
                let (a, b) = (median(a), median(b));
                for (name, us) in [("onnxruntime", a), ("libtorch", b)] {
                    println!(
                        "| {} | {label} | {name} | {us:.1} | {:.2} | {:.0} | {} |",
                        pair.plugin,
                        us / items,
                        items * 1e6 / us,
                        if name == "libtorch" {
                            format!("{:.2}×", b / a)
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
        println!();
        println!("load average at end {}", loadavg());
    }
}
