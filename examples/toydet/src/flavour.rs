//! Flavour-tagging jets: b, c and light jets with their charged tracks.
//!
//! A jet (pT 20–250 GeV, |η| < 2.5) is a parton direction plus charged tracks. In b and c jets a
//! heavy hadron takes most of the jet momentum, flies an exponential distance with mean γβcτ and
//! decays into displaced tracks (a b hadron decays through a charm hadron, the cascade). The rest
//! of the jet is prompt fragmentation. Every jet may also contain K0s/Λ-like long-lived decays and
//! badly measured tracks (resolution tails), so light jets are not trivially separable.
//!
//! Tracks are straight lines (no field curvature): the transverse impact parameter d0 and the
//! longitudinal z0 are those of the line's point of closest approach to the beam axis, relative
//! to the primary vertex at the origin. The measurement adds Gaussian noise with
//! σ = a ⊕ b/pT. The outputs are what a framework would hand to a tagger: jet (pT, η, φ) and per
//! track (pT, η, φ, d0, z0, σ(d0), σ(z0)); the signed impact parameters and all other features
//! are left to the consumer (see `plugins/btag-rnn/model/MODEL.md`).
//!
//! Units: GeV, mm, radians. Everything is a pure function of the seed.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};

use crate::npz::NpzWriter;

/// Constant term of σ(d0), mm (10 µm).
pub const D0_RES_A_MM: f64 = 0.010;
/// Multiple-scattering term of σ(d0), mm·GeV (30 µm·GeV).
pub const D0_RES_B_MM_GEV: f64 = 0.030;
/// Constant term of σ(z0), mm (20 µm).
pub const Z0_RES_A_MM: f64 = 0.020;
/// Multiple-scattering term of σ(z0), mm·GeV (50 µm·GeV).
pub const Z0_RES_B_MM_GEV: f64 = 0.050;
/// Jet pT range, GeV (sampled log-uniformly, independently of flavour).
pub const JET_PT_RANGE: (f64, f64) = (20.0, 250.0);
/// Largest |η| of a jet axis.
pub const JET_ABS_ETA_MAX: f64 = 2.5;
/// Tracks are associated to a jet within this ΔR of the (reconstructed) axis.
pub const TRACK_CONE: f64 = 0.4;
/// Tracks below this pT (GeV) are not reconstructed.
pub const TRACK_PT_MIN: f64 = 1.0;
/// Tracks produced beyond this transverse radius (mm) are not reconstructed.
pub const TRACK_RXY_MAX_MM: f64 = 150.0;
/// Probability that a track is badly measured (wrong hits, scattering): its true error is
/// [`BAD_TRACK_SCALE`] × the quoted σ. Together with K0s/Λ decays this makes the light-jet
/// mistag rate finite.
pub const BAD_TRACK_PROB: f64 = 0.05;
/// Factor between the true and the quoted error of a badly measured track.
pub const BAD_TRACK_SCALE: f64 = 6.0;

/// Truth flavour of a jet; the discriminant is the training label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// b jet (label 0).
    B = 0,
    /// c jet (label 1).
    C = 1,
    /// light (u, d, s, g) jet (label 2).
    Light = 2,
}

impl Flavour {
    /// Training label: 0 = b, 1 = c, 2 = light (the order of the model's outputs).
    pub fn label(self) -> i64 {
        self as i64
    }
}

/// Truth origin of a track (not available to a tagger; for tests and studies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Prompt fragmentation track from the primary vertex (code 0).
    Prompt = 0,
    /// Direct daughter of a b hadron (code 1).
    BDecay = 1,
    /// Daughter of a charm hadron, in a c jet or the b → c cascade (code 2).
    CDecay = 2,
    /// Daughter of a K0s or Λ (code 3).
    V0 = 3,
}

/// A reconstructed track as a framework stores it, plus truth information.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Transverse momentum, GeV.
    pub pt: f32,
    /// Pseudorapidity.
    pub eta: f32,
    /// Azimuth, radians in (−π, π].
    pub phi: f32,
    /// Measured transverse impact parameter, mm (geometric sign: d0 = x·sinφ − y·cosφ of the
    /// production vertex for a straight track).
    pub d0: f32,
    /// Measured longitudinal impact parameter w.r.t. the primary vertex, mm.
    pub z0: f32,
    /// Quoted uncertainty of d0, mm.
    pub sigma_d0: f32,
    /// Quoted uncertainty of z0, mm.
    pub sigma_z0: f32,
    /// Truth: true d0 before measurement, mm.
    pub d0_true: f32,
    /// Truth: true z0 before measurement, mm.
    pub z0_true: f32,
    /// Truth: where the track comes from.
    pub origin: Origin,
    /// Truth: the measurement error is drawn [`BAD_TRACK_SCALE`]× wider than `sigma_d0`/`sigma_z0` say.
    pub badly_measured: bool,
}

