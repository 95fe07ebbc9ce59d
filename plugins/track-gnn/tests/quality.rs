//! Physics quality end to end through the C ABI on a fresh toy sample (toydet seed 20261), to
//! compare with the model card (`model/MODEL.md`, `model/eval.json`: seed 7777, 10 events of
//! 1,000 particles): graph-construction efficiency, edge efficiency and purity at 0.5, track
//! efficiency (TrackML double majority, pT > 1 GeV, >= 5 hits) and fake rate (>= 3 hits), for the
//! card's connected components and for the plugin's walk-through.
//!
//! The card's numbers are read from `model/eval.json`, which `model/evaluate.py` writes, so the
//! test and the card cannot drift apart. Sample: `EVENTS` events of 1,000 particles (about 500
//! particles in the efficiency denominator per event). Statistical precision: edge
//! efficiency/purity ±0.05 %, track efficiency ±0.2 % (binomial, 5 events at ~99 %); every
//! number must be within 1 % absolute of the card.

mod common;

use common::cabi::{input, CPlugin, Output};
use hepinfer::abi::{hepinfer_dtype, hepinfer_event_key};
use std::collections::{HashMap, HashSet};
use toydet::tracker::{event_rng, generate_event, TrackerConfig, TrackerEvent};
use track_gnn::tracks::{build_tracks, TrackBuilding};

const EVENTS: u64 = 5;
const SEED: u64 = 20261;

/// (efficiency, fake rate) with the TrackML double-majority rule of `model/evaluate.py`.
fn double_majority(ev: &TrackerEvent, tracks: &[Vec<u32>]) -> (f64, f64) {
    let mut n_part: HashMap<u32, usize> = HashMap::new();
    for h in &ev.hits {
        *n_part.entry(h.particle).or_default() += 1;
    }
    let (mut matched_p, mut n_matched_t) = (HashSet::new(), 0usize);
    let mut candidates = 0usize;
    for t in tracks {
        let mut count: HashMap<u32, usize> = HashMap::new();
        for &h in t {
            *count.entry(ev.hits[h as usize].particle).or_default() += 1;
        }
        let good = count
            .iter()
            .find(|(&p, &c)| p != 0 && 2 * c > t.len() && 2 * c > n_part[&p]);
        if t.len() >= 3 {
            candidates += 1;
            n_matched_t += usize::from(good.is_some());
        }
        if let Some((&p, _)) = good {
            matched_p.insert(p);
        }
    }
    let sel: Vec<u32> = ev
        .particles
        .iter()
        .filter(|p| p.pt_gev > 1.0 && n_part.get(&p.id).copied().unwrap_or(0) >= 5)
        .map(|p| p.id)
        .collect();
    let eff = sel.iter().filter(|p| matched_p.contains(*p)).count() as f64 / sel.len() as f64;
    let fake = 1.0 - n_matched_t as f64 / candidates.max(1) as f64;
    (eff, fake)
}

fn tracks_from(out: &Output) -> Vec<Vec<u32>> {
    out.offsets
        .windows(2)
        .map(|w| {
            out.i64()[w[0] as usize..w[1] as usize]
                .iter()
                .map(|&h| h as u32)
                .collect()
        })
        .collect()
}

