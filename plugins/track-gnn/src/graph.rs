//! Hit graph construction: node features and edges exactly as `model/preprocess.py` builds them
//! (rules in `model/MODEL.md`).
//!
//! All arithmetic is float64 on the float32 coordinates, in the order Python evaluates it, so the
//! node features are bit-identical to numpy's and the edge set is the same. Two steps:
//! doublets (hit pairs on neighbouring layers passing a slope and a beam-line cut), then
//! triplets: a doublet is an edge only if it lines up with doublets of a four-hit chain (same
//! curvature and dip within per-layer tolerances). The graph is then near-linear in the hits
//! (1.5 edges per hit at 1,000 particles, 1.8 at 12,000), where doublets alone grow as hits².
//!
//! Search: per layer, hits in z bins sorted by φ with a φ-cell table. Layer by layer, inside
//! out, each hit's outer doublets come from a (φ, z) window once; they are matched with the
//! hit's inner doublets (found earlier, from the inner hits' searches, and held until their
//! layer comes): the outer ones bucketed by curvature (a counting sort), each inner one tested
//! against the buckets of its curvature window, eight doublets at a time. Held doublets are
//! bounded; past the bound a layer searches its inner doublets itself. The compatible triplets
//! become edges by counting sort on the source hit, linear in the triplets. The doublet search
//! is still O(hits²) at fixed detector size, with a small constant.

use std::f64::consts::PI;

/// Barrel layers of the toy tracker.
pub const N_LAYERS: usize = 10;
/// Azimuthal slope cut in rad/mm (`PHI_SLOPE_MAX` of `preprocess.py`).
pub const PHI_SLOPE_MAX: f64 = 8.0e-4;
/// Cut on the segment's z intercept at r = 0, in mm (`Z0_MAX`).
pub const Z0_MAX: f64 = 200.0;
/// Triplet curvature tolerance |Δκ| in 1/mm by the layer of the middle hit
/// (`TRIPLET_DKAPPA` of `preprocess.py`; 0 where a layer is never in the middle).
pub const TRIPLET_DKAPPA: [f64; N_LAYERS] = [
    0.0, 1.3e-4, 5.5e-5, 2.5e-5, 1.5e-5, 9.6e-6, 5.2e-6, 3.8e-6, 3.7e-6, 0.0,
];
/// Triplet dip tolerance |Δ(dz / chord)| by the layer of the middle hit (`TRIPLET_DDIP`).
pub const TRIPLET_DDIP: [f64; N_LAYERS] = [
    0.0, 0.0034, 0.0094, 0.015, 0.028, 0.025, 0.037, 0.070, 0.14, 0.0,
];
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
    /// x in mm.
    pub x: Vec<f64>,
    /// y in mm.
    pub y: Vec<f64>,
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
            x: Vec::with_capacity(n),
            y: Vec::with_capacity(n),
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
            g.x.push(x);
            g.y.push(y);
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

    /// The hit's coordinates as the cuts use them.
    fn point(&self, i: usize) -> Point {
        Point {
            phi: self.phi[i],
            z: self.z[i],
            r: self.r[i],
            x: self.x[i],
            y: self.y[i],
            index: i as u32,
        }
    }
}

/// One hit's coordinates side by side, so that a search touches one cache line per candidate.
#[derive(Debug, Clone, Copy)]
struct Point {
    phi: f64,
    z: f64,
    r: f64,
    x: f64,
    y: f64,
    index: u32,
}

/// The exact doublet test of `preprocess.py` for inner point `a` and outer point `b` (layers not
/// checked here): `dr > 0`, `|dφ| / dr ≤ PHI_SLOPE_MAX`, `|z0| ≤ Z0_MAX`.
// Negated comparisons on purpose: like numpy's `ok &= cond`, a NaN fails every cut.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[inline]
fn passes_cuts(a: &Point, b: &Point) -> bool {
    let dphi = wrap_shifted(b.phi - a.phi + PI) - PI;
    let dr = b.r - a.r;
    // Same association as Python: (r_a * (z_b - z_a)) / dr.
    let z0 = a.z - a.r * (b.z - a.z) / dr;
    // All three evaluated (`&`, not `&&`): no branch to mispredict; with dr <= 0 the quotients
    // are meaningless but the first test already fails.
    (dr > 0.0) & (dphi.abs() / dr <= PHI_SLOPE_MAX) & (z0.abs() <= Z0_MAX)
}

/// Appends `x` to `v` when `ok`, without a branch (the search loops are bound by mispredicted
/// branches otherwise).
#[inline]
fn push_if<T: Copy>(v: &mut Vec<T>, x: T, ok: bool) {
    v.push(x);
    let n = v.len() - usize::from(!ok);
    v.truncate(n);
}

