//! Hit graph construction: node features and edges exactly as `model/preprocess.py` builds them
//! (rules in `model/MODEL.md`).
//!
//! All arithmetic is float64 on the float32 coordinates, in the order Python evaluates it, so the
//! node features are bit-identical to numpy's and the edge set is the same. Candidates come from
//! a φ window per layer pair over the outer layer's hits sorted by φ (binary search), so the cost
//! is near-linear in the number of hits at fixed track density, never all pairs.

use std::f64::consts::PI;

/// Barrel layers of the toy tracker.
pub const N_LAYERS: usize = 10;
/// Azimuthal slope cut in rad/mm (`PHI_SLOPE_MAX` of `preprocess.py`).
pub const PHI_SLOPE_MAX: f64 = 8.0e-4;
/// Cut on the segment's z intercept at r = 0, in mm (`Z0_MAX`).
pub const Z0_MAX: f64 = 250.0;
/// Node features per hit: r / 1000, φ / π, z / 1000.
pub const N_NODE_FEATURES: usize = 3;

/// The 17 (inner, outer) layer pairs that may form an edge: neighbours and one missed layer.
pub const LAYER_PAIRS: [(u8, u8); 17] = {
    let mut p = [(0u8, 0u8); 17];
    let mut i = 0;
    while i < 9 {
        p[i] = (i as u8, i as u8 + 1);
        i += 1;
    }
    while i < 17 {
        p[i] = ((i - 9) as u8, (i - 9) as u8 + 2);
        i += 1;
    }
    p
};

/// A hit whose layer id is not one of the tracker's layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLayer {
    /// Hit index.
    pub index: usize,
    /// The layer id given.
    pub layer: i32,
}

/// Per-hit cylindrical coordinates in float64, the quantities every cut is computed from.
#[derive(Debug, Clone, Default)]
pub struct HitGeometry {
    /// Transverse radius in mm.
    pub r: Vec<f64>,
    /// Azimuth in (−π, π].
    pub phi: Vec<f64>,
    /// z in mm.
    pub z: Vec<f64>,
    /// Layer index 0–9.
    pub layer: Vec<u8>,
}

impl HitGeometry {
    /// From `hits` [n, 3] (x, y, z in mm, flat) and `layers` [n]. Fails on the first hit whose
    /// layer is outside 0–9. `hits.len()` must be `3 * layers.len()` (the host checks it).
    pub fn new(hits: &[f32], layers: &[i32]) -> Result<Self, BadLayer> {
        let n = layers.len();
        let mut g = HitGeometry {
            r: Vec::with_capacity(n),
            phi: Vec::with_capacity(n),
            z: Vec::with_capacity(n),
            layer: Vec::with_capacity(n),
        };
        for (i, (h, &l)) in hits.chunks_exact(3).zip(layers).enumerate() {
            if !(0..N_LAYERS as i32).contains(&l) {
                return Err(BadLayer { index: i, layer: l });
            }
            let (x, y, z) = (f64::from(h[0]), f64::from(h[1]), f64::from(h[2]));
            // numpy: sqrt(x**2 + y**2) (x**2 is x*x) and arctan2, both correctly rounded / libm.
            g.r.push((x * x + y * y).sqrt());
            g.phi.push(y.atan2(x));
            g.z.push(z);
            g.layer.push(l as u8);
        }
        Ok(g)
    }

    /// Number of hits.
    pub fn len(&self) -> usize {
        self.r.len()
    }

    /// True when there are no hits.
    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }

    /// Node features `[n, 3]` (r / 1000, φ / π, z / 1000), float64 rounded to float32.
    pub fn node_features(&self) -> Vec<f32> {
        let mut f = Vec::with_capacity(self.len() * N_NODE_FEATURES);
        for i in 0..self.len() {
            f.push((self.r[i] / 1000.0) as f32);
            f.push((self.phi[i] / PI) as f32);
            f.push((self.z[i] / 1000.0) as f32);
        }
        f
    }

    /// The exact edge test of `preprocess.py` for inner hit `a` and outer hit `b` (layers not
    /// checked here): `dr > 0`, `|dφ| / dr ≤ PHI_SLOPE_MAX`, `|z0| ≤ Z0_MAX`.
    // Negated comparisons on purpose: like numpy's `ok &= cond`, a NaN fails every cut.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn passes_cuts(&self, a: usize, b: usize) -> bool {
        let dphi = py_mod(self.phi[b] - self.phi[a] + PI, 2.0 * PI) - PI;
        let dr = self.r[b] - self.r[a];
        if !(dr > 0.0) {
            return false;
        }
        if !(dphi.abs() / dr <= PHI_SLOPE_MAX) {
            return false;
        }
        // Same association as Python: (r_a * (z_b - z_a)) / dr.
        let z0 = self.z[a] - self.r[a] * (self.z[b] - self.z[a]) / dr;
        z0.abs() <= Z0_MAX
    }
}

