//! The Rust jet images and the whole plugin against the golden tensors that
//! `model/make_golden.py` exported from the Python training code (50 held-out toy jets,
//! including jets near φ = ±π).

mod common;

use hepinfer_plugin_api::{EventKey, TensorView};
use jet_cnn::{preprocess, NPIX};
use std::collections::HashMap;

/// The golden constituents packed as the plugin takes them: `[m, 3]` (η, φ, pT) and offsets.
fn raw_inputs(g: &HashMap<String, common::Array>) -> (Vec<f32>, Vec<i64>) {
    let (eta, phi, pt) = (g["c_eta"].f32(), g["c_phi"].f32(), g["c_pt"].f32());
    let c = (0..pt.len())
        .flat_map(|i| [eta[i], phi[i], pt[i]])
        .collect();
    (c, g["offsets"].i64())
}

#[test]
fn golden_sample_covers_the_phi_wrap_around() {
    let g = common::golden();
    assert_eq!(g["image"].shape, vec![50, 1, NPIX, NPIX]);
    assert!(g["jet_phi"].f32().iter().filter(|p| p.abs() > 3.0).count() >= 3);
}

#[test]
fn images_match_python() {
    let g = common::golden();
    let (c, offsets) = raw_inputs(&g);
    let images = preprocess(&c, &offsets).unwrap();
    let want = g["image"].f32();
    let d = common::max_abs_diff(&images, &want);
    eprintln!("jet-cnn images vs Python: max |diff| = {d:e}");
    assert!(d <= 1e-5, "images: max |diff| = {d}");
    // Every constituent lands in the same pixel: the occupied pixels are identical.
    let occupied = |v: &[f32]| v.iter().map(|&x| x > 0.0).collect::<Vec<_>>();
    assert_eq!(occupied(&images), occupied(&want));
}

#[test]
fn plugin_through_the_host_matches_python_onnxruntime() {
    let g = common::golden();
    let (c, offsets) = raw_inputs(&g);
    let (_dir, host) = common::host("JetCnnRcd", "model.onnx");
    let inst = host.instance("jet-cnn", "{}").unwrap();
    let shape = [(c.len() / 3) as i64, 3];
    let mut v = TensorView::f32("constituents", &shape, &c);
    v.offsets = offsets.as_slice().into();
    let key = EventKey {
        run: 1,
        lumi: 1,
        event: 1,
    };
    let out = inst.process(key, &[v]).unwrap();
    let p = out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "p_w")
        .unwrap();
    assert_eq!(p.shape.as_slice(), &[50]);
    let d = common::max_abs_diff(p.as_f32().unwrap(), &g["p_w"].f32());
    eprintln!("jet-cnn p_w vs Python onnxruntime: max |diff| = {d:e}");
    assert!(d <= 1e-5, "p_w vs Python onnxruntime: max |diff| = {d}");
    let bytes = std::fs::read(common::model_dir().join("model.onnx")).unwrap();
    assert_eq!(out.provenance.len(), 1);
    assert_eq!(
        out.provenance[0].hash,
        hepinfer::models::payload_hash(&bytes)
    );
    assert_eq!(out.provenance[0].record, "JetCnnRcd");
}