/// Truth of the leading heavy hadron of a b or c jet (the B for b jets, the D for c jets).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HadronTruth {
    /// Mass, GeV.
    pub mass: f64,
    /// Proper decay length cτ, mm.
    pub ctau_mm: f64,
    /// Lorentz boost γβ = p/m.
    pub gamma_beta: f64,
    /// Flight distance (3D) before the decay, mm.
    pub flight_mm: f64,
}

/// One jet with its associated tracks.
#[derive(Clone, Debug, PartialEq)]
pub struct Jet {
    /// Reconstructed jet pT, GeV (true pT smeared by 8 %).
    pub pt: f32,
    /// Reconstructed jet axis pseudorapidity.
    pub eta: f32,
    /// Reconstructed jet axis azimuth, radians.
    pub phi: f32,
    /// Truth flavour.
    pub flavour: Flavour,
    /// Associated tracks, in no particular order.
    pub tracks: Vec<Track>,
    /// Truth of the heavy hadron (None for light jets).
    pub hadron: Option<HadronTruth>,
}

/// Errors of the flavour generator's configuration and export.
#[derive(Debug, thiserror::Error)]
pub enum FlavourError {
    /// Flavour fractions must be finite, non-negative and not all zero.
    #[error(
        "invalid flavour fractions {0:?}: need finite, non-negative values with a positive sum"
    )]
    BadFractions([f64; 3]),
    /// Writing the `.npz` file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file being written.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Generator settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlavourConfig {
    /// Relative fractions of b, c and light jets (normalised internally).
    pub fractions: [f64; 3],
}

impl Default for FlavourConfig {
    /// Equal fractions of b, c and light jets.
    fn default() -> Self {
        Self {
            fractions: [1.0, 1.0, 1.0],
        }
    }
}

/// Particle species that fly before decaying.
#[derive(Clone, Copy, Debug)]
struct Species {
    mass: f64,
    ctau_mm: f64,
}

const B_HADRON: Species = Species {
    mass: 5.279,
    ctau_mm: 0.455,
};
const D_PLUS: Species = Species {
    mass: 1.870,
    ctau_mm: 0.312,
};
const D_ZERO: Species = Species {
    mass: 1.865,
    ctau_mm: 0.123,
};
const D_S: Species = Species {
    mass: 1.968,
    ctau_mm: 0.151,
};
const K0S: Species = Species {
    mass: 0.4976,
    ctau_mm: 26.84,
};
const LAMBDA: Species = Species {
    mass: 1.1157,
    ctau_mm: 78.9,
};

/// A charged particle before reconstruction.
struct Charged {
    pt: f64,
    eta: f64,
    phi: f64,
    vertex: [f64; 3],
    origin: Origin,
}

/// Wraps an angle into (−π, π].
pub fn wrap_phi(phi: f64) -> f64 {
    let two_pi = 2.0 * std::f64::consts::PI;
    let mut p = phi % two_pi;
    if p > std::f64::consts::PI {
        p -= two_pi;
    } else if p <= -std::f64::consts::PI {
        p += two_pi;
    }
    p
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

fn expo(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(Exp1)
}

/// Poisson sample by Knuth's product method; fine for the small means used here.
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

/// Splits `total` into `n` parts with flat (Dirichlet(1)) weights.
fn split(rng: &mut ChaCha8Rng, total: f64, n: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..n).map(|_| expo(rng) + 1e-12).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| total * x / s).collect()
}

/// Unit direction of (η, φ).
fn direction(eta: f64, phi: f64) -> [f64; 3] {
    let c = eta.cosh();
    [phi.cos() / c, phi.sin() / c, eta.tanh()]
}