#[test]
fn quality_through_the_c_abi_matches_the_model_card() {
    let dir = common::plugin_dir();
    let model = common::model_dir().join("track_gnn.onnx");
    let plugin = CPlugin::new(
        &common::host_config(dir.path(), "TrackGnnRcd", &model),
        "track-gnn",
        r#"{"output_edges": true}"#,
    )
    .expect("host + instance");
    let cfg = TrackerConfig::default();
    assert_eq!(cfg.n_particles, 1000, "the model card's density");
    let (mut seg, mut seg_found, mut true_e, mut kept, mut kept_true) = (0, 0, 0, 0, 0);
    let (mut eff_w, mut fake_w, mut eff_c, mut fake_c) = (0.0, 0.0, 0.0, 0.0);
    let mut pt_res = Vec::new();
    for i in 0..EVENTS {
        let ev = generate_event(&cfg, &mut event_rng(SEED, i));
        let hits: Vec<f32> = ev
            .hits
            .iter()
            .flat_map(|h| [h.x_mm, h.y_mm, h.z_mm])
            .collect();
        let layers: Vec<i32> = ev.hits.iter().map(|h| i32::from(h.layer)).collect();
        let (hs, ls) = ([layers.len() as i64, 3], [layers.len() as i64]);
        let start = std::time::Instant::now();
        let out = plugin
            .process(
                hepinfer_event_key {
                    run: 1,
                    lumi: 1,
                    event: i,
                },
                &[
                    input(
                        c"hits",
                        hepinfer_dtype::HEPINFER_F32,
                        &hs,
                        hits.as_ptr().cast(),
                    ),
                    input(
                        c"hit_layer",
                        hepinfer_dtype::HEPINFER_I32,
                        &ls,
                        layers.as_ptr().cast(),
                    ),
                ],
                &["track_hits", "track_params", "edge_index", "edge_scores"],
            )
            .expect("track-gnn call");
        let (idx, scores) = (out[2].i64(), out[3].f32());
        let ne = scores.len();
        eprintln!(
            "event {i}: {} hits, {ne} edges, {:.1} s",
            ev.hits.len(),
            start.elapsed().as_secs_f64()
        );
        // Edge truth: both hits of one (non-noise) particle.
        let part = |h: i64| ev.hits[h as usize].particle;
        let edges: Vec<(u32, u32, f32)> = (0..ne)
            .map(|e| (idx[e] as u32, idx[ne + e] as u32, scores[e]))
            .collect();
        let is_true =
            |&(a, b, _): &(u32, u32, f32)| part(a.into()) != 0 && part(a.into()) == part(b.into());
        true_e += edges.iter().filter(|e| is_true(e)).count();
        kept += edges.iter().filter(|e| e.2 > 0.5).count();
        kept_true += edges.iter().filter(|e| e.2 > 0.5 && is_true(e)).count();
        // True segments: consecutive hits of a particle by layer.
        let mut by_p: HashMap<u32, Vec<(u8, u32)>> = HashMap::new();
        for (h, hit) in ev.hits.iter().enumerate() {
            if hit.particle != 0 {
                by_p.entry(hit.particle)
                    .or_default()
                    .push((hit.layer, h as u32));
            }
        }
        let edge_set: HashSet<(u32, u32)> = edges.iter().map(|e| (e.0, e.1)).collect();
        for hs in by_p.values_mut() {
            hs.sort();
            for w in hs.windows(2) {
                seg += 1;
                seg_found += usize::from(edge_set.contains(&(w[0].1, w[1].1)));
            }
        }
        // Walk-through tracks from the plugin; components from its edge scores.
        let walk = tracks_from(&out[0]);
        let (e, f) = double_majority(&ev, &walk);
        eff_w += e / EVENTS as f64;
        fake_w += f / EVENTS as f64;
        let layer: Vec<u8> = ev.hits.iter().map(|h| h.layer).collect();
        let above: Vec<_> = edges.iter().copied().filter(|e| e.2 > 0.5).collect();
        let cc = build_tracks(&layer, &above, TrackBuilding::Components, 1);
        let (e, f) = double_majority(&ev, &cc);
        eff_c += e / EVENTS as f64;
        fake_c += f / EVENTS as f64;
        // pT of walk tracks whose hits all come from one particle.
        let params = out[1].f32();
        for (t, hs) in walk.iter().enumerate() {
            let p = ev.hits[hs[0] as usize].particle;
            if p != 0 && hs.len() >= 5 && hs.iter().all(|&h| ev.hits[h as usize].particle == p) {
                let truth = ev.particles[p as usize - 1].pt_gev;
                pt_res.push((f64::from(params[5 * t]) / truth - 1.0).abs());
            }
        }
    }
    pt_res.sort_by(f64::total_cmp);
    let graph_eff = seg_found as f64 / seg as f64;
    let (edge_eff, purity) = (
        kept_true as f64 / true_e as f64,
        kept_true as f64 / kept as f64,
    );
    let median_pt = pt_res[pt_res.len() / 2];
    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::model_dir().join("eval.json")).expect("eval.json"),
    )
    .expect("eval.json is JSON");
    let card = |key: &str| {
        card[key]
            .as_f64()
            .unwrap_or_else(|| panic!("eval.json has no number {key:?}"))
    };
    let rows = [
        (
            "graph-construction efficiency",
            graph_eff,
            card("graph_construction_efficiency"),
        ),
        (
            "edge efficiency at 0.5",
            edge_eff,
            card("edge_efficiency@0.5"),
        ),
        ("edge purity at 0.5", purity, card("edge_purity@0.5")),
        (
            "walk-through track efficiency",
            eff_w,
            card("track_efficiency_double_majority(pT>1,>=5 hits)"),
        ),
        (
            "walk-through track fake rate",
            fake_w,
            card("track_fake_rate(>=3 hits)"),
        ),
        (
            "components track efficiency",
            eff_c,
            card("components_track_efficiency_double_majority(pT>1,>=5 hits)"),
        ),
        (
            "components track fake rate",
            fake_c,
            card("components_track_fake_rate(>=3 hits)"),
        ),
    ];
    eprintln!("track-gnn quality, {EVENTS} events x 1000 particles, seed {SEED}, vs the card:");
    for (what, got, want) in rows {
        eprintln!(
            "  {what:<32} {:>7.2} % (card {:.2} %)",
            100.0 * got,
            100.0 * want
        );
    }
    eprintln!(
        "  median |dpT/pT| of pure walk-through tracks {:.2} % ({} tracks)",
        100.0 * median_pt,
        pt_res.len()
    );
    for (what, got, want) in rows {
        assert!(
            (got - want).abs() <= 0.01,
            "{what}: {got:.4} vs card {want:.4}"
        );
    }
    assert!(median_pt < 0.02, "median |dpT/pT| {median_pt}");
}
