//! `btag-rnn`: b-tagging with an LSTM over the impact parameters of a jet's tracks.
//!
//! The framework hands over jets (pT, η, φ) and their tracks as one flat array plus offsets, with
//! the raw quantities a tracker stores (pT, η, φ, d0, z0, σ(d0), σ(z0)). The plugin computes the
//! training features (lifetime-signed impact parameters w.r.t. the jet axis, their significances,
//! the pT fraction and ΔR), sorts the tracks by |d0|/σ(d0), keeps the first [`MAX_TRACKS`], runs
//! all jets of the call as one batch of the model served under the record `BTagRnnRcd`, and
//! returns p(b), p(c), p(light) and the discriminant
//! `D_b = ln(p_b / (f_c·p_c + (1 − f_c)·p_light))`.
//!
//! The preprocessing is [`preprocess`], a pure function that follows `model/MODEL.md` operation
//! by operation in float32; `tests/golden.rs` checks it against the Python reference.

use hepinfer_plugin_api::{
    export_plugin, Call, DType, Dim, ModelSpec, Plugin, PluginError, PluginInfo, PluginLogger,
    Prepared, Tensor, TensorBuf, TensorSpec, TensorView,
};
use serde::Deserialize;

/// Tracks the model reads per jet; further tracks (the least displaced) are dropped.
pub const MAX_TRACKS: usize = 15;
/// Features per track fed to the model.
pub const N_FEATURES: usize = 6;
/// Fields per jet in the `jets` input: pT (GeV), η, φ (rad).
pub const JET_FIELDS: usize = 3;
/// Fields per track in the `tracks` input: pT (GeV), η, φ (rad), d0, z0, σ(d0), σ(z0) (mm).
pub const TRACK_FIELDS: usize = 7;
/// Classes of the model's output, in this order.
pub const CLASSES: [&str; 3] = ["b", "c", "light"];
/// Default c fraction of the discriminant (the value used in the model card).
pub const DEFAULT_FC: f64 = 0.07;
/// Regulator of the discriminant's logarithm, as in `model/evaluate.py`: keeps it finite when a
/// probability underflows to 0.
const DISCRIMINANT_EPS: f64 = 1e-12;

const PI: f32 = std::f32::consts::PI; // 3.1415927
const TWO_PI: f32 = 2.0 * std::f32::consts::PI; // 6.2831855, float32(2π) exactly

/// Model inputs of one call: `tracks` `[n_jets, 15, 6]` (row-major, zero-padded) and `n_tracks`
/// `[n_jets]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInputs {
    /// Sorted, truncated, zero-padded track features, `n_jets * MAX_TRACKS * N_FEATURES` values.
    pub tracks: Vec<f32>,
    /// Tracks given to the model per jet (`min(tracks of the jet, MAX_TRACKS)`).
    pub n_tracks: Vec<i64>,
}

/// Wraps an angle difference into (−π, π] with one correction each way, as the training did.
fn wrap_dphi(dphi: f32) -> f32 {
    let dphi = if dphi > PI { dphi - TWO_PI } else { dphi };
    if dphi <= -PI {
        dphi + TWO_PI
    } else {
        dphi
    }
}