/// ΔR between two (η, φ) directions.
pub fn delta_r(eta1: f64, phi1: f64, eta2: f64, phi2: f64) -> f64 {
    let de = eta1 - eta2;
    let dp = wrap_phi(phi1 - phi2);
    (de * de + dp * dp).sqrt()
}

/// Where a particle produced at `origin` with (pT, η) decays; returns (vertex, γβ, flight).
fn fly(
    rng: &mut ChaCha8Rng,
    s: Species,
    pt: f64,
    eta: f64,
    phi: f64,
    origin: [f64; 3],
) -> ([f64; 3], f64, f64) {
    let gamma_beta = pt * eta.cosh() / s.mass;
    let flight = expo(rng) * gamma_beta * s.ctau_mm;
    let d = direction(eta, phi);
    let v = [
        origin[0] + flight * d[0],
        origin[1] + flight * d[1],
        origin[2] + flight * d[2],
    ];
    (v, gamma_beta, flight)
}

/// Daughters of a decay at `vertex`: `n` charged particles sharing `pt_total`, spread around the
/// parent direction by ≈ m/pT (the decay opening angle of a boosted parent).
#[allow(clippy::too_many_arguments)]
fn daughters(
    rng: &mut ChaCha8Rng,
    n: usize,
    pt_total: f64,
    parent_eta: f64,
    parent_phi: f64,
    opening: f64,
    vertex: [f64; 3],
    origin: Origin,
    out: &mut Vec<Charged>,
) {
    for pt in split(rng, pt_total, n) {
        out.push(Charged {
            pt,
            eta: parent_eta + opening * gauss(rng),
            phi: wrap_phi(parent_phi + opening * gauss(rng)),
            vertex,
            origin,
        });
    }
}

/// Number of charged prongs, drawn from weights for 1, 2, 3 prongs.
fn prongs(rng: &mut ChaCha8Rng, w: [f64; 3]) -> usize {
    let u: f64 = rng.gen::<f64>() * (w[0] + w[1] + w[2]);
    if u < w[0] {
        1
    } else if u < w[0] + w[1] {
        2
    } else {
        3
    }
}

fn pick_charm(rng: &mut ChaCha8Rng) -> Species {
    let u: f64 = rng.gen();
    if u < 0.3 {
        D_PLUS
    } else if u < 0.9 {
        D_ZERO
    } else {
        D_S
    }
}

/// Decays a charm hadron produced at `origin`; returns its truth.
fn decay_charm(
    rng: &mut ChaCha8Rng,
    s: Species,
    pt: f64,
    eta: f64,
    phi: f64,
    origin: [f64; 3],
    out: &mut Vec<Charged>,
) -> HadronTruth {
    let (v, gamma_beta, flight) = fly(rng, s, pt, eta, phi, origin);
    let n = prongs(rng, [0.35, 0.4, 0.25]);
    let opening = 0.5 * s.mass / pt;
    daughters(rng, n, 0.65 * pt, eta, phi, opening, v, Origin::CDecay, out);
    HadronTruth {
        mass: s.mass,
        ctau_mm: s.ctau_mm,
        gamma_beta,
        flight_mm: flight,
    }
}

/// Decays a b hadron at the origin through a charm hadron (the cascade); returns its truth.
fn decay_bottom(
    rng: &mut ChaCha8Rng,
    pt: f64,
    eta: f64,
    phi: f64,
    out: &mut Vec<Charged>,
) -> HadronTruth {
    let s = B_HADRON;
    let (v, gamma_beta, flight) = fly(rng, s, pt, eta, phi, [0.0; 3]);
    let opening = 0.5 * s.mass / pt;
    let f_charm = rng.gen_range(0.25..0.55);
    let c_eta = eta + opening * gauss(rng);
    let c_phi = wrap_phi(phi + opening * gauss(rng));
    let charm = pick_charm(rng);
    decay_charm(rng, charm, f_charm * pt, c_eta, c_phi, v, out);
    let n = prongs(rng, [0.3, 0.4, 0.3]);
    daughters(
        rng,
        n,
        0.6 * (1.0 - f_charm) * pt,
        eta,
        phi,
        opening,
        v,
        Origin::BDecay,
        out,
    );
    HadronTruth {
        mass: s.mass,
        ctau_mm: s.ctau_mm,
        gamma_beta,
        flight_mm: flight,
    }
}

