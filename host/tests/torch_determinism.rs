//! TorchScript results must not depend on a module's call history or on the calling thread:
//! libtorch's profiling graph executor runs a function's first calls unspecialised and later
//! ones through plans specialised on profiled shapes. Every shipped module, fed twelve batch
//! sizes, must give each input's first-call bits on every later call and on fresh threads.
//! (The divergence once seen in `torch_concurrency.rs` came from libtorch's process-wide thread
//! settings, not from the executor: see `torch_threads.rs`.)
#![cfg(feature = "torch")]

mod torch_common;

use hepinfer_plugin_api::{Tensor, TensorBuf};
use std::sync::Arc;
use torch_common::*;

fn bits(out: &[Tensor]) -> Vec<u64> {
    out.iter()
        .flat_map(|t| match &t.data {
            TensorBuf::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect::<Vec<_>>(),
            TensorBuf::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
            TensorBuf::I64(v) => v.iter().map(|&x| x as u64).collect(),
            TensorBuf::I32(v) => v.iter().map(|&x| x as u64).collect(),
            TensorBuf::U8(v) => v.iter().map(|&x| u64::from(x)).collect(),
        })
        .collect()
}

#[test]
fn results_do_not_depend_on_call_history_or_thread_for_any_shipped_module() {
    let mut report = Vec::new();
    for pair in pairs() {
        let (onnx, torch) = load_pair(&pair, 1);
        let mut rng = Rng(77);
        // Batch sizes 1..=12: each shape gets its own profiled plan in libtorch.
        // Each set's first call is the reference. (Random graph inputs of a few nodes may
        // index out of range: such sets are left out, the module refusing them is not the point.)
        let (sets, first): (Vec<Vec<Input>>, Vec<Vec<u64>>) = (2..=13)
            .map(|n| make_inputs(onnx.inputs(), n, &mut rng))
            .filter_map(|s| {
                let out = torch.run(&views(&s)).ok()?;
                Some((s, bits(&out)))
            })
            .unzip();
        assert!(
            sets.len() >= 6,
            "{}: too few usable input sets",
            pair.plugin
        );
        let (sets, first) = (Arc::new(sets), Arc::new(first));
        let mut differing = 0;
        let mut calls = 0;
        for round in 0..30 {
            for k in 0..sets.len() {
                let i = (k * 5 + round) % sets.len();
                calls += 1;
                if bits(&torch.run(&views(&sets[i])).expect("call")) != first[i] {
                    differing += 1;
                }
            }
        }
        // Fresh threads, concurrently, after the module has warmed up on this one.
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (torch, sets, first) = (torch.clone(), sets.clone(), first.clone());
                std::thread::spawn(move || {
                    let mut d = 0;
                    for c in 0..60 {
                        let i = (c * (2 * t + 1) + t) % sets.len();
                        if bits(&torch.run(&views(&sets[i])).expect("thread call")) != first[i] {
                            d += 1;
                        }
                    }
                    d
                })
            })
            .collect();
        for h in handles {
            differing += h.join().expect("thread");
            calls += 60;
        }
        if differing > 0 {
            report.push(format!(
                "{}: {differing} of {calls} calls differ from the first call of the same input",
                pair.plugin
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
