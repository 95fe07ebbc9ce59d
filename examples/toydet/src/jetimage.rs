//! Jet-image jets: boosted W → qq̄ (two prongs) versus QCD jets (one hard prong plus radiation).
//!
//! A W (pT 250–300 GeV, |η| < 2, mass ≈ 80.4 GeV) decays into two quarks sharing its momentum
//! with a flat fraction z, at an opening ΔR = m / (pT √(z(1−z))) ≈ 2m/pT. A QCD jet of the same pT
//! is one hard parton with a soft, collinear-enhanced emission (z and angle log-uniform) and,
//! 70 % of the time, a second one. Each prong showers into a few constituents around its axis.
//! Colour flow differs: a W (colour singlet) radiates soft particles between its prongs, a QCD
//! jet radiates at wide angles over the whole cone; both get a flat underlying event.
//!
//! The output is the jet's constituents (η, φ, pT) within ΔR < 0.8 of the generated axis and the
//! jet four-momentum summed from them (massless constituents). The image is built by the
//! consumer (see `plugins/jet-cnn/model/MODEL.md`). Units: GeV, radians.

use std::f64::consts::PI;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};

use crate::npz::NpzWriter;

/// Generated W / parton pT range, GeV.
pub const PT_RANGE: (f64, f64) = (250.0, 300.0);
/// Largest |η| of the generated axis.
pub const ABS_ETA_MAX: f64 = 2.0;
/// Jet radius: constituents within this ΔR of the generated axis make the jet.
pub const JET_RADIUS: f64 = 0.8;
/// W mass and width used for the generation, GeV.
pub const W_MASS: (f64, f64) = (80.4, 2.1);

/// Truth class of a jet; the discriminant is the training label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JetClass {
    /// QCD jet (label 0).
    Qcd = 0,
    /// Boosted W → qq̄ jet (label 1).
    W = 1,
}

/// One jet constituent (a massless particle).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constituent {
    /// Pseudorapidity.
    pub eta: f32,
    /// Azimuth, radians in (−π, π].
    pub phi: f32,
    /// Transverse momentum, GeV.
    pub pt: f32,
}

/// One jet for jet-image tagging.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageJet {
    /// Jet pT summed from the constituents, GeV.
    pub pt: f32,
    /// Jet η.
    pub eta: f32,
    /// Jet φ.
    pub phi: f32,
    /// Invariant mass of the constituents, GeV.
    pub mass: f32,
    /// Truth class.
    pub class: JetClass,
    /// Constituents, sorted by pT, highest first (consumers must not rely on the order).
    pub constituents: Vec<Constituent>,
}