/// A K0s- or Λ-like two-body decay carrying a fraction of the jet.
fn decay_v0(rng: &mut ChaCha8Rng, s: Species, pt: f64, eta: f64, phi: f64, out: &mut Vec<Charged>) {
    let (v, _, _) = fly(rng, s, pt, eta, phi, [0.0; 3]);
    let u = rng.gen_range(0.15..0.85);
    let opening = 0.5 * s.mass / pt;
    for f in [u, 1.0 - u] {
        out.push(Charged {
            pt: f * pt,
            eta: eta + opening * gauss(rng),
            phi: wrap_phi(phi + opening * gauss(rng)),
            vertex: v,
            origin: Origin::V0,
        });
    }
}

/// Straight-line impact parameters (d0, z0) of a track through `v` with direction (η, φ).
fn impact_parameters(v: [f64; 3], eta: f64, phi: f64) -> (f64, f64) {
    let (s, c) = phi.sin_cos();
    let d0 = v[0] * s - v[1] * c;
    // Transverse path from the vertex to the point of closest approach, then z along the track.
    let along = v[0] * c + v[1] * s;
    let z0 = v[2] - along * eta.sinh();
    (d0, z0)
}

/// σ(d0) and σ(z0) in mm for a track of transverse momentum `pt` (GeV).
pub fn ip_resolution(pt: f64) -> (f64, f64) {
    let sd = (D0_RES_A_MM.powi(2) + (D0_RES_B_MM_GEV / pt).powi(2)).sqrt();
    let sz = (Z0_RES_A_MM.powi(2) + (Z0_RES_B_MM_GEV / pt).powi(2)).sqrt();
    (sd, sz)
}

/// Deterministic stream of jets; `FlavourGenerator::new(seed).take(n)` equals `generate(seed, n)`.
pub struct FlavourGenerator {
    rng: ChaCha8Rng,
    cumulative: [f64; 3],
}

impl FlavourGenerator {
    /// A stream with equal b, c and light fractions.
    pub fn new(seed: u64) -> Self {
        Self::cumulative_from(seed, [1.0 / 3.0, 2.0 / 3.0, 1.0])
    }

    /// A stream with the given configuration.
    pub fn with_config(seed: u64, config: &FlavourConfig) -> Result<Self, FlavourError> {
        let f = config.fractions;
        let sum: f64 = f.iter().sum();
        if f.iter().any(|x| !x.is_finite() || *x < 0.0) || sum <= 0.0 {
            return Err(FlavourError::BadFractions(f));
        }
        Ok(Self::cumulative_from(
            seed,
            [f[0] / sum, (f[0] + f[1]) / sum, 1.0],
        ))
    }