/// `py_mod(x, 2π)` without the division in the common case: for x in [0, 2π) `fmod` returns x
/// itself, bit for bit.
#[inline]
fn wrap_shifted(x: f64) -> f64 {
    if (0.0..2.0 * PI).contains(&x) {
        x
    } else {
        py_mod(x, 2.0 * PI)
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

/// The hits of one layer sorted by φ, split into z bins so that a search window in (φ, z) only
/// visits the bins its z range overlaps.
struct LayerIndex {
    /// Lowest and highest radius of the layer's hits (in mm).
    r_min: f64,
    r_max: f64,
    /// Lower z edge of bin 0 and the bin width (mm); `z_bins` bins cover all hits.
    z_lo: f64,
    z_width: f64,
    /// Per z bin: its hits sorted by φ.
    bins: Vec<Bin>,
}

/// The hits of one z bin sorted by φ, with a table of where each φ cell starts, so that finding
/// the start of a window is one lookup and a short walk instead of a binary search (which was a
/// quarter of the search time).
struct Bin {
    hits: Vec<Point>,
    /// `cells[c]`: index of the first hit with φ ≥ −π + c·(2π / (cells.len() − 1)).
    cells: Vec<u32>,
    /// Cells per radian.
    per_rad: f64,
}

impl Bin {
    fn new(mut hits: Vec<Point>) -> Self {
        hits.sort_by(|p, q| p.phi.total_cmp(&q.phi));
        // About two hits per cell.
        let n_cells = (hits.len() / 2).next_power_of_two().clamp(16, 4096);
        let per_rad = n_cells as f64 / (2.0 * PI);
        let cells = (0..=n_cells)
            .map(|c| {
                let edge = -PI + c as f64 / per_rad;
                hits.partition_point(|h| h.phi < edge) as u32
            })
            .collect();
        Bin {
            hits,
            cells,
            per_rad,
        }
    }

    /// `hits.partition_point(|h| h.phi < lo)`, from the cell table.
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN or −∞: from the first hit, as partition_point
    fn first_at_or_above(&self, lo: f64) -> usize {
        // One cell early, so that rounding of the cell edges can only make the walk longer.
        let c = ((lo + PI) * self.per_rad).floor() - 1.0;
        let mut i = if !(c > 0.0) {
            0
        } else {
            self.cells[(c as usize).min(self.cells.len() - 1)] as usize
        };
        while i < self.hits.len() && self.hits[i].phi < lo {
            i += 1;
        }
        i
    }
}

/// Most z bins per layer.
const Z_BINS: usize = 64;
/// Target z bin width in mm: about the z0 window of the outermost layer pairs, so that a search
/// there visits two or three bins, few of whose hits fall outside the window (with 250 mm bins
/// about 45 % of the hits visited were outside; 125 mm builds a 100,000-hit graph ~5 % faster).
const Z_BIN_MM: f64 = 125.0;

impl LayerIndex {
    fn new(geo: &HitGeometry, ids: &[u32]) -> Self {
        let fold = |f: fn(f64, f64) -> f64, init: f64, v: &dyn Fn(u32) -> f64| {
            ids.iter().map(|&i| v(i)).fold(init, f)
        };
        let r_min = fold(f64::min, f64::MAX, &|i| geo.r[i as usize]);
        let r_max = fold(f64::max, f64::MIN, &|i| geo.r[i as usize]);
        let z_min = fold(f64::min, f64::MAX, &|i| geo.z[i as usize]);
        let z_max = fold(f64::max, f64::MIN, &|i| geo.z[i as usize]);
        let n_bins = ((z_max - z_min) / Z_BIN_MM).clamp(1.0, Z_BINS as f64) as usize; // NaN → 1
        let z_width = ((z_max - z_min) / n_bins as f64).max(1e-6);
        let mut bins: Vec<Vec<Point>> = vec![Vec::new(); n_bins];
        for &i in ids {
            let b = ((geo.z[i as usize] - z_min) / z_width) as usize; // NaN → 0
            bins[b.min(n_bins - 1)].push(geo.point(i as usize));
        }
        LayerIndex {
            r_min,
            r_max,
            z_lo: z_min,
            z_width,
            bins: bins.into_iter().map(Bin::new).collect(),
        }
    }

    /// Calls `f(hit)` for every hit with φ within `width` of `phi` (wrapping at ±π) and z in
    /// `[z_lo, z_hi]` (a superset of the doublets; the caller applies the cuts).
    // Negated comparisons on purpose: a NaN bound or width widens the search, never narrows it.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn scan(&self, phi: f64, width: f64, z_lo: f64, z_hi: f64, mut f: impl FnMut(&Point)) {
        // Bin numbers as in `new`; a NaN bound scans every bin rather than none.
        let bin = |z: f64| ((z - self.z_lo) / self.z_width).floor();
        let (b_lo, b_hi) = (bin(z_lo), bin(z_hi));
        let top = self.bins.len() - 1;
        let first = if b_lo.is_nan() {
            0
        } else {
            b_lo.max(0.0) as usize
        };
        let last = if b_hi.is_nan() {
            top
        } else if b_hi < 0.0 {
            return; // the z range is below the layer
        } else {
            (b_hi as usize).min(top)
        };
        if first > last {
            return; // the z range is above the layer
        }
        for bin in &self.bins[first..=last] {
            let mut range = |lo: f64, hi: f64| {
                let start = bin.first_at_or_above(lo);
                for h in &bin.hits[start..] {
                    if !(h.phi <= hi) {
                        break;
                    }
                    // Negated so that NaN bounds keep the hit.
                    if !(h.z < z_lo || h.z > z_hi) {
                        f(h);
                    }
                }
            };
            if !(width < PI) {
                range(f64::NEG_INFINITY, f64::INFINITY);
            } else {
                // Three disjoint ranges at most (window < π wide on each side).
                range(phi - width, phi + width);
                if phi - width < -PI {
                    range(phi - width + 2.0 * PI, f64::INFINITY);
                }
                if phi + width > PI {
                    range(f64::NEG_INFINITY, phi + width - 2.0 * PI);
                }
            }
        }
    }
}

/// Limits on the work one event may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most edges accepted for the whole event.
    pub max_edges: usize,
    /// Most candidate pairs and triplets examined for the whole event (guards against inputs
    /// whose windows are wide but whose pairs all fail the cuts, e.g. wrong layer ids).
    pub max_candidates: usize,
}

