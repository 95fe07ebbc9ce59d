//! End-to-end physics quality through the C ABI (`hepinfer_plugin_testing::cabi`, the functions a C++ framework
//! calls) on a fresh toy sample that neither training (seed 1) nor the model card (seed 1001)
//! used: AUC(W vs QCD) within 0.01 of the model card's 0.9888.

mod common;

use hepinfer::abi::{hepinfer_event_key, hepinfer_tensor};
use hepinfer_plugin_testing::cabi::{f32_input, CHost};
use toydet::jetimage::JetClass;

/// AUC(W vs QCD) of the CNN in `model/MODEL.md` (50k held-out jets, seed 1001).
const CARD_AUC: f64 = 0.9888;
/// Jets in the sample: about 5,000 W and 5,000 QCD jets, so the AUC's statistical uncertainty
/// is about ±0.001, well inside the 0.01 tolerance.
const N_JETS: usize = 10_000;
/// Jets per call, like the large-R jets of a few events.
const JETS_PER_CALL: usize = 20;

#[test]
fn auc_through_the_c_abi_matches_the_model_card() {
    let dir = common::plugin_dir();
    let model = common::model_dir().join("model.onnx");
    let host = CHost::new(&common::host_config(dir.path(), "JetCnnRcd", &model)).unwrap();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    let name = c"constituents";
    let (mut w, mut qcd) = (Vec::new(), Vec::new());
    let all = toydet::jetimage::generate(20_260_002, N_JETS);
    for (call, chunk) in all.chunks(JETS_PER_CALL).enumerate() {
        let mut c = Vec::new();
        let mut offsets = vec![0i64];
        for j in chunk {
            c.extend(j.constituents.iter().flat_map(|k| [k.eta, k.phi, k.pt]));
            offsets.push((c.len() / 3) as i64);
        }
        let shape = [(c.len() / 3) as i64, 3];
        let input = [hepinfer_tensor {
            offsets: offsets.as_ptr(),
            n_offsets: offsets.len(),
            ..f32_input(name, &shape, &c)
        }];
        let key = hepinfer_event_key {
            run: 1,
            lumi: 1,
            event: call as u64,
        };
        let p = inst.process(key, &input).unwrap().f32("p_w").unwrap();
        assert_eq!(p.len(), chunk.len());
        for (pv, j) in p.iter().zip(chunk) {
            match j.class {
                JetClass::W => w.push(*pv),
                JetClass::Qcd => qcd.push(*pv),
            }
        }
    }
    let auc = common::auc(&w, &qcd);
    eprintln!(
        "jet-cnn through the C ABI: AUC(W vs QCD) = {auc:.4} on {} W and {} QCD jets (card {CARD_AUC})",
        w.len(),
        qcd.len()
    );
    assert!(
        (auc - CARD_AUC).abs() <= 0.01,
        "AUC(W vs QCD) {auc:.4} is more than 0.01 from the model card's {CARD_AUC}"
    );
}
