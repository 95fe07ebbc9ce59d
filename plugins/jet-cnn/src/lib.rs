//! `jet-cnn`: boosted W tagging with a CNN over jet images.
//!
//! The framework hands over the constituents of each jet (η, φ, pT) as one flat array plus
//! offsets. The plugin builds, per jet, the 25 × 25 image the model was trained on (centre on the
//! hardest constituent, rotate the second hardest prong straight down, flip the harder side to
//! +x, pixelise at 0.1, normalise to unit sum), runs all jets of the call as one batch of the
//! model served under the record `JetCnnRcd`, and returns p(W) per jet.
//!
//! The preprocessing is [`jet_image`] / [`preprocess`], pure functions that follow
//! `model/MODEL.md` operation by operation in float32; `tests/golden.rs` checks them against the
//! Python reference.

use hepinfer_plugin_api::{
    check_offsets, export_plugin, wrap_dphi, Call, DType, Dim, ErrorKind, ModelSpec, Plugin,
    PluginError, PluginInfo, PluginLogger, Prepared, Tensor, TensorBuf, TensorSpec, TensorView,
};
use serde::Deserialize;

/// Pixels per side of the image.
pub const NPIX: usize = 25;
/// p(W) reported for a jet whose image is empty (no constituents, or all with pT = 0).
pub const EMPTY_JET_P_W: f32 = 0.0;
/// Fields per constituent in the `constituents` input: η, φ (rad), pT (GeV).
pub const CONSTITUENT_FIELDS: usize = 3;

/// Second seed at least ΔR 0.2 from the first (compared as ΔR² > 0.04 in float32).
const SEED2_MIN_R2: f32 = 0.04;
/// 1 / pixel size (0.1).
const INV_PIX: f32 = 10.0;
/// NPIX / 2: pixel 12 is centred on the first seed.
const HALF: f32 = 12.5;

/// Index of the largest `pt` among `candidates` (constituent indices); the lowest index on ties,
/// like numpy's `argmax`.
fn hardest(pt: impl Iterator<Item = (usize, f32)>) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, p) in pt {
        if best.is_none_or(|(_, b)| p > b) {
            best = Some((i, p));
        }
    }
    best.map(|(i, _)| i)
}

/// The normalised 25 × 25 image (`[ix * 25 + iy]`, x η-like, y φ-like) of one jet's
/// constituents, given as rows (η, φ, pT). All zeros for a jet without constituents.
///
/// Follows `model/MODEL.md` step by step in float32 (the flip sums in float64); only IEEE basic
/// operations decide where a constituent lands, so the pixels match the Python reference. The
/// caller guarantees a multiple of 3 values, finite, with pT ≥ 0 ([`preprocess`] checks them).
pub fn jet_image(constituents: &[f32]) -> Vec<f32> {
    let mut img = vec![0.0f32; NPIX * NPIX];
    let rows: Vec<[f32; 3]> = constituents
        .chunks_exact(CONSTITUENT_FIELDS)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let Some(s1) = hardest(rows.iter().map(|r| r[2]).enumerate()) else {
        return img;
    };
    let (eta1, phi1) = (rows[s1][0], rows[s1][1]);
    let mut x: Vec<f32> = rows.iter().map(|r| r[0] - eta1).collect();
    let mut y: Vec<f32> = rows.iter().map(|r| wrap_dphi(r[1] - phi1)).collect();
    let r2: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a * a + b * b).collect();
    let far = (0..rows.len())
        .filter(|&i| r2[i] > SEED2_MIN_R2)
        .map(|i| (i, rows[i][2]));
    if let Some(s2) = hardest(far) {
        let r = r2[s2].sqrt();
        let (c, s) = (x[s2] / r, y[s2] / r);
        // Rotate so that the second seed points to −y: (x2, y2) → (0, −r).
        for (xi, yi) in x.iter_mut().zip(y.iter_mut()) {
            let (x0, y0) = (*xi, *yi);
            *xi = (-s) * x0 + c * y0;
            *yi = (-c) * x0 - s * y0;
        }
    }
    let (mut left, mut right) = (0.0f64, 0.0f64);
    for (xi, r) in x.iter().zip(&rows) {
        if *xi < 0.0 {
            left += f64::from(r[2]);
        } else if *xi > 0.0 {
            right += f64::from(r[2]);
        }
    }
    if left > right {
        x.iter_mut().for_each(|v| *v = -*v);
    }
    for ((xi, yi), r) in x.iter().zip(&y).zip(&rows) {
        let ix = (xi * INV_PIX + HALF).floor();
        let iy = (yi * INV_PIX + HALF).floor();
        if (0.0..NPIX as f32).contains(&ix) && (0.0..NPIX as f32).contains(&iy) {
            img[ix as usize * NPIX + iy as usize] += r[2];
        }
    }
    // The reference sums pairwise in float32; a float64 sum rounded once is at least as close to
    // the exact total, and the difference stays in the last bit.
    let total = img.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
    if total > 0.0 {
        img.iter_mut().for_each(|v| *v /= total);
    }
    img
}

