//! libtorch's intra-op thread count: applied on every calling thread, and fixed per process (a
//! second count is refused: `at::set_num_threads` has process-wide effects that changed the bits
//! of concurrent calls). A test binary of its own, since its models use 2 threads.
#![cfg(feature = "torch")]

mod torch_common;

use std::sync::Arc;
use torch_common::*;

fn btag() -> Pair {
    pairs()
        .into_iter()
        .find(|p| p.plugin == "btag-rnn")
        .expect("plugins/btag-rnn/model/model.pt")
}

#[test]
fn intra_op_threads_are_applied_on_every_calling_thread() {
    // A module loaded with intra_op_threads = 2 (here, on the test's thread) and called from
    // fresh threads: each calling thread must run with libtorch's thread count set to 2, not the
    // OpenMP default of one per core.
    let pair = btag();
    // Only the ONNX twin (for the signature): the first TorchScript load fixes the count.
    ort();
    let onnx = hepinfer::runtime::load("onnx", &std::fs::read(&pair.onnx).unwrap(), &opts(1))
        .expect("load ONNX");
    let sig = signature_of(onnx.as_ref());
    let bytes = signed_pt(&pair.pt, &sig);
    let torch = hepinfer::runtime::load("torchscript", &bytes, &opts(2)).expect("load");
    // Another count in the same process is refused, with the reason.
    let e = hepinfer::runtime::load("torchscript", &bytes, &opts(1))
        .err()
        .expect("a second thread count must be refused");
    let m = e.to_string();
    assert!(
        m.contains("intra_op_threads = 2") && m.contains("process-wide"),
        "{m}"
    );
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
