//! Bad and unusual input through the host: every case is either a clear error for that call or a
//! documented result, and the next call on the same instance works.

mod common;

use hepinfer::abi::hepinfer_status;
use hepinfer::{Host, Instance};
use hepinfer_plugin_api::{EventKey, Tensor, TensorBuf, TensorView};

const KEY: EventKey = EventKey {
    run: 1,
    lumi: 1,
    event: 7,
};

struct Setup {
    _dir: tempfile::TempDir,
    host: Host,
}

fn setup() -> Setup {
    let (dir, host) = common::host("BTagRnnRcd", "model.onnx");
    Setup { _dir: dir, host }
}

/// Runs the plugin on `jets` [n, 3] and `tracks` [m, 7] with `offsets`.
fn run(
    inst: &Instance,
    jets: &[f32],
    tracks: &[f32],
    offsets: &[i64],
) -> hepinfer::Result<Vec<Tensor>> {
    let js = [(jets.len() / 3) as i64, 3];
    let ts = [(tracks.len() / 7) as i64, 7];
    let mut tv = TensorView::f32("tracks", &ts, tracks);
    tv.offsets = offsets.into();
    inst.process(KEY, &[TensorView::f32("jets", &js, jets), tv])
        .map(|o| o.tensors)
}

fn f32_out<'a>(out: &'a [Tensor], name: &str) -> &'a [f32] {
    out.iter()
        .find(|t| t.name.as_str() == name)
        .and_then(Tensor::as_f32)
        .unwrap()
}

fn n_tracks_out(out: &[Tensor]) -> Vec<i64> {
    match &out
        .iter()
        .find(|t| t.name.as_str() == "n_tracks")
        .unwrap()
        .data
    {
        TensorBuf::I64(v) => v.to_vec(),
        _ => panic!("n_tracks dtype"),
    }
}

/// One realistic jet with `k` tracks of decreasing significance (d0 = 0.05·(k − i) mm).
fn jet_with_tracks(k: usize) -> (Vec<f32>, Vec<f32>) {
    let jets = vec![60.0, 0.3, -1.0];
    let tracks = (0..k)
        .flat_map(|i| {
            let d0 = 0.05 * (k - i) as f32 / k as f32;
            [2.0 + i as f32, 0.32, -0.98, d0, 0.02, 0.015, 0.03]
        })
        .collect();
    (jets, tracks)
}

/// A call that must work, proving the instance carries on after a failure.
fn assert_next_call_works(inst: &Instance) {
    let (jets, tracks) = jet_with_tracks(5);
    let out = run(inst, &jets, &tracks, &[0, 5]).expect("the next call works");
    assert_eq!(n_tracks_out(&out), vec![5]);
}

#[test]
fn zero_jets_give_empty_outputs() {
    let s = setup();
    let inst = s.host.instance("btag-rnn", "{}").unwrap();
    let out = run(&inst, &[], &[], &[0]).unwrap();
    for (name, shape) in [
        ("probabilities", vec![0, 3]),
        ("discriminant", vec![0]),
        ("n_tracks", vec![0]),
    ] {
        let t = out.iter().find(|t| t.name.as_str() == name).unwrap();
        assert_eq!(t.shape.as_slice(), shape.as_slice(), "{name}");
        assert!(t.data.is_empty());
    }
    // No model is needed for an empty event.
    assert_eq!(s.host.model_cache().loads(), 0);
    assert_next_call_works(&inst);
}

