//! Parity of the two backends: every model shipped as both `<stem>.onnx` and `<stem>.pt` in
//! `plugins/*/model/`, loaded through `runtime::load` in one process (so this also shows that
//! libtorch and ONNX Runtime, which both carry protobuf, coexist), gives the same outputs on the
//! same 1,000 deterministic inputs, and reproduces the outputs stored in its `golden.npz`.
#![cfg(feature = "torch")]

mod torch_common;

use hepinfer_plugin_api::{Tensor, TensorBuf, TensorView};
use torch_common::*;

fn f32s(t: &Tensor) -> &[f32] {
    t.as_f32()
        .unwrap_or_else(|| panic!("output '{}' is not f32", t.name))
}

/// Runs both models on the same inputs and checks every output, by name, shape and value.
fn compare(
    what: &str,
    onnx: &dyn hepinfer::runtime::Model,
    torch: &dyn hepinfer::runtime::Model,
    inputs: &[TensorView<'_>],
) {
    let a = onnx
        .run(inputs)
        .unwrap_or_else(|e| panic!("{what}: ONNX: {e}"));
    let b = torch
        .run(inputs)
        .unwrap_or_else(|e| panic!("{what}: TorchScript: {e}"));
    assert_eq!(a.len(), b.len(), "{what}: output count");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.name, y.name, "{what}: output names");
        assert_eq!(x.shape, y.shape, "{what}: output '{}' shape", x.name);
        let (dev, abs) = deviation(f32s(y), f32s(x));
        eprintln!(
            "{what}: output '{}' {:?}: max |torch - onnx| = {abs:.3e}",
            x.name,
            x.shape.as_slice()
        );
        assert!(
            dev <= 1.0,
            "{what}: output '{}' differs by {abs:.3e} (tolerance 1e-4 absolute)",
            x.name
        );
    }
}

#[test]
fn torchscript_matches_onnx_on_1000_inputs_for_every_shipped_pair() {
    let pairs = pairs();
    // btag-rnn and jet-cnn ship both files; more pairs join as the other plugins export theirs.
    assert!(
        pairs.len() >= 2,
        "expected at least the btag-rnn and jet-cnn pairs, found {:?}",
        pairs
            .iter()
            .map(|p| p.pt.display().to_string())
            .collect::<Vec<_>>()
    );
    for pair in &pairs {
        let (onnx, torch) = load_pair(pair, 1);
        assert_eq!(onnx.inputs(), torch.inputs(), "{}: inputs", pair.plugin);
        assert_eq!(onnx.outputs(), torch.outputs(), "{}: outputs", pair.plugin);
        let mut rng = Rng(0x5EED_0000 + pair.plugin.len() as u64);
        let inputs = make_inputs(onnx.inputs(), 1000, &mut rng);
        compare(
            &format!("{} (1,000 inputs)", pair.plugin),
            onnx.as_ref(),
            torch.as_ref(),
            &views(&inputs),
        );
    }
}

/// Tolerance against the golden files' stored outputs: the golden events have real geometry,
/// where nearby angles are subtracted. track-gnn takes sin of the wrapped difference φ_dst − φ_src
/// (an earlier model computed s_dst·c_src − c_dst·s_src, which cancels, and a 1-ulp difference
/// between the runtimes' sin/cos kernels became 1.8e-4); every model now agrees to ~1e-7.
const GOLDEN_TOLERANCE: f64 = 1e-5;

#[test]
fn torchscript_reproduces_the_golden_outputs() {
    let mut checked = 0;
    for pair in pairs() {
        let Some(dir) = pair.pt.parent() else {
            continue;
        };
        let golden = dir.join("golden.npz");
        if !golden.is_file() {
            continue;
        }
        let (onnx, torch) = load_pair(&pair, 1);
        let arrays = read_npz(&golden);
        let find = |name: &str| arrays.iter().find(|(n, _)| n == name).map(|(_, a)| a);
        // Inputs by the model's input names; a golden file that lacks one is not for this model.
        let mut inputs = Vec::new();
        for p in onnx.inputs() {
            let data = match find(&p.name) {
                Some(Npy::F32(s, v)) => (s.clone(), TensorBuf::F32(v.clone().into())),
                Some(Npy::I64(s, v)) => (s.clone(), TensorBuf::I64(v.clone().into())),
                Some(Npy::I32(s, v)) => (s.clone(), TensorBuf::I32(v.clone().into())),
                _ => break,
            };
            inputs.push(Input {
                name: p.name.clone(),
                shape: data.0,
                data: data.1,
            });
        }
        if inputs.len() != onnx.inputs().len() {
            continue;
        }
        let out = torch
            .run(&views(&inputs))
            .unwrap_or_else(|e| panic!("{}: golden inputs: {e}", pair.plugin));
        for t in &out {
            // The stored ONNX output, and the Python TorchScript output where the file has one.
            for key in [t.name.to_string(), format!("{}_torchscript", t.name)] {
                let Some(Npy::F32(shape, want)) = find(&key) else {
                    continue;
                };
                assert_eq!(t.shape.as_slice(), shape.as_slice(), "{key}: shape");
                let (_, abs) = deviation(f32s(t), want);
                eprintln!("{}: golden '{key}': max |diff| = {abs:.3e}", pair.plugin);
                assert!(
                    abs <= GOLDEN_TOLERANCE,
                    "{}: golden '{key}' differs by {abs:.3e}",
                    pair.plugin
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "no golden output was compared");
}

#[test]
fn batch_one_calls_match_the_batched_call() {
    // The b-tag model, called jet by jet, gives the rows of the batched call: shapes are dynamic
    // in TorchScript as in ONNX.
    let pair = pairs()
        .into_iter()
        .find(|p| p.plugin == "btag-rnn")
        .expect("plugins/btag-rnn/model/model.pt");
    let (onnx, torch) = load_pair(&pair, 1);
    let mut rng = Rng(7);
    let inputs = make_inputs(onnx.inputs(), 32, &mut rng);
    let all = torch.run(&views(&inputs)).expect("batched call");
    let probs = f32s(&all[0]);
    let (TensorBuf::F32(tracks), TensorBuf::I64(n)) = (&inputs[0].data, &inputs[1].data) else {
        panic!("b-tag inputs are tracks f32, n_tracks i64");
    };
    for j in 0..32 {
        let t = &tracks[j * 90..(j + 1) * 90];
        let k = &n[j..j + 1];
        let one = torch
            .run(&[
                TensorView::f32("tracks", &[1, 15, 6], t),
                TensorView::i64("n_tracks", &[1], k),
            ])
            .expect("batch-1 call");
        let (dev, abs) = deviation(f32s(&one[0]), &probs[j * 3..(j + 1) * 3]);
        assert!(
            dev <= 0.1,
            "jet {j}: batch-1 differs from batched by {abs:.3e}"
        );
    }
}