impl Limits {
    /// No limit.
    pub const NONE: Limits = Limits {
        max_edges: usize::MAX,
        max_candidates: usize::MAX,
    };
}

/// Why an event's graph was not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphLimit {
    /// More edges than [`Limits::max_edges`].
    Edges(usize),
    /// More candidate pairs than [`Limits::max_candidates`].
    Candidates(usize),
    /// More compatible triplets than 4 × [`Limits::max_edges`] (each holds memory until the
    /// graph is known).
    Triplets(usize),
}

/// A doublet seen from its shared hit: curvature, dip and the other hit.
#[derive(Clone, Copy, Default)]
struct Doublet {
    kappa: f64,
    dip: f64,
    other: u32,
}

impl Doublet {
    /// Curvature and dip of doublet (a, b), as `preprocess.doublet_params`.
    #[inline]
    fn new(a: &Point, b: &Point, other: &Point) -> Self {
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let chord = (dx * dx + dy * dy).sqrt();
        Doublet {
            kappa: 2.0 * (a.x * b.y - a.y * b.x) / (a.r * b.r * chord),
            dip: (b.z - a.z) / chord,
            other: other.index,
        }
    }
}

/// Builds the hit graph of an event: doublets from (φ, z)-binned windows, then triplet
/// compatibility (rules in `model/MODEL.md`). Indexing is O(n log n).
pub struct GraphBuilder<'g> {
    geo: &'g HitGeometry,
    layers: Vec<Option<LayerIndex>>,
    /// Hit indices of each layer, by φ.
    members: Vec<Vec<u32>>,
}

/// Relative widening of search windows: any superset gives the same result, the exact tests
/// decide, so windows are made a little wider than the cuts to be safe from rounding.
const WIDEN: f64 = 1.0 + 1e-6;

impl<'g> GraphBuilder<'g> {
    /// Indexes the hits of `geo` by layer, z and φ.
    pub fn new(geo: &'g HitGeometry) -> Self {
        let mut by_layer: Vec<Vec<u32>> = vec![Vec::new(); N_LAYERS];
        for (i, &l) in geo.layer.iter().enumerate() {
            by_layer[l as usize].push(i as u32);
        }
        let layers = by_layer
            .iter()
            .map(|ids| (!ids.is_empty()).then(|| LayerIndex::new(geo, ids)))
            .collect();
        // In φ order, neighbouring hits search neighbouring windows (warm caches), and the
        // doublets held for an outer hit arrive nearly sorted by curvature.
        for ids in &mut by_layer {
            ids.sort_by(|&a, &b| geo.phi[a as usize].total_cmp(&geo.phi[b as usize]));
        }
        GraphBuilder {
            geo,
            layers,
            members: by_layer,
        }
    }