#[test]
fn jet_without_tracks_gets_the_fixed_uninformative_answer() {
    let s = setup();
    let inst = s.host.instance("btag-rnn", "{}").unwrap();
    // Alone, and between two jets with tracks: the same answer, flagged by n_tracks = 0.
    let alone = run(&inst, &[40.0, 1.0, 2.0], &[], &[0, 0]).unwrap();
    let (j, t) = jet_with_tracks(4);
    let jets = [j.clone(), vec![40.0, 1.0, 2.0], j].concat();
    let tracks = [t.clone(), t].concat();
    let mixed = run(&inst, &jets, &tracks, &[0, 4, 4, 8]).unwrap();
    assert_eq!(n_tracks_out(&mixed), vec![4, 0, 4]);
    let p0 = f32_out(&alone, "probabilities");
    assert_eq!(p0, &f32_out(&mixed, "probabilities")[3..6]);
    // It is the answer the Python reference got for its track-less golden jets.
    let g = common::golden();
    let (gn, gp) = (g["n_tracks"].i64(), g["probs"].f32());
    let i = gn.iter().position(|&n| n == 0).unwrap();
    assert!(common::max_abs_diff(p0, &gp[3 * i..3 * i + 3]) <= 1e-5);
    // Without displaced tracks the model calls it "not b" (p_b ≈ 0.02, c and light about even),
    // so D_b ≈ −3.1: far below any working point (70 % b efficiency: D_b > 3.384).
    assert!(p0[0] < 0.05 && (p0[1] - p0[2]).abs() < 0.1, "{p0:?}");
    let d0 = f32_out(&alone, "discriminant")[0];
    assert!(d0.is_finite() && d0 < -2.0, "D_b = {d0}");
}

#[test]
fn more_tracks_than_the_model_takes_are_truncated_to_the_most_significant() {
    let s = setup();
    let inst = s.host.instance("btag-rnn", "{}").unwrap();
    // 40 tracks: the 15 of highest |d0|/sigma are the first 15 of this list.
    let (jets, tracks) = jet_with_tracks(40);
    let all = run(&inst, &jets, &tracks, &[0, 40]).unwrap();
    assert_eq!(n_tracks_out(&all), vec![15]);
    let top = run(&inst, &jets, &tracks[..15 * 7], &[0, 15]).unwrap();
    assert_eq!(
        f32_out(&all, "probabilities"),
        f32_out(&top, "probabilities")
    );
    // The input order does not matter: reversed, the same 15 tracks are kept.
    let reversed: Vec<f32> = tracks.chunks(7).rev().flatten().copied().collect();
    let rev = run(&inst, &jets, &reversed, &[0, 40]).unwrap();
    assert_eq!(
        f32_out(&all, "probabilities"),
        f32_out(&rev, "probabilities")
    );
    // And a less significant track than the 15th changes nothing, a more significant one does.
    let mut more = tracks.clone();
    more.extend_from_slice(&[3.0, 0.32, -0.98, 0.0001, 0.02, 0.015, 0.03]);
    let weak = run(&inst, &jets, &more, &[0, 41]).unwrap();
    assert_eq!(
        f32_out(&all, "probabilities"),
        f32_out(&weak, "probabilities")
    );
    let n = more.len();
    more[n - 4] = 0.5;
    let strong = run(&inst, &jets, &more, &[0, 41]).unwrap();
    assert_ne!(
        f32_out(&all, "probabilities"),
        f32_out(&strong, "probabilities")
    );
}

fn assert_invalid(r: hepinfer::Result<Vec<Tensor>>, needles: &[&str]) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.status(), hepinfer_status::HEPINFER_INVALID_INPUT, "{e}");
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} lacks {n:?}");
    }
}

#[test]
fn nan_features_are_refused_by_the_host() {
    let s = setup();
    let inst = s.host.instance("btag-rnn", "{}").unwrap();
    let (jets, mut tracks) = jet_with_tracks(5);
    tracks[2 * 7 + 3] = f32::NAN; // d0 of track 2
    assert_invalid(
        run(&inst, &jets, &tracks, &[0, 5]),
        &["'tracks'", "element 17", "NaN", "finite"],
    );
    assert_next_call_works(&inst);
    let mut jets_inf = jets.clone();
    jets_inf[1] = f32::INFINITY;
    assert_invalid(
        run(&inst, &jets_inf, &tracks[..7], &[0, 1]),
        &["'jets'", "element 1"],
    );
    assert_next_call_works(&inst);
}