    fn cumulative_from(seed: u64, cumulative: [f64; 3]) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            cumulative,
        }
    }

    /// Generates the next jet.
    pub fn next_jet(&mut self) -> Jet {
        let rng = &mut self.rng;
        let u: f64 = rng.gen();
        let flavour = if u < self.cumulative[0] {
            Flavour::B
        } else if u < self.cumulative[1] {
            Flavour::C
        } else {
            Flavour::Light
        };
        let (lo, hi) = JET_PT_RANGE;
        let pt = lo * (hi / lo).powf(rng.gen::<f64>());
        let eta = rng.gen_range(-JET_ABS_ETA_MAX..JET_ABS_ETA_MAX);
        let phi = rng.gen_range(-std::f64::consts::PI..std::f64::consts::PI);

        let mut particles = Vec::new();
        // Heavy hadron: hard fragmentation, z ~ u^(1/a) with mean a/(a+1) (0.73 for b, 0.63 for c).
        let mut hadron = None;
        let mut frag_pt = pt;
        if flavour != Flavour::Light {
            let a: f64 = if flavour == Flavour::B { 2.7 } else { 1.7 };
            let z = rng.gen::<f64>().powf(1.0 / a).clamp(0.05, 0.98);
            let h_pt = z * pt;
            let h_eta = eta + 0.02 * gauss(rng);
            let h_phi = wrap_phi(phi + 0.02 * gauss(rng));
            hadron = Some(if flavour == Flavour::B {
                decay_bottom(rng, h_pt, h_eta, h_phi, &mut particles)
            } else {
                let s = pick_charm(rng);
                decay_charm(rng, s, h_pt, h_eta, h_phi, [0.0; 3], &mut particles)
            });
            frag_pt = pt - h_pt;
        }
        // Long-lived light hadrons occur in every flavour.
        for (s, prob) in [(K0S, 0.2), (LAMBDA, 0.06)] {
            if rng.gen::<f64>() < prob {
                let v_pt = rng.gen_range(0.03..0.25) * pt;
                let v_eta = eta + 0.1 * gauss(rng);
                let v_phi = wrap_phi(phi + 0.1 * gauss(rng));
                decay_v0(rng, s, v_pt, v_eta, v_phi, &mut particles);
            }
        }
        // Prompt fragmentation: multiplicity grows with the available momentum, 60 % charged.
        let n_frag = poisson(rng, (1.0 + 2.2 * (frag_pt / 5.0).ln()).max(1.0));
        for t_pt in split(rng, 0.6 * frag_pt, n_frag) {
            let width = 0.015 + 0.12 / t_pt.max(0.1).sqrt();
            particles.push(Charged {
                pt: t_pt,
                eta: eta + width * gauss(rng),
                phi: wrap_phi(phi + width * gauss(rng)),
                vertex: [0.0; 3],
                origin: Origin::Prompt,
            });
        }

        // Reconstructed jet: axis smeared by 0.01, pT by 8 %.
        let reco_pt = (pt * (1.0 + 0.08 * gauss(rng))).max(5.0);
        let reco_eta = (eta + 0.01 * gauss(rng)).clamp(-JET_ABS_ETA_MAX, JET_ABS_ETA_MAX);
        let reco_phi = wrap_phi(phi + 0.01 * gauss(rng));

        let mut tracks = Vec::new();
        for p in particles {
            let rxy = p.vertex[0].hypot(p.vertex[1]);
            // Noise draws come first so that the random stream does not depend on acceptance.
            let (n_pt, n_eta, n_phi, n_d0, n_z0) =
                (gauss(rng), gauss(rng), gauss(rng), gauss(rng), gauss(rng));
            let bad = rng.gen::<f64>() < BAD_TRACK_PROB;
            if p.pt < TRACK_PT_MIN
                || p.eta.abs() >= JET_ABS_ETA_MAX
                || rxy > TRACK_RXY_MAX_MM
                || delta_r(p.eta, p.phi, reco_eta, reco_phi) >= TRACK_CONE
            {
                continue;
            }
            let (d0_true, z0_true) = impact_parameters(p.vertex, p.eta, p.phi);
            let (sd, sz) = ip_resolution(p.pt);
            let scale = if bad { BAD_TRACK_SCALE } else { 1.0 };
            tracks.push(Track {
                pt: (p.pt * (1.0 + 0.01 * n_pt)) as f32,
                eta: (p.eta + 0.001 * n_eta) as f32,
                phi: wrap_phi(p.phi + 0.001 * n_phi) as f32,
                d0: (d0_true + scale * sd * n_d0) as f32,
                z0: (z0_true + scale * sz * n_z0) as f32,
                sigma_d0: sd as f32,
                sigma_z0: sz as f32,
                d0_true: d0_true as f32,
                z0_true: z0_true as f32,
                origin: p.origin,
                badly_measured: bad,
            });
        }
        // Shuffle so that the order carries no truth information.
        for i in (1..tracks.len()).rev() {
            let j = rng.gen_range(0..=i);
            tracks.swap(i, j);
        }
        Jet {
            pt: reco_pt as f32,
            eta: reco_eta as f32,
            phi: reco_phi as f32,
            flavour,
            tracks,
            hadron,
        }
    }
}

impl Iterator for FlavourGenerator {
    type Item = Jet;
    fn next(&mut self) -> Option<Jet> {
        Some(self.next_jet())
    }
}

/// Generates `n` jets with equal flavour fractions, deterministically from `seed`.
pub fn generate(seed: u64, n: usize) -> Vec<Jet> {
    FlavourGenerator::new(seed).take(n).collect()
}

