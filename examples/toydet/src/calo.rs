//! Toy sampling calorimeter: e⁺, γ and π⁺ showers in three longitudinal layers segmented like
//! CaloGAN's (3×96, 12×12 and 12×6 cells over 480 mm × 480 mm).
//!
//! Depth is counted in radiation lengths X0: layer 0 covers 0–4 X0, layer 1 4–20 X0 and layer 2
//! 20–24 X0. A shower is built in four steps:
//! 1. **longitudinal**: a gamma-function profile dE/dt ∝ (bt)^(a−1)e^(−bt) (Longo–Sestili) from
//!    the shower start, with per-shower fluctuations of its depth and width; its integral over
//!    each layer (regularised incomplete gamma function) gives the layer fractions, and what lies
//!    beyond 24 X0 leaks out. Photons start after an exponential conversion depth (mean 9/7 X0);
//!    pions after an exponential interaction depth (λ = 10 X0, so ~9 % punch through as MIPs),
//!    with a fluctuating electromagnetic fraction, e/h = 1.6, a deeper and longer profile, and a
//!    MIP track before the interaction;
//! 2. **response**: the contained energy times (1 + δ) with δ Gaussian of width
//!    10 %/√E ⊕ 1 % (electromagnetic) or 50 %/√E ⊕ 3 % (hadronic): the sampling fluctuations;
//! 3. **lateral**: each layer's energy split in equal spots placed by a core + tail profile
//!    f(r) ∝ r R²/(r² + R²)² (one R for the core, one for the tail, both growing with depth;
//!    hadrons 2.5× wider and in fewer, larger spots) truncated at r = 240 mm so that every spot
//!    lands in a cell: the cells then sum exactly to the response;
//! 4. **noise**: Gaussian electronic noise per cell, then cells below 3σ are zero-suppressed.
//!
//! The particle enters at the centre of the front face, at normal incidence; the η and φ written
//! out are labels for the plugin and do not change the shower.

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, StandardNormal};

use crate::npz::NpzWriter;
use crate::tracker::{event_rng, opt, parse_options};

/// Errors of the calorimeter generator.
#[derive(Debug, thiserror::Error)]
pub enum CaloError {
    /// A configuration value is out of its allowed range.
    #[error("invalid calorimeter configuration: {0}")]
    InvalidConfig(String),
    /// Writing the output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// File that could not be written.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
}

/// Incident particle species. The discriminant is the class index written to the npz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParticleKind {
    /// Positron (class 0, PDG −11).
    Positron = 0,
    /// Photon (class 1, PDG 22).
    Photon = 1,
    /// Positive pion (class 2, PDG 211).
    PiPlus = 2,
}

impl ParticleKind {
    /// All kinds in class-index order.
    pub const ALL: [ParticleKind; 3] = [Self::Positron, Self::Photon, Self::PiPlus];

    /// PDG Monte Carlo particle code.
    pub fn pdg(self) -> i32 {
        match self {
            Self::Positron => -11,
            Self::Photon => 22,
            Self::PiPlus => 211,
        }
    }

    /// Parses `e+`, `gamma` or `pi+` (also the PDG code).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "e+" | "-11" | "positron" => Some(Self::Positron),
            "gamma" | "22" | "photon" => Some(Self::Photon),
            "pi+" | "211" | "pion" => Some(Self::PiPlus),
            _ => None,
        }
    }
}

/// Cells of the three layers as (rows along y, columns along x).
pub const LAYER_SHAPES: [(usize, usize); 3] = [(3, 96), (12, 12), (12, 6)];
/// Layer boundaries in radiation lengths: layer i spans `LAYER_DEPTH_X0[i]..LAYER_DEPTH_X0[i+1]`.
pub const LAYER_DEPTH_X0: [f64; 4] = [0.0, 4.0, 20.0, 24.0];
/// Half width of every layer in mm (the face is 480 mm × 480 mm).
pub const HALF_WIDTH_MM: f64 = 240.0;
/// Critical energy in GeV (lead-like), sets the depth of the electromagnetic shower maximum.
const CRITICAL_GEV: f64 = 0.0074;
/// Molière radius in mm: the lateral scale of electromagnetic showers.
const MOLIERE_MM: f64 = 35.0;
/// Nuclear interaction length in X0 (short, so that most pions shower in 24 X0).
const LAMBDA_X0: f64 = 10.0;
/// Energy a minimum-ionising particle leaves per X0, at the electromagnetic scale, in GeV.
const MIP_GEV_PER_X0: f64 = 0.02;

