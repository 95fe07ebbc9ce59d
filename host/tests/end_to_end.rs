//! The whole path through the Rust API: plugin loading, model from a file, ONNX Runtime,
//! compared with Python's onnxruntime on the golden sequences.

mod common;

use hepinfer::Host;
use hepinfer_plugin_api::{EventKey, TensorView};

#[test]
fn seq_classifier_matches_python_onnxruntime() {
    let dir = common::plugin_dir(&["seq_classifier"]);
    let host = Host::new(
        &common::host_config(dir.path(), ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = host
        .instance("seq-classifier", r#"{"argmax": true}"#)
        .unwrap();
    let (x, y, p_py) = common::golden();
    let n = y.len();
    let shape = [n as i64, 15, 8];
    let out = inst
        .process(
            EventKey {
                run: 1,
                lumi: 1,
                event: 1,
            },
            &[TensorView::f32("sequences", &shape, &x)],
        )
        .unwrap();
    let probs = out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "probabilities")
        .unwrap();
    assert_eq!(probs.shape.as_slice(), &[n as i64, 3]);
    let p = probs.as_f32().unwrap();
    let max_diff = p
        .iter()
        .zip(&p_py)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        max_diff <= 1e-5,
        "host vs python onnxruntime: max |diff| = {max_diff}"
    );
    // The model is really trained: its held-out accuracy is far above the 1/3 of guessing.
    let class = out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "class")
        .unwrap();
    let hepinfer_plugin_api::TensorBuf::I64(c) = &class.data else {
        panic!("class dtype")
    };
    let acc = c.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / n as f64;
    assert!(acc > 0.7, "held-out accuracy {acc}");
    // Provenance names the exact bytes that ran.
    let bytes = std::fs::read(common::seq_model()).unwrap();
    assert_eq!(out.provenance.len(), 1);
    assert_eq!(
        out.provenance[0].hash,
        hepinfer::models::payload_hash(&bytes)
    );
    assert_eq!(host.model_cache().loads(), 1);
}

#[test]
fn batch_rows_do_not_depend_on_batch_composition() {
    // Each sequence's answer is the same alone or in a batch: nothing leaks between rows.
    let dir = common::plugin_dir(&["seq_classifier"]);
    let host = Host::new(
        &common::host_config(dir.path(), ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = host.instance("seq-classifier", "").unwrap();
    let (x, _, _) = common::golden();
    let all = inst
        .process(
            EventKey::default(),
            &[TensorView::f32("sequences", &[16, 15, 8], &x[..16 * 120])],
        )
        .unwrap();
    let all = all.tensors[0].as_f32().unwrap().to_vec();
    for i in 0..16 {
        let one = inst
            .process(
                EventKey::default(),
                &[TensorView::f32(
                    "sequences",
                    &[1, 15, 8],
                    &x[i * 120..(i + 1) * 120],
                )],
            )
            .unwrap();
        let one = one.tensors[0].as_f32().unwrap();
        for k in 0..3 {
            assert!((one[k] - all[i * 3 + k]).abs() < 1e-6, "row {i}");
        }
    }
    // An empty batch is valid and gives an empty result.
    let empty = inst
        .process(
            EventKey::default(),
            &[TensorView::f32("sequences", &[0, 15, 8], &[])],
        )
        .unwrap();
    assert_eq!(empty.tensors[0].shape.as_slice(), &[0, 3]);
}
