//! End-to-end physics quality through the C ABI (`hepinfer_plugin_testing::cabi`, the functions a C++ framework
//! calls) on a fresh toy sample that neither training (seed 1) nor the model card (seed 1001)
//! used: AUC(b vs light) of the discriminant within 0.01 of the model card's 0.9863.

mod common;

use hepinfer::abi::{hepinfer_dtype, hepinfer_event_key, hepinfer_tensor};
use hepinfer_plugin_testing::cabi::{f32_input, CHost};

/// AUC(b vs light) of D_b in `model/MODEL.md` (100k held-out jets, seed 1001).
const CARD_AUC_B_VS_LIGHT: f64 = 0.9863;
/// Jets in the sample: about 6,700 b and 6,700 light jets, so the AUC's statistical
/// uncertainty is about ±0.001, well inside the 0.01 tolerance.
const N_JETS: usize = 20_000;
/// Jets per call, like the jets of a few events.
const JETS_PER_CALL: usize = 50;

#[test]
fn auc_through_the_c_abi_matches_the_model_card() {
    let dir = common::plugin_dir();
    let model = common::model_dir().join("model.onnx");
    let host = CHost::new(&common::host_config(dir.path(), "BTagRnnRcd", &model)).unwrap();
    let inst = host.instance("btag-rnn", "{}").unwrap();
    let (jets_name, tracks_name) = (c"jets", c"tracks");
    let (mut b, mut light) = (Vec::new(), Vec::new());
    let all = toydet::flavour::generate(20_260_001, N_JETS);
    for (call, chunk) in all.chunks(JETS_PER_CALL).enumerate() {
        let f = toydet::flavour::flatten(chunk);
        let jets: Vec<f32> = (0..chunk.len())
            .flat_map(|i| [f.jet_pt[i], f.jet_eta[i], f.jet_phi[i]])
            .collect();
        let tracks: Vec<f32> = (0..f.trk_pt.len())
            .flat_map(|i| {
                [
                    f.trk_pt[i],
                    f.trk_eta[i],
                    f.trk_phi[i],
                    f.trk_d0[i],
                    f.trk_z0[i],
                    f.trk_sigma_d0[i],
                    f.trk_sigma_z0[i],
                ]
            })
            .collect();
        let (js, ts) = ([chunk.len() as i64, 3], [f.trk_pt.len() as i64, 7]);
        let inputs = [
            f32_input(jets_name, &js, &jets),
            hepinfer_tensor {
                offsets: f.offsets.as_ptr(),
                n_offsets: f.offsets.len(),
                ..f32_input(tracks_name, &ts, &tracks)
            },
        ];
        assert_eq!(inputs[1].dtype, hepinfer_dtype::HEPINFER_F32 as u32);
        let key = hepinfer_event_key {
            run: 1,
            lumi: 1,
            event: call as u64,
        };
        let out = inst.process(key, &inputs).unwrap();
        let d = out.f32("discriminant").unwrap();
        assert_eq!(d.len(), chunk.len());
        for (dv, label) in d.iter().zip(&f.label) {
            match label {
                0 => b.push(*dv),
                2 => light.push(*dv),
                _ => {}
            }
        }
    }
    let auc = common::auc(&b, &light);
    eprintln!(
        "btag-rnn through the C ABI: AUC(b vs light) = {auc:.4} on {} b and {} light jets (card {CARD_AUC_B_VS_LIGHT})",
        b.len(),
        light.len()
    );
    assert!(
        (auc - CARD_AUC_B_VS_LIGHT).abs() <= 0.01,
        "AUC(b vs light) {auc:.4} is more than 0.01 from the model card's {CARD_AUC_B_VS_LIGHT}"
    );
}
