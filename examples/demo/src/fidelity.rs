//! Fast-simulation fidelity the way the CaloChallenge measures it: calo-gan showers against the
//! toy simulation's, at the same particle type and energy.
//!
//! - **Shower-shape variables** ([`FEATURES`]): layer energy fractions, response, energy-weighted
//!   widths along x per layer, the energy-weighted depth and the sparsity (fraction of empty
//!   cells) per layer. For each, the **separation power** S = ½ Σ (p − q)² / (p + q) of the two
//!   normalised histograms (0 identical, 1 disjoint; the CaloChallenge's binned χ²-like measure)
//!   and the **Wasserstein-1 distance** of the two empirical distributions in units of the toy's
//!   standard deviation.
//! - **Classifier AUC**: a small MLP (12 inputs: the variables and log E, 32 ReLU units, sigmoid
//!   output) trained in-process with a fixed seed to tell GAN from toy showers, on half of the
//!   sample; its AUC on the other half. 0.5 means the classifier cannot tell them apart, 1.0
//!   that every shower gives itself away.
//!
//! Everything here is deterministic for a given sample and seed.

use crate::workload::auc;
use serde::Serialize;

/// Shower-shape variables, in the order of [`shape`]'s output.
pub const FEATURES: [&str; 11] = [
    "E0/Etot",
    "E1/Etot",
    "E2/Etot",
    "Etot/E",
    "width0 [mm]",
    "width1 [mm]",
    "width2 [mm]",
    "depth [layer]",
    "sparsity0",
    "sparsity1",
    "sparsity2",
];
/// Number of shower-shape variables.
pub const N_FEATURES: usize = FEATURES.len();
/// Energy ranges (GeV) the metrics are given for.
pub const RANGES: [(f64, f64); 3] = [(1.0, 10.0), (10.0, 50.0), (50.0, 100.0)];

/// The shower-shape variables of one shower of incident energy `energy` from its three layers'
/// cells (row-major with `toydet::calo::LAYER_SHAPES`).
pub fn shape(layers: [&[f32]; 3], energy: f64) -> [f32; N_FEATURES] {
    let mut e = [0.0f64; 3];
    let mut width = [0.0f64; 3];
    let mut sparsity = [0.0f64; 3];
    for (l, cells) in layers.iter().enumerate() {
        let (rows, cols) = toydet::calo::LAYER_SHAPES[l];
        let pitch = 2.0 * toydet::calo::HALF_WIDTH_MM / cols as f64;
        let (mut s, mut sx, mut sxx, mut zeros) = (0.0, 0.0, 0.0, 0usize);
        for (i, &c) in cells.iter().take(rows * cols).enumerate() {
            let c = f64::from(c);
            if c <= 0.0 {
                zeros += 1;
                continue;
            }
            let x = (i % cols) as f64 * pitch + 0.5 * pitch - toydet::calo::HALF_WIDTH_MM;
            s += c;
            sx += c * x;
            sxx += c * x * x;
        }
        e[l] = s;
        if s > 0.0 {
            let m = sx / s;
            width[l] = (sxx / s - m * m).max(0.0).sqrt();
        }
        sparsity[l] = zeros as f64 / (rows * cols).max(1) as f64;
    }
    let tot: f64 = e.iter().sum();
    let frac = |l: usize| if tot > 0.0 { e[l] / tot } else { 0.0 };
    let depth = if tot > 0.0 {
        (e[1] + 2.0 * e[2]) / tot
    } else {
        0.0
    };
    [
        frac(0),
        frac(1),
        frac(2),
        tot / energy.max(1e-9),
        width[0],
        width[1],
        width[2],
        depth,
        sparsity[0],
        sparsity[1],
        sparsity[2],
    ]
    .map(|v| v as f32)
}

/// One shower as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Particle type index (0 e+, 1 γ, 2 π+).
    pub kind: usize,
    /// Incident energy in GeV.
    pub energy: f64,
    /// Shower-shape variables.
    pub shape: [f32; N_FEATURES],
}