/// +1 for x ≥ 0 (zero counts as positive), −1 otherwise.
fn sign_pos(x: f32) -> f32 {
    if x >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// The six model features of one track of a jet (`jet` = pT, η, φ; `track` as in the `tracks`
/// input) and its sort key |d0|/σ(d0), in float32 in the order of `model/MODEL.md`.
///
/// The caller guarantees positive pT and uncertainties ([`preprocess`] checks them).
pub fn track_features(
    jet: [f32; JET_FIELDS],
    track: &[f32; TRACK_FIELDS],
) -> ([f32; N_FEATURES], f32) {
    let [jet_pt, jet_eta, jet_phi] = jet;
    let [pt, eta, phi, d0, z0, sigma_d0, sigma_z0] = *track;
    let deta = eta - jet_eta;
    let dphi = wrap_dphi(phi - jet_phi);
    // Lifetime signs: + when the point of closest approach lies on the jet side.
    let s_d0 = sign_pos(d0 * dphi);
    let s_z0 = sign_pos(z0 * (jet_eta - eta));
    let sin_theta = 1.0 / eta.cosh();
    let sd0 = s_d0 * d0.abs();
    let sz0_raw = s_z0 * z0.abs();
    let sz0 = sz0_raw * sin_theta;
    let sd0_sig = sd0 / sigma_d0;
    let sz0_sig = sz0_raw / sigma_z0;
    let features = [
        (sd0 * 10.0).clamp(-10.0, 10.0),
        (sz0 * 10.0).clamp(-10.0, 10.0),
        sd0_sig.clamp(-30.0, 30.0) * 0.1,
        sz0_sig.clamp(-30.0, 30.0) * 0.1,
        (pt / jet_pt).ln(),
        (deta * deta + dphi * dphi).sqrt() * 10.0,
    ];
    (features, d0.abs() / sigma_d0)
}

/// Checks that `offsets` group `n_items` elements into `n_groups` groups (first 0,
/// non-decreasing, last `n_items`). The host checks this before a call; the check is repeated so
/// that the public functions are safe on any input.
pub fn check_offsets(
    input: &str,
    offsets: &[i64],
    n_groups: usize,
    n_items: usize,
) -> Result<(), PluginError> {
    if offsets.len() != n_groups + 1 {
        return Err(PluginError::input(format!(
            "input '{input}': expected {} offsets (jets + 1), got {}",
            n_groups + 1,
            offsets.len()
        )));
    }
    if offsets[0] != 0 {
        return Err(PluginError::input(format!(
            "input '{input}': offsets[0] must be 0, got {}",
            offsets[0]
        )));
    }
    for (i, w) in offsets.windows(2).enumerate() {
        if w[1] < w[0] || w[1] as u64 > n_items as u64 {
            return Err(PluginError::input(format!(
                "input '{input}': offsets[{}] = {} is not in [{}, {n_items}]",
                i + 1,
                w[1],
                w[0]
            )));
        }
    }
    if offsets[n_groups] as usize != n_items {
        return Err(PluginError::input(format!(
            "input '{input}': last offset must be {n_items} (elements), got {}",
            offsets[n_groups]
        )));
    }
    Ok(())
}

/// The model inputs for a call: `jets` is `[n_jets, 3]` (pT, η, φ), `tracks` is `[n_tracks, 7]`
/// (pT, η, φ, d0, z0, σ(d0), σ(z0)) grouped by `offsets` (n_jets + 1 entries).
///
/// Per jet: features of every track ([`track_features`]), a stable sort by |d0|/σ(d0)
/// descending, the first [`MAX_TRACKS`] kept, zero padding. A jet without tracks gets an all-zero
/// block and `n_tracks = 0`. Refuses (naming the jet or track) non-positive pT or uncertainties,
/// which would turn the features into NaN or ±inf.
pub fn preprocess(
    jets: &[f32],
    tracks: &[f32],
    offsets: &[i64],
) -> Result<ModelInputs, PluginError> {
    if jets.len() % JET_FIELDS != 0 || tracks.len() % TRACK_FIELDS != 0 {
        return Err(PluginError::input(format!(
            "'jets' must hold {JET_FIELDS} values per jet and 'tracks' {TRACK_FIELDS} per track, got {} and {} values",
            jets.len(),
            tracks.len()
        )));
    }
    let n_jets = jets.len() / JET_FIELDS;
    check_offsets("tracks", offsets, n_jets, tracks.len() / TRACK_FIELDS)?;
    let block = MAX_TRACKS * N_FEATURES;
    let mut out = ModelInputs {
        tracks: vec![0.0; n_jets * block],
        n_tracks: vec![0; n_jets],
    };
    let mut feats: Vec<([f32; N_FEATURES], f32)> = Vec::new();
    for (j, jet) in jets.chunks_exact(JET_FIELDS).enumerate() {
        let jet = [jet[0], jet[1], jet[2]];
        if jet[0] <= 0.0 {
            return Err(PluginError::input(format!(
                "input 'jets': jet {j} has pT {} GeV, expected > 0",
                jet[0]
            )));
        }
        let (a, b) = (offsets[j] as usize, offsets[j + 1] as usize);
        feats.clear();
        for (k, t) in tracks[a * TRACK_FIELDS..b * TRACK_FIELDS]
            .chunks_exact(TRACK_FIELDS)
            .enumerate()
        {
            let t: &[f32; TRACK_FIELDS] = t.try_into().map_err(|_| {
                PluginError::input("input 'tracks': internal slicing error".to_string())
            })?;
            let i = a + k;
            if t[0] <= 0.0 || t[5] <= 0.0 || t[6] <= 0.0 {
                return Err(PluginError::input(format!(
                    "input 'tracks': track {i} (jet {j}) has pT {} GeV, sigma_d0 {} mm, sigma_z0 {} mm; all must be > 0",
                    t[0], t[5], t[6]
                )));
            }
            feats.push(track_features(jet, t));
        }
        // Stable: equal keys keep their input order, like numpy's argsort(kind="stable"). Keys are
        // finite and ≥ +0 (checked above), so total_cmp orders them like the reference.
        feats.sort_by(|x, y| y.1.total_cmp(&x.1));
        let kept = feats.len().min(MAX_TRACKS);
        let dst = &mut out.tracks[j * block..(j + 1) * block];
        for (row, (f, _)) in dst.chunks_exact_mut(N_FEATURES).zip(&feats[..kept]) {
            row.copy_from_slice(f);
        }
        out.n_tracks[j] = kept as i64;
    }
    Ok(out)
}

/// `D_b = ln((p_b + ε) / (f_c·p_c + (1 − f_c)·p_light + ε))` with ε = 1e-12, computed in f64.
pub fn discriminant(p: [f32; 3], f_c: f64) -> f32 {
    let [pb, pc, pl] = p.map(f64::from);
    ((pb + DISCRIMINANT_EPS) / (f_c * pc + (1.0 - f_c) * pl + DISCRIMINANT_EPS)).ln() as f32
}

/// Instance configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// c-jet fraction f_c of the discriminant.
    #[serde(default = "default_fc")]
    f_c: f64,
}