/// Errors of the jet-image export.
#[derive(Debug, thiserror::Error)]
pub enum JetImageError {
    /// Writing the `.npz` file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file being written.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn wrap_phi(phi: f64) -> f64 {
    crate::flavour::wrap_phi(phi)
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

fn expo(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(Exp1)
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    let limit = (-mean.max(0.0)).exp();
    let mut k = 0usize;
    let mut p: f64 = rng.gen();
    while p > limit && k < 1000 {
        k += 1;
        p *= rng.gen::<f64>();
    }
    k
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo * (hi / lo).powf(rng.gen::<f64>())
}

/// A particle before acceptance, as (η, φ, pT).
type Particle = (f64, f64, f64);

/// Showers a prong of momentum `pt` at (η, φ) into constituents; `width` scales the spread
/// (wider for gluon-like QCD radiation). Harder constituents sit closer to the axis.
fn shower(rng: &mut ChaCha8Rng, pt: f64, eta: f64, phi: f64, width: f64, out: &mut Vec<Particle>) {
    let n = 1 + poisson(rng, (2.0 + 1.5 * (pt / 5.0).max(1.0).ln()).max(0.5));
    // Squared exponential weights give a leading-particle effect.
    let w: Vec<f64> = (0..n).map(|_| expo(rng).powi(2) + 1e-9).collect();
    let s: f64 = w.iter().sum();
    for wi in w {
        let c_pt = pt * wi / s;
        let spread = width * (0.005 + 0.05 / c_pt.max(0.05).sqrt());
        out.push((
            eta + spread * gauss(rng),
            wrap_phi(phi + spread * gauss(rng)),
            c_pt,
        ));
    }
}

/// Soft particles uniform in a disc of radius `r` around (η, φ), pT exponential with `mean_pt`.
fn soft_disc(
    rng: &mut ChaCha8Rng,
    n: usize,
    mean_pt: f64,
    eta: f64,
    phi: f64,
    r: f64,
    out: &mut Vec<Particle>,
) {
    for _ in 0..n {
        let rr = r * rng.gen::<f64>().sqrt();
        let a = rng.gen_range(0.0..2.0 * PI);
        out.push((
            eta + rr * a.cos(),
            wrap_phi(phi + rr * a.sin()),
            mean_pt * expo(rng),
        ));
    }
}

/// Deterministic stream of jets; `JetImageGenerator::new(seed).take(n)` equals `generate(seed, n)`.
pub struct JetImageGenerator {
    rng: ChaCha8Rng,
}

impl JetImageGenerator {
    /// A stream with equal W and QCD fractions.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Generates the next jet.
    pub fn next_jet(&mut self) -> ImageJet {
        let rng = &mut self.rng;
        let class = if rng.gen::<f64>() < 0.5 {
            JetClass::W
        } else {
            JetClass::Qcd
        };
        let pt = rng.gen_range(PT_RANGE.0..PT_RANGE.1);
        let eta = rng.gen_range(-ABS_ETA_MAX..ABS_ETA_MAX);
        let phi = rng.gen_range(-PI..PI);
        let psi = rng.gen_range(0.0..2.0 * PI);
        let (cp, sp) = (psi.cos(), psi.sin());
        let mut parts: Vec<Particle> = Vec::new();
        match class {
            JetClass::W => {
                let m = (W_MASS.0 + W_MASS.1 * gauss(rng)).clamp(60.0, 100.0);
                // Unpolarised two-body decay: cos θ* flat, hence z flat.
                let z: f64 = rng.gen_range(0.01..0.99);
                let dr = m / (pt * (z * (1.0 - z)).sqrt());
                // Prongs placed so that their pT-weighted centroid is the W direction.
                let (e1, p1) = (eta + (1.0 - z) * dr * cp, phi + (1.0 - z) * dr * sp);
                let (e2, p2) = (eta - z * dr * cp, phi - z * dr * sp);
                shower(rng, z * pt, e1, wrap_phi(p1), 1.1, &mut parts);
                shower(rng, (1.0 - z) * pt, e2, wrap_phi(p2), 1.1, &mut parts);
                // Colour-singlet radiation: soft particles along the line between the prongs.
                for _ in 0..poisson(rng, 5.0) {
                    let t: f64 = rng.gen();
                    parts.push((
                        e1 + t * (e2 - e1) + 0.05 * gauss(rng),
                        wrap_phi(p1 + t * (p2 - p1) + 0.05 * gauss(rng)),
                        1.0 * expo(rng),
                    ));
                }
            }
            JetClass::Qcd => {
                // One soft, collinear-enhanced emission off the hard parton.
                let z = log_uniform(rng, 0.05, 0.5);
                let th = log_uniform(rng, 0.1, 0.8);
                let (e1, p1) = (eta + z * th * cp, phi + z * th * sp);
                let (e2, p2) = (eta - (1.0 - z) * th * cp, phi - (1.0 - z) * th * sp);
                let mut hard = (1.0 - z) * pt;
                if rng.gen::<f64>() < 0.7 {
                    let z2 = log_uniform(rng, 0.02, 0.3);
                    let th2 = log_uniform(rng, 0.05, 0.6);
                    let a2 = rng.gen_range(0.0..2.0 * PI);
                    shower(
                        rng,
                        z2 * hard,
                        e1 + th2 * a2.cos(),
                        wrap_phi(p1 + th2 * a2.sin()),
                        1.15,
                        &mut parts,
                    );
                    hard *= 1.0 - z2;
                }
                shower(rng, hard, e1, wrap_phi(p1), 1.15, &mut parts);
                shower(rng, z * pt, e2, wrap_phi(p2), 1.15, &mut parts);
                // Wide-angle soft radiation of a coloured parton.
                let n = poisson(rng, 5.0);
                soft_disc(rng, n, 1.0, eta, phi, JET_RADIUS, &mut parts);
            }
        }
        // Underlying event, the same for both classes.
        let n_ue = poisson(rng, 15.0);
        soft_disc(rng, n_ue, 1.0, eta, phi, 1.0, &mut parts);

        let mut constituents = Vec::with_capacity(parts.len());
        // Jet energy scale: one 8 % factor per jet, which also smears the mass.
        let jes = (1.0 + 0.08 * gauss(rng)).max(0.5);
        for (e, p, t) in parts {
            // Calorimeter-like smearing: 10 % on pT, 0.01 on the angles.
            let (n_pt, n_e, n_p) = (gauss(rng), gauss(rng), gauss(rng));
            let t = t * jes * (1.0 + 0.1 * n_pt).max(0.0);
            let (e, p) = (e + 0.01 * n_e, wrap_phi(p + 0.01 * n_p));
            if t < 0.1 || crate::flavour::delta_r(e, p, eta, phi) >= JET_RADIUS {
                continue;
            }
            constituents.push(Constituent {
                eta: e as f32,
                phi: p as f32,
                pt: t as f32,
            });
        }
        constituents.sort_by(|a, b| b.pt.total_cmp(&a.pt));
        let (jpt, jeta, jphi, mass) = four_momentum(&constituents);
        ImageJet {
            pt: jpt as f32,
            eta: jeta as f32,
            phi: jphi as f32,
            mass: mass as f32,
            class,
            constituents,
        }
    }
}

impl Iterator for JetImageGenerator {
    type Item = ImageJet;
    fn next(&mut self) -> Option<ImageJet> {
        Some(self.next_jet())
    }
}

/// (pT, η, φ, mass) of the sum of massless constituents; (0, 0, 0, 0) for none.
pub fn four_momentum(cs: &[Constituent]) -> (f64, f64, f64, f64) {
    let (mut px, mut py, mut pz, mut e) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for c in cs {
        let (pt, eta, phi) = (f64::from(c.pt), f64::from(c.eta), f64::from(c.phi));
        px += pt * phi.cos();
        py += pt * phi.sin();
        pz += pt * eta.sinh();
        e += pt * eta.cosh();
    }
    let pt = px.hypot(py);
    if pt == 0.0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let m2 = e * e - px * px - py * py - pz * pz;
    (pt, (pz / pt).asinh(), py.atan2(px), m2.max(0.0).sqrt())
}

/// Generates `n` jets (half W, half QCD on average), deterministically from `seed`.
pub fn generate(seed: u64, n: usize) -> Vec<ImageJet> {
    JetImageGenerator::new(seed).take(n).collect()
}

/// Builds the `.npz` archive for `jets` (array names and units in `README.md`).
pub fn to_npz(jets: &[ImageJet], seed: u64) -> NpzWriter {
    let n = jets.len();
    let (mut jpt, mut jeta, mut jphi, mut jm, mut label) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ceta, mut cphi, mut cpt) = (Vec::new(), Vec::new(), Vec::new());
    let mut offsets = vec![0i64];
    for j in jets {
        jpt.push(j.pt);
        jeta.push(j.eta);
        jphi.push(j.phi);
        jm.push(j.mass);
        label.push(j.class as i64);
        for c in &j.constituents {
            ceta.push(c.eta);
            cphi.push(c.phi);
            cpt.push(c.pt);
        }
        offsets.push(cpt.len() as i64);
    }
    let m = cpt.len();
    let mut w = NpzWriter::new();
    w.add("jet_pt", &jpt, &[n]);
    w.add("jet_eta", &jeta, &[n]);
    w.add("jet_phi", &jphi, &[n]);
    w.add("jet_mass", &jm, &[n]);
    w.add("label", &label, &[n]);
    w.add("offsets", &offsets, &[n + 1]);
    w.add("c_eta", &ceta, &[m]);
    w.add("c_phi", &cphi, &[m]);
    w.add("c_pt", &cpt, &[m]);
    w.add("seed", &[seed as i64], &[1]);
    w
}

