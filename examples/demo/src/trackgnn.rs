//! The track-gnn plugin on toy tracker events: TrackML double-majority track efficiency and fake
//! rate on this run.
//!
//! The GNN is the demo's most expensive algorithm (about 0.1 s for a 1,000-particle event of
//! 8.3k hits and 12k edges), so it runs at the model card's density on every [`EVERY`]-th event
//! only; the quality line says so.

use crate::workload::Workload;
use hepinfer::abi::{hepinfer_dtype, hepinfer_event_key};
use hepinfer_plugin_testing::cabi::{f32_input, CError, CInstance};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use toydet::tracker::{event_rng, generate_event, TrackerConfig};

/// The GNN runs on every EVERY-th event.
pub const EVERY: u64 = 200;
/// Particles per tracker event: the model card's density.
pub const PARTICLES: usize = 1000;

/// Counts for the double-majority figures.
#[derive(Default)]
struct Counts {
    /// Particles with pT > 1 GeV and >= 5 hits, and how many were matched.
    selected: usize,
    matched: usize,
    /// Candidates with >= 3 hits, and how many matched a particle.
    candidates: usize,
    good: usize,
}

/// Finds tracks in a 1,000-particle toy event on every 200th event.
pub struct TrackGnn {
    counts: Mutex<Counts>,
}

impl TrackGnn {
    /// A workload with nothing seen yet.
    pub fn new() -> Self {
        TrackGnn {
            counts: Mutex::new(Counts::default()),
        }
    }
}

impl Workload for TrackGnn {
    fn plugin(&self) -> &'static str {
        "track-gnn"
    }

    fn config(&self) -> String {
        // hit_track as f32: the C ABI wrapper the demo uses reads f32 outputs only.
        r#"{"float_ids": true}"#.into()
    }

    fn process(&self, inst: &CInstance, key: hepinfer_event_key, event: u64) -> Result<(), CError> {
        if !event.is_multiple_of(EVERY) {
            return Ok(());
        }
        let cfg = TrackerConfig {
            n_particles: PARTICLES,
            ..TrackerConfig::default()
        };
        let ev = generate_event(&cfg, &mut event_rng(0x7ac4, event));
        let hits: Vec<f32> = ev
            .hits
            .iter()
            .flat_map(|h| [h.x_mm, h.y_mm, h.z_mm])
            .collect();
        let layers: Vec<i32> = ev.hits.iter().map(|h| i32::from(h.layer)).collect();
        let (hs, ls) = ([layers.len() as i64, 3], [layers.len() as i64]);
        let inputs = [
            f32_input(c"hits", &hs, &hits),
            hepinfer::abi::hepinfer_tensor {
                dtype: hepinfer_dtype::HEPINFER_I32 as u32,
                data: layers.as_ptr().cast(),
                ..f32_input(c"hit_layer", &ls, &[])
            },
        ];
        let hit_track = inst.process(key, &inputs)?.f32("hit_track")?;
        // TrackML double majority: a track matches particle p when > 50 % of its hits are p's
        // and it holds > 50 % of p's hits.
        let mut n_part: HashMap<u32, usize> = HashMap::new();
        let mut n_track: HashMap<i64, usize> = HashMap::new();
        let mut pairs: HashMap<(i64, u32), usize> = HashMap::new();
        for (h, &t) in ev.hits.iter().zip(&hit_track) {
            *n_part.entry(h.particle).or_default() += 1;
            if t >= 0.0 {
                *n_track.entry(t as i64).or_default() += 1;
                *pairs.entry((t as i64, h.particle)).or_default() += 1;
            }
        }
        let (mut matched_p, mut matched_t) = (HashSet::new(), HashSet::new());
        for (&(t, p), &c) in &pairs {
            if p != 0 && 2 * c > n_track[&t] && 2 * c > n_part[&p] {
                matched_p.insert(p);
                matched_t.insert(t);
            }
        }
        let mut s = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for p in &ev.particles {
            if p.pt_gev > 1.0 && n_part.get(&p.id).copied().unwrap_or(0) >= 5 {
                s.selected += 1;
                s.matched += usize::from(matched_p.contains(&p.id));
            }
        }
        for (t, &n) in &n_track {
            if n >= 3 {
                s.candidates += 1;
                s.good += usize::from(matched_t.contains(t));
            }
        }
        Ok(())
    }

    fn quality(&self) -> String {
        let s = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "track eff {:.1} % ({} particles pT>1, >=5 hits), fake rate {:.1} % ({} candidates); \
             {PARTICLES}-particle events, every {EVERY}th event (model card 99.9 / 0.1 %)",
            100.0 * s.matched as f64 / s.selected.max(1) as f64,
            s.selected,
            100.0 * (1.0 - s.good as f64 / s.candidates.max(1) as f64),
            s.candidates
        )
    }
}