    /// Calls `f(b, ok)` for each candidate (a, b) with `a` the inner hit, `ok` when it is a
    /// doublet (passes the cuts); returns the number of candidates.
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN span means no edges, as in numpy
    fn for_each_outer(&self, a: &Point, mut f: impl FnMut(&Point, bool)) -> usize {
        let (ra, za) = (a.r, a.z);
        let layer = self.geo.layer[a.index as usize];
        let mut examined = 0;
        for (la, lb) in LAYER_PAIRS {
            let Some(outer) = (la == layer)
                .then(|| self.layers[lb as usize].as_ref())
                .flatten()
            else {
                continue;
            };
            let (dr_lo, dr_hi) = (outer.r_min - ra, outer.r_max - ra);
            if !(dr_hi > 0.0) {
                continue;
            }
            let width = PHI_SLOPE_MAX * dr_hi * WIDEN + 1e-9;
            // z_b = z_a + (z_a - z0) dr / r_a over z0 in ±Z0_MAX and dr in [dr_lo, dr_hi]; with
            // r_a = 0 the intercept is z_a itself and any z_b passes the z0 cut.
            let (z_lo, z_hi) = if ra > 0.0 {
                let ends = [za - Z0_MAX, za + Z0_MAX];
                let dr = [dr_lo.max(0.0), dr_hi];
                let c = ends.iter().flat_map(|e| dr.iter().map(move |d| e * d / ra));
                let (lo, hi) = c.fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
                let m = 1e-6 * (hi - lo).abs() + 1e-6;
                (za + lo - m, za + hi + m)
            } else {
                (f64::NEG_INFINITY, f64::INFINITY)
            };
            outer.scan(a.phi, width, z_lo, z_hi, |b| {
                examined += 1;
                f(b, passes_cuts(a, b));
            });
        }
        examined
    }

