//! Many threads on one instance (one shared ONNX Runtime session): every output is bit-identical
//! to the single-threaded reference. This is the evidence behind calling `Run` concurrently on
//! one session (see `runtime::onnx`), re-checked on every test run, for both session modes.

mod common;

use hepinfer::Host;
use hepinfer_plugin_api::{EventKey, TensorView};
use std::sync::Arc;

const THREADS: usize = 8;
const CALLS: usize = 10_000;
// The pool fallback is checked with fewer calls: it is the switch, not the default.
const POOL_CALLS: usize = 2_000;

fn run(mode: &str, calls: usize) {
    let dir = common::plugin_dir(&["seq_classifier"]);
    let extra = format!(r#", "session_mode": "{mode}", "session_pool_size": 3"#);
    let host = Host::new(
        &common::host_config(dir.path(), &extra),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = Arc::new(host.instance("seq-classifier", "").unwrap());
    let (x, _, _) = common::golden();
    let x = Arc::new(x);
    let n_seq = x.len() / 120;
    // Call i uses a batch of 1-4 sequences starting at a position derived from i.
    let batch = move |i: usize| {
        let b = 1 + i % 4;
        let start = (i * 7) % (n_seq - b);
        (start * 120, b)
    };
    let reference: Vec<Vec<u32>> = (0..calls)
        .map(|i| {
            let (s, b) = batch(i);
            let shape = [b as i64, 15, 8];
            let out = inst
                .process(
                    EventKey::default(),
                    &[TensorView::f32("sequences", &shape, &x[s..s + b * 120])],
                )
                .unwrap();
            out.tensors[0]
                .as_f32()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect();
    let reference = Arc::new(reference);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (inst, x, reference) = (inst.clone(), x.clone(), reference.clone());
            std::thread::spawn(move || {
                let mut mismatches = 0;
                for k in 0..calls {
                    let i = (k * 31 + t * 977) % calls; // each thread walks the calls in its own order
                    let (s, b) = batch(i);
                    let shape = [b as i64, 15, 8];
                    let out = inst
                        .process(
                            EventKey::default(),
                            &[TensorView::f32("sequences", &shape, &x[s..s + b * 120])],
                        )
                        .expect("call failed");
                    let bits: Vec<u32> = out.tensors[0]
                        .as_f32()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect();
                    if bits != reference[i] {
                        mismatches += 1;
                    }
                }
                mismatches
            })
        })
        .collect();
    let mismatches: usize = handles
        .into_iter()
        .map(|h| h.join().expect("thread panicked"))
        .sum();
    assert_eq!(
        mismatches,
        0,
        "{mode}: {mismatches} of {} calls differ from the serial reference",
        THREADS * calls
    );
    assert_eq!(host.model_cache().loads(), 1, "the model is loaded once");
    assert_eq!(
        inst.stats().snapshot().calls as usize,
        calls * (THREADS + 1)
    );
}

#[test]
fn shared_session_8_threads_bit_identical() {
    run("shared", CALLS);
}

#[test]
fn session_pool_8_threads_bit_identical_fallback() {
    run("pool", POOL_CALLS);
}
