//! The Rust preprocessing and the whole plugin against the golden tensors that
//! `model/make_golden.py` exported from the Python training code (50 held-out toy jets, including
//! jets without tracks, with more than 15 tracks and near φ = ±π).

mod common;

use btag_rnn::{preprocess, track_features, MAX_TRACKS, N_FEATURES, TRACK_FIELDS};
use hepinfer_plugin_api::{EventKey, TensorBuf, TensorView};
use std::collections::HashMap;

/// The golden raw inputs packed as the plugin takes them: `jets` [n, 3], `tracks` [m, 7], offsets.
fn raw_inputs(g: &HashMap<String, common::Array>) -> (Vec<f32>, Vec<f32>, Vec<i64>) {
    let (pt, eta, phi) = (g["jet_pt"].f32(), g["jet_eta"].f32(), g["jet_phi"].f32());
    let jets = (0..pt.len())
        .flat_map(|i| [pt[i], eta[i], phi[i]])
        .collect();
    let cols: Vec<Vec<f32>> = [
        "trk_pt",
        "trk_eta",
        "trk_phi",
        "trk_d0",
        "trk_z0",
        "trk_sigma_d0",
        "trk_sigma_z0",
    ]
    .iter()
    .map(|k| g[*k].f32())
    .collect();
    let tracks = (0..cols[0].len())
        .flat_map(|i| cols.iter().map(move |c| c[i]))
        .collect();
    (jets, tracks, g["offsets"].i64())
}

/// One call of `inst` on raw jets, tracks and their offsets.
fn process_raw(
    inst: &hepinfer::Instance,
    jets: &[f32],
    tracks: &[f32],
    offsets: &[i64],
) -> hepinfer::CallOutputs {
    let (jshape, tshape) = ([(jets.len() / 3) as i64, 3], [(tracks.len() / 7) as i64, 7]);
    let mut tv = TensorView::f32("tracks", &tshape, tracks);
    tv.offsets = offsets.into();
    inst.process(
        EventKey::default(),
        &[TensorView::f32("jets", &jshape, jets), tv],
    )
    .unwrap()
}

#[test]
fn golden_sample_covers_the_edge_cases() {
    let g = common::golden();
    let n = g["n_tracks"].i64();
    let per_jet: Vec<i64> = g["offsets"].i64().windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(n.len(), 50);
    assert!(per_jet.iter().filter(|&&k| k == 0).count() >= 2);
    assert!(per_jet.iter().filter(|&&k| k > MAX_TRACKS as i64).count() >= 3);
    assert!(g["jet_phi"].f32().iter().filter(|p| p.abs() > 3.05).count() >= 3);
}

#[test]
fn track_features_match_python() {
    let g = common::golden();
    let (jets, tracks, offsets) = raw_inputs(&g);
    let (want_f, want_k) = (g["trk_features"].f32(), g["trk_sort_key"].f32());
    let mut got_f = Vec::new();
    let mut got_k = Vec::new();
    for (j, w) in offsets.windows(2).enumerate() {
        let jet = [jets[3 * j], jets[3 * j + 1], jets[3 * j + 2]];
        for i in w[0] as usize..w[1] as usize {
            let t: &[f32; TRACK_FIELDS] = tracks[i * TRACK_FIELDS..(i + 1) * TRACK_FIELDS]
                .try_into()
                .unwrap();
            let (f, k) = track_features(jet, t);
            got_f.extend(f);
            got_k.push(k);
        }
    }
    let d = common::max_abs_diff(&got_f, &want_f);
    eprintln!("btag-rnn track features vs Python: max |diff| = {d:e}");
    assert!(d <= 1e-5, "track features: max |diff| = {d}");
    // The sort key is pure IEEE arithmetic: bit-identical.
    assert_eq!(got_k, want_k, "sort keys");
}

#[test]
fn model_inputs_match_python() {
    let g = common::golden();
    let (jets, tracks, offsets) = raw_inputs(&g);
    let m = preprocess(&jets, &tracks, &offsets).unwrap();
    assert_eq!(m.n_tracks, g["n_tracks"].i64(), "n_tracks");
    assert_eq!(g["tracks"].shape, vec![50, MAX_TRACKS, N_FEATURES]);
    let d = common::max_abs_diff(&m.tracks, &g["tracks"].f32());
    eprintln!("btag-rnn model input tracks vs Python: max |diff| = {d:e}");
    assert!(d <= 1e-5, "model input 'tracks': max |diff| = {d}");
}