fn default_fc() -> f64 {
    DEFAULT_FC
}

/// The plugin.
pub struct BTagRnn {
    f_c: f64,
}

fn jets_spec() -> TensorSpec {
    TensorSpec::new(
        "jets",
        DType::F32,
        vec![Dim::named("n_jets"), Dim::fixed(JET_FIELDS as i64)],
        "per jet: pT (GeV, > 0), eta, phi (rad)",
    )
}

fn tracks_spec() -> TensorSpec {
    TensorSpec::new(
        "tracks",
        DType::F32,
        vec![Dim::named("n_tracks"), Dim::fixed(TRACK_FIELDS as i64)],
        "per track, grouped by jet (offsets): pT (GeV), eta, phi (rad), d0, z0, sigma_d0, sigma_z0 (mm); \
         d0 with the geometric sign, z0 w.r.t. the primary vertex; pT and sigmas > 0",
    )
    .jagged("n_jets")
}

impl Plugin for BTagRnn {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "btag-rnn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "b-tagging LSTM over the impact parameters of up to 15 tracks per jet \
                          (sorted by |d0|/sigma); returns p(b), p(c), p(light) and D_b"
                .into(),
            inputs: vec![jets_spec(), tracks_spec()].into(),
            outputs: vec![
                TensorSpec::new(
                    "probabilities",
                    DType::F32,
                    vec![Dim::named("n_jets"), Dim::fixed(3)],
                    "p(b), p(c), p(light) per jet (softmax, sums to 1)",
                ),
                TensorSpec::new(
                    "discriminant",
                    DType::F32,
                    vec![Dim::named("n_jets")],
                    "D_b = ln(p_b / (f_c p_c + (1 - f_c) p_light))",
                ),
                TensorSpec::new(
                    "n_tracks",
                    DType::I64,
                    vec![Dim::named("n_jets")],
                    "tracks the model read per jet (at most 15; 0: no tracks, uninformative answer)",
                ),
            ]
            .into(),
            models: vec![ModelSpec {
                name: "rnn".into(),
                record: "BTagRnnRcd".into(),
                label: "".into(),
                inputs: vec![
                    TensorSpec::new(
                        "tracks",
                        DType::F32,
                        vec![
                            Dim::named("batch"),
                            Dim::fixed(MAX_TRACKS as i64),
                            Dim::fixed(N_FEATURES as i64),
                        ],
                        "sorted track features, zero-padded",
                    ),
                    TensorSpec::new("n_tracks", DType::I64, vec![Dim::named("batch")], "real tracks per jet"),
                ]
                .into(),
                doc: "plugins/btag-rnn/model/MODEL.md".into(),
            }]
            .into(),
            config_doc: r#"{"f_c": number in [0, 1] (default 0.07): c fraction of the discriminant}"#.into(),
        }
    }

    fn create(config: &str, _logger: PluginLogger) -> Result<Self, PluginError> {
        let config: Config = serde_json::from_str(if config.trim().is_empty() {
            "{}"
        } else {
            config
        })
        .map_err(|e| PluginError::config(format!("btag-rnn config: {e}")))?;
        if !(0.0..=1.0).contains(&config.f_c) {
            return Err(PluginError::config(format!(
                "btag-rnn config: f_c must be in [0, 1], got {}",
                config.f_c
            )));
        }
        Ok(BTagRnn { f_c: config.f_c })
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        // The three stages of a batched call, run in one piece: identical by construction.
        let prepared = self.prepare(call)?;
        let outputs = if prepared.inputs.is_empty() {
            Vec::new()
        } else {
            let views: Vec<TensorView<'_>> = prepared.inputs.iter().map(Tensor::view).collect();
            call.run_model("rnn", &views)?
        };
        self.finish(call, prepared.carry.into_vec(), outputs)
    }

    fn batched_model(&self) -> Option<&str> {
        // One row per jet, every jet padded to MAX_TRACKS: calls of any events merge.
        Some("rnn")
    }

    fn prepare(&self, call: &Call<'_>) -> Result<Prepared, PluginError> {
        let jets = call.f32("jets")?;
        let tracks = call.f32("tracks")?;
        let offsets = call.offsets("tracks")?;
        let inputs = preprocess(jets, tracks, offsets)?;
        let n = inputs.n_tracks.len() as i64;
        let n_tracks = Tensor::new("n_tracks", vec![n], TensorBuf::I64(inputs.n_tracks.into()));
        Ok(Prepared {
            // No jets: a valid event with nothing to tag; the model is not run.
            inputs: if n == 0 {
                Default::default()
            } else {
                vec![
                    Tensor::f32(
                        "tracks",
                        vec![n, MAX_TRACKS as i64, N_FEATURES as i64],
                        inputs.tracks,
                    ),
                    n_tracks.clone(),
                ]
                .into()
            },
            carry: vec![n_tracks].into(),
        })
    }

    fn finish(
        &self,
        call: &mut Call<'_>,
        carry: Vec<Tensor>,
        model_outputs: Vec<Tensor>,
    ) -> Result<(), PluginError> {
        let model_error = |m: String| PluginError::new(hepinfer_plugin_api::ErrorKind::Model, m);
        let n_tracks = carry
            .into_iter()
            .next()
            .ok_or_else(|| model_error("btag-rnn: finish without its carry".into()))?;
        let n = n_tracks.data.len();
        let probs: Vec<f32> = if n == 0 {
            Vec::new()
        } else {
            let p = model_outputs
                .first()
                .and_then(Tensor::as_f32)
                .ok_or_else(|| model_error("btag-rnn: the model returned no f32 output".into()))?;
            if p.len() != 3 * n {
                return Err(model_error(format!(
                    "btag-rnn: the model returned {} values for {n} jets, expected {}",
                    p.len(),
                    3 * n
                )));
            }
            p.to_vec()
        };
        let disc: Vec<f32> = probs
            .chunks_exact(3)
            .map(|p| discriminant([p[0], p[1], p[2]], self.f_c))
            .collect();
        call.output(Tensor::f32("probabilities", vec![n as i64, 3], probs));
        call.output(Tensor::f32("discriminant", vec![n as i64], disc));
        call.output(n_tracks);
        Ok(())
    }
}

