//! The track-gnn plugin on toy tracker events: TrackML double-majority track efficiency and fake
//! rate on this run, against particle pT and η and against the pile-up density.
//!
//! The GNN is the demo's most expensive algorithm (about 0.1 s for a 1,000-particle event of
//! 8.3k hits and 12k edges), so it runs on every `every`-th event only (200 by default), at
//! densities cycling through [`DENSITIES`] (the model card's 1,000 particles among them); the
//! quality line quotes the card-density events, the plots all of them.

use crate::figure::{efficiency, Figure, Panel, Series};
use crate::workload::{EventOutput, Merit, Results, Workload};
use hepinfer::abi::{hepinfer_dtype, hepinfer_event_key};
use hepinfer::cabi::{f32_input, CError, CInstance};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use toydet::tracker::{event_rng, generate_event, TrackerConfig};

/// Particles per tracker event, in turn: the pile-up scan (1,000 is the model card's density).
pub const DENSITIES: [usize; 4] = [250, 500, 1000, 2000];
/// The model card's density.
pub const CARD_DENSITY: usize = 1000;
/// pT bin edges (GeV) of the efficiency plot.
const PT_EDGES: [f64; 9] = [0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 100.0];
/// η bins: 8 of 0.5 over ±2 (the toy's acceptance).
const ETA_BINS: usize = 8;

/// A particle with >= 5 hits (reconstructable): its truth and whether a track matched it.
struct Reco {
    pt: f64,
    eta: f64,
    density: usize,
    matched: bool,
}

/// Counts per density: candidates with >= 3 hits, how many matched a particle.
#[derive(Default, Clone, Copy)]
struct Fakes {
    candidates: usize,
    good: usize,
}

#[derive(Default)]
struct Seen {
    particles: Vec<Reco>,
    fakes: [Fakes; DENSITIES.len()],
}

/// Finds tracks in a toy tracker event on every `every`-th event.
pub struct TrackGnn {
    every: u64,
    seen: Mutex<Seen>,
}

impl TrackGnn {
    /// A workload that runs on every `every`-th event (at least 1).
    pub fn new(every: u64) -> Self {
        TrackGnn {
            every: every.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }
}

impl Workload for TrackGnn {
    fn plugin(&self) -> &'static str {
        "track-gnn"
    }