    /// Calls `f(a, ok)` for each candidate (a, b) with `b` the outer hit, `ok` when it is a
    /// doublet; returns the number of candidates.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn for_each_inner(&self, b: &Point, mut f: impl FnMut(&Point, bool)) -> usize {
        let (rb, zb) = (b.r, b.z);
        let layer = self.geo.layer[b.index as usize];
        let mut examined = 0;
        for (la, lb) in LAYER_PAIRS {
            let Some(inner) = (lb == layer)
                .then(|| self.layers[la as usize].as_ref())
                .flatten()
            else {
                continue;
            };
            let dr_hi = rb - inner.r_min;
            if !(dr_hi > 0.0) {
                continue;
            }
            let width = PHI_SLOPE_MAX * dr_hi * WIDEN + 1e-9;
            // z_a = z0 + r_a (z_b - z0) / r_b: linear in z0 and r_a, extreme at the corners.
            let (z_lo, z_hi) = if rb > 0.0 {
                let ra = [inner.r_min.max(0.0), inner.r_max.min(rb)];
                let c = [-Z0_MAX, Z0_MAX]
                    .into_iter()
                    .flat_map(|z0| ra.iter().map(move |r| z0 + r * (zb - z0) / rb));
                let (lo, hi) = c.fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
                let m = 1e-6 * (hi - lo).abs() + 1e-6;
                (lo - m, hi + m)
            } else {
                (f64::NEG_INFINITY, f64::INFINITY)
            };
            inner.scan(b.phi, width, z_lo, z_hi, |a| {
                examined += 1;
                f(a, passes_cuts(a, b));
            });
        }
        examined
    }

    /// The doublets (a, b) of inner hit `a`, destinations ascending.
    pub fn doublets_of(&self, a: usize) -> Vec<[u32; 2]> {
        let mut out = Vec::new();
        self.for_each_outer(&self.geo.point(a), |b, ok| {
            push_if(&mut out, [a as u32, b.index], ok)
        });
        out.sort_unstable();
        out
    }

    /// Every doublet, sorted by (inner, outer) as `preprocess.build_doublets` returns them.
    pub fn doublets(&self) -> Vec<[u32; 2]> {
        (0..self.geo.len())
            .flat_map(|a| self.doublets_of(a))
            .collect()
    }

    /// The graph: every doublet of a compatible triplet that contains a good doublet (one
    /// compatible with a doublet on each side), sorted by (source, destination). Exactly
    /// `preprocess.build_edges`. Stops as soon as a limit is passed.
    ///
    /// Layer by layer, inside out: each hit's outer doublets are searched once, matched with its
    /// inner ones into triplets, and kept (within [`DOUBLETS_HELD_MAX`]) as the inner doublets
    /// of their outer hits, whose layers come later; a layer whose list outgrew the budget
    /// searches its inner doublets itself (same doublets, twice the search).
    pub fn build(&self, limits: Limits) -> Result<Vec<[u32; 2]>, GraphLimit> {
        self.build_holding(limits, DOUBLETS_HELD_MAX)
    }

    /// [`Self::build`] holding at most `held_max` doublets for reuse.
    fn build_holding(&self, limits: Limits, held_max: usize) -> Result<Vec<[u32; 2]>, GraphLimit> {
        let g = self.geo;
        let key = |a: u32, b: u32| (u64::from(a) << 32) | u64::from(b);
        let mut examined = 0usize;
        // Compatible triplets (x, m, y) as the keys of their two doublets.
        let mut triplets: Vec<[u64; 2]> = Vec::new();
        // Per layer of the outer hit: (outer hit, doublet seen from it); `None` once dropped.
        let mut waiting: Vec<Option<Vec<(u32, Doublet)>>> =
            (0..N_LAYERS).map(|_| Some(Vec::new())).collect();
        let mut held = 0usize;
        let (mut searched, mut outs) = (Vec::<Doublet>::new(), Vec::<Doublet>::new());
        let mut sorted = ByCurvature::default();
        // Position of each hit in its layer's member list.
        let mut local = vec![0u32; g.len()];
        for hits in &self.members {
            for (i, &h) in hits.iter().enumerate() {
                local[h as usize] = i as u32;
            }
        }
        for (l, hits) in self.members.iter().enumerate() {
            let (tk, td) = (TRIPLET_DKAPPA[l], TRIPLET_DDIP[l]);
            // The innermost and outermost layers are never in the middle.
            let middle = tk > 0.0 && td > 0.0;
            // This layer's inner doublets grouped by hit: [first[i], first[i + 1]) for hit i.
            let cached = waiting[l].take().map(|w| {
                held -= w.len();
                group_by(
                    w.iter().map(|&(h, d)| (local[h as usize] as usize, d)),
                    hits.len(),
                )
            });
            let feeds = waiting[(l + 1).min(N_LAYERS)..(l + 3).min(N_LAYERS)]
                .iter()
                .any(Option::is_some);
            if !middle && !feeds {
                continue;
            }
            for (i, &m) in hits.iter().enumerate() {
                let pm = g.point(m as usize);
                outs.clear();
                examined += self
                    .for_each_outer(&pm, |y, ok| push_if(&mut outs, Doublet::new(&pm, y, y), ok));
                for o in &outs {
                    let slot = &mut waiting[g.layer[o.other as usize] as usize];
                    if let Some(w) = slot {
                        if held < held_max {
                            w.push((o.other, Doublet { other: m, ..*o }));
                            held += 1;
                        } else {
                            held -= w.len();
                            *slot = None;
                        }
                    }
                }
                if !middle || outs.is_empty() {
                    continue;
                }
                // The inner doublets are all found before any is matched: the quotients of one
                // doublet then do not hold up the search for the next (a quarter faster).
                let ins: &[Doublet] = match &cached {
                    Some((first, list)) => &list[first[i] as usize..first[i + 1] as usize],
                    None => {
                        searched.clear();
                        examined += self.for_each_inner(&pm, |x, ok| {
                            push_if(&mut searched, Doublet::new(x, &pm, x), ok)
                        });
                        &searched
                    }
                };
                if ins.is_empty() {
                    continue;
                }
                sorted.fill(&outs);
                let mut matched = 0usize;
                for d in ins {
                    matched += sorted.matches(d, tk, td, |o| {
                        triplets.push([key(d.other, m), key(m, o)]);
                    });
                }
                examined += matched;
                if examined > limits.max_candidates {
                    return Err(GraphLimit::Candidates(examined));
                }
                if triplets.len() > limits.max_edges.saturating_mul(4) {
                    return Err(GraphLimit::Triplets(triplets.len()));
                }
            }
        }
        drop(waiting);
        let kept = select_edges(g.len(), &triplets);
        if kept.len() > limits.max_edges {
            return Err(GraphLimit::Edges(kept.len()));
        }
        Ok(kept)
    }
}

/// The outer doublets of one middle hit bucketed by curvature cell (counting sort, about one
/// cell per doublet: linear, where sorting both sides by comparison was a third of the graph's
/// time at 100,000 hits), in columns padded for chunked tests.
#[derive(Default)]
struct ByCurvature {
    /// Curvature, dip and other hit of each doublet, cell by cell (NaN curvatures after the last
    /// cell), then [`MATCH_CHUNK`] entries of curvature +∞.
    kappa: Vec<f64>,
    dip: Vec<f64>,
    other: Vec<u32>,
    /// Lowest curvature and cells per unit of curvature (0: one cell).
    lo: f64,
    per_unit: f64,
    /// Cell `c` is `[first[c], first[c + 1])`; `cells` cells, then the NaN slot.
    first: Vec<u32>,
    /// Scratch: each doublet's cell.
    cell_of: Vec<u32>,
}

/// Outer doublets tested against an inner doublet at once: a fixed count, so that the test is
/// branch-free and vectorised; the window of curvatures within tolerance holds about four.
const MATCH_CHUNK: usize = 8;

