//! Bad and extreme inputs through `hepinfer::Host`: each gives a clear error or a documented
//! result, and the next call on the same instance works.

mod common;

use hepinfer::{Host, Instance};
use hepinfer_plugin_api::{EventKey, TensorBuf, TensorData, TensorView};

fn host() -> (tempfile::TempDir, Host) {
    common::host("CaloGanRcd", "calo_gan.onnx")
}

fn call(inst: &Instance, pdg: &[i32], e: &[f32]) -> hepinfer::Result<hepinfer::CallOutputs> {
    let (n, m) = ([pdg.len() as i64], [e.len() as i64]);
    let z = vec![0.0f32; e.len()];
    inst.process(
        EventKey {
            run: 1,
            lumi: 1,
            event: 5,
        },
        &[
            TensorView::new("pdg", &n, TensorData::I32(pdg.into())),
            TensorView::f32("energy", &m, e),
            TensorView::f32("eta", &m, &z),
            TensorView::f32("phi", &m, &z),
        ],
    )
}

fn n_clamped(out: &hepinfer::CallOutputs) -> i64 {
    match &out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "n_clamped")
        .unwrap()
        .data
    {
        TensorBuf::I64(v) => v[0],
        d => panic!("{:?}", d.dtype()),
    }
}

fn assert_next_call_works(inst: &Instance) {
    let out = call(inst, &[22, 211], &[10.0, 50.0]).expect("the next call works");
    let l1 = out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "layer1")
        .unwrap();
    assert_eq!(l1.shape.as_slice(), &[2, 12, 12]);
    assert!(l1.as_f32().unwrap().iter().sum::<f32>() > 1.0);
}

#[test]
fn no_particles_give_empty_layers() {
    let (_d, host) = host();
    let inst = host.instance("calo-gan", "{}").unwrap();
    let out = call(&inst, &[], &[]).expect("0 particles");
    let shapes: Vec<Vec<i64>> = out.tensors.iter().map(|t| t.shape.to_vec()).collect();
    assert_eq!(
        shapes,
        vec![vec![0, 3, 96], vec![0, 12, 12], vec![0, 12, 6], vec![1]]
    );
    assert_eq!(n_clamped(&out), 0);
    assert_next_call_works(&inst);
}

#[test]
fn bad_particles_are_refused_and_the_next_call_works() {
    let (_d, host) = host();
    let inst = host.instance("calo-gan", "{}").unwrap();
    let msg = |r: hepinfer::Result<hepinfer::CallOutputs>| r.unwrap_err().to_string();
    let e = msg(call(&inst, &[22, 2112], &[10.0, 10.0]));
    assert!(
        e.contains("'pdg': element 1 is 2112, expected one of -11 (e+), 22 (gamma), 211 (pi+)"),
        "{e}"
    );
    let e = msg(call(&inst, &[22, 22], &[10.0, 250.0]));
    assert!(
        e.contains("'energy': element 1 is 250 GeV, outside the trained range [1, 100] GeV"),
        "{e}"
    );
    let e = msg(call(&inst, &[22], &[0.5]));
    assert!(e.contains("element 0 is 0.5 GeV, outside"), "{e}");
    let e = msg(call(&inst, &[22], &[f32::NAN]));
    assert!(e.contains("'energy': element 0 is NaN"), "{e}");
    let e = msg(call(&inst, &[22, 22], &[10.0]));
    assert!(e.contains("dimension 'n_particles'"), "{e}");
    // Offsets given to a per-particle input, inconsistent with it: the host refuses.
    let (n, off) = ([2i64], [0i64, 3]);
    let mut ev = TensorView::f32("energy", &n, &[10.0, 20.0]);
    ev.offsets = off.as_slice().into();
    let z = [0.0f32; 2];
    let e = inst
        .process(
            EventKey::default(),
            &[
                TensorView::new("pdg", &n, TensorData::I32([22, 22].as_slice().into())),
                ev,
                TensorView::f32("eta", &n, &z),
                TensorView::f32("phi", &n, &z),
            ],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("'energy' is not a jagged collection"), "{e}");
    assert_next_call_works(&inst);
    // Too many particles for one batch.
    let small = host
        .instance("calo-gan", r#"{"max_particles": 4}"#)
        .unwrap();
    let e = msg(call(&small, &[22; 5], &[10.0; 5]));
    assert!(
        e.contains("5 particles in one call, above this instance's max_particles = 4"),
        "{e}"
    );
    assert_next_call_works(&small);
}

#[test]
fn clamping_is_counted() {
    let (_d, host) = host();
    let inst = host
        .instance("calo-gan", r#"{"energy_policy": "clamp"}"#)
        .unwrap();
    let out = call(&inst, &[22, -11, 211], &[0.3, 40.0, 500.0]).expect("clamped");
    assert_eq!(n_clamped(&out), 2);
    // The clamped photon is a 1 GeV shower, not a 0.3 GeV one.
    let total: f32 = out.tensors[..3]
        .iter()
        .map(|t| {
            let per = t.as_f32().unwrap().len() / 3;
            t.as_f32().unwrap()[..per].iter().sum::<f32>()
        })
        .sum();
    assert!(
        (0.7..1.3).contains(&total),
        "1 GeV photon deposits {total} GeV"
    );
    let e = host
        .instance("calo-gan", r#"{"energy_policy": "scale"}"#)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("unknown variant `scale`, expected `refuse` or `clamp`"),
        "{e}"
    );
    assert_next_call_works(&inst);
}