/// Parameters of the calorimeter simulation. [`CaloConfig::default`] is the documented default.
#[derive(Debug, Clone, PartialEq)]
pub struct CaloConfig {
    /// Lower edge of the flat incident-energy spectrum in GeV.
    pub e_min_gev: f64,
    /// Upper edge of the flat incident-energy spectrum in GeV.
    pub e_max_gev: f64,
    /// Species to draw from, uniformly.
    pub kinds: Vec<ParticleKind>,
    /// Gaussian noise per cell in GeV (0 disables noise and zero suppression).
    pub noise_gev: f64,
    /// Pseudorapidity label range: η is drawn uniformly in ±`eta_max`.
    pub eta_max: f64,
}

impl Default for CaloConfig {
    fn default() -> Self {
        Self {
            e_min_gev: 1.0,
            e_max_gev: 100.0,
            kinds: ParticleKind::ALL.to_vec(),
            noise_gev: 0.005,
            eta_max: 1.4,
        }
    }
}

impl CaloConfig {
    /// Checks every parameter; generation relies on these bounds.
    pub fn validate(&self) -> Result<(), CaloError> {
        let bad = |m: String| Err(CaloError::InvalidConfig(m));
        if !(self.e_min_gev >= 0.01
            && self.e_max_gev >= self.e_min_gev
            && self.e_max_gev <= 10_000.0)
        {
            return bad(format!(
                "need 0.01 <= e_min <= e_max <= 10000 GeV, got {} and {}",
                self.e_min_gev, self.e_max_gev
            ));
        }
        if self.kinds.is_empty() {
            return bad("no particle kinds".into());
        }
        if !(0.0..=1.0).contains(&self.noise_gev) {
            return bad(format!(
                "noise must be in [0, 1] GeV, got {}",
                self.noise_gev
            ));
        }
        if !(0.0..=5.0).contains(&self.eta_max) {
            return bad(format!("eta_max must be in [0, 5], got {}", self.eta_max));
        }
        Ok(())
    }
}

/// One simulated shower.
#[derive(Debug, Clone, PartialEq)]
pub struct Shower {
    /// Incident particle.
    pub kind: ParticleKind,
    /// Incident energy in GeV.
    pub energy_gev: f64,
    /// Pseudorapidity label.
    pub eta: f64,
    /// Azimuth label in (−π, π].
    pub phi: f64,
    /// Cell energies in GeV per layer, row-major with the shapes of [`LAYER_SHAPES`].
    pub layers: [Vec<f32>; 3],
    /// Energy deposited in the cells before noise, in GeV (the sampled response).
    pub response_gev: f64,
    /// Depth in X0 where the shower starts (conversion / first interaction; 0 for e⁺).
    pub start_x0: f64,
}