/// Generates `n` jets from `seed` and writes them to `path` as `.npz`.
pub fn write_npz(path: &Path, seed: u64, n: usize) -> Result<(), JetImageError> {
    to_npz(&generate(seed, n), seed)
        .write_file(path)
        .map_err(|source| JetImageError::Io {
            path: path.display().to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn median(mut x: Vec<f64>) -> f64 {
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    }

    #[test]
    fn same_seed_same_jets_different_seed_different_jets() {
        let a = generate(11, 100);
        assert_eq!(a, generate(11, 100));
        assert_ne!(a, generate(12, 100));
        assert_eq!(generate(11, 10)[..], a[..10]);
    }

    #[test]
    fn w_jet_mass_peaks_near_80_gev() {
        let jets = generate(21, 4_000);
        let w: Vec<f64> = jets
            .iter()
            .filter(|j| j.class == JetClass::W)
            .map(|j| f64::from(j.mass))
            .collect();
        let q: Vec<f64> = jets
            .iter()
            .filter(|j| j.class == JetClass::Qcd)
            .map(|j| f64::from(j.mass))
            .collect();
        // The mode: the most populated 5 GeV bin of the W mass histogram.
        let mut hist = [0usize; 40];
        for m in &w {
            let b = (m / 5.0) as usize;
            if b < hist.len() {
                hist[b] += 1;
            }
        }
        let mode = hist
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .map_or(0, |(i, _)| i);
        let peak = 5.0 * mode as f64 + 2.5;
        assert!((70.0..=92.5).contains(&peak), "W mass mode at {peak} GeV");
        // QCD jets are lighter on the whole.
        assert!(median(q) < median(w) - 20.0);
    }

    #[test]
    fn jets_have_the_generated_pt_and_contained_constituents() {
        for j in generate(22, 500) {
            assert!(!j.constituents.is_empty());
            assert!(j.pt > 150.0 && j.pt < 400.0, "pt {}", j.pt);
            assert!(j.eta.abs() < 2.9);
            for w in j.constituents.windows(2) {
                assert!(w[0].pt >= w[1].pt);
            }
        }
    }

    #[test]
    fn four_momentum_of_two_back_to_back_halves() {
        // Two 100 GeV particles at η = 0, Δφ = 0.2: m = 2·100·sin(0.1) for massless pairs.
        let cs = [
            Constituent {
                eta: 0.0,
                phi: 0.1,
                pt: 100.0,
            },
            Constituent {
                eta: 0.0,
                phi: -0.1,
                pt: 100.0,
            },
        ];
        let (pt, eta, phi, m) = four_momentum(&cs);
        assert!((m - 200.0 * (0.1f64).sin()).abs() < 1e-3, "m {m}");
        assert!((pt - 200.0 * (0.1f64).cos()).abs() < 1e-3);
        assert!(eta.abs() < 1e-9 && phi.abs() < 1e-9);
        assert_eq!(four_momentum(&[]), (0.0, 0.0, 0.0, 0.0));
    }
}
