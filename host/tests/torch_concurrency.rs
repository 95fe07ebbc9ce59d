//! One TorchScript module shared by many threads: `forward` is called concurrently, without a
//! lock, and must give bit-identical results to a single thread (8 threads × 10,000 calls, with
//! batch sizes changing from call to call so libtorch's per-shape execution plans are built
//! while other threads run). libtorch's per-thread settings are checked in `torch_threads.rs`,
//! a process of its own: its models use another thread count.
#![cfg(feature = "torch")]

mod torch_common;

use hepinfer_plugin_api::Tensor;
use std::sync::{Arc, Barrier};
use torch_common::*;

const THREADS: usize = 8;
const CALLS: usize = 10_000;
const SETS: usize = 64;

fn btag() -> Pair {
    pairs()
        .into_iter()
        .find(|p| p.plugin == "btag-rnn")
        .expect("plugins/btag-rnn/model/model.pt")
}

fn bits(out: &[Tensor]) -> Vec<u32> {
    out.iter()
        .flat_map(|t| t.as_f32().expect("f32 output").iter().map(|x| x.to_bits()))
        .collect()
}

#[test]
fn eight_threads_times_10000_calls_match_one_thread_bit_for_bit() {
    let (onnx, torch) = load_pair(&btag(), 1);
    let mut rng = Rng(2024);
    // SETS input sets of 1–16 jets each.
    let sets: Arc<Vec<Vec<Input>>> = Arc::new(
        (0..SETS)
            .map(|i| make_inputs(onnx.inputs(), 1 + (i % 16) as i64, &mut rng))
            .collect(),
    );
    // Reference: one thread, before any other thread has touched the module.
    let reference: Arc<Vec<Vec<u32>>> = Arc::new(
        sets.iter()
            .map(|s| bits(&torch.run(&views(s)).expect("serial call")))
            .collect(),
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (torch, sets, reference, barrier) = (
                torch.clone(),
                sets.clone(),
                reference.clone(),
                barrier.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                let mut mismatches = 0usize;
                for c in 0..CALLS {
                    // Each thread walks the sets in its own order.
                    let i = (c * (2 * t + 1) + t) % SETS;
                    let out = torch.run(&views(&sets[i])).expect("concurrent call");
                    if bits(&out) != reference[i] {
                        mismatches += 1;
                    }
                }
                mismatches
            })
        })
        .collect();
    let mismatches: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(
        mismatches,
        0,
        "{mismatches} of {} concurrent calls differ from the serial reference",
        THREADS * CALLS
    );
}