impl Shower {
    /// Sum of all cells in GeV (after noise, if any).
    pub fn total(&self) -> f64 {
        self.layers.iter().flatten().map(|&c| f64::from(c)).sum()
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut s = C[0];
    for (i, &c) in C.iter().enumerate().skip(1) {
        s += c / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// Regularised lower incomplete gamma function P(a, x) = γ(a, x)/Γ(a), a > 0.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let ln_pre = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // Series: γ(a,x) = e^−x x^a Σ x^n / (a(a+1)…(a+n)).
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..500 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (sum.ln() + ln_pre).exp().clamp(0.0, 1.0)
    } else {
        // Continued fraction for Q(a,x) (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..500 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (1.0 - (ln_pre.exp() * h)).clamp(0.0, 1.0)
    }
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Fractions of a gamma profile (shape `a`, rate `b` per X0, starting at `start`) in each layer.
fn layer_fractions(a: f64, b: f64, start: f64) -> [f64; 3] {
    let cdf = |t: f64| gamma_p(a, b * (t - start).max(0.0));
    [0, 1, 2].map(|l| cdf(LAYER_DEPTH_X0[l + 1]) - cdf(LAYER_DEPTH_X0[l]))
}

/// Lateral profile of one layer: (core fraction, core radius, tail radius) in mm.
struct Lateral {
    p_core: f64,
    r_core: f64,
    r_tail: f64,
}

/// Adds `energy` to `cells` (layer `l`) as `n` equal spots drawn from the lateral profile.
fn deposit(
    cells: &mut [f32],
    l: usize,
    energy: f64,
    n: usize,
    lat: &Lateral,
    rng: &mut ChaCha8Rng,
) {
    let (rows, cols) = LAYER_SHAPES[l];
    let (h, w) = (
        2.0 * HALF_WIDTH_MM / rows as f64,
        2.0 * HALF_WIDTH_MM / cols as f64,
    );
    // Stay strictly inside the square so that every spot lands in a cell.
    let r_max = HALF_WIDTH_MM * (1.0 - 1e-9);
    let e_spot = energy / n as f64;
    for _ in 0..n {
        let r0 = if rng.gen::<f64>() < lat.p_core {
            lat.r_core
        } else {
            lat.r_tail
        };
        // Inverse CDF of f(r) ∝ r R²/(r²+R²)²: F(r) = r²/(r²+R²), truncated at r_max.
        let u_max = r_max * r_max / (r_max * r_max + r0 * r0);
        let u = rng.gen::<f64>() * u_max;
        let r = r0 * (u / (1.0 - u)).sqrt();
        let ang = rng.gen_range(0.0..std::f64::consts::TAU);
        let (x, y) = (r * ang.cos(), r * ang.sin());
        let col = (((x + HALF_WIDTH_MM) / w) as usize).min(cols - 1);
        let row = (((y + HALF_WIDTH_MM) / h) as usize).min(rows - 1);
        cells[row * cols + col] += e_spot as f32;
    }
}

/// Simulates one shower of `kind` with incident `energy_gev` (noise per `cfg.noise_gev`).
pub fn simulate_shower(
    cfg: &CaloConfig,
    kind: ParticleKind,
    energy_gev: f64,
    rng: &mut ChaCha8Rng,
) -> Shower {
    let e = energy_gev.max(1e-3);
    let depth = LAYER_DEPTH_X0[3];
    let mut layer_e = [0.0f64; 3];
    let hadronic = kind == ParticleKind::PiPlus;
    let start = match kind {
        ParticleKind::Positron => 0.0,
        ParticleKind::Photon => Exp::new(7.0 / 9.0).map(|d| d.sample(rng)).unwrap_or(0.0),
        ParticleKind::PiPlus => Exp::new(1.0 / LAMBDA_X0)
            .map(|d| d.sample(rng))
            .unwrap_or(0.0),
    };
    let (fr, visible, spot_gev, width) = if !hadronic {
        // Depth of the maximum ln(E/Ec) − 0.5 with Grindhammer-like relative spread.
        let ln_y = (e / CRITICAL_GEV).ln();
        let sig_t = 1.0 / (-1.4 + 1.26 * ln_y).max(2.0);
        let t_max = (ln_y - 0.5).max(0.5) * (sig_t * gauss(rng)).exp();
        let b = 0.5 * (0.1 * gauss(rng)).exp();
        let fr = layer_fractions(1.0 + b * t_max, b, start);
        let sig = (0.1f64.powi(2) / e + 0.01f64.powi(2)).sqrt();
        (
            fr,
            fr.iter().sum::<f64>() * (1.0 + sig * gauss(rng)),
            0.02,
            1.0,
        )
    } else if start < depth {
        // Electromagnetic fraction rises with energy (Wigmans); e/h = 1.6 at the EM scale.
        let f_em0 = 1.0 - e.powf(0.82 - 1.0);
        let f_em = (f_em0 + 0.12 * gauss(rng)).clamp(0.05, 0.95);
        let scale = f_em + (1.0 - f_em) / 1.6;
        let t_max = 0.6 * LAMBDA_X0 * (0.2 * e.ln() + 0.7).max(0.3) * (0.2 * gauss(rng)).exp();
        let b = 0.25 * (0.15 * gauss(rng)).exp();
        let fr = layer_fractions(1.0 + b * t_max, b, start);
        let sig = (0.5f64.powi(2) / e + 0.03f64.powi(2)).sqrt();
        (
            fr,
            scale * fr.iter().sum::<f64>() * (1.0 + sig * gauss(rng)),
            0.1,
            2.5,
        )
    } else {
        ([0.0; 3], 0.0, 0.1, 2.5) // punch-through: only the MIP track below
    };
    let contained: f64 = fr.iter().sum();
    let visible_gev = (e * visible).max(0.0);
    if contained > 0.0 {
        for l in 0..3 {
            layer_e[l] = visible_gev * fr[l] / contained;
        }
    }
    let mut layers = LAYER_SHAPES.map(|(r, c)| vec![0.0f32; r * c]);
    for l in 0..3 {
        if layer_e[l] <= 0.0 {
            continue;
        }
        // Depth of the layer centre after the shower start sets the lateral spread.
        let t = (0.5 * (LAYER_DEPTH_X0[l] + LAYER_DEPTH_X0[l + 1]) - start).max(0.0);
        let lat = Lateral {
            p_core: (0.85 - 0.01 * t).clamp(0.5, 0.9),
            r_core: width * MOLIERE_MM * (0.2 + 0.02 * t),
            r_tail: width * MOLIERE_MM * (0.6 + 0.05 * t),
        };
        let n = ((layer_e[l] / spot_gev).ceil() as usize).clamp(1, 1_000_000);
        deposit(&mut layers[l], l, layer_e[l], n, &lat, rng);
    }
    // A charged hadron ionises along its path before it interacts (or through the whole depth).
    if hadronic {
        let lat = Lateral {
            p_core: 1.0,
            r_core: 1.0,
            r_tail: 1.0,
        };
        for l in 0..3 {
            let path = (start.min(depth) - LAYER_DEPTH_X0[l])
                .clamp(0.0, LAYER_DEPTH_X0[l + 1] - LAYER_DEPTH_X0[l]);
            if path > 0.0 {
                // Landau-like upward fluctuations of the ionisation.
                let mip = MIP_GEV_PER_X0 * path * (1.0 + 0.3 * gauss(rng).abs());
                deposit(&mut layers[l], l, mip, 1, &lat, rng);
            }
        }
    }
    let response_gev = layers.iter().flatten().map(|&c| f64::from(c)).sum();
    if cfg.noise_gev > 0.0 {
        let thr = 3.0 * cfg.noise_gev;
        for c in layers.iter_mut().flatten() {
            let v = f64::from(*c) + cfg.noise_gev * gauss(rng);
            *c = if v < thr { 0.0 } else { v as f32 };
        }
    }
    let eta = if cfg.eta_max > 0.0 {
        rng.gen_range(-cfg.eta_max..=cfg.eta_max)
    } else {
        0.0
    };
    let phi = rng.gen_range(-std::f64::consts::PI..std::f64::consts::PI);
    Shower {
        kind,
        energy_gev,
        eta,
        phi,
        layers,
        response_gev,
        start_x0: start,
    }
}

/// Draws shower `index` of `seed`: kind uniform over `cfg.kinds`, energy flat in range.
pub fn generate_shower(cfg: &CaloConfig, seed: u64, index: u64) -> Shower {
    let mut rng = event_rng(seed, index);
    let kind = cfg.kinds[rng.gen_range(0..cfg.kinds.len())];
    let e = if cfg.e_max_gev > cfg.e_min_gev {
        rng.gen_range(cfg.e_min_gev..cfg.e_max_gev)
    } else {
        cfg.e_min_gev
    };
    simulate_shower(cfg, kind, e, &mut rng)
}

/// Generates showers `0..n` of `seed` (each from its own random stream, as [`generate_shower`]).
pub fn generate_showers(cfg: &CaloConfig, n: usize, seed: u64) -> Result<Vec<Shower>, CaloError> {
    cfg.validate()?;
    Ok((0..n as u64)
        .map(|i| generate_shower(cfg, seed, i))
        .collect())
}

/// Writes showers to `.npz` in the format documented in the crate `README.md`.
pub fn write_npz(showers: &[Shower], seed: u64, path: &Path) -> Result<(), CaloError> {
    let n = showers.len();
    let mut w = NpzWriter::new();
    let col = |f: &dyn Fn(&Shower) -> f32| showers.iter().map(f).collect::<Vec<f32>>();
    let kind: Vec<i32> = showers.iter().map(|s| s.kind as i32).collect();
    let pdg: Vec<i32> = showers.iter().map(|s| s.kind.pdg()).collect();
    w.add("particle", &kind, &[n]);
    w.add("pdg", &pdg, &[n]);
    w.add("energy", &col(&|s| s.energy_gev as f32), &[n]);
    w.add("eta", &col(&|s| s.eta as f32), &[n]);
    w.add("phi", &col(&|s| s.phi as f32), &[n]);
    w.add("response", &col(&|s| s.response_gev as f32), &[n]);
    w.add("start_x0", &col(&|s| s.start_x0 as f32), &[n]);
    w.add("seed", &[seed as i64], &[1]);
    for (l, (rows, cols)) in LAYER_SHAPES.iter().enumerate() {
        let data: Vec<f32> = showers
            .iter()
            .flat_map(|s| s.layers[l].iter().copied())
            .collect();
        w.add(&format!("layer{l}"), &data, &[n, *rows, *cols]);
    }
    w.write_file(path).map_err(|source| CaloError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Usage text of `toydet calo`.
pub const USAGE: &str = "toydet calo --n SHOWERS --seed S -o FILE.npz [--particles e+,gamma,pi+] \
[--emin GeV (1)] [--emax GeV (100)] [--noise GeV (0.005)]";

/// Command line of `toydet calo` (the arguments after the kind).
pub fn cli_main(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let o = parse_options(
        args,
        &["n", "seed", "output", "particles", "emin", "emax", "noise"],
    )?;
    let output = o
        .get("output")
        .ok_or_else(|| format!("missing -o FILE.npz\nusage: {USAGE}"))?;
    let d = CaloConfig::default();
    let kinds = match o.get("particles") {
        None => d.kinds.clone(),
        Some(list) => list
            .split(',')
            .map(|s| {
                ParticleKind::parse(s.trim())
                    .ok_or_else(|| format!("unknown particle '{s}' (e+, gamma, pi+)"))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let cfg = CaloConfig {
        e_min_gev: opt(&o, "emin", d.e_min_gev)?,
        e_max_gev: opt(&o, "emax", d.e_max_gev)?,
        noise_gev: opt(&o, "noise", d.noise_gev)?,
        kinds,
        ..d
    };
    let seed: u64 = opt(&o, "seed", 0)?;
    let showers = generate_showers(&cfg, opt(&o, "n", 1)?, seed).map_err(|e| e.to_string())?;
    write_npz(&showers, seed, Path::new(output)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> CaloConfig {
        CaloConfig {
            noise_gev: 0.0,
            ..Default::default()
        }
    }

    fn showers(kind: ParticleKind, e: f64, n: u64, noise: f64) -> Vec<Shower> {
        let cfg = CaloConfig {
            noise_gev: noise,
            ..Default::default()
        };
        (0..n)
            .map(|i| simulate_shower(&cfg, kind, e, &mut event_rng(9, i)))
            .collect()
    }

    /// Energy-weighted mean layer index.
    fn mean_layer(s: &[Shower]) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for sh in s {
            for (l, cells) in sh.layers.iter().enumerate() {
                let el: f64 = cells.iter().map(|&c| f64::from(c)).sum();
                num += l as f64 * el;
                den += el;
            }
        }
        num / den
    }

    #[test]
    fn incomplete_gamma_matches_known_values() {
        // P(1, x) = 1 − e^−x; P(3, 2) = 0.3233235838...; P(0.5, x) = erf(√x).
        assert!((gamma_p(1.0, 0.7) - (1.0 - (-0.7f64).exp())).abs() < 1e-12);
        assert!((gamma_p(3.0, 2.0) - 0.323_323_583_816_936_5).abs() < 1e-12);
        assert!((gamma_p(0.5, 4.0) - 0.995_322_265_018_952_7).abs() < 1e-12);
        // Integer a: Q(n, x) = e^−x Σ_{k<n} x^k/k!.
        let (mut term, mut q) = (1.0f64, 0.0f64);
        for k in 0..10 {
            if k > 0 {
                term *= 30.0 / k as f64;
            }
            q += term;
        }
        q *= (-30.0f64).exp();
        assert!((gamma_p(10.0, 30.0) - (1.0 - q)).abs() < 1e-12);
        assert!((gamma_p(10.0, 5.0) - 0.031_828_057_306_204_8).abs() < 1e-12);
    }

    #[test]
    fn cells_sum_to_the_sampled_response() {
        let cfg = quiet();
        for i in 0..300 {
            let s = generate_shower(&cfg, 3, i);
            assert!(
                (s.total() - s.response_gev).abs() < 1e-6,
                "{} vs {}",
                s.total(),
                s.response_gev
            );
            assert_eq!(
                s.layers.iter().map(Vec::len).collect::<Vec<_>>(),
                vec![288, 144, 72]
            );
            assert!(s
                .layers
                .iter()
                .flatten()
                .all(|&c| c >= 0.0 && c.is_finite()));
        }
    }

    #[test]
    fn electron_response_and_resolution() {
        let s = showers(ParticleKind::Positron, 50.0, 2000, 0.0);
        let r: Vec<f64> = s.iter().map(|s| s.response_gev / 50.0).collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
        // Nearly contained (24 X0) and 10%/√50 ⊕ 1% = 1.7%, plus some leakage fluctuation.
        assert!(mean > 0.95 && mean < 1.0, "mean response {mean}");
        assert!(
            sd / mean > 0.015 && sd / mean < 0.03,
            "resolution {}",
            sd / mean
        );
    }

    #[test]
    fn hadrons_are_deeper_and_fluctuate_more_than_electrons() {
        let e = showers(ParticleKind::Positron, 30.0, 1000, 0.0);
        let g = showers(ParticleKind::Photon, 30.0, 1000, 0.0);
        let p = showers(ParticleKind::PiPlus, 30.0, 1000, 0.0);
        let (le, lg, lp) = (mean_layer(&e), mean_layer(&g), mean_layer(&p));
        assert!(
            lp > lg + 0.1 && lg > le,
            "mean layer e {le} gamma {lg} pi {lp}"
        );
        let rel_sd = |s: &[Shower]| {
            let v: Vec<f64> = s.iter().map(|s| s.response_gev).collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt() / m
        };
        assert!(
            rel_sd(&p) > 3.0 * rel_sd(&e),
            "pi {} e {}",
            rel_sd(&p),
            rel_sd(&e)
        );
        // Hadron showers are wider: less of layer 1 in the 2×2 central cells.
        let core = |s: &[Shower]| {
            s.iter()
                .map(|s| {
                    let c = &s.layers[1];
                    let tot: f32 = c.iter().sum();
                    (c[5 * 12 + 5] + c[5 * 12 + 6] + c[6 * 12 + 5] + c[6 * 12 + 6]) as f64
                        / tot.max(1e-6) as f64
                })
                .sum::<f64>()
                / s.len() as f64
        };
        assert!(
            core(&p) < core(&e) - 0.1,
            "core fraction pi {} e {}",
            core(&p),
            core(&e)
        );
    }

    #[test]
    fn noise_is_zero_suppressed_and_small() {
        let s = showers(ParticleKind::Positron, 20.0, 200, 0.005);
        for sh in &s {
            assert!(sh.layers.iter().flatten().all(|&c| c == 0.0 || c >= 0.015));
            assert!(
                (sh.total() - sh.response_gev).abs() < 0.3,
                "{} vs {}",
                sh.total(),
                sh.response_gev
            );
        }
    }

    #[test]
    fn same_seed_same_showers() {
        let cfg = CaloConfig::default();
        let a = generate_showers(&cfg, 20, 5).unwrap();
        assert_eq!(a, generate_showers(&cfg, 20, 5).unwrap());
        assert_ne!(a, generate_showers(&cfg, 20, 6).unwrap());
        assert_eq!(a[7], generate_shower(&cfg, 5, 7));
    }

    #[test]
    fn bad_config_and_options_are_errors() {
        let cfg = CaloConfig {
            kinds: vec![],
            ..Default::default()
        };
        assert!(matches!(
            generate_showers(&cfg, 1, 1),
            Err(CaloError::InvalidConfig(_))
        ));
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(cli_main(&args(&["--particles", "muon", "-o", "x.npz"])).is_err());
        assert!(cli_main(&args(&["--emin", "50", "--emax", "10", "-o", "x.npz"])).is_err());
        assert!(cli_main(&args(&["--n", "1"])).is_err());
    }
}