/// numpy's floating `mod` (`npy_divmod`): `fmod`, moved into the divisor's sign.
fn py_mod(x: f64, y: f64) -> f64 {
    let m = x % y;
    if m != 0.0 {
        if (y < 0.0) != (m < 0.0) {
            m + y
        } else {
            m
        }
    } else {
        0.0f64.copysign(y)
    }
}

/// The outer layer of one layer pair, sorted by φ, with the search window of the pair.
struct PairIndex {
    outer_phi: Vec<f64>,
    outer_idx: Vec<u32>,
    /// Half width of the φ window (a superset of what the slope cut can accept).
    width: f64,
}

/// Limits on the work one event may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most edges accepted for the whole event.
    pub max_edges: usize,
    /// Most candidate pairs examined for the whole event (guards against inputs whose windows
    /// are wide but whose pairs all fail the cuts, e.g. wrong layer ids).
    pub max_candidates: usize,
}

/// Why an event's graph was not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphLimit {
    /// More edges than [`Limits::max_edges`].
    Edges(usize),
    /// More candidate pairs than [`Limits::max_candidates`].
    Candidates(usize),
}

/// Finds the edges of each inner hit; built once per event in O(n log n).
pub struct EdgeFinder<'g> {
    geo: &'g HitGeometry,
    /// Per inner layer: the pairs it is the inner layer of.
    by_inner: Vec<Vec<PairIndex>>,
}

impl<'g> EdgeFinder<'g> {
    /// Indexes the hits of `geo` by layer and φ.
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN span means no edges, as in numpy
    pub fn new(geo: &'g HitGeometry) -> Self {
        let mut by_layer: Vec<Vec<u32>> = vec![Vec::new(); N_LAYERS];
        for (i, &l) in geo.layer.iter().enumerate() {
            by_layer[l as usize].push(i as u32);
        }
        let min_r = |ids: &[u32]| {
            ids.iter()
                .map(|&i| geo.r[i as usize])
                .fold(f64::MAX, f64::min)
        };
        let max_r = |ids: &[u32]| {
            ids.iter()
                .map(|&i| geo.r[i as usize])
                .fold(f64::MIN, f64::max)
        };
        let mut by_inner: Vec<Vec<PairIndex>> = (0..N_LAYERS).map(|_| Vec::new()).collect();
        for (la, lb) in LAYER_PAIRS {
            let (ia, ib) = (&by_layer[la as usize], &by_layer[lb as usize]);
            if ia.is_empty() || ib.is_empty() {
                continue;
            }
            let span = max_r(ib) - min_r(ia);
            if !(span > 0.0) {
                continue; // no pair of this layer pair can have dr > 0
            }
            let mut sorted = ib.clone();
            sorted.sort_by(|&a, &b| geo.phi[a as usize].total_cmp(&geo.phi[b as usize]));
            by_inner[la as usize].push(PairIndex {
                outer_phi: sorted.iter().map(|&i| geo.phi[i as usize]).collect(),
                outer_idx: sorted,
                // Relative and absolute margins: any superset window gives the same edges.
                width: PHI_SLOPE_MAX * span * (1.0 + 1e-9) + 1e-9,
            });
        }
        EdgeFinder { geo, by_inner }
    }

    /// Calls `f(b)` for every candidate outer hit of inner hit `a` (its φ window, wrapping at
    /// ±π), then keeps those passing the cuts: returns the number of candidates examined.
    fn for_each_edge(&self, a: usize, mut f: impl FnMut(u32)) -> usize {
        let phi_a = self.geo.phi[a];
        let mut examined = 0;
        for p in &self.by_inner[self.geo.layer[a] as usize] {
            let mut scan = |lo: f64, hi: f64| {
                let start = p.outer_phi.partition_point(|&x| x < lo);
                let end = p.outer_phi.partition_point(|&x| x <= hi);
                for &b in &p.outer_idx[start..end.max(start)] {
                    examined += 1;
                    if self.geo.passes_cuts(a, b as usize) {
                        f(b);
                    }
                }
            };
            if p.width >= PI {
                scan(f64::NEG_INFINITY, f64::INFINITY);
            } else {
                // Three disjoint ranges at most (window < π wide on each side).
                scan(phi_a - p.width, phi_a + p.width);
                if phi_a - p.width < -PI {
                    scan(phi_a - p.width + 2.0 * PI, f64::INFINITY);
                }
                if phi_a + p.width > PI {
                    scan(f64::NEG_INFINITY, phi_a + p.width - 2.0 * PI);
                }
            }
        }
        examined
    }