impl ByCurvature {
    /// The cell of curvature `k`: monotone in `k` (subtraction, multiplication by a positive
    /// factor and truncation all are), so a cell after `cell(k)` holds only curvatures above `k`.
    #[inline]
    fn cell(&self, k: f64) -> usize {
        // Below `lo` (and NaN) → 0 by the saturating cast.
        (((k - self.lo) * self.per_unit) as usize).min(self.first.len() - 3)
    }

    fn fill(&mut self, outs: &[Doublet]) {
        // f64::min / max skip NaN.
        let (lo, hi) = outs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), o| {
                (l.min(o.kappa), h.max(o.kappa))
            });
        let cells = outs.len().max(1);
        let range = hi - lo;
        self.lo = lo;
        // An infinite or empty range: one cell.
        self.per_unit = if range.is_finite() && range > 0.0 {
            cells as f64 / range
        } else {
            0.0
        };
        // Counts per cell (NaN curvatures in slot `cells`); running totals (`first[c]` = end of
        // cell c); filled from the back of each cell, so that `first[c]` ends at its start.
        self.first.clear();
        self.first.resize(cells + 2, 0);
        self.cell_of.clear();
        for o in outs {
            let c = if o.kappa.is_nan() {
                cells
            } else {
                self.cell(o.kappa)
            };
            self.cell_of.push(c as u32);
            self.first[c] += 1;
        }
        for c in 1..=cells {
            self.first[c] += self.first[c - 1];
        }
        self.first[cells + 1] = outs.len() as u32;
        let padded = outs.len() + MATCH_CHUNK;
        self.kappa.clear();
        self.kappa.resize(padded, f64::INFINITY);
        self.dip.clear();
        self.dip.resize(padded, 0.0);
        self.other.clear();
        self.other.resize(padded, 0);
        for (o, &c) in outs.iter().zip(&self.cell_of) {
            let at = &mut self.first[c as usize];
            *at -= 1;
            let at = *at as usize;
            self.kappa[at] = o.kappa;
            self.dip[at] = o.dip;
            self.other[at] = o.other;
        }
    }

    /// Calls `f(other)` for each doublet within `tk` in curvature and `td` in dip of `d`; returns
    /// the number of doublets tested (those in the cells of the window ±`tk` · [`WIDEN`]).
    #[inline]
    fn matches(&self, d: &Doublet, tk: f64, td: f64, mut f: impl FnMut(u32)) -> usize {
        // The cells of the window's ends: any doublet within tolerance is in between (cells are
        // monotone in curvature); the others there fail the exact test. NaN: cell 0 to 0, and
        // nothing passes.
        let start = self.first[self.cell(d.kappa - tk * WIDEN)] as usize;
        let end = self.first[self.cell(d.kappa + tk * WIDEN) + 1] as usize;
        let mut i = start;
        while i < end {
            // In bounds: i < end ≤ the doublet count, and MATCH_CHUNK entries of padding follow.
            // Entries past `end` are doublets of later cells (above the window: they fail) or
            // padding (+∞ fails).
            let ks = &self.kappa[i..i + MATCH_CHUNK];
            let ds = &self.dip[i..i + MATCH_CHUNK];
            let mut hits = 0u32;
            for j in 0..MATCH_CHUNK {
                let ok = ((d.kappa - ks[j]).abs() <= tk) & ((d.dip - ds[j]).abs() <= td);
                hits |= u32::from(ok) << j;
            }
            while hits != 0 {
                f(self.other[i + hits.trailing_zeros() as usize]);
                hits &= hits - 1;
            }
            i += MATCH_CHUNK;
        }
        end.saturating_sub(start)
    }
}

/// Most doublets held for reuse at once (32 bytes each: 3.2 MB). Reuse pays while they stay in
/// cache: held without bound, a 5,000-particle event's graph took 355 ms against 305 ms when
/// every hit searched both sides; with this bound 302 ms against 331 (1,000 particles: 14.8 ms
/// against 19.6 either way).
const DOUBLETS_HELD_MAX: usize = 100_000;

