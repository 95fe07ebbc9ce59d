//! The plugin's conditions and the host-run generator against the golden tensors that
//! `model/make_golden.py` exported (fixed numpy noise, 16 conditions over the three types and
//! 1-100 GeV, ONNX outputs from Python), and the plugin's own noise path end to end.

mod common;

use calo_gan::{conditions, rng, EnergyPolicy, LAYERS, PDG_CODES};
use hepinfer::Host;
use hepinfer_plugin_api::{EventKey, Tensor, TensorData, TensorView};

fn host() -> (tempfile::TempDir, Host) {
    common::host("CaloGanRcd", "calo_gan.onnx")
}

/// PDG codes of the golden one-hot rows.
fn golden_pdg(onehot: &[f32]) -> Vec<i32> {
    onehot
        .chunks(3)
        .map(|r| PDG_CODES[r.iter().position(|&v| v == 1.0).expect("one-hot row")])
        .collect()
}

fn run_generator(host: &Host, noise: &[f32], energy: &[f32], particle: &[f32]) -> Vec<Tensor> {
    let inst = host.instance("calo-gan", "{}").unwrap();
    let model = inst
        .current_model("generator", EventKey::default())
        .expect("model");
    let n = energy.len() as i64;
    let (ns, es, ps) = ([n, 32], [n, 1], [n, 3]);
    model
        .model
        .run(&[
            TensorView::f32("noise", &ns, noise),
            TensorView::f32("energy", &es, energy),
            TensorView::f32("particle", &ps, particle),
        ])
        .expect("generator run")
}

#[test]
fn conditions_and_host_run_outputs_match_python() {
    let g = common::golden();
    let pdg = golden_pdg(&g["particle"].f32());
    let c = conditions(&pdg, &g["energy"].f32(), EnergyPolicy::Refuse).expect("golden conditions");
    assert_eq!(c.energy, g["energy"].f32(), "energy condition");
    assert_eq!(c.particle, g["particle"].f32(), "one-hot condition");
    let (_d, host) = host();
    let out = run_generator(&host, &g["noise"].f32(), &c.energy, &c.particle);
    for (t, (name, r, cols)) in out.iter().zip(LAYERS) {
        assert_eq!(t.shape.as_slice(), &[16, r as i64, cols as i64]);
        let d = common::max_abs_diff(t.as_f32().unwrap(), &g[name].f32());
        eprintln!("calo-gan {name} through the host vs ONNX in Python: max |diff| = {d:e} GeV");
        assert!(d <= 1e-5, "{name}: max |diff| = {d}");
    }
}

fn simulate(inst: &hepinfer::Instance, key: EventKey, pdg: &[i32], e: &[f32]) -> Vec<Tensor> {
    let n = [pdg.len() as i64];
    let zeros = vec![0.0f32; pdg.len()];
    inst.process(
        key,
        &[
            TensorView::new("pdg", &n, TensorData::I32(pdg.into())),
            TensorView::f32("energy", &n, e),
            TensorView::f32("eta", &n, &zeros),
            TensorView::f32("phi", &n, &zeros),
        ],
    )
    .expect("calo-gan call")
    .tensors
}

#[test]
fn showers_are_the_documented_noise_through_the_generator_and_reproducible() {
    let (_d, host) = host();
    let inst = host.instance("calo-gan", "{}").unwrap();
    let pdg: Vec<i32> = (0..40).map(|i| PDG_CODES[i % 3]).collect();
    let e: Vec<f32> = (0..40).map(|i| 1.0 + 2.4 * i as f32).collect();
    let key = EventKey {
        run: 7,
        lumi: 3,
        event: 123_456_789_012,
    };
    let a = simulate(&inst, key, &pdg, &e);
    // Exactly the generator on rng::event_noise(run, event, n, seed 0).
    let c = conditions(&pdg, &e, EnergyPolicy::Refuse).unwrap();
    let want = run_generator(
        &host,
        &rng::event_noise(7, 123_456_789_012, 40, 0),
        &c.energy,
        &c.particle,
    );
    for (t, w) in a.iter().zip(&want) {
        assert_eq!(t.as_f32(), w.as_f32(), "{}", t.name);
    }
    // Same key on other threads, other lumi: bit-identical; another event: different.
    let again: Vec<Vec<Tensor>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| simulate(&inst, EventKey { lumi: 9, ..key }, &pdg, &e)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for b in &again {
        assert_eq!(&a[..3], &b[..3], "same event, other thread");
    }
    let other = simulate(
        &inst,
        EventKey {
            event: key.event + 1,
            ..key
        },
        &pdg,
        &e,
    );
    assert_ne!(
        a[1].as_f32(),
        other[1].as_f32(),
        "another event gives other showers"
    );
    // A particle's shower does not depend on the others in the batch.
    let first = simulate(&inst, key, &pdg[..1], &e[..1]);
    let d = common::max_abs_diff(first[1].as_f32().unwrap(), &a[1].as_f32().unwrap()[..144]);
    assert!(d <= 1e-5, "batch dependence {d}");
}
