//! One TorchScript module shared by many threads: `forward` is called concurrently, without a
//! lock, and must give bit-identical results to a single thread (8 threads × 10,000 calls, with
//! batch sizes changing from call to call so libtorch's per-shape execution plans are built
//! while other threads run). Also checks that libtorch's per-thread settings are applied on
//! every calling thread.
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

#[test]
fn intra_op_threads_are_applied_on_every_calling_thread() {
    // A module loaded with intra_op_threads = 2 (here, on the test's thread) and called from
    // fresh threads: each calling thread must run with libtorch's thread count set to 2, not the
    // OpenMP default of one per core.
    let pair = btag();
    let (onnx, _) = load_pair(&pair, 1);
    let sig = signature_of(onnx.as_ref());
    let bytes = signed_pt(&pair.pt, &sig);
    let torch = hepinfer::runtime::load("torchscript", &bytes, &opts(2)).expect("load");
    let mut rng = Rng(1);
    let inputs = Arc::new(make_inputs(onnx.inputs(), 4, &mut rng));
    for _ in 0..3 {
        let (torch, inputs) = (torch.clone(), inputs.clone());
        let n = std::thread::spawn(move || {
            torch.run(&views(&inputs)).expect("call");
            tch::get_num_threads()
        })
        .join()
        .expect("thread");
        assert_eq!(n, 2, "libtorch intra-op threads on a calling thread");
    }
}