/// Jets as a framework hands them to a tagger: per-jet arrays plus flat track arrays, with
/// `offsets[i]..offsets[i+1]` the tracks of jet `i`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlatJets {
    /// Jet pT, GeV.
    pub jet_pt: Vec<f32>,
    /// Jet η.
    pub jet_eta: Vec<f32>,
    /// Jet φ.
    pub jet_phi: Vec<f32>,
    /// Label: 0 = b, 1 = c, 2 = light.
    pub label: Vec<i64>,
    /// Track offsets, length n_jets + 1.
    pub offsets: Vec<i64>,
    /// Track pT, GeV.
    pub trk_pt: Vec<f32>,
    /// Track η.
    pub trk_eta: Vec<f32>,
    /// Track φ.
    pub trk_phi: Vec<f32>,
    /// Track d0, mm.
    pub trk_d0: Vec<f32>,
    /// Track z0, mm.
    pub trk_z0: Vec<f32>,
    /// Track σ(d0), mm.
    pub trk_sigma_d0: Vec<f32>,
    /// Track σ(z0), mm.
    pub trk_sigma_z0: Vec<f32>,
    /// Truth origin code of each track (see [`Origin`]).
    pub trk_origin: Vec<i32>,
    /// Truth: 1 if the track is badly measured.
    pub trk_bad: Vec<i32>,
    /// Truth: heavy-hadron flight distance, mm (0 for light jets).
    pub jet_hadron_flight_mm: Vec<f32>,
}

/// Flattens jets into framework-style arrays.
pub fn flatten(jets: &[Jet]) -> FlatJets {
    let mut f = FlatJets {
        offsets: vec![0],
        ..Default::default()
    };
    for j in jets {
        f.jet_pt.push(j.pt);
        f.jet_eta.push(j.eta);
        f.jet_phi.push(j.phi);
        f.label.push(j.flavour.label());
        f.jet_hadron_flight_mm
            .push(j.hadron.map_or(0.0, |h| h.flight_mm as f32));
        for t in &j.tracks {
            f.trk_pt.push(t.pt);
            f.trk_eta.push(t.eta);
            f.trk_phi.push(t.phi);
            f.trk_d0.push(t.d0);
            f.trk_z0.push(t.z0);
            f.trk_sigma_d0.push(t.sigma_d0);
            f.trk_sigma_z0.push(t.sigma_z0);
            f.trk_origin.push(t.origin as i32);
            f.trk_bad.push(i32::from(t.badly_measured));
        }
        f.offsets.push(f.trk_pt.len() as i64);
    }
    f
}

/// Builds the `.npz` archive for `jets` (array names and units in `README.md`).
pub fn to_npz(jets: &[Jet], seed: u64) -> NpzWriter {
    let f = flatten(jets);
    let n = jets.len();
    let m = f.trk_pt.len();
    let mut w = NpzWriter::new();
    w.add("jet_pt", &f.jet_pt, &[n]);
    w.add("jet_eta", &f.jet_eta, &[n]);
    w.add("jet_phi", &f.jet_phi, &[n]);
    w.add("label", &f.label, &[n]);
    w.add("offsets", &f.offsets, &[n + 1]);
    w.add("trk_pt", &f.trk_pt, &[m]);
    w.add("trk_eta", &f.trk_eta, &[m]);
    w.add("trk_phi", &f.trk_phi, &[m]);
    w.add("trk_d0", &f.trk_d0, &[m]);
    w.add("trk_z0", &f.trk_z0, &[m]);
    w.add("trk_sigma_d0", &f.trk_sigma_d0, &[m]);
    w.add("trk_sigma_z0", &f.trk_sigma_z0, &[m]);
    w.add("truth_trk_origin", &f.trk_origin, &[m]);
    w.add("truth_trk_bad", &f.trk_bad, &[m]);
    w.add("truth_hadron_flight_mm", &f.jet_hadron_flight_mm, &[n]);
    w.add("seed", &[seed as i64], &[1]);
    w
}