export_plugin!(BTagRnn);

#[cfg(test)]
mod tests {
    use super::*;

    fn track(pt: f32, d0: f32, sigma: f32) -> [f32; TRACK_FIELDS] {
        [pt, 0.1, 0.05, d0, 0.01, sigma, 0.05]
    }

    #[test]
    fn sorts_by_significance_stably_truncates_and_pads() {
        let jets = [50.0, 0.0, 0.0, 30.0, 1.0, 3.0];
        // Jet 0: 20 tracks with significances 0..19 shuffled plus ties; jet 1: none.
        let mut tracks = Vec::new();
        for i in 0..20 {
            let sig = ((i * 7) % 20) as f32; // a permutation of 0..19
            tracks.extend_from_slice(&track(1.0 + i as f32, 0.01 * sig, 0.01));
        }
        let offsets = [0, 20, 20];
        let m = preprocess(&jets, &tracks, &offsets).unwrap();
        assert_eq!(m.n_tracks, vec![15, 0]);
        assert_eq!(m.tracks.len(), 2 * MAX_TRACKS * N_FEATURES);
        // Significance feature (index 2) strictly decreasing: the 15 largest, in order.
        let sig: Vec<f32> = (0..15).map(|i| m.tracks[i * N_FEATURES + 2]).collect();
        assert!(sig.windows(2).all(|w| w[0] >= w[1]), "{sig:?}");
        assert!(
            (sig[0] - 1.9).abs() < 1e-5 && (sig[14] - 0.5).abs() < 1e-5,
            "{sig:?}"
        );
        // The jet without tracks is all zeros.
        assert!(m.tracks[MAX_TRACKS * N_FEATURES..]
            .iter()
            .all(|&x| x == 0.0));
    }