/// The metrics of one (particle type, energy range) cell.
#[derive(Debug, Clone, Serialize)]
pub struct CellMetrics {
    /// Particle type name.
    pub particle: String,
    /// Energy range in GeV.
    pub range_gev: (f64, f64),
    /// GAN showers in the cell.
    pub n_gan: usize,
    /// Toy showers in the cell.
    pub n_toy: usize,
    /// Separation power per variable (order of [`FEATURES`]).
    pub separation: Vec<f64>,
    /// Wasserstein-1 distance per variable, in units of the toy's standard deviation.
    pub wasserstein: Vec<f64>,
    /// AUC of the classifier on the held-out half.
    pub classifier_auc: f64,
    /// Held-out showers the AUC was measured on.
    pub n_test: usize,
}

/// Separation power of two samples in `bins` equal bins over the 0.1-99.9 % quantiles of both
/// together (values outside go to the edge bins).
pub fn separation_power(a: &[f32], b: &[f32], bins: usize) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<f32> = a.iter().chain(b).copied().collect();
    all.sort_by(f32::total_cmp);
    let q = |f: f64| f64::from(all[((all.len() - 1) as f64 * f).round() as usize]);
    let (lo, hi) = (q(0.001), q(0.999));
    let hist = |v: &[f32]| {
        let mut h = vec![0.0f64; bins];
        for &x in v {
            let t = if hi > lo {
                ((f64::from(x) - lo) / (hi - lo) * bins as f64).floor()
            } else {
                0.0
            };
            h[(t.max(0.0) as usize).min(bins - 1)] += 1.0 / v.len() as f64;
        }
        h
    };
    let (p, r) = (hist(a), hist(b));
    0.5 * p
        .iter()
        .zip(&r)
        .filter(|(x, y)| *x + *y > 0.0)
        .map(|(x, y)| (x - y).powi(2) / (x + y))
        .sum::<f64>()
}

/// Wasserstein-1 distance of the empirical distributions of `a` and `b`: ∫ |F_a − F_b| dx.
pub fn wasserstein1(a: &[f32], b: &[f32]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    let mut x: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
    let mut y: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
    x.sort_by(f64::total_cmp);
    y.sort_by(f64::total_cmp);
    let (na, nb) = (x.len() as f64, y.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0);
    let mut prev = x[0].min(y[0]);
    while i < x.len() || j < y.len() {
        let next = match (x.get(i), y.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        d += (i as f64 / na - j as f64 / nb).abs() * (next - prev);
        prev = next;
        while i < x.len() && x[i] <= next {
            i += 1;
        }
        while j < y.len() && y[j] <= next {
            j += 1;
        }
    }
    d
}

/// SplitMix64: the fixed-seed stream of the classifier (initial weights, shuffles, split).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
    }
}

/// Inputs of the classifier: the variables and log E.
const N_IN: usize = N_FEATURES + 1;
/// Hidden units.
const HIDDEN: usize = 32;
/// Passes over the training half.
const EPOCHS: usize = 20;
const BATCH: usize = 64;
const LEARNING_RATE: f64 = 1e-3;

/// A one-hidden-layer perceptron trained with Adam on the binary cross-entropy.
struct Mlp {
    /// Parameters: w1 [HIDDEN × N_IN], b1 [HIDDEN], w2 [HIDDEN], b2.
    p: Vec<f64>,
}

impl Mlp {
    const N: usize = HIDDEN * N_IN + HIDDEN + HIDDEN + 1;

    fn new(rng: &mut Rng) -> Self {
        let mut p = vec![0.0; Self::N];
        let s1 = (2.0 / N_IN as f64).sqrt();
        let s2 = (1.0 / HIDDEN as f64).sqrt();
        for w in &mut p[..HIDDEN * N_IN] {
            *w = s1 * rng.normal();
        }
        let o = HIDDEN * N_IN + HIDDEN;
        for w in &mut p[o..o + HIDDEN] {
            *w = s2 * rng.normal();
        }
        Mlp { p }
    }