/// Counting sort: `items` grouped by bucket (`< n`), in their order within a bucket. Bucket `i`
/// is `list[first[i]..first[i + 1]]`; returns `(first, list)`.
fn group_by<T: Copy + Default>(
    items: impl Iterator<Item = (usize, T)> + Clone,
    n: usize,
) -> (Vec<u32>, Vec<T>) {
    let mut first = vec![0u32; n + 1];
    for (b, _) in items.clone() {
        first[b + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut next = first.clone();
    let mut list = vec![T::default(); first[n] as usize];
    for (b, x) in items {
        list[next[b] as usize] = x;
        next[b] += 1;
    }
    (first, list)
}

/// The edges from the compatible triplets: a doublet is *good* when it is the inner doublet of
/// one triplet and the outer doublet of another; every doublet of a triplet with a good doublet
/// is an edge. Sorted by (source, destination). Linear in the triplets: their doublets are
/// bucketed by source hit (counting sort), each bucket (a few doublets) sorted and deduplicated.
fn select_edges(n_hits: usize, triplets: &[[u64; 2]]) -> Vec<[u32; 2]> {
    let (src, dst) = (|k: u64| (k >> 32) as usize, |k: u64| k as u32);
    let (first, mut dsts) = group_by(triplets.iter().flatten().map(|&k| (src(k), dst(k))), n_hits);
    // Deduplicate each bucket in place; `end[a]` closes bucket a.
    let mut end = vec![0u32; n_hits];
    for a in 0..n_hits {
        let (lo, hi) = (first[a] as usize, first[a + 1] as usize);
        let bucket = &mut dsts[lo..hi];
        bucket.sort_unstable();
        let mut w = 0;
        for r in 0..bucket.len() {
            if r == 0 || bucket[r] != bucket[w - 1] {
                bucket[w] = bucket[r];
                w += 1;
            }
        }
        end[a] = (lo + w) as u32;
    }
    let id = |k: u64| {
        let (lo, hi) = (first[src(k)] as usize, end[src(k)] as usize);
        lo + dsts[lo..hi].partition_point(|&d| d < dst(k))
    };
    const INNER: u8 = 1; // inner doublet of a triplet (it continues outwards)
    const OUTER: u8 = 2; // outer doublet of a triplet
    const KEPT: u8 = 4;
    let mut flags = vec![0u8; dsts.len()];
    let ids: Vec<[usize; 2]> = triplets.iter().map(|t| [id(t[0]), id(t[1])]).collect();
    for &[i, o] in &ids {
        flags[i] |= INNER;
        flags[o] |= OUTER;
    }
    let good = |f: u8| f & (INNER | OUTER) == INNER | OUTER;
    for &[i, o] in &ids {
        if good(flags[i]) || good(flags[o]) {
            flags[i] |= KEPT;
            flags[o] |= KEPT;
        }
    }
    let mut edges = Vec::new();
    for a in 0..n_hits {
        for j in first[a] as usize..end[a] as usize {
            if flags[j] & KEPT != 0 {
                edges.push([a as u32, dsts[j]]);
            }
        }
    }
    edges
}

/// The whole edge index of the hits, sorted by (source, destination) as `preprocess.build_edges`
/// returns it: `[source, destination]` pairs, source on the inner layer.
pub fn build_edges(geo: &HitGeometry) -> Vec<[u32; 2]> {
    // Without limits nothing can stop the build.
    GraphBuilder::new(geo)
        .build(Limits::NONE)
        .unwrap_or_default()
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

    /// Hits at (r, φ, z) on the given layers.
    fn geometry(hits: &[(f64, f64, f64)], layers: &[i32]) -> HitGeometry {
        let flat: Vec<f32> = hits
            .iter()
            .flat_map(|&(r, phi, z)| [(r * phi.cos()) as f32, (r * phi.sin()) as f32, z as f32])
            .collect();
        HitGeometry::new(&flat, layers).unwrap()
    }

    const RADII: [f64; N_LAYERS] = [
        32.0, 72.0, 116.0, 172.0, 260.0, 360.0, 500.0, 660.0, 820.0, 1020.0,
    ];

    #[test]
    fn doublets_wrap_around_pi_and_respect_the_cuts() {
        // Inner hit just below +π, outer hits just above -π (same track across the seam), one too
        // far in φ, one with too large a z0, one on a non-adjacent layer.
        let g = geometry(
            &[
                (32.0, PI - 0.001, 0.0),
                (72.0, -PI + 0.001, 0.0),
                (72.0, -PI + 0.2, 0.0),
                (72.0, -PI + 0.002, 400.0),
                (260.0, -PI + 0.001, 0.0),
            ],
            &[0, 1, 1, 1, 4],
        );
        assert_eq!(GraphBuilder::new(&g).doublets(), vec![[0, 1]]);
        // A lone doublet continues no track: it is not an edge of the graph.
        assert!(build_edges(&g).is_empty());
        let flat = [0.0f32; 15];
        let bad = HitGeometry::new(&flat, &[0, 1, 10, 1, 4]).unwrap_err();
        assert_eq!(
            bad,
            BadLayer {
                index: 2,
                layer: 10
            }
        );
    }

    /// Hits of a straight track (φ = 0.3, from z = 5 mm with cot θ = 0.5) on `layers`.
    fn straight_track(layers: &[usize]) -> Vec<(f64, f64, f64)> {
        layers
            .iter()
            .map(|&l| (RADII[l], 0.3, 5.0 + 0.5 * RADII[l]))
            .collect()
    }

    #[test]
    fn a_track_needs_four_hits_in_line() {
        // Three hits: every doublet is in a compatible triplet but none is good (one side only).
        let three = straight_track(&[0, 1, 2]);
        assert!(build_edges(&geometry(&three, &[0, 1, 2])).is_empty());
        // Four: the middle doublet is good, so the triplets through it give the three edges; the
        // skips (0, 2) and (1, 3) are only in triplets without a good doublet.
        let four = straight_track(&[0, 1, 2, 3]);
        let g = geometry(&four, &[0, 1, 2, 3]);
        assert_eq!(GraphBuilder::new(&g).doublets().len(), 5);
        let e = build_edges(&g);
        assert_eq!(e, vec![[0, 1], [1, 2], [2, 3]]);
        // A fifth hit on layer 2 that bends away (Δφ 0.01 rad) forms doublets, but no triplet.
        let mut bent = four.clone();
        bent.push((RADII[2], 0.31, 5.0 + 0.5 * RADII[2]));
        let g = geometry(&bent, &[0, 1, 2, 3, 2]);
        assert!(GraphBuilder::new(&g).doublets().contains(&[1, 4]));
        assert_eq!(build_edges(&g), e);
    }

    #[test]
    fn doublets_searched_again_when_over_budget_give_the_same_graph() {
        // The golden dense event (2,000 particles), whose default graph tests/golden.rs checks
        // against Python.
        let npz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("model/golden.npz");
        let golden = hepinfer_plugin_testing::read_npz(&npz);
        let (hits, layers) = (golden["dense_hits"].f32(), golden["dense_hit_layer"].i32());
        let g = HitGeometry::new(&hits, &layers).unwrap();
        let b = GraphBuilder::new(&g);
        let all = b.build(Limits::NONE).unwrap();
        assert!(all.len() > 20_000, "{} edges", all.len());
        // Nothing held (every layer searches its inner doublets), and a budget that runs out
        // part-way (some layers reuse, later ones search).
        for held_max in [0, 30_000] {
            assert_eq!(
                b.build_holding(Limits::NONE, held_max).unwrap(),
                all,
                "{held_max}"
            );
        }
    }

    #[test]
    fn curvature_buckets_find_exactly_the_pairs_within_tolerance() {
        // xorshift: reproducible without a dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (tk, td) = (1.5e-5, 0.03);
        let mut cells = ByCurvature::default();
        for round in 0..300 {
            let n = round % 40;
            let mut draw = |i: usize| {
                // Clustered curvatures (many in one cell, equal values) and odd ones.
                let kappa = match i % 11 {
                    0 if round % 3 == 0 => f64::NAN,
                    1 if round % 5 == 0 => f64::INFINITY,
                    2 if round % 7 == 0 => f64::NEG_INFINITY,
                    3 => 4e-4,
                    _ => (next() - 0.5) * if round % 2 == 0 { 1e-4 } else { 3e-3 },
                };
                Doublet {
                    kappa,
                    dip: (next() - 0.5) * 0.2,
                    other: i as u32,
                }
            };
            let outs: Vec<Doublet> = (0..n).map(&mut draw).collect();
            let ins: Vec<Doublet> = (0..n + 3).map(&mut draw).collect();
            cells.fill(&outs);
            for d in &ins {
                let mut got = Vec::new();
                cells.matches(d, tk, td, |o| got.push(o));
                got.sort_unstable();
                let want: Vec<u32> = outs
                    .iter()
                    .filter(|o| (d.kappa - o.kappa).abs() <= tk && (d.dip - o.dip).abs() <= td)
                    .map(|o| o.other)
                    .collect();
                assert_eq!(got, want, "round {round}, inner {:?}", (d.kappa, d.dip));
            }
        }
    }

    #[test]
    fn limits_stop_the_build() {
        // 20 straight tracks on top of each other: every combination lines up.
        let mut hits = Vec::new();
        let mut layers = Vec::new();
        for _ in 0..20 {
            for (l, &r) in RADII[..4].iter().enumerate() {
                hits.push((r, 0.0, 0.0));
                layers.push(l as i32);
            }
        }
        let g = geometry(&hits, &layers);
        let b = GraphBuilder::new(&g);
        let lim = |e, c| Limits {
            max_edges: e,
            max_candidates: c,
        };
        let all = b.build(lim(100_000, 1_000_000)).unwrap();
        assert_eq!(all.len(), 3 * 400); // (0, 1), (1, 2), (2, 3): skips are in no good triplet
        assert!(matches!(
            b.build(lim(1000, 1_000_000)),
            Err(GraphLimit::Triplets(_))
        ));
        assert!(matches!(
            b.build(lim(100_000, 50)),
            Err(GraphLimit::Candidates(_))
        ));
    }
}