#[test]
fn plugin_through_the_host_matches_python_onnxruntime() {
    let g = common::golden();
    let (jets, tracks, offsets) = raw_inputs(&g);
    let (_dir, host) = common::host("BTagRnnRcd", "model.onnx");
    let inst = host.instance("btag-rnn", "{}").unwrap();
    let n = jets.len() / 3;
    let (jshape, tshape) = ([n as i64, 3], [(tracks.len() / 7) as i64, 7]);
    let mut tv = TensorView::f32("tracks", &tshape, &tracks);
    tv.offsets = offsets.as_slice().into();
    let out = inst
        .process(
            EventKey {
                run: 1,
                lumi: 1,
                event: 1,
            },
            &[TensorView::f32("jets", &jshape, &jets), tv],
        )
        .unwrap();
    let get = |name: &str| {
        out.tensors
            .iter()
            .find(|t| t.name.as_str() == name)
            .unwrap()
    };
    let p = get("probabilities");
    assert_eq!(p.shape.as_slice(), &[n as i64, 3]);
    let p = p.as_f32().unwrap();
    let d = common::max_abs_diff(p, &g["probs"].f32());
    eprintln!("btag-rnn probabilities vs Python onnxruntime: max |diff| = {d:e}");
    assert!(
        d <= 1e-5,
        "probabilities vs Python onnxruntime: max |diff| = {d}"
    );
    // The discriminant is the model card's formula with f_c = 0.07.
    let disc = get("discriminant").as_f32().unwrap();
    for (row, &dv) in p.chunks(3).zip(disc) {
        let want =
            ((row[0] as f64 + 1e-12) / (0.07 * row[1] as f64 + 0.93 * row[2] as f64 + 1e-12)).ln();
        assert!(
            (dv as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{dv} vs {want}"
        );
    }
    let TensorBuf::I64(nt) = &get("n_tracks").data else {
        panic!("n_tracks dtype")
    };
    assert_eq!(nt.as_slice(), g["n_tracks"].i64().as_slice());
    // Provenance names the exact model bytes.
    let bytes = std::fs::read(common::model_dir().join("model.onnx")).unwrap();
    assert_eq!(out.provenance.len(), 1);
    assert_eq!(
        out.provenance[0].hash,
        hepinfer::models::payload_hash(&bytes)
    );
    assert_eq!(out.provenance[0].record, "BTagRnnRcd");
}

#[test]
fn one_jet_per_call_and_mixed_batches_match_python_onnxruntime() {
    // Each jet alone runs exactly its own tracks' steps; in a batch of 64 (the golden jets and
    // 14 again) the plugin groups jets by track count. Either way the answer is the golden
    // (first, padded-to-15) export's.
    let g = common::golden();
    let (jets, tracks, offsets) = raw_inputs(&g);
    let want = g["probs"].f32();
    let (_dir, host) = common::host("BTagRnnRcd", "model.onnx");
    let inst = host.instance("btag-rnn", "{}").unwrap();
    let run = |pick: &[usize]| {
        let mut js = Vec::new();
        let mut ts = Vec::new();
        let mut off = vec![0i64];
        for &j in pick {
            js.extend_from_slice(&jets[3 * j..3 * j + 3]);
            let (a, b) = (offsets[j] as usize, offsets[j + 1] as usize);
            ts.extend_from_slice(&tracks[7 * a..7 * b]);
            off.push(off.last().unwrap() + (b - a) as i64);
        }
        let out = process_raw(&inst, &js, &ts, &off);
        out.tensors
            .iter()
            .find(|t| t.name.as_str() == "probabilities")
            .unwrap()
            .as_f32()
            .unwrap()
            .to_vec()
    };
    let n = jets.len() / 3;
    let mut worst = 0.0f32;
    for j in 0..n {
        let p = run(&[j]);
        worst = worst.max(common::max_abs_diff(&p, &want[3 * j..3 * j + 3]));
    }
    eprintln!("btag-rnn one jet per call vs Python onnxruntime: max |diff| = {worst:e}");
    assert!(worst <= 1e-5, "one jet per call: max |diff| = {worst}");
    let pick: Vec<usize> = (0..64).map(|k| (k * 7) % n).collect();
    let p = run(&pick);
    let expect: Vec<f32> = pick
        .iter()
        .flat_map(|&j| want[3 * j..3 * j + 3].to_vec())
        .collect();
    let d = common::max_abs_diff(&p, &expect);
    eprintln!("btag-rnn 64 mixed jets per call vs Python onnxruntime: max |diff| = {d:e}");
    assert!(d <= 1e-5, "64 jets: max |diff| = {d}");
}

/// A host serving `file` with the native LSTM kernel on (the default) or off (ONNX Runtime).
fn host_with(
    native: bool,
    file: &str,
) -> (hepinfer_plugin_testing::tempfile::TempDir, hepinfer::Host) {
    let dir = common::plugin_dir();
    let cfg = serde_json::json!({
        "plugin_dirs": [dir.path()],
        "models": { "BTagRnnRcd": common::model_dir().join(file) },
        "log_level": "warn",
        "native_kernels": native,
    });
    let host = hepinfer::Host::new(&cfg.to_string(), None, std::ptr::null_mut()).expect("host");
    (dir, host)
}

#[test]
fn native_kernel_and_onnxruntime_agree_and_provenance_says_which_ran() {
    let g = common::golden();
    let (jets, tracks, offsets) = raw_inputs(&g);
    for file in ["model.onnx", "model_v2.onnx"] {
        let mut probs = Vec::new();
        for native in [true, false] {
            let (_dir, host) = host_with(native, file);
            let inst = host.instance("btag-rnn", "{}").unwrap();
            let out = process_raw(&inst, &jets, &tracks, &offsets);
            let served = out.provenance[0].served_by.clone();
            if native {
                let s = served.expect("the native kernel is named in the provenance");
                assert!(s.contains("native LSTM kernel"), "{file}: {s}");
            } else {
                assert_eq!(served, None, "{file}: ONNX Runtime serves the model itself");
            }
            let p = out
                .tensors
                .iter()
                .find(|t| t.name.as_str() == "probabilities")
                .unwrap();
            probs.push(p.as_f32().unwrap().to_vec());
        }
        let d = common::max_abs_diff(&probs[0], &probs[1]);
        eprintln!("{file}: native kernel vs ONNX Runtime on the golden jets: max |diff| = {d:e}");
        assert!(d <= 1e-6, "{file}: native vs ONNX Runtime max |diff| = {d}");
    }
}