    fn records(&self) -> &'static [&'static str] {
        &["TrackGnnRcd"]
    }

    fn compared(&self) -> &'static str {
        "edge_scores"
    }

    fn config(&self) -> String {
        // hit_track as f32: the C ABI wrapper the demo uses reads f32 outputs only.
        // Edge scores out as well: the comparison of two global tags looks at them.
        r#"{"float_ids": true, "output_edges": true}"#.into()
    }

    fn process(
        &self,
        inst: &CInstance,
        key: hepinfer_event_key,
        event: u64,
    ) -> Result<EventOutput, CError> {
        if !event.is_multiple_of(self.every) {
            return Ok(EventOutput::skipped());
        }
        let di = (event / self.every) as usize % DENSITIES.len();
        let cfg = TrackerConfig {
            n_particles: DENSITIES[di],
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
        let out = inst.process(key, &inputs)?;
        let hit_track = out.f32("hit_track")?;
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
        let mut s = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for p in &ev.particles {
            if n_part.get(&p.id).copied().unwrap_or(0) >= 5 {
                s.particles.push(Reco {
                    pt: p.pt_gev,
                    eta: p.eta,
                    density: DENSITIES[di],
                    matched: matched_p.contains(&p.id),
                });
            }
        }
        for (t, &n) in &n_track {
            if n >= 3 {
                s.fakes[di].candidates += 1;
                s.fakes[di].good += usize::from(matched_t.contains(t));
            }
        }
        drop(s);
        Ok(EventOutput::new(out.f32("edge_scores")?, &out))
    }

    fn results(&self) -> Results {
        let s = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Efficiency in bins of `value` over the particles passing `select`.
        let binned =
            |edges: &[f64], value: &dyn Fn(&Reco) -> f64, select: &dyn Fn(&Reco) -> bool| {
                let (mut x, mut y, mut e) = (Vec::new(), Vec::new(), Vec::new());
                for w in edges.windows(2) {
                    let in_bin: Vec<&Reco> = s
                        .particles
                        .iter()
                        .filter(|p| select(p) && (w[0]..w[1]).contains(&value(p)))
                        .collect();
                    if in_bin.is_empty() {
                        continue;
                    }
                    let (eff, err) =
                        efficiency(in_bin.iter().filter(|p| p.matched).count(), in_bin.len());
                    x.push(0.5 * (w[0] + w[1]));
                    y.push(100.0 * eff);
                    e.push(100.0 * err);
                }
                (x, y, e)
            };
        let card = |p: &Reco| p.density == CARD_DENSITY;
        let (px, py, pe) = binned(&PT_EDGES, &|p| p.pt, &card);
        let eta_edges: Vec<f64> = (0..=ETA_BINS).map(|i| -2.0 + 0.5 * i as f64).collect();
        let (ex, ey, ee) = binned(&eta_edges, &|p| p.eta, &|p| card(p) && p.pt > 1.0);
        let pt_panel = Panel::new(
            &format!("track efficiency vs pT ({CARD_DENSITY} particles/event)"),
            "particle pT [GeV]",
            "efficiency [%]",
        )
        .log_x()
        .legend_lower()
        .bounded(0.0, 100.0)
        .with(Series::markers("particles with ≥ 5 hits", px, py, pe, 0));
        let eta_panel = Panel::new(
            &format!("track efficiency vs η ({CARD_DENSITY} particles/event)"),
            "particle η",
            "efficiency [%]",
        )
        .legend_lower()
        .bounded(0.0, 100.0)
        .with(Series::markers("pT > 1 GeV, ≥ 5 hits", ex, ey, ee, 0));
        let (mut dx, mut fy, mut fe, mut effy, mut effe) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, f) in s.fakes.iter().enumerate() {
            if f.candidates == 0 {
                continue;
            }
            let (fake, err) = efficiency(f.candidates - f.good, f.candidates);
            let sel: Vec<&Reco> = s
                .particles
                .iter()
                .filter(|p| p.density == DENSITIES[i] && p.pt > 1.0)
                .collect();
            let (eff, eerr) = efficiency(sel.iter().filter(|p| p.matched).count(), sel.len());
            dx.push(DENSITIES[i] as f64);
            fy.push(100.0 * fake);
            fe.push(100.0 * err);
            effy.push(100.0 * eff);
            effe.push(100.0 * eerr);
        }
        let fake_panel = Panel::new(
            "fake rate vs pile-up density",
            "charged particles per event",
            "fake rate [%] (candidates ≥ 3 hits)",
        )
        .bounded(0.0, 100.0)
        .with(Series::markers("fake rate", dx.clone(), fy, fe, 3));
        let eff_density_panel = Panel::new(
            "efficiency vs pile-up density",
            "charged particles per event",
            "efficiency [%] (pT > 1 GeV, ≥ 5 hits)",
        )
        .legend_lower()
        .bounded(0.0, 100.0)
        .with(Series::markers("efficiency", dx, effy, effe, 0));
        let sel: Vec<&Reco> = s
            .particles
            .iter()
            .filter(|p| card(p) && p.pt > 1.0)
            .collect();
        let (eff, eff_err) = efficiency(sel.iter().filter(|p| p.matched).count(), sel.len());
        let ci = DENSITIES
            .iter()
            .position(|&d| d == CARD_DENSITY)
            .unwrap_or(0);
        let f = s.fakes[ci];
        let (fake, fake_err) = efficiency(f.candidates - f.good, f.candidates);
        Results {
            quality: format!(
                "track eff {:.1} % ({} particles pT>1, >=5 hits), fake rate {:.1} % ({} candidates); \
                 {CARD_DENSITY}-particle events (model card 99.9 / 0.1 %); density scan {:?} every {}th event",
                100.0 * eff,
                sel.len(),
                100.0 * fake,
                f.candidates,
                DENSITIES,
                self.every
            ),
            merits: vec![
                Merit::new("track efficiency (card density)", eff, eff_err),
                Merit::new("fake rate (card density)", fake, fake_err),
            ],
            figures: vec![
                Figure::grid("track-gnn", "efficiency", vec![pt_panel, eta_panel], 2),
                Figure::grid("track-gnn", "pileup", vec![fake_panel, eff_density_panel], 2),
            ],
            tables: Vec::new(),
            extra: serde_json::Value::Null,
        }
    }
}
