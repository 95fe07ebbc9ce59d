//! The Rust graph construction and the whole plugin against the golden tensors that
//! `model/make_golden.py` exported from `preprocess.py` and ONNX Runtime in Python (event 0 of
//! `toydet tracker --seed 4242 --particles 100`).

mod common;

use hepinfer::Host;
use hepinfer_plugin_api::{EventKey, TensorBuf, TensorView};
use track_gnn::graph::{build_edges, HitGeometry};

#[test]
fn node_features_are_bit_identical_to_python() {
    let g = common::golden();
    let geo = HitGeometry::new(&g["hits"].f32(), &g["hit_layer"].i32()).unwrap();
    let got = geo.node_features();
    let want = g["node_features"].f32();
    assert_eq!(g["node_features"].shape, vec![geo.len(), 3]);
    let d = common::max_abs_diff(&got, &want);
    eprintln!(
        "track-gnn node features vs Python: max |diff| = {d:e} over {} hits",
        geo.len()
    );
    let same_bits = got
        .iter()
        .zip(&want)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(
        same_bits,
        "node features differ from preprocess.py (max |diff| {d:e})"
    );
}

#[test]
fn edge_index_is_identical_to_python() {
    let g = common::golden();
    let geo = HitGeometry::new(&g["hits"].f32(), &g["hit_layer"].i32()).unwrap();
    let got = build_edges(&geo);
    let want = g["edge_index"].i64();
    let ne = want.len() / 2;
    assert_eq!(g["edge_index"].shape, vec![2, ne]);
    assert!(ne > 100, "golden graph too small: {ne} edges");
    let want: Vec<[u32; 2]> = (0..ne)
        .map(|e| [want[e] as u32, want[ne + e] as u32])
        .collect();
    eprintln!(
        "track-gnn edges vs Python: {} vs {} edges",
        got.len(),
        want.len()
    );
    assert_eq!(got, want, "edge index differs from preprocess.py");
}

#[test]
fn plugin_scores_match_onnx_in_python() {
    let g = common::golden();
    let dir = common::plugin_dir();
    let model = common::model_dir().join("track_gnn.onnx");
    let host = Host::new(
        &common::host_config(dir.path(), "TrackGnnRcd", &model),
        None,
        std::ptr::null_mut(),
    )
    .expect("host");
    let inst = host
        .instance("track-gnn", r#"{"output_edges": true}"#)
        .expect("instance");
    let hits = g["hits"].f32();
    let layers = g["hit_layer"].i32();
    let (hs, ls) = ([layers.len() as i64, 3], [layers.len() as i64]);
    let out = inst
        .process(
            EventKey::default(),
            &[
                TensorView::f32("hits", &hs, &hits),
                TensorView::new(
                    "hit_layer",
                    &ls,
                    hepinfer_plugin_api::TensorData::I32(layers.as_slice().into()),
                ),
            ],
        )
        .expect("track-gnn call");
    let find = |n: &str| {
        out.tensors
            .iter()
            .find(|t| t.name.as_str() == n)
            .unwrap_or_else(|| panic!("no output {n}"))
    };
    let TensorBuf::I64(idx) = &find("edge_index").data else {
        panic!("edge_index dtype")
    };
    assert_eq!(
        idx.as_slice(),
        g["edge_index"].i64().as_slice(),
        "edge order"
    );
    let scores = find("edge_scores").as_f32().expect("f32 scores");
    let d = common::max_abs_diff(scores, &g["edge_scores"].f32());
    eprintln!("track-gnn edge scores through the host vs ONNX in Python: max |diff| = {d:e}");
    assert!(d <= 1e-5, "edge scores: max |diff| = {d}");
    assert_eq!(out.provenance.len(), 1);
    assert_eq!(out.provenance[0].record, "TrackGnnRcd");
}