/// The model input `[n_jets, 1, 25, 25]` (flattened) for constituents `[n, 3]` (η, φ, pT)
/// grouped into jets by `offsets` (n_jets + 1 entries).
///
/// Refuses (naming the constituent) a negative pT, and offsets that do not fit the data.
pub fn preprocess(constituents: &[f32], offsets: &[i64]) -> Result<Vec<f32>, PluginError> {
    if constituents.len() % CONSTITUENT_FIELDS != 0 {
        return Err(PluginError::input(format!(
            "input 'constituents': {} values is not a multiple of {CONSTITUENT_FIELDS} (eta, phi, pt)",
            constituents.len()
        )));
    }
    let n_items = constituents.len() / CONSTITUENT_FIELDS;
    check_offsets("constituents", offsets, n_items).map_err(PluginError::input)?;
    if let Some(i) = constituents
        .chunks_exact(CONSTITUENT_FIELDS)
        .position(|c| c[2] < 0.0 || c[2].is_nan())
    {
        let jet = offsets.partition_point(|&o| o <= i as i64) - 1;
        return Err(PluginError::input(format!(
            "input 'constituents': constituent {i} (jet {jet}) has pT {} GeV, expected >= 0",
            constituents[i * CONSTITUENT_FIELDS + 2]
        )));
    }
    let n_jets = offsets.len() - 1;
    let mut out = Vec::with_capacity(n_jets * NPIX * NPIX);
    for w in offsets.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        out.extend(jet_image(
            &constituents[a * CONSTITUENT_FIELDS..b * CONSTITUENT_FIELDS],
        ));
    }
    Ok(out)
}

/// Instance configuration: none so far; unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

/// The plugin.
pub struct JetCnn;

impl Plugin for JetCnn {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "jet-cnn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "boosted W tagging: CNN over the 25x25 jet image built from the \
                          constituents (centre, rotate, flip, pixelise, normalise); returns p(W)"
                .into(),
            inputs: vec![TensorSpec::new(
                "constituents",
                DType::F32,
                vec![
                    Dim::named("n_constituents"),
                    Dim::fixed(CONSTITUENT_FIELDS as i64),
                ],
                "per constituent, grouped by jet (offsets): eta, phi (rad), pT (GeV, >= 0)",
            )
            .jagged("n_jets")]
            .into(),
            outputs: vec![TensorSpec::new(
                "p_w",
                DType::F32,
                vec![Dim::named("n_jets")],
                "p(W -> qq) per jet; 1 - p_w is p(QCD); 0 for a jet without constituents",
            )]
            .into(),
            models: vec![ModelSpec {
                name: "cnn".into(),
                record: "JetCnnRcd".into(),
                label: "".into(),
                inputs: vec![TensorSpec::new(
                    "image",
                    DType::F32,
                    vec![
                        Dim::named("batch"),
                        Dim::fixed(1),
                        Dim::fixed(NPIX as i64),
                        Dim::fixed(NPIX as i64),
                    ],
                    "normalised jet image",
                )]
                .into(),
                doc: "plugins/jet-cnn/model/MODEL.md".into(),
            }]
            .into(),
            config_doc: "{} (no keys)".into(),
        }
    }

    fn create(config: &str, _logger: PluginLogger) -> Result<Self, PluginError> {
        let _: Config = serde_json::from_str(if config.trim().is_empty() {
            "{}"
        } else {
            config
        })
        .map_err(|e| PluginError::config(format!("jet-cnn config: {e}")))?;
        Ok(JetCnn)
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        // The three stages of a batched call, run in one piece: identical by construction.
        let prepared = self.prepare(call)?;
        let outputs = if prepared.inputs.is_empty() {
            Vec::new()
        } else {
            let views: Vec<TensorView<'_>> = prepared.inputs.iter().map(Tensor::view).collect();
            call.run_model("cnn", &views)?
        };
        self.finish(call, prepared.carry.into_vec(), outputs)
    }

    fn batched_model(&self) -> Option<&str> {
        // One fixed-size image per jet: calls of any events merge.
        Some("cnn")
    }

    fn prepare(&self, call: &Call<'_>) -> Result<Prepared, PluginError> {
        let constituents = call.f32("constituents")?;
        let offsets = call.offsets("constituents")?;
        let images = preprocess(constituents, offsets)?;
        let n = offsets.len().saturating_sub(1);
        // An empty image (no constituents, or only pT = 0 ones) is far outside the training
        // data and the CNN calls it a W with p ≈ 1.0; such a jet cannot be a W candidate: finish
        // gives it p_w = 0 instead.
        let empty: Vec<u8> = images
            .chunks_exact(NPIX * NPIX)
            .map(|img| u8::from(img.iter().all(|&v| v == 0.0)))
            .collect();
        let carry = vec![Tensor::new(
            "empty",
            vec![n as i64],
            TensorBuf::U8(empty.into()),
        )];
        Ok(Prepared {
            // No jets: a valid event with nothing to tag; the model is not run.
            inputs: if n == 0 {
                Default::default()
            } else {
                vec![Tensor::f32(
                    "image",
                    vec![n as i64, 1, NPIX as i64, NPIX as i64],
                    images,
                )]
                .into()
            },
            carry: carry.into(),
        })
    }

    fn finish(
        &self,
        call: &mut Call<'_>,
        carry: Vec<Tensor>,
        model_outputs: Vec<Tensor>,
    ) -> Result<(), PluginError> {
        let model_error = |m: String| PluginError::new(ErrorKind::Model, m);
        let empty = match carry.first().map(|t| &t.data) {
            Some(TensorBuf::U8(e)) => e.as_slice(),
            _ => return Err(model_error("jet-cnn: finish without its carry".into())),
        };
        let n = empty.len();
        let p_w = if n == 0 {
            Vec::new()
        } else {
            let p = model_outputs
                .first()
                .and_then(Tensor::as_f32)
                .ok_or_else(|| model_error("jet-cnn: the model returned no f32 output".into()))?;
            if p.len() != n {
                return Err(model_error(format!(
                    "jet-cnn: the model returned {} values for {n} jets",
                    p.len()
                )));
            }
            p.iter()
                .zip(empty)
                .map(|(&p, &e)| if e != 0 { EMPTY_JET_P_W } else { p })
                .collect()
        };
        call.output(Tensor::f32("p_w", vec![n as i64], p_w));
        Ok(())
    }
}