    /// Logit and the hidden activations for input `x`.
    fn forward(&self, x: &[f64; N_IN], h: &mut [f64; HIDDEN]) -> f64 {
        let (w1, rest) = self.p.split_at(HIDDEN * N_IN);
        let (b1, rest) = rest.split_at(HIDDEN);
        let (w2, b2) = rest.split_at(HIDDEN);
        let mut z = b2[0];
        for k in 0..HIDDEN {
            let a = b1[k]
                + w1[k * N_IN..(k + 1) * N_IN]
                    .iter()
                    .zip(x)
                    .map(|(w, v)| w * v)
                    .sum::<f64>();
            h[k] = a.max(0.0);
            z += w2[k] * h[k];
        }
        z
    }

    fn train(&mut self, xs: &[[f64; N_IN]], ys: &[f64], rng: &mut Rng) {
        let (mut m, mut v) = (vec![0.0; Self::N], vec![0.0; Self::N]);
        let (b1m, b2m) = (0.9f64, 0.999f64);
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut step = 0i32;
        let mut g = vec![0.0; Self::N];
        let mut h = [0.0; HIDDEN];
        for _ in 0..EPOCHS {
            rng.shuffle(&mut order);
            for batch in order.chunks(BATCH) {
                g.iter_mut().for_each(|x| *x = 0.0);
                for &i in batch {
                    let z = self.forward(&xs[i], &mut h);
                    // d(BCE)/dz = sigmoid(z) - y
                    let dz = (1.0 / (1.0 + (-z).exp()) - ys[i]) / batch.len() as f64;
                    let o2 = HIDDEN * N_IN + HIDDEN;
                    g[Self::N - 1] += dz;
                    for k in 0..HIDDEN {
                        g[o2 + k] += dz * h[k];
                        if h[k] > 0.0 {
                            let da = dz * self.p[o2 + k];
                            g[HIDDEN * N_IN + k] += da;
                            for (gj, xj) in g[k * N_IN..(k + 1) * N_IN].iter_mut().zip(&xs[i]) {
                                *gj += da * xj;
                            }
                        }
                    }
                }
                step += 1;
                let (c1, c2) = (1.0 - b1m.powi(step), 1.0 - b2m.powi(step));
                for j in 0..Self::N {
                    m[j] = b1m * m[j] + (1.0 - b1m) * g[j];
                    v[j] = b2m * v[j] + (1.0 - b2m) * g[j] * g[j];
                    self.p[j] -= LEARNING_RATE * (m[j] / c1) / ((v[j] / c2).sqrt() + 1e-8);
                }
            }
        }
    }
}

/// AUC of the classifier trained to tell `gan` (label 1) from `toy` (label 0) on a random half
/// of both (seed `seed`), measured on the other half; and the number of held-out showers.
pub fn classifier_auc(gan: &[Sample], toy: &[Sample], seed: u64) -> (f64, usize) {
    let mut rng = Rng(seed);
    let raw = |s: &Sample| {
        let mut x = [0.0; N_IN];
        for (xi, &f) in x.iter_mut().zip(&s.shape) {
            *xi = f64::from(f);
        }
        x[N_FEATURES] = s.energy.max(1e-3).ln();
        x
    };
    let mut all: Vec<([f64; N_IN], f64)> = gan
        .iter()
        .map(|s| (raw(s), 1.0))
        .chain(toy.iter().map(|s| (raw(s), 0.0)))
        .collect();
    if gan.len() < 10 || toy.len() < 10 {
        return (f64::NAN, 0);
    }
    rng.shuffle(&mut all);
    let (train, test) = all.split_at(all.len() / 2);
    // Standardise with the training half's moments.
    let mut mean = [0.0; N_IN];
    let mut sd = [0.0; N_IN];
    for (x, _) in train {
        for j in 0..N_IN {
            mean[j] += x[j] / train.len() as f64;
        }
    }
    for (x, _) in train {
        for j in 0..N_IN {
            sd[j] += (x[j] - mean[j]).powi(2) / train.len() as f64;
        }
    }
    let norm = |x: &[f64; N_IN]| {
        let mut y = [0.0; N_IN];
        for j in 0..N_IN {
            y[j] = (x[j] - mean[j]) / sd[j].sqrt().max(1e-9);
        }
        y
    };
    let xs: Vec<[f64; N_IN]> = train.iter().map(|(x, _)| norm(x)).collect();
    let ys: Vec<f64> = train.iter().map(|(_, y)| *y).collect();
    let mut mlp = Mlp::new(&mut rng);
    mlp.train(&xs, &ys, &mut rng);
    let mut h = [0.0; HIDDEN];
    let (mut s_gan, mut s_toy) = (Vec::new(), Vec::new());
    for (x, y) in test {
        let z = mlp.forward(&norm(x), &mut h) as f32;
        if *y > 0.5 {
            s_gan.push(z);
        } else {
            s_toy.push(z);
        }
    }
    (auc(&s_gan, &s_toy), test.len())
}

