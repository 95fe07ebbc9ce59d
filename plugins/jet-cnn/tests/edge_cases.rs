//! Bad and unusual input through the host: every case is either a clear error for that call or a
//! documented result, and the next call on the same instance works.

mod common;

use hepinfer::abi::hepinfer_status;
use hepinfer::{Host, Instance};
use hepinfer_plugin_api::{EventKey, Tensor, TensorView};

const KEY: EventKey = EventKey {
    run: 1,
    lumi: 1,
    event: 7,
};

fn setup() -> (tempfile::TempDir, Host) {
    common::host("JetCnnRcd", "model.onnx")
}

/// Runs the plugin on constituents `[m, 3]` grouped by `offsets`; returns p_w.
fn run(inst: &Instance, c: &[f32], offsets: &[i64]) -> hepinfer::Result<Vec<f32>> {
    let shape = [(c.len() / 3) as i64, 3];
    let mut v = TensorView::f32("constituents", &shape, c);
    v.offsets = offsets.into();
    let out = inst.process(KEY, &[v])?;
    let p = out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "p_w")
        .unwrap();
    assert_eq!(p.shape.as_slice(), &[offsets.len() as i64 - 1]);
    Ok(p.as_f32().unwrap().to_vec())
}

/// A two-prong jet: hard core, a second prong 0.4 away, soft spray.
fn two_prong() -> Vec<f32> {
    vec![
        0.1, 0.2, 120.0, 0.5, 0.25, 90.0, 0.15, 0.3, 12.0, 0.45, 0.2, 8.0, 0.3, 0.1, 3.0,
    ]
}

fn assert_next_call_works(inst: &Instance) {
    let p = run(inst, &two_prong(), &[0, 5]).expect("the next call works");
    assert!(p[0] > 0.0 && p[0] < 1.0);
}

fn assert_invalid(r: hepinfer::Result<Vec<f32>>, needles: &[&str]) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.status(), hepinfer_status::HEPINFER_INVALID_INPUT, "{e}");
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} lacks {n:?}");
    }
}

#[test]
fn zero_jets_give_an_empty_output() {
    let (_d, host) = setup();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    assert_eq!(run(&inst, &[], &[0]).unwrap(), Vec::<f32>::new());
    assert_eq!(
        host.model_cache().loads(),
        0,
        "no model is needed for an empty event"
    );
    assert_next_call_works(&inst);
}

#[test]
fn jet_without_constituents_gets_p_w_zero() {
    let (_d, host) = setup();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    let c = two_prong();
    let p = run(&inst, &c, &[0, 0, 5, 5]).unwrap();
    // The CNN itself says p ≈ 1 for an empty image (far outside its training data); the plugin
    // reports such a jet as no W candidate, wherever it sits, and the real jet is unaffected.
    assert_eq!((p[0], p[2]), (0.0, 0.0));
    assert_eq!(run(&inst, &[], &[0, 0]).unwrap(), vec![0.0]);
    assert_eq!(p[1], run(&inst, &c, &[0, 5]).unwrap()[0]);
    assert!(p[1] > 0.0);
    // Constituents that all have pT = 0 make an empty image too.
    assert_eq!(
        run(&inst, &[0.1, 0.2, 0.0, 0.3, 0.2, 0.0], &[0, 2]).unwrap(),
        vec![0.0]
    );
}

#[test]
fn one_constituent_and_far_constituents() {
    let (_d, host) = setup();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    // A single constituent: one pixel at the centre. A constituent 3 units away is dropped
    // from the image, so it changes nothing.
    let one = run(&inst, &[0.2, -1.0, 50.0], &[0, 1]).unwrap();
    let far = run(&inst, &[0.2, -1.0, 50.0, 3.2, -1.0, 10.0], &[0, 2]).unwrap();
    assert!(one[0].is_finite());
    assert_eq!(one, far);
}

#[test]
fn nan_features_are_refused_by_the_host() {
    let (_d, host) = setup();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    let mut c = two_prong();
    c[4] = f32::NAN; // phi of constituent 1
    assert_invalid(
        run(&inst, &c, &[0, 5]),
        &["'constituents'", "element 4", "NaN", "finite"],
    );
    assert_next_call_works(&inst);
}

#[test]
fn offsets_inconsistent_with_the_data_are_refused_by_the_host() {
    let (_d, host) = setup();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    let c = two_prong();
    assert_invalid(
        run(&inst, &c, &[0, 4]),
        &["'constituents'", "last offset is 4", "5 elements"],
    );
    assert_invalid(run(&inst, &c, &[0, 3, 2, 5]), &["must not decrease"]);
    assert_invalid(run(&inst, &c, &[2, 5]), &["start at 0"]);
    assert_invalid(run(&inst, &c, &[]), &["offsets"]);
    assert_next_call_works(&inst);
}

#[test]
fn negative_pt_is_refused_by_the_plugin_naming_the_constituent() {
    let (_d, host) = setup();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    let mut c = [two_prong(), two_prong()].concat();
    c[5 * 3 + 3 * 3 + 2] = -2.0; // constituent 3 of jet 1
    assert_invalid(
        run(&inst, &c, &[0, 5, 10]),
        &["jet-cnn", "constituent 8 (jet 1)", "pT -2"],
    );
    assert_next_call_works(&inst);
}

#[test]
fn wrong_shape_and_config_are_refused() {
    let (_d, host) = setup();
    let inst = host.instance("jet-cnn", "").unwrap();
    let c = two_prong();
    let shape = [3i64, 5];
    let mut v = TensorView::f32("constituents", &shape, &c);
    v.offsets = [0i64, 3][..].into();
    let e: Result<Vec<Tensor>, _> = inst.process(KEY, &[v]).map(|o| o.tensors);
    assert!(e.unwrap_err().to_string().contains("dimension 1 must be 3"));
    assert_next_call_works(&inst);
    let e = host
        .instance("jet-cnn", r#"{"threshold": 0.5}"#)
        .err()
        .unwrap();
    assert_eq!(e.status(), hepinfer_status::HEPINFER_INVALID_CONFIG, "{e}");
}