    #[test]
    fn equal_keys_keep_input_order() {
        let jets = [50.0, 0.0, 0.0];
        let tracks: Vec<f32> = [
            track(1.0, 0.02, 0.01),
            track(2.0, -0.02, 0.01),
            track(3.0, 0.02, 0.01),
        ]
        .concat();
        let m = preprocess(&jets, &tracks, &[0, 3]).unwrap();
        let log_frac: Vec<f32> = (0..3).map(|i| m.tracks[i * N_FEATURES + 4]).collect();
        let want: Vec<f32> = [1.0f32, 2.0, 3.0]
            .iter()
            .map(|pt| (pt / 50.0).ln())
            .collect();
        assert_eq!(log_frac, want);
    }

    #[test]
    fn refuses_unphysical_values_naming_the_track() {
        let jets = [50.0, 0.0, 0.0];
        let mut t = track(1.0, 0.02, 0.01);
        t[5] = 0.0;
        let e = preprocess(&jets, &t, &[0, 1]).unwrap_err();
        assert!(
            e.message.contains("track 0 (jet 0)") && e.message.contains("sigma_d0 0"),
            "{e}"
        );
        let e = preprocess(&[0.0, 0.0, 0.0], &[], &[0, 0]).unwrap_err();
        assert!(e.message.contains("jet 0 has pT 0"), "{e}");
        let e = preprocess(&jets, &track(1.0, 0.0, 0.1), &[0, 2]).unwrap_err();
        assert!(e.message.contains("offsets"), "{e}");
    }

    #[test]
    fn dphi_wraps_across_pi() {
        // A track just across φ = ±π from the jet is close to it, not 2π away.
        let (f, _) = track_features([50.0, 0.0, 3.1], &[5.0, 0.0, -3.1, 0.01, 0.0, 0.01, 0.01]);
        assert!((f[5] - 0.8318).abs() < 1e-3, "ΔR·10 = {}", f[5]);
        // d0 > 0 with dphi > 0 (wrapped): positive lifetime sign.
        assert!(f[0] > 0.0);
    }

    #[test]
    fn discriminant_matches_formula() {
        let d = discriminant([0.5, 0.25, 0.25], 0.07);
        assert!((d as f64 - (0.5f64 / 0.25).ln()).abs() < 1e-6);
        assert!(discriminant([0.0, 0.0, 1.0], 0.07).is_finite());
        assert!(discriminant([1.0, 0.0, 0.0], 0.07).is_finite());
    }
}