/// The metrics of every (type, range) cell of the paired samples (threads: one per cell).
pub fn evaluate(gan: &[Sample], toy: &[Sample], names: [&str; 3], seed: u64) -> Vec<CellMetrics> {
    let cells: Vec<(usize, (f64, f64))> = (0..3)
        .flat_map(|k| RANGES.iter().map(move |&r| (k, r)))
        .collect();
    let pick = |v: &[Sample], k: usize, r: (f64, f64)| -> Vec<Sample> {
        v.iter()
            .filter(|s| s.kind == k && s.energy >= r.0 && s.energy < r.1)
            .copied()
            .collect()
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = cells
            .iter()
            .enumerate()
            .map(|(ci, &(k, r))| {
                let (g, t) = (pick(gan, k, r), pick(toy, k, r));
                scope.spawn(move || {
                    let col = |v: &[Sample], j: usize| -> Vec<f32> {
                        v.iter().map(|s| s.shape[j]).collect()
                    };
                    let mut separation = Vec::new();
                    let mut wasserstein = Vec::new();
                    for j in 0..N_FEATURES {
                        let (a, b) = (col(&g, j), col(&t, j));
                        separation.push(separation_power(&a, &b, 30));
                        let n = b.len().max(1) as f64;
                        let m = b.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                        let sd =
                            (b.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n).sqrt();
                        let w = wasserstein1(&a, &b);
                        wasserstein.push(if sd > 0.0 { w / sd } else { w });
                    }
                    let (a, n_test) = classifier_auc(&g, &t, seed.wrapping_add(ci as u64));
                    CellMetrics {
                        particle: names[k].into(),
                        range_gev: r,
                        n_gan: g.len(),
                        n_toy: t.len(),
                        separation,
                        wasserstein,
                        classifier_auc: a,
                        n_test,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("fidelity worker"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasserstein_of_a_shift_is_the_shift() {
        let a: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let b: Vec<f32> = a.iter().map(|v| v + 0.25).collect();
        assert!((wasserstein1(&a, &b) - 0.25).abs() < 1e-3);
        assert_eq!(wasserstein1(&a, &a), 0.0);
    }

    #[test]
    fn separation_power_bounds() {
        let a: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..1000).map(|i| 5000.0 + i as f32).collect();
        assert_eq!(separation_power(&a, &a, 30), 0.0);
        assert!(separation_power(&a, &b, 30) > 0.9);
    }

    #[test]
    fn classifier_separates_what_differs_and_not_what_does_not() {
        let mut rng = Rng(7);
        let draw = |rng: &mut Rng, shift: f64| -> Vec<Sample> {
            (0..2000)
                .map(|_| {
                    let mut shape = [0.0f32; N_FEATURES];
                    for v in &mut shape {
                        *v = rng.normal() as f32;
                    }
                    shape[3] += shift as f32;
                    Sample {
                        kind: 0,
                        energy: 10.0,
                        shape,
                    }
                })
                .collect()
        };
        let (a, b, c) = (
            draw(&mut rng, 0.0),
            draw(&mut rng, 0.0),
            draw(&mut rng, 1.0),
        );
        let (same, _) = classifier_auc(&a, &b, 1);
        let (diff, _) = classifier_auc(&a, &c, 1);
        assert!((same - 0.5).abs() < 0.05, "same distributions: AUC {same}");
        // Two unit Gaussians one sigma apart: AUC = Φ(1/√2) = 0.760.
        assert!((diff - 0.760).abs() < 0.03, "shifted: AUC {diff}");
    }
}
