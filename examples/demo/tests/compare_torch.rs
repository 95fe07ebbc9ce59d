//! The ONNX and TorchScript global tags of the demo (needs the `torch` feature): the same events
//! through ONNX Runtime and libtorch; every record but seq-classifier's has another payload, and
//! the outputs agree within the backends' parity tolerance (1e-4 absolute, as the host's
//! torch_parity test): the comparison reports the measured parity, not a change.
#![cfg(feature = "torch")]

mod common;

use common::*;

#[test]
fn onnx_and_torchscript_global_tags_agree_within_parity() {
    let (_dir, out) = run_demo(&[
        "--events",
        "200",
        "--events-per-run",
        "50",
        "--compare",
        "HEPINFER_DEMO_TORCH_V1",
    ]);
    let c = json(_dir.path(), "compare.json");
    eprintln!(
        "{}",
        out.lines()
            .skip_while(|l| !l.contains(" vs "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut nonzero = 0;
    for c in c.as_array().unwrap() {
        let p = c["plugin"].as_str().unwrap();
        let d = &c["diff"];
        let max = d["max_abs_diff"].as_f64().unwrap();
        eprintln!(
            "{p}: max |onnx - torch| {max:.3e}, mean {:.3e}, {} events",
            d["mean_abs_diff"].as_f64().unwrap(),
            d["events"]
        );
        assert_ne!(c["verdict"], "changed", "{p}: {c}");
        assert!(max <= 1e-4, "{p}: {max}");
        assert_eq!(d["shape_mismatch"], 0, "{p}");
        let changes = c["payload_changes"].as_array().unwrap();
        if p == "seq-classifier" {
            // Served by its ONNX tag in both global tags.
            assert!(changes.is_empty());
            assert_eq!(max, 0.0);
        } else {
            assert_eq!(changes.len(), 1, "{p}: the TorchScript tag differs");
            nonzero += usize::from(max > 0.0);
        }
    }
    // Two runtimes do not round alike: a comparison that saw no difference at all would not
    // have compared two backends.
    assert!(
        nonzero >= 2,
        "only {nonzero} plugins show any ONNX/TorchScript difference"
    );
}
