//! The calo-gan plugin: fast simulation of 8 particles per event (e+, γ, π+, E flat in
//! 1-100 GeV); energy response (mean of sum of cells / E) per particle type on this run, and the
//! same particles through the toy's own simulation (`toydet::calo`) as the reference: response
//! and resolution against energy, shower shapes and the CaloChallenge metrics ([`crate::fidelity`]).

use crate::fidelity::{self, Sample, FEATURES, N_FEATURES, RANGES};
use crate::figure::{Figure, Panel, Series};
use crate::workload::{EventOutput, Merit, Results, Table, Workload};
use hepinfer::abi::{hepinfer_dtype, hepinfer_event_key};
use hepinfer::cabi::{f32_input, CError, CInstance};
use std::sync::Mutex;
use toydet::calo::{simulate_shower, CaloConfig, ParticleKind};
use toydet::tracker::event_rng;

/// Particles simulated per event (one batch per call).
pub const PER_EVENT: usize = 8;
const PDG: [i32; 3] = [-11, 22, 211];
const NAMES: [&str; 3] = ["e+", "gamma", "pi+"];
/// File-name forms of [`NAMES`].
const FILE_NAMES: [&str; 3] = ["positron", "photon", "pion"];
/// Model card GAN response per type (mean of the 10-100 GeV bins of `model/eval.json`).
const CARD: [f64; 3] = [0.9913, 0.9849, 0.5042];

/// SplitMix64 step: the particles of event `event` from its number, deterministically.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Energy bins (GeV) of the response and resolution plots.
const E_EDGES: [f64; 11] = [
    1.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0,
];

/// Simulates the showers of 8 particles per event, and the toy's showers of the same particles.
pub struct CaloGan {
    /// Seed of the toy reference showers and of the fidelity classifier.
    seed: u64,
    /// (event, particle, GAN shower, toy shower) of every particle so far; sorted before use,
    /// so that the metrics do not depend on which thread ran which event.
    samples: Mutex<Vec<(u64, usize, Sample, Sample)>>,
}

impl CaloGan {
    /// A workload with nothing seen yet; `seed` drives the toy reference and the classifier.
    pub fn new(seed: u64) -> Self {
        CaloGan {
            seed,
            samples: Mutex::new(Vec::new()),
        }
    }
}

/// Mean, its error, and std/mean with its error (Gaussian estimate) of `v`.
fn moments(v: &[f64]) -> Option<(f64, f64, f64, f64)> {
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let res = sd / m;
    Some((m, sd / n.sqrt(), res, res / (2.0 * (n - 1.0)).sqrt()))
}