    /// Appends the edges `(a, b)` of inner hit `a` to `out`, destinations ascending; returns the
    /// number of candidates examined.
    pub fn edges_of(&self, a: usize, out: &mut Vec<[u32; 2]>) -> usize {
        let start = out.len();
        let examined = self.for_each_edge(a, |b| out.push([a as u32, b]));
        out[start..].sort_unstable_by_key(|e| e[1]);
        examined
    }

    /// Counts the event's edges, stopping as soon as a limit is passed.
    pub fn count(&self, limits: Limits) -> Result<usize, GraphLimit> {
        let (mut edges, mut candidates) = (0usize, 0usize);
        for a in 0..self.geo.len() {
            candidates += self.for_each_edge(a, |_| edges += 1);
            if edges > limits.max_edges {
                return Err(GraphLimit::Edges(edges));
            }
            if candidates > limits.max_candidates {
                return Err(GraphLimit::Candidates(candidates));
            }
        }
        Ok(edges)
    }
}

/// The whole edge index of the hits, sorted by (source, destination) as `preprocess.build_edges`
/// returns it: `[source, destination]` pairs, source on the inner layer.
pub fn build_edges(geo: &HitGeometry) -> Vec<[u32; 2]> {
    let finder = EdgeFinder::new(geo);
    let mut out = Vec::new();
    for a in 0..geo.len() {
        finder.edges_of(a, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_pairs_are_neighbours_and_skips() {
        assert_eq!(LAYER_PAIRS[0], (0, 1));
        assert_eq!(LAYER_PAIRS[8], (8, 9));
        assert_eq!(LAYER_PAIRS[9], (0, 2));
        assert_eq!(LAYER_PAIRS[16], (7, 9));
    }

    #[test]
    fn py_mod_follows_numpy() {
        assert_eq!(py_mod(-1.0, 2.0 * PI), 2.0 * PI - 1.0);
        assert_eq!(py_mod(7.0, 2.0 * PI), 7.0 - 2.0 * PI);
        assert_eq!(py_mod(0.0, 2.0 * PI).to_bits(), 0.0f64.to_bits());
        assert_eq!(py_mod(-2.0 * PI, 2.0 * PI).to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn edges_wrap_around_pi_and_respect_the_cuts() {
        // Inner hit just below +π, outer hits just above -π (same track across the seam), one too
        // far in φ, one with too large a z0, one on a non-adjacent layer.
        let r = [32.0f64, 72.0, 72.0, 72.0, 260.0];
        let phi = [PI - 0.001, -PI + 0.001, -PI + 0.2, -PI + 0.002, -PI + 0.001];
        let z = [0.0f64, 0.0, 0.0, 400.0, 0.0];
        let mut hits = Vec::new();
        for i in 0..5 {
            hits.extend([
                (r[i] * phi[i].cos()) as f32,
                (r[i] * phi[i].sin()) as f32,
                z[i] as f32,
            ]);
        }
        let g = HitGeometry::new(&hits, &[0, 1, 1, 1, 4]).unwrap();
        assert_eq!(build_edges(&g), vec![[0, 1]]);
        let bad = HitGeometry::new(&hits, &[0, 1, 10, 1, 4]).unwrap_err();
        assert_eq!(
            bad,
            BadLayer {
                index: 2,
                layer: 10
            }
        );
    }

    #[test]
    fn limits_stop_the_count() {
        let hits: Vec<f32> = (0..40)
            .flat_map(|i| [if i < 20 { 32.0 } else { 72.0 }, 0.0, 0.0])
            .collect();
        let layers: Vec<i32> = (0..40).map(|i| i32::from(i >= 20)).collect();
        let g = HitGeometry::new(&hits, &layers).unwrap();
        let f = EdgeFinder::new(&g);
        let lim = |e, c| Limits {
            max_edges: e,
            max_candidates: c,
        };
        assert_eq!(f.count(lim(1000, 1000)), Ok(400));
        assert!(matches!(f.count(lim(100, 1000)), Err(GraphLimit::Edges(_))));
        assert!(matches!(
            f.count(lim(1000, 50)),
            Err(GraphLimit::Candidates(_))
        ));
    }
}