#[test]
fn offsets_inconsistent_with_the_data_are_refused_by_the_host() {
    let s = setup();
    let inst = s.host.instance("btag-rnn", "{}").unwrap();
    let (jets, tracks) = jet_with_tracks(5);
    let two_jets = [jets.clone(), jets.clone()].concat();
    assert_invalid(
        run(&inst, &jets, &tracks, &[0, 4]),
        &["'tracks'", "last offset is 4", "5 elements"],
    );
    assert_invalid(
        run(&inst, &two_jets, &tracks, &[0, 3, 2]),
        &["must not decrease"],
    );
    assert_invalid(run(&inst, &two_jets, &tracks, &[0, 5]), &["'n_jets'"]);
    assert_invalid(run(&inst, &jets, &tracks, &[1, 5]), &["start at 0"]);
    assert_invalid(run(&inst, &jets, &tracks, &[]), &["offsets"]);
    assert_next_call_works(&inst);
}

#[test]
fn unphysical_values_are_refused_by_the_plugin_naming_the_track() {
    let s = setup();
    let inst = s.host.instance("btag-rnn", "{}").unwrap();
    let (jets, mut tracks) = jet_with_tracks(5);
    tracks[3 * 7 + 5] = 0.0; // sigma_d0 of track 3
    assert_invalid(
        run(&inst, &jets, &tracks, &[0, 5]),
        &["btag-rnn", "track 3 (jet 0)", "sigma_d0 0"],
    );
    assert_next_call_works(&inst);
    let (mut jets, tracks) = jet_with_tracks(5);
    jets[0] = -1.0;
    assert_invalid(run(&inst, &jets, &tracks, &[0, 5]), &["jet 0 has pT -1"]);
    assert_next_call_works(&inst);
}

#[test]
fn wrong_shapes_and_dtypes_are_refused() {
    let s = setup();
    let inst = s.host.instance("btag-rnn", "{}").unwrap();
    let (jets, tracks) = jet_with_tracks(6);
    // Tracks with 6 instead of 7 fields.
    let ts = [7, 6];
    let mut tv = TensorView::f32("tracks", &ts, &tracks);
    tv.offsets = [0i64, 7][..].into();
    let js = [1, 3];
    let e = inst
        .process(KEY, &[TensorView::f32("jets", &js, &jets), tv])
        .unwrap_err();
    assert!(e.to_string().contains("dimension 1 must be 7"), "{e}");
    // Missing tracks.
    let e = inst
        .process(KEY, &[TensorView::f32("jets", &js, &jets)])
        .unwrap_err();
    assert!(e.to_string().contains("missing input 'tracks'"), "{e}");
    assert_next_call_works(&inst);
}

#[test]
fn f_c_is_configurable_and_checked() {
    let s = setup();
    let (jets, tracks) = jet_with_tracks(8);
    let default = s.host.instance("btag-rnn", "").unwrap();
    let light_only = s.host.instance("btag-rnn", r#"{"f_c": 0.0}"#).unwrap();
    let d = run(&default, &jets, &tracks, &[0, 8]).unwrap();
    let l = run(&light_only, &jets, &tracks, &[0, 8]).unwrap();
    let p = f32_out(&l, "probabilities");
    let want = ((p[0] as f64 + 1e-12) / (p[2] as f64 + 1e-12)).ln();
    assert!((f32_out(&l, "discriminant")[0] as f64 - want).abs() < 1e-5);
    assert_ne!(f32_out(&d, "discriminant"), f32_out(&l, "discriminant"));
    for bad in [r#"{"f_c": 1.5}"#, r#"{"f_c": -0.1}"#, r#"{"fc": 0.1}"#] {
        let e = s.host.instance("btag-rnn", bad).err().expect(bad);
        assert_eq!(e.status(), hepinfer_status::HEPINFER_INVALID_CONFIG, "{e}");
    }
}
