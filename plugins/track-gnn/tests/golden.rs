//! The Rust graph construction and the whole plugin against the golden tensors that
//! `model/make_golden.py` exported from `preprocess.py` and ONNX Runtime in Python (event 0 of
//! `toydet tracker --seed 4242 --particles 100`).

mod common;

use hepinfer_plugin_api::{EventKey, TensorBuf, TensorView};
use track_gnn::graph::{build_edges, HitGeometry};
use track_gnn::tracks::{build_tracks, TrackBuilding};

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

/// Builds the graph of golden hits `{prefix}hits` / `{prefix}hit_layer` and compares it with
/// `{prefix}edge_index` from `preprocess.py`.
fn assert_edges_match_python(prefix: &str, min_edges: usize) {
    let g = common::golden();
    let key = |k: &str| format!("{prefix}{k}");
    let geo = HitGeometry::new(&g[&key("hits")].f32(), &g[&key("hit_layer")].i32()).unwrap();
    let got = build_edges(&geo);
    let want = g[&key("edge_index")].i64();
    let ne = want.len() / 2;
    assert_eq!(g[&key("edge_index")].shape, vec![2, ne]);
    assert!(ne > min_edges, "golden graph too small: {ne} edges");
    let want: Vec<[u32; 2]> = (0..ne)
        .map(|e| [want[e] as u32, want[ne + e] as u32])
        .collect();
    eprintln!(
        "track-gnn edges vs Python, {} hits: {} vs {} edges",
        geo.len(),
        got.len(),
        want.len()
    );
    assert_eq!(got, want, "edge index differs from preprocess.py");
}

#[test]
fn edge_index_is_identical_to_python() {
    assert_edges_match_python("", 100);
}

#[test]
fn dense_edge_index_is_identical_to_python() {
    // A 2,000-particle event (twice the training pile-up): ~400k doublets compete in the triplet
    // filter, so every tolerance and the good-doublet rule are exercised.
    assert_edges_match_python("dense_", 20_000);
}

#[test]
fn track_building_is_identical_to_python() {
    // The default builder (components, walked where a component has two hits on a layer) on the
    // dense event's Python edge scores, against `evaluate.walk_tracks`.
    let g = common::golden();
    let layer: Vec<u8> = g["dense_hit_layer"]
        .i32()
        .iter()
        .map(|&l| l as u8)
        .collect();
    let idx = g["dense_edge_index"].i64();
    let scores = g["dense_edge_scores"].f32();
    let ne = scores.len();
    let kept: Vec<(u32, u32, f32)> = (0..ne)
        .filter(|&e| scores[e] > 0.5)
        .map(|e| (idx[e] as u32, idx[ne + e] as u32, scores[e]))
        .collect();
    let tracks = build_tracks(&layer, &kept, TrackBuilding::Walk, 3);
    let mut label = vec![-1i64; layer.len()];
    for (t, hits) in tracks.iter().enumerate() {
        for &h in hits {
            label[h as usize] = t as i64;
        }
    }
    let want = g["dense_hit_track"].i64();
    eprintln!(
        "track-gnn tracks vs Python on the dense event: {} vs {} tracks",
        tracks.len(),
        want.iter().max().map_or(0, |m| m + 1)
    );
    assert_eq!(label, want, "hit labels differ from evaluate.walk_tracks");
}

#[test]
fn plugin_scores_match_onnx_in_python() {
    let g = common::golden();
    let (_dir, host) = common::host("TrackGnnRcd", "track_gnn.onnx");
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
