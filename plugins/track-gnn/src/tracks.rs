//! Track candidates from scored edges, and their helix parameters.

use serde::Deserialize;

/// How edges above threshold become tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrackBuilding {
    /// Connected components with a walk-through that resolves branches: a component with at
    /// most one hit per layer is a track; in one with two hits on a layer (tracks merged through
    /// a wrong edge) the edges are taken greedily in rank order (nearest layer first, then
    /// highest score) when neither end is linked in that direction yet, so every hit keeps at
    /// most one successor and one predecessor and the chains are the tracks.
    #[default]
    Walk,
    /// Plain connected components of the edges above threshold (the model card reports both).
    Components,
}

/// An edge kept for track building: inner hit, outer hit, score.
pub type ScoredEdge = (u32, u32, f32);

/// Track candidates (hit lists ordered by layer, inner first) with at least `min_hits` hits,
/// ordered by their innermost hit index.
pub fn build_tracks(
    layer: &[u8],
    edges: &[ScoredEdge],
    mode: TrackBuilding,
    min_hits: usize,
) -> Vec<Vec<u32>> {
    let n = layer.len();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    match mode {
        TrackBuilding::Components => {
            for &(a, b, _) in edges {
                union(&mut parent, a, b);
            }
        }
        TrackBuilding::Walk => {
            // Connected components first: one with at most one hit per layer is a track as it
            // stands (a barrel track crosses each layer once).
            let mut comp: Vec<u32> = (0..n as u32).collect();
            for &(a, b, _) in edges {
                union(&mut comp, a, b);
            }
            let mut seen: Vec<(u32, u8)> = Vec::new();
            let mut linked = vec![false; n];
            for &(a, b, _) in edges {
                linked[a as usize] = true;
                linked[b as usize] = true;
            }
            for i in 0..n as u32 {
                if linked[i as usize] {
                    seen.push((find(&mut comp, i), layer[i as usize]));
                }
            }
            seen.sort_unstable();
            let mut branched = vec![false; n];
            for w in seen.windows(2) {
                if w[0] == w[1] {
                    branched[w[0].0 as usize] = true;
                }
            }
            // Components with two hits on a layer (tracks merged through a wrong edge, or a
            // branch) are walked: edges in rank order (nearer layer first, then higher score,
            // then input order), each taken if its inner hit has no successor and its outer hit
            // no predecessor yet, so each hit keeps one of each and the chains are the tracks.
            let gap =
                |e: &ScoredEdge| i32::from(layer[e.1 as usize]) - i32::from(layer[e.0 as usize]);
            let mut walk: Vec<u32> = Vec::new();
            for (e, &(a, b, _)) in edges.iter().enumerate() {
                if branched[find(&mut comp, a) as usize] {
                    walk.push(e as u32);
                } else {
                    union(&mut parent, a, b);
                }
            }
            walk.sort_by(|&i, &j| {
                let (ei, ej) = (&edges[i as usize], &edges[j as usize]);
                gap(ei)
                    .cmp(&gap(ej))
                    .then(ej.2.total_cmp(&ei.2))
                    .then(i.cmp(&j))
            });
            let (mut has_out, mut has_in) = (vec![false; n], vec![false; n]);
            for e in walk {
                let (a, b, _) = edges[e as usize];
                if !has_out[a as usize] && !has_in[b as usize] {
                    has_out[a as usize] = true;
                    has_in[b as usize] = true;
                    union(&mut parent, a, b);
                }
            }
        }
    }
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut group_of = vec![u32::MAX; n];
    for i in 0..n as u32 {
        let root = find(&mut parent, i) as usize;
        if group_of[root] == u32::MAX {
            group_of[root] = groups.len() as u32;
            groups.push(Vec::new());
        }
        groups[group_of[root] as usize].push(i);
    }
    let mut tracks: Vec<Vec<u32>> = groups
        .into_iter()
        .filter(|g| g.len() >= min_hits.max(1))
        .collect();
    for t in &mut tracks {
        t.sort_by_key(|&h| (layer[h as usize], h));
    }
    tracks
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        // Path halving keeps the trees flat.
        parent[i as usize] = parent[parent[i as usize] as usize];
        i = parent[i as usize];
    }
    i
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // The smaller index becomes the root so group order follows the first hit.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}

