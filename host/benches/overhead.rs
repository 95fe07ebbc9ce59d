//! Per-call cost of the host over calling ONNX Runtime directly, on the same model and inputs,
//! side by side: direct `ort` session, the Rust API, and the C ABI.
//!
//! Needs the release plugins: `scripts/build.sh release`, then
//! `cargo bench -p hepinfer --bench overhead`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hepinfer::abi::hepinfer_event_key;
// The bench command's input generator and the C ABI wrapper are tools of the `hepinfer`
// command, not library API: compiled in here from their sources.
#[allow(dead_code)]
#[path = "../src/bench.rs"]
mod bench;
#[allow(dead_code)]
#[path = "../src/cabi.rs"]
mod cabi;
use bench::inputs;
use cabi::{f32_input, CHost};
use hepinfer::runtime::{onnx, LoadOptions};
use hepinfer_plugin_api::{EventKey, TensorView};
use ort::value::TensorRef;
use std::ffi::CString;
use std::path::{Path, PathBuf};

fn paths() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("bench path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let plugins = profile.join("hepinfer-plugins");
    assert!(
        plugins.is_dir(),
        "{} missing: run scripts/build.sh release first",
        plugins.display()
    );
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/seq-classifier/model/model.onnx");
    (plugins, model)
}

fn overhead(c: &mut Criterion) {
    let (plugins, model) = paths();
    let config = serde_json::json!({
        "plugin_dirs": [plugins], "models": {"SeqClassifierRcd": model}, "log_level": "warn"
    })
    .to_string();
    let host = hepinfer::Host::new(&config, None, std::ptr::null_mut()).expect("host");
    let rust_inst = host.instance("seq-classifier", "{}").expect("instance");
    let chost = CHost::new(&config).expect("C host");
    let c_inst = chost.instance("seq-classifier", "{}").expect("C instance");
    let env = onnx::current_environment().expect("ort env");
    let opts = LoadOptions {
        intra_op_threads: 1,
        session_mode: hepinfer::config::SessionMode::Shared,
        pool_size: 1,
        cpu_arena: false,
        native_kernels: false,
    };
    let bytes = std::fs::read(&model).expect("model");
    let mut direct = onnx::session_builder(&env, &opts)
        .expect("builder")
        .commit_from_memory(&bytes)
        .expect("session");
    let name = CString::new("sequences").expect("name");

    let mut group = c.benchmark_group("overhead");
    for batch in [1usize, 16] {
        let x = inputs(batch);
        let shape = [batch as i64, 15, 8];
        group.bench_with_input(BenchmarkId::new("direct_ort", batch), &batch, |b, &n| {
            b.iter(|| {
                let t = TensorRef::from_array_view(([n, 15, 8], &x[..])).expect("view");
                let out = direct.run(ort::inputs![t]).expect("run");
                let (_, p) = out[0].try_extract_tensor::<f32>().expect("extract");
                p.to_vec()
            })
        });
        group.bench_with_input(BenchmarkId::new("rust_api", batch), &batch, |b, _| {
            b.iter(|| {
                let out = rust_inst
                    .process(
                        EventKey::default(),
                        &[TensorView::f32("sequences", &shape, &x)],
                    )
                    .expect("process");
                out.tensors.into_iter().next().expect("output")
            })
        });
        let input = [f32_input(&name, &shape, &x)];
        group.bench_with_input(BenchmarkId::new("c_abi", batch), &batch, |b, _| {
            b.iter(|| {
                let out = c_inst
                    .process(hepinfer_event_key::default(), &input)
                    .expect("process");
                out.f32_view(c"probabilities").expect("output").to_vec()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