impl Workload for CaloGan {
    fn plugin(&self) -> &'static str {
        "calo-gan"
    }

    fn records(&self) -> &'static [&'static str] {
        &["CaloGanRcd"]
    }

    fn compared(&self) -> &'static str {
        "layer0, layer1, layer2"
    }

    fn process(
        &self,
        inst: &CInstance,
        key: hepinfer_event_key,
        event: u64,
    ) -> Result<EventOutput, CError> {
        let mut st = event ^ 0xca10;
        let kinds: Vec<usize> = (0..PER_EVENT)
            .map(|_| (splitmix(&mut st) % 3) as usize)
            .collect();
        let pdg: Vec<i32> = kinds.iter().map(|&k| PDG[k]).collect();
        let energy: Vec<f32> = (0..PER_EVENT)
            .map(|_| (1.0 + 99.0 * (splitmix(&mut st) >> 11) as f64 / (1u64 << 53) as f64) as f32)
            .collect();
        let angles = vec![0.0f32; PER_EVENT];
        let s = [PER_EVENT as i64];
        let inputs = [
            hepinfer::abi::hepinfer_tensor {
                dtype: hepinfer_dtype::HEPINFER_I32 as u32,
                data: pdg.as_ptr().cast(),
                ..f32_input(c"pdg", &s, &[])
            },
            f32_input(c"energy", &s, &energy),
            f32_input(c"eta", &s, &angles),
            f32_input(c"phi", &s, &angles),
        ];
        let out = inst.process(key, &inputs)?;
        let layers = [out.f32("layer0")?, out.f32("layer1")?, out.f32("layer2")?];
        let cfg = CaloConfig::default();
        let mut pairs = Vec::with_capacity(PER_EVENT);
        for i in 0..PER_EVENT {
            fn cells(l: &[f32], i: usize) -> &[f32] {
                let per = l.len() / PER_EVENT;
                &l[i * per..(i + 1) * per]
            }
            let e = f64::from(energy[i]);
            let gan = Sample {
                kind: kinds[i],
                energy: e,
                shape: fidelity::shape(
                    [
                        cells(&layers[0], i),
                        cells(&layers[1], i),
                        cells(&layers[2], i),
                    ],
                    e,
                ),
            };
            // The toy's shower of the same particle, from a stream of its own.
            let mut rng = event_rng(0x70c0 ^ self.seed, event * PER_EVENT as u64 + i as u64);
            let toy = simulate_shower(&cfg, ParticleKind::ALL[kinds[i]], e, &mut rng);
            let toy = Sample {
                kind: kinds[i],
                energy: e,
                shape: fidelity::shape([&toy.layers[0], &toy.layers[1], &toy.layers[2]], e),
            };
            pairs.push((event, i, gan, toy));
        }
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(pairs);
        let values = layers.concat();
        Ok(EventOutput::new(values, &out))
    }

    fn results(&self) -> Results {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        samples.sort_by_key(|s| (s.0, s.1));
        let (gan, toy): (Vec<Sample>, Vec<Sample>) = samples.iter().map(|s| (s.2, s.3)).unzip();
        const RESPONSE: usize = 3;
        // Quality line and merits: mean response for E >= 10 GeV, as the card's bins.
        let mut parts = Vec::new();
        let mut merits = Vec::new();
        for k in 0..3 {
            let r: Vec<f64> = gan
                .iter()
                .filter(|s| s.kind == k && s.energy >= 10.0)
                .map(|s| f64::from(s.shape[RESPONSE]))
                .collect();
            let (m, err, res, res_err) =
                moments(&r).unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
            parts.push(format!(
                "{} {m:.4}±{err:.4} (card {:.4})",
                NAMES[k], CARD[k]
            ));
            merits.push(Merit::new(
                &format!("{} response, 10-100 GeV", NAMES[k]),
                m,
                err,
            ));
            merits.push(Merit::new(
                &format!("{} resolution, 10-100 GeV", NAMES[k]),
                res,
                res_err,
            ));
        }
        // Response and resolution against energy, GAN and toy, one column per type.
        let mut response_panels = Vec::new();
        let mut resolution_panels = Vec::new();
        for (k, name) in NAMES.iter().enumerate() {
            let mut rp = Panel::new(
                &format!("{} response", name),
                "incident energy [GeV]",
                "mean of sum of cells / E",
            )
            .legend_lower();
            let mut sp = Panel::new(
                &format!("{} resolution", name),
                "incident energy [GeV]",
                "std / mean of sum of cells / E",
            );
            for (who, v, dashed) in [
                ("calo-gan", &gan, false),
                ("toy simulation (reference)", &toy, true),
            ] {
                let (mut x, mut m, mut me, mut r, mut re) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for w in E_EDGES.windows(2) {
                    let vals: Vec<f64> = v
                        .iter()
                        .filter(|s| s.kind == k && s.energy >= w[0] && s.energy < w[1])
                        .map(|s| f64::from(s.shape[RESPONSE]))
                        .collect();
                    if let Some((a, b, c, d)) = moments(&vals) {
                        x.push(0.5 * (w[0] + w[1]));
                        m.push(a);
                        me.push(b);
                        r.push(c);
                        re.push(d);
                    }
                }
                let (c, mk) = (
                    usize::from(dashed),
                    |s: Series| if dashed { s.dashed() } else { s },
                );
                if dashed {
                    rp = rp.with(mk(Series::line(who, x.clone(), m, c)));
                    sp = sp.with(mk(Series::line(who, x, r, c)));
                } else {
                    rp = rp.with(Series::markers(who, x.clone(), m, me, c));
                    sp = sp.with(Series::markers(who, x, r, re, c));
                }
            }
            response_panels.push(rp);
            resolution_panels.push(sp);
        }
        response_panels.extend(resolution_panels);
        let mut figures = vec![Figure::grid("calo-gan", "response", response_panels, 3)];
        // Shower shapes, GAN against toy, all energies, one figure per type.
        for (k, file) in FILE_NAMES.iter().enumerate() {
            let panels = (0..N_FEATURES)
                .map(|j| {
                    let col = |v: &[Sample]| -> Vec<f64> {
                        v.iter()
                            .filter(|s| s.kind == k)
                            .map(|s| f64::from(s.shape[j]))
                            .collect()
                    };
                    let (a, b) = (col(&gan), col(&toy));
                    let (edges, ha, hb) = histograms(&a, &b, 40);
                    Panel::new(FEATURES[j], FEATURES[j], "fraction of showers")
                        .with(Series::steps("calo-gan", edges.clone(), ha, 0))
                        .with(Series::steps("toy", edges, hb, 1).dashed())
                })
                .collect();
            figures.push(Figure::grid(
                "calo-gan",
                &format!("shapes_{}", file),
                panels,
                4,
            ));
        }
        let cells = fidelity::evaluate(&gan, &toy, NAMES, self.seed);
        let mut auc_panel = Panel::new(
            "classifier AUC, calo-gan vs toy (0.5 = indistinguishable)",
            "incident energy [GeV]",
            "AUC on held-out showers",
        )
        .bounded(0.0, 1.0)
        .legend_lower()
        .with(Series::line("indistinguishable", vec![1.0, 100.0], vec![0.5, 0.5], 7).dashed());
        for (k, name) in NAMES.iter().enumerate() {
            let pts: Vec<&fidelity::CellMetrics> =
                cells.iter().filter(|c| c.particle == *name).collect();
            auc_panel = auc_panel.with(Series::markers(
                *name,
                pts.iter()
                    .map(|c| 0.5 * (c.range_gev.0 + c.range_gev.1))
                    .collect(),
                pts.iter().map(|c| c.classifier_auc).collect(),
                pts.iter()
                    .map(|c| {
                        let n = (c.n_test / 2).max(1);
                        crate::workload::auc_error(c.classifier_auc, n, n)
                    })
                    .collect(),
                k,
            ));
        }
        figures.push(Figure::single("calo-gan", "fidelity_auc", auc_panel));
        let range = |r: (f64, f64)| format!("{:.0}-{:.0} GeV", r.0, r.1);
        let auc_table = Table {
            title: "calo-gan vs toy simulation: classifier AUC".into(),
            header: std::iter::once("particle".to_string())
                .chain(RANGES.iter().map(|&r| range(r)))
                .collect(),
            rows: NAMES
                .iter()
                .map(|n| {
                    std::iter::once(n.to_string())
                        .chain(
                            cells
                                .iter()
                                .filter(|c| c.particle == *n)
                                .map(|c| format!("{:.3} ({} showers)", c.classifier_auc, c.n_test)),
                        )
                        .collect()
                })
                .collect(),
            note: "A one-hidden-layer MLP (32 units) on the shower-shape variables and log E, \
                   trained on half of the showers of each cell, AUC on the other half: 0.5 = \
                   indistinguishable, 1 = every shower gives itself away."
                .into(),
        };
        let mut shape_rows = Vec::new();
        for (j, f) in FEATURES.iter().enumerate() {
            let mut row = vec![f.to_string()];
            for c in &cells {
                row.push(format!("{:.3} / {:.2}", c.separation[j], c.wasserstein[j]));
            }
            shape_rows.push(row);
        }
        let shape_table = Table {
            title: "calo-gan vs toy simulation: separation power / Wasserstein-1 (in toy σ)".into(),
            header: std::iter::once("variable".to_string())
                .chain(
                    cells
                        .iter()
                        .map(|c| format!("{} {}", c.particle, range(c.range_gev))),
                )
                .collect(),
            rows: shape_rows,
            note: "Separation power ½Σ(p−q)²/(p+q) of 30-bin histograms (0 identical, 1 \
                   disjoint) / Wasserstein-1 distance divided by the toy's standard deviation."
                .into(),
        };
        let worst = cells
            .iter()
            .max_by(|a, b| a.classifier_auc.total_cmp(&b.classifier_auc));
        let fid = worst.map_or(String::new(), |w| {
            format!(
                "; classifier AUC GAN vs toy {:.3}-{:.3} (worst {} {})",
                cells
                    .iter()
                    .map(|c| c.classifier_auc)
                    .fold(f64::INFINITY, f64::min),
                w.classifier_auc,
                w.particle,
                range(w.range_gev)
            )
        });
        for c in &cells {
            merits.push(Merit::new(
                &format!("classifier AUC {} {}", c.particle, range(c.range_gev)),
                c.classifier_auc,
                f64::NAN,
            ));
        }
        Results {
            quality: format!("response sum/E, 10-100 GeV: {}{fid}", parts.join(", ")),
            merits,
            figures,
            tables: vec![auc_table, shape_table],
            extra: serde_json::json!({ "fidelity": cells, "features": FEATURES, "seed": self.seed }),
        }
    }
}

/// Normalised histograms of `a` and `b` on common edges (`bins` bins over both ranges).
fn histograms(a: &[f64], b: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (lo, hi) = a
        .iter()
        .chain(b)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return (Vec::new(), Vec::new(), Vec::new());
    }
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
        .collect();
    let h = |v: &[f64]| {
        let mut c = vec![0.0; bins];
        for &x in v {
            c[(((x - lo) / (hi - lo) * bins as f64) as usize).min(bins - 1)] +=
                1.0 / v.len() as f64;
        }
        c
    };
    (edges, h(a), h(b))
}