export_plugin!(JetCnn);

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(img: &[f32], ix: usize, iy: usize) -> f32 {
        img[ix * NPIX + iy]
    }

    #[test]
    fn centres_rotates_and_flips() {
        // Hardest at (0.5, 1.0), second prong 0.3 away in +eta, a soft one 0.2 away in +phi.
        let c = [
            0.5, 1.0, 100.0, // seed 1 → pixel (12, 12)
            0.8, 1.0, 50.0, // seed 2: dx = 0.3, dy = 0 → rotated to (0, -0.3) → (12, 9)
            0.5, 1.2, 10.0, // dx = 0, dy = 0.2 → rotated: x' = c*y = 0.2... then flip check
        ];
        let img = jet_image(&c);
        let sum: f32 = img.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!((pixel(&img, 12, 12) - 100.0 / 160.0).abs() < 1e-6);
        assert!((pixel(&img, 12, 9) - 50.0 / 160.0).abs() < 1e-6);
        // (0, 0.2) rotated with c = 1, s = 0 → x' = 0.2, y' = 0: on the +x side, no flip.
        assert!((pixel(&img, 14, 12) - 10.0 / 160.0).abs() < 1e-6);
    }

    #[test]
    fn flips_the_harder_side_to_positive_x() {
        let c = [
            0.0, 0.0, 100.0, 0.3, 0.0, 50.0, // second seed straight down after rotation
            0.0, -0.2,
            10.0, // x' = c*y = -0.2: the only off-axis pT is at −x → flip to +x
        ];
        let img = jet_image(&c);
        assert!(pixel(&img, 14, 12) > 0.0 && pixel(&img, 10, 12) == 0.0);
    }

    #[test]
    fn empty_jet_and_out_of_image_constituents() {
        assert!(jet_image(&[]).iter().all(|&v| v == 0.0));
        // A constituent 2 units away in eta falls outside the image and is dropped.
        let img = jet_image(&[0.0, 0.0, 10.0, 2.0, 0.0, 5.0]);
        let sum: f32 = img.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6 && pixel(&img, 12, 12) == 1.0);
    }

    #[test]
    fn wraps_phi_around_pi() {
        // Constituents on either side of φ = ±π land next to each other.
        let img = jet_image(&[0.0, 3.1, 10.0, 0.0, -3.1, 5.0]);
        assert_eq!(img.iter().filter(|&&v| v > 0.0).count(), 2);
    }

    #[test]
    fn preprocess_checks_pt_and_offsets() {
        let c = [0.0, 0.0, 10.0, 0.0, 0.1, -1.0];
        let e = preprocess(&c, &[0, 1, 2]).unwrap_err();
        assert!(e.message.contains("constituent 1 (jet 1)"), "{e}");
        let e = preprocess(&c[..3], &[0, 2]).unwrap_err();
        assert!(e.message.contains("last offset"), "{e}");
        let imgs = preprocess(&c[..3], &[0, 0, 1]).unwrap();
        assert_eq!(imgs.len(), 2 * NPIX * NPIX);
        assert!(imgs[..NPIX * NPIX].iter().all(|&v| v == 0.0));
    }
}