/// Generates `n` jets from `seed` and writes them to `path` as `.npz`.
pub fn write_npz(path: &Path, seed: u64, n: usize) -> Result<(), FlavourError> {
    to_npz(&generate(seed, n), seed)
        .write_file(path)
        .map_err(|source| FlavourError::Io {
            path: path.display().to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_std(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, v.sqrt())
    }

    #[test]
    fn same_seed_same_jets_different_seed_different_jets() {
        let a = generate(7, 200);
        assert_eq!(a, generate(7, 200));
        assert_ne!(a, generate(8, 200));
        // The stream is a prefix: fewer jets are the first jets of more.
        assert_eq!(generate(7, 50)[..], a[..50]);
    }

    #[test]
    fn b_flight_length_mean_matches_gamma_beta_ctau() {
        let jets = FlavourGenerator::with_config(
            1,
            &FlavourConfig {
                fractions: [1.0, 0.0, 0.0],
            },
        )
        .expect("valid config")
        .take(20_000)
        .collect::<Vec<_>>();
        let ratios: Vec<f64> = jets
            .iter()
            .map(|j| {
                let h = j.hadron.expect("b jets carry a hadron");
                assert_eq!(h.ctau_mm, 0.455);
                h.flight_mm / (h.gamma_beta * h.ctau_mm)
            })
            .collect();
        // L/(γβcτ) is Exp(1): mean 1 and standard deviation 1, so the mean has error 1/√N.
        let (m, s) = mean_std(&ratios);
        assert!((m - 1.0).abs() < 0.03, "mean L/(γβcτ) = {m}");
        assert!((s - 1.0).abs() < 0.05, "std L/(γβcτ) = {s}");
    }

    #[test]
    fn prompt_d0_pulls_have_unit_width() {
        let jets = generate(2, 5_000);
        let mut pulls = Vec::new();
        let mut pulls_z = Vec::new();
        for t in jets.iter().flat_map(|j| &j.tracks) {
            if t.origin == Origin::Prompt && !t.badly_measured {
                assert_eq!(t.d0_true, 0.0);
                pulls.push(f64::from(t.d0) / f64::from(t.sigma_d0));
                pulls_z.push(f64::from(t.z0) / f64::from(t.sigma_z0));
            }
        }
        assert!(pulls.len() > 10_000, "only {} prompt tracks", pulls.len());
        for p in [pulls, pulls_z] {
            let (m, s) = mean_std(&p);
            assert!(m.abs() < 0.03, "pull mean {m}");
            assert!((s - 1.0).abs() < 0.02, "pull width {s}");
        }
    }

    #[test]
    fn kinematic_ranges_and_flavour_mix() {
        let jets = generate(3, 3_000);
        let mut counts = [0usize; 3];
        for j in &jets {
            counts[j.flavour.label() as usize] += 1;
            assert!(j.eta.abs() <= 2.5 && j.phi.abs() <= std::f32::consts::PI);
            assert!(j.pt > 5.0 && j.pt < 400.0);
            assert_eq!(j.hadron.is_some(), j.flavour != Flavour::Light);
            for t in &j.tracks {
                assert!(t.pt >= 0.9 && t.eta.abs() < 2.51);
                let dr = delta_r(t.eta.into(), t.phi.into(), j.eta.into(), j.phi.into());
                assert!(dr < 0.41, "track at ΔR {dr}");
            }
        }
        for c in counts {
            assert!((900..1100).contains(&c), "flavour counts {counts:?}");
        }
    }

    #[test]
    fn heavy_flavour_tracks_are_displaced_on_the_jet_side() {
        // The lifetime sign (PCA on the jet side) must be positive for most B-decay tracks:
        // sign(d0 · sin(φ_trk − φ_jet)) with the geometric d0 convention used here.
        let jets = generate(4, 3_000);
        let (mut pos, mut all) = (0usize, 0usize);
        for j in &jets {
            for t in j.tracks.iter().filter(|t| t.origin == Origin::BDecay) {
                let dphi = wrap_phi(f64::from(t.phi) - f64::from(j.phi));
                all += 1;
                if f64::from(t.d0_true) * dphi > 0.0 {
                    pos += 1;
                }
            }
        }
        assert!(all > 1_000);
        assert!(pos as f64 > 0.75 * all as f64, "{pos} of {all} positive");
    }

    #[test]
    fn bad_fractions_are_rejected() {
        for f in [[0.0; 3], [1.0, -1.0, 1.0], [f64::NAN, 1.0, 1.0]] {
            assert!(FlavourGenerator::with_config(0, &FlavourConfig { fractions: f }).is_err());
        }
    }

    #[test]
    fn flatten_offsets_cover_all_tracks() {
        let jets = generate(5, 100);
        let f = flatten(&jets);
        assert_eq!(f.offsets.len(), 101);
        assert_eq!(f.offsets[0], 0);
        for (i, j) in jets.iter().enumerate() {
            assert_eq!((f.offsets[i + 1] - f.offsets[i]) as usize, j.tracks.len());
        }
        assert_eq!(
            *f.offsets.last().expect("non-empty") as usize,
            f.trk_pt.len()
        );
    }
}