/// Helix parameters of a track candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackParams {
    /// Transverse momentum in GeV (capped at [`PT_MAX_GEV`] for straight tracks).
    pub pt_gev: f64,
    /// Azimuth of the momentum at the beam line, (−π, π].
    pub phi: f64,
    /// Pseudorapidity.
    pub eta: f64,
    /// z of the track at the beam line, mm.
    pub z0_mm: f64,
    /// Charge sign (+1: bends clockwise seen from +z in a field along +z).
    pub charge: f64,
}

/// Transverse momentum reported for a track that is straight within the fit's precision.
pub const PT_MAX_GEV: f64 = 10_000.0;

/// Fits a circle through the beam line (origin) and the hits in the transverse plane, and a
/// line z(s) in the (arc length, z) plane. `xyz` are the hits' coordinates in mm; `bfield_t` the
/// solenoid field in tesla (pT [GeV] = 0.3 B[T] R[m]).
///
/// The circle fit is linear in conformal coordinates u = x/r², v = y/r², where a circle through
/// the origin, x² + y² = 2x₀x + 2y₀y, becomes the line 2x₀u + 2y₀v = 1; residuals are weighted
/// by r⁴ so that the fit approximates geometric least squares.
pub fn fit_helix(xyz: &[[f64; 3]], bfield_t: f64) -> TrackParams {
    let (mut suu, mut suv, mut svv, mut su, mut sv) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in xyz {
        let r2 = p[0] * p[0] + p[1] * p[1];
        if r2 <= 0.0 {
            continue;
        }
        let (u, v) = (p[0] / r2, p[1] / r2);
        let w = (r2 / 1e6) * (r2 / 1e6); // (r / 1 m)^4
        suu += w * u * u;
        suv += w * u * v;
        svv += w * v * v;
        su += w * u;
        sv += w * v;
    }
    let det = suu * svv - suv * suv;
    let first = xyz.first().copied().unwrap_or([1.0, 0.0, 0.0]);
    let (radius, dir, charge) = if det.abs() > 1e-30 * (suu * svv).max(f64::MIN_POSITIVE) {
        let cx = 0.5 * (su * svv - sv * suv) / det;
        let cy = 0.5 * (sv * suu - su * suv) / det;
        let r = cx.hypot(cy);
        // Tangent at the origin, oriented towards the hits.
        let mut t = [-cy / r, cx / r];
        if t[0] * first[0] + t[1] * first[1] < 0.0 {
            t = [-t[0], -t[1]];
        }
        // Centre to the right of the direction of motion: clockwise, positive charge.
        let q = if t[0] * cy - t[1] * cx < 0.0 {
            1.0
        } else {
            -1.0
        };
        (r, t, q)
    } else {
        (f64::INFINITY, [first[0], first[1]], 0.0)
    };
    let pt = (0.3 * bfield_t * radius / 1000.0).min(PT_MAX_GEV);
    // Line fit z = z0 + s·cotθ over the transverse arc length s from the origin.
    let (mut n, mut ss, mut sz, mut sss, mut ssz) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in xyz {
        let r = p[0].hypot(p[1]);
        let s = if radius.is_finite() {
            2.0 * radius * (r / (2.0 * radius)).min(1.0).asin()
        } else {
            r
        };
        n += 1.0;
        ss += s;
        sz += p[2];
        sss += s * s;
        ssz += s * p[2];
    }
    let den = n * sss - ss * ss;
    let (cot, z0) = if den.abs() > 0.0 {
        let cot = (n * ssz - ss * sz) / den;
        (cot, (sz - cot * ss) / n)
    } else if n > 0.0 {
        (0.0, sz / n)
    } else {
        (0.0, 0.0)
    };
    TrackParams {
        pt_gev: pt,
        phi: dir[1].atan2(dir[0]),
        eta: cot.asinh(),
        z0_mm: z0,
        charge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_splits_what_components_merge() {
        // Two 4-hit tracks (hits 0-3 and 4-7 on layers 0-3) joined by one wrong edge 1 -> 6 of
        // lower score than 1 -> 2 and 5 -> 6.
        let layer = [0u8, 1, 2, 3, 0, 1, 2, 3];
        let edges = [
            (0, 1, 0.9),
            (1, 2, 0.9),
            (2, 3, 0.9),
            (4, 5, 0.9),
            (5, 6, 0.9),
            (6, 7, 0.9),
            (1, 6, 0.6),
        ];
        let cc = build_tracks(&layer, &edges, TrackBuilding::Components, 3);
        // One merged candidate, hits ordered by layer.
        assert_eq!(cc, vec![vec![0, 4, 1, 5, 2, 6, 3, 7]]);
        let walk = build_tracks(&layer, &edges, TrackBuilding::Walk, 3);
        assert_eq!(walk, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
        // Below min_hits nothing is reported.
        assert!(build_tracks(&layer, &edges[..1], TrackBuilding::Walk, 3).is_empty());
    }

    #[test]
    fn walk_bridges_a_missed_layer_next_to_a_fake() {
        // Track A: hits 0 (layer 0), 1 (1), 2 (3), 3 (4), missing layer 2. Track B: hits 4 (1),
        // 5 (2), 6 (3). A fake 1 -> 5 is on the nearer layer than A's true skip 1 -> 2 but 5 is
        // B's: A must still be one track.
        let layer = [0u8, 1, 3, 4, 1, 2, 3];
        let edges = [
            (0, 1, 0.9),
            (1, 2, 0.95),
            (1, 5, 0.6),
            (2, 3, 0.9),
            (4, 5, 0.9),
            (5, 6, 0.9),
        ];
        assert_eq!(
            build_tracks(&layer, &edges, TrackBuilding::Walk, 3),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6]]
        );
    }

    #[test]
    fn a_component_with_one_hit_per_layer_is_not_walked() {
        // One particle on layers 3-6 whose 4 -> 5 edge was lost: a pure walk would take 5 -> 6
        // and 3 -> 4 first and then have no free end for the skips, cutting it in two.
        let layer = [3u8, 4, 5, 6];
        let edges = [(0, 1, 0.9), (1, 3, 0.95), (2, 3, 0.99), (0, 2, 0.6)];
        assert_eq!(
            build_tracks(&layer, &edges, TrackBuilding::Walk, 3),
            vec![vec![0, 1, 2, 3]]
        );
    }

    #[test]
    fn walk_prefers_the_neighbouring_layer_over_a_skip() {
        let layer = [0u8, 1, 2];
        let edges = [(0, 2, 0.99), (0, 1, 0.7), (1, 2, 0.8)];
        assert_eq!(
            build_tracks(&layer, &edges, TrackBuilding::Walk, 3),
            vec![vec![0, 1, 2]]
        );
    }

    #[test]
    fn helix_fit_recovers_a_toy_track() {
        use toydet::tracker::{helix_crossing, trackml_barrel, Particle};
        for (q, pt, phi, eta, z0) in [(1i8, 2.0, 0.3, 0.5, 10.0), (-1, 0.8, -2.9, -1.7, -40.0)] {
            let p = Particle {
                id: 1,
                pt_gev: pt,
                eta,
                phi,
                charge: q,
                vertex_mm: [0.0, 0.0, z0],
            };
            let hits: Vec<[f64; 3]> = trackml_barrel()
                .iter()
                .filter_map(|l| helix_crossing(&p, 2.0, l.radius_mm))
                .collect();
            assert!(hits.len() >= 5);
            let f = fit_helix(&hits, 2.0);
            assert!((f.pt_gev / pt - 1.0).abs() < 1e-3, "pt {f:?}");
            assert!((f.phi - phi).abs() < 1e-3, "phi {f:?}");
            assert!((f.eta - eta).abs() < 1e-3, "eta {f:?}");
            assert!((f.z0_mm - z0).abs() < 1e-2, "z0 {f:?}");
            assert_eq!(f.charge, f64::from(q), "charge {f:?}");
        }
    }
}
