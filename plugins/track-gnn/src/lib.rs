//! `track-gnn`: track finding in the toy silicon barrel with a graph neural network.
//!
//! Per event it takes the hits (x, y, z in mm and the layer id) through three stages, each a
//! function that fills its part of one carrier, [`TrackingEvent`], and records its wall time
//! (returned in the `stage_time_us` output):
//! 1. **graph construction** ([`construct_graph`]): the hit graph exactly as
//!    `model/preprocess.py` builds it ([`graph`]: same edges, bit-identical node features);
//! 2. **edge classification** ([`classify_edges`]): the interaction network served by the host
//!    (record `TrackGnnRcd`) scores every edge;
//! 3. **track building** ([`build_candidates`]): the edges above threshold become track
//!    candidates ([`tracks`]) with helix parameters from a circle + line fit.
//!
//! The model card is `model/MODEL.md`.
//!
//! Time and memory are bounded: building the graph stops as soon as it has examined more than
//! `max_candidates` doublets and triplets or holds more than 4 × `max_edges` compatible triplets,
//! and a graph larger than `max_edges_per_call` is scored in φ-ordered chunks of about that many
//! edges, each chunk with the hits its edges touch, so one model call never holds more.

pub mod graph;
pub mod tracks;

use graph::{GraphBuilder, GraphLimit, HitGeometry, Limits, N_LAYERS, N_NODE_FEATURES};
use hepinfer_plugin_api::{
    export_plugin, Call, DType, Dim, ErrorKind, LogLevel, ModelSpec, Plugin, PluginError,
    PluginInfo, PluginLogger, Tensor, TensorBuf, TensorSpec, TensorView,
};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tracks::{build_tracks, fit_helix, ScoredEdge, TrackBuilding, TrackParams};

/// Columns of `track_params`: pT [GeV], φ, η, z0 [mm], charge sign.
pub const N_TRACK_PARAMS: usize = 5;
/// Entries of `graph_stats`: hits, edges, edges above threshold, model calls.
pub const N_GRAPH_STATS: usize = 4;
/// Stages of an event, in order; `stage_time_us` has one entry per stage.
pub const STAGES: [&str; 3] = [
    "graph construction",
    "edge classification",
    "track building",
];

/// Instance configuration (JSON); every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Edge score above which an edge is used for tracks (model card: 0.5).
    pub threshold: f32,
    /// `walk` (default) or `components`.
    pub tracking: TrackBuilding,
    /// Fewest hits of a reported track.
    pub min_hits: usize,
    /// Solenoid field in tesla, for pT.
    pub bfield_t: f64,
    /// Most edges an event may have; larger events are refused with an error.
    pub max_edges: usize,
    /// Most candidate doublets and triplets examined while building an event's graph (bounds
    /// its time; grows as hits², about 80 M at 100,000 hits); larger events are refused.
    pub max_candidates: usize,
    /// Most edges per model call; larger graphs are scored in φ-ordered chunks (the network's
    /// working set then stays in cache: at 100,000 hits 16k-edge chunks take 1.1 s, one call
    /// 2.7 s; edges near a chunk's edge see fewer neighbours, so their scores move slightly).
    pub max_edges_per_call: usize,
    /// Also return `edge_index` and `edge_scores` (diagnostics; memory grows with the graph).
    pub output_edges: bool,
    /// Return `hit_track` as f32 instead of i64 (exact below 2^24 tracks), for consumers whose
    /// output accessors read f32 only.
    pub float_ids: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            threshold: 0.5,
            tracking: TrackBuilding::Walk,
            min_hits: 3,
            bfield_t: 2.0,
            max_edges: 5_000_000,
            max_candidates: 4_000_000_000,
            max_edges_per_call: 20_000,
            output_edges: false,
            float_ids: false,
        }
    }
}

impl Config {
    fn check(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.threshold) {
            return Err(format!(
                "threshold must be in [0, 1), got {}",
                self.threshold
            ));
        }
        if !(self.bfield_t > 0.0 && self.bfield_t.is_finite()) {
            return Err(format!("bfield_t must be > 0, got {}", self.bfield_t));
        }
        if self.max_edges_per_call == 0 || self.max_edges == 0 || self.max_candidates == 0 {
            return Err("max_edges, max_candidates and max_edges_per_call must be > 0".into());
        }
        Ok(())
    }
}

/// The plugin.
pub struct TrackGnn {
    config: Config,
}

fn hits_spec() -> TensorSpec {
    TensorSpec::new(
        "hits",
        DType::F32,
        vec![Dim::named("n_hits"), Dim::fixed(3)],
        "hit positions x, y, z in mm, any order",
    )
}

impl Plugin for TrackGnn {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "track-gnn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Track finding: hit graph (preprocess.py rules), interaction-network \
                          edge classifier, walk-through track building, helix fit"
                .into(),
            inputs: vec![
                hits_spec(),
                TensorSpec::new(
                    "hit_layer",
                    DType::I32,
                    vec![Dim::named("n_hits")],
                    "barrel layer of each hit, 0 (r = 32 mm) to 9 (r = 1020 mm)",
                ),
            ]
            .into(),
            outputs: vec![
                TensorSpec::new(
                    "hit_track",
                    DType::I64,
                    vec![Dim::named("n_hits")],
                    "track index of each hit, -1 if in no track (f32 with float_ids)",
                ),
                TensorSpec::new(
                    "track_hits",
                    DType::I64,
                    vec![Dim::named("n_track_hits")],
                    "hit indices of each track, innermost first",
                )
                .jagged("n_tracks"),
                TensorSpec::new(
                    "track_params",
                    DType::F32,
                    vec![Dim::named("n_tracks"), Dim::fixed(N_TRACK_PARAMS as i64)],
                    "pT [GeV], phi, eta, z0 [mm], charge sign from a circle + line fit",
                ),
                TensorSpec::new(
                    "graph_stats",
                    DType::I64,
                    vec![Dim::fixed(N_GRAPH_STATS as i64)],
                    "hits, edges, edges above threshold, model calls",
                ),
                TensorSpec::new(
                    "stage_time_us",
                    DType::F64,
                    vec![Dim::fixed(STAGES.len() as i64)],
                    "wall time of each stage in microseconds: graph construction, edge \
                     classification (the model calls), track building (with the helix fits)",
                ),
                TensorSpec::new(
                    "edge_index",
                    DType::I64,
                    vec![Dim::fixed(2), Dim::named("n_edges")],
                    "graph edges (inner hit, outer hit); only with output_edges",
                ),
                TensorSpec::new(
                    "edge_scores",
                    DType::F32,
                    vec![Dim::named("n_edges")],
                    "edge scores; only with output_edges",
                ),
            ]
            .into(),
            models: vec![ModelSpec {
                name: "gnn".into(),
                record: "TrackGnnRcd".into(),
                label: "".into(),
                inputs: vec![
                    TensorSpec::new(
                        "node_features",
                        DType::F32,
                        vec![Dim::named("n_nodes"), Dim::fixed(N_NODE_FEATURES as i64)],
                        "r/1000, phi/pi, z/1000",
                    ),
                    TensorSpec::new(
                        "edge_index",
                        DType::I64,
                        vec![Dim::fixed(2), Dim::named("n_edges")],
                        "source (inner), destination (outer)",
                    ),
                ]
                .into(),
                doc: "model/MODEL.md".into(),
            }]
            .into(),
            config_doc: r#"{"threshold": 0.5, "tracking": "walk"|"components", "min_hits": 3, "bfield_t": 2.0, "max_edges": 5000000, "max_candidates": 4000000000, "max_edges_per_call": 20000, "output_edges": false, "float_ids": false}"#
                .into(),
        }
    }

    fn create(config: &str, _logger: PluginLogger) -> Result<Self, PluginError> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| PluginError::config(format!("track-gnn config: {e}")))?;
        config
            .check()
            .map_err(|e| PluginError::config(format!("track-gnn config: {e}")))?;
        Ok(TrackGnn { config })
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        let hits = call.f32("hits")?;
        let layers = call.i32("hit_layer")?;
        let mut event = TrackingEvent::new(hits, layers)?;
        construct_graph(&mut event, &self.config)?;
        classify_edges(&mut event, &self.config, |inputs| {
            call.run_model("gnn", inputs)
        })?;
        if event.scored.model_calls > 1 {
            call.log(
                LogLevel::Debug,
                &format!(
                    "track-gnn: {} edges scored in {} chunks of <= ~{} edges",
                    event.scored.n_edges, event.scored.model_calls, self.config.max_edges_per_call
                ),
            );
        }
        build_candidates(&mut event, hits, &self.config);
        for t in event.outputs(&self.config) {
            call.output(t);
        }
        Ok(())
    }
}

/// One event on its way through the stages: the hits, and what each stage adds.
#[derive(Debug)]
pub struct TrackingEvent {
    /// Hit geometry (r, φ, z, layer per hit): the input of every stage.
    pub geo: HitGeometry,
    /// Stage 1: the graph's edges (inner hit, outer hit), sorted.
    pub edges: Vec<[u32; 2]>,
    /// Stage 2: the edges above threshold with their scores, and the call statistics.
    pub scored: Scored,
    /// Stage 3: the hits of each track candidate, innermost first.
    pub tracks: Vec<Vec<u32>>,
    /// Stage 3: the helix parameters of each track candidate.
    pub params: Vec<TrackParams>,
    /// Wall time of each stage, in the order of [`STAGES`].
    pub stage_time: [Duration; 3],
}

impl TrackingEvent {
    /// An event of `hits` (x, y, z per hit) on `layers`; refuses a layer id outside the barrel.
    pub fn new(hits: &[f32], layers: &[i32]) -> Result<Self, PluginError> {
        let geo = HitGeometry::new(hits, layers).map_err(|b| {
            PluginError::input(format!(
                "input 'hit_layer': element {} is {}, expected a layer id in 0..={}",
                b.index,
                b.layer,
                N_LAYERS - 1
            ))
        })?;
        Ok(TrackingEvent {
            geo,
            edges: Vec::new(),
            scored: Scored::default(),
            tracks: Vec::new(),
            params: Vec::new(),
            stage_time: [Duration::ZERO; 3],
        })
    }

    /// The plugin's outputs for this event (after the three stages).
    pub fn outputs(&self, config: &Config) -> Vec<Tensor> {
        let n = self.geo.len();
        let mut hit_track = vec![-1i64; n];
        let mut flat = Vec::new();
        let mut offsets = Vec::with_capacity(self.tracks.len() + 1);
        offsets.push(0i64);
        for (t, hs) in self.tracks.iter().enumerate() {
            for &h in hs {
                hit_track[h as usize] = t as i64;
                flat.push(i64::from(h));
            }
            offsets.push(flat.len() as i64);
        }
        let params: Vec<f32> = self
            .params
            .iter()
            .flat_map(|p| [p.pt_gev, p.phi, p.eta, p.z0_mm, p.charge].map(|v| v as f32))
            .collect();
        let nt = self.tracks.len() as i64;
        let hit_track = if config.float_ids {
            TensorBuf::F32(hit_track.iter().map(|&t| t as f32).collect())
        } else {
            TensorBuf::I64(hit_track.into())
        };
        let scored = &self.scored;
        let mut out = vec![
            Tensor::new("hit_track", vec![n as i64], hit_track),
            Tensor::jagged(
                "track_hits",
                vec![flat.len() as i64],
                TensorBuf::I64(flat.into()),
                offsets,
            ),
            Tensor::f32("track_params", vec![nt, N_TRACK_PARAMS as i64], params),
            Tensor::new(
                "graph_stats",
                vec![N_GRAPH_STATS as i64],
                TensorBuf::I64(
                    vec![
                        n as i64,
                        scored.n_edges as i64,
                        scored.kept.len() as i64,
                        scored.model_calls as i64,
                    ]
                    .into(),
                ),
            ),
            Tensor::new(
                "stage_time_us",
                vec![STAGES.len() as i64],
                TensorBuf::F64(
                    self.stage_time
                        .iter()
                        .map(|d| d.as_secs_f64() * 1e6)
                        .collect::<Vec<_>>()
                        .into(),
                ),
            ),
        ];
        if config.output_edges {
            let ne = scored.all_scores.len() as i64;
            let mut idx: Vec<i64> = scored.all_edges.iter().map(|e| i64::from(e[0])).collect();
            idx.extend(scored.all_edges.iter().map(|e| i64::from(e[1])));
            out.push(Tensor::new(
                "edge_index",
                vec![2, ne],
                TensorBuf::I64(idx.into()),
            ));
            out.push(Tensor::f32(
                "edge_scores",
                vec![ne],
                scored.all_scores.clone(),
            ));
        }
        out
    }
}

/// What scoring an event's graph produced.
#[derive(Debug, Default)]
pub struct Scored {
    /// Edges in the event's graph.
    pub n_edges: usize,
    /// Edges with score above threshold.
    pub kept: Vec<ScoredEdge>,
    /// Model calls made (chunks).
    pub model_calls: usize,
    /// Every edge (only with `output_edges`), in scoring order.
    pub all_edges: Vec<[u32; 2]>,
    /// Their scores.
    pub all_scores: Vec<f32>,
}

/// Stage 1, graph construction: fills `event.edges` with the graph of its hits, exactly
/// `preprocess.py`'s (edges sorted by (source, destination)). Refuses an event whose graph
/// exceeds the configured limits.
pub fn construct_graph(event: &mut TrackingEvent, config: &Config) -> Result<(), PluginError> {
    let start = Instant::now();
    let geo = &event.geo;
    let limits = Limits {
        max_edges: config.max_edges,
        max_candidates: config.max_candidates,
    };
    event.edges = if geo.is_empty() {
        Vec::new()
    } else {
        GraphBuilder::new(geo).build(limits).map_err(|l| {
            let what = match l {
                GraphLimit::Edges(_) => {
                    format!("more than max_edges = {} edges", limits.max_edges)
                }
                GraphLimit::Candidates(_) => format!(
                    "more than max_candidates = {} candidate pairs and triplets",
                    limits.max_candidates
                ),
                GraphLimit::Triplets(_) => format!(
                    "more than 4 x max_edges = {} compatible triplets",
                    limits.max_edges.saturating_mul(4)
                ),
            };
            PluginError::input(format!(
                "input 'hits': the graph of these {} hits has {what}; the event is refused to \
                 bound time and memory (max_edges and max_candidates are configurable; graphs \
                 above max_edges_per_call = {} are scored in chunks)",
                geo.len(),
                config.max_edges_per_call
            ))
        })?
    };
    event.stage_time[0] = start.elapsed();
    Ok(())
}

/// Stage 2, edge classification: scores `event.edges` with the model through `run` (one model
/// call: node features and edge index in, edge scores out) and fills `event.scored`. A graph of
/// at most `max_edges_per_call` edges is one call with every hit as a node; a larger one is
/// scored in chunks of about that many edges, each a φ sector (source hits in φ order) with the
/// hits its edges touch as nodes. An event without edges makes no call (the model does not take
/// an empty edge set).
pub fn classify_edges(
    event: &mut TrackingEvent,
    config: &Config,
    mut run: impl FnMut(&[TensorView<'_>]) -> Result<Vec<Tensor>, PluginError>,
) -> Result<(), PluginError> {
    let start = Instant::now();
    let geo = &event.geo;
    let out = &mut event.scored;
    *out = Scored {
        n_edges: event.edges.len(),
        ..Scored::default()
    };
    if event.edges.is_empty() {
        event.stage_time[1] = start.elapsed();
        return Ok(());
    }
    let features = geo.node_features();
    if event.edges.len() <= config.max_edges_per_call {
        let mut all = event.edges.clone();
        score_chunk(&mut run, &features, &mut all, None, config, out)?;
    } else {
        let edges = &event.edges;
        let mut first = vec![0usize; geo.len() + 1]; // edges of source a: first[a]..first[a + 1]
        for e in edges {
            first[e[0] as usize + 1] += 1;
        }
        for a in 0..geo.len() {
            first[a + 1] += first[a];
        }
        let mut order: Vec<u32> = (0..geo.len() as u32).collect();
        order.sort_by(|&a, &b| geo.phi[a as usize].total_cmp(&geo.phi[b as usize]));
        let mut buf: Vec<[u32; 2]> = Vec::new();
        let mut local = vec![u32::MAX; geo.len()];
        for (k, &a) in order.iter().enumerate() {
            buf.extend_from_slice(&edges[first[a as usize]..first[a as usize + 1]]);
            if buf.len() >= config.max_edges_per_call || k + 1 == order.len() {
                score_chunk(&mut run, &features, &mut buf, Some(&mut local), config, out)?;
            }
        }
    }
    event.stage_time[1] = start.elapsed();
    Ok(())
}

/// Stage 3, track building: turns the edges above threshold into track candidates (the
/// configured builder, at least `min_hits` hits) and fits each (`hits` as given to the plugin).
pub fn build_candidates(event: &mut TrackingEvent, hits: &[f32], config: &Config) {
    let start = Instant::now();
    event.tracks = build_tracks(
        &event.geo.layer,
        &event.scored.kept,
        config.tracking,
        config.min_hits,
    );
    event.params = event
        .tracks
        .iter()
        .map(|hs| {
            let xyz: Vec<[f64; 3]> = hs
                .iter()
                .map(|&h| {
                    let i = 3 * h as usize;
                    [hits[i], hits[i + 1], hits[i + 2]].map(f64::from)
                })
                .collect();
            fit_helix(&xyz, config.bfield_t)
        })
        .collect();
    event.stage_time[2] = start.elapsed();
}

/// Scores the edges in `buf` (emptied). `local` is a scratch map (all `u32::MAX`) for a chunk
/// whose nodes are the hits its edges touch; `None` gives every hit as a node.
fn score_chunk(
    run: &mut impl FnMut(&[TensorView<'_>]) -> Result<Vec<Tensor>, PluginError>,
    features: &[f32],
    buf: &mut Vec<[u32; 2]>,
    local: Option<&mut Vec<u32>>,
    config: &Config,
    out: &mut Scored,
) -> Result<(), PluginError> {
    if buf.is_empty() {
        return Ok(());
    }
    buf.sort_unstable();
    let ne = buf.len();
    let mut index: Vec<i64> = Vec::with_capacity(2 * ne);
    let node_features: Vec<f32>;
    let feats: &[f32] = match local {
        None => {
            index.extend(buf.iter().map(|e| i64::from(e[0])));
            index.extend(buf.iter().map(|e| i64::from(e[1])));
            features
        }
        Some(map) => {
            // Local node numbers in increasing global order keep the edge order of the chunk.
            let mut nodes: Vec<u32> = buf.iter().flat_map(|e| [e[0], e[1]]).collect();
            nodes.sort_unstable();
            nodes.dedup();
            for (i, &g) in nodes.iter().enumerate() {
                map[g as usize] = i as u32;
            }
            index.extend(buf.iter().map(|e| i64::from(map[e[0] as usize])));
            index.extend(buf.iter().map(|e| i64::from(map[e[1] as usize])));
            node_features = nodes
                .iter()
                .flat_map(|&g| {
                    let i = N_NODE_FEATURES * g as usize;
                    features[i..i + N_NODE_FEATURES].iter().copied()
                })
                .collect();
            for &g in &nodes {
                map[g as usize] = u32::MAX;
            }
            &node_features
        }
    };
    let fshape = [
        (feats.len() / N_NODE_FEATURES) as i64,
        N_NODE_FEATURES as i64,
    ];
    let eshape = [2, ne as i64];
    let res = run(&[
        TensorView::f32("node_features", &fshape, feats),
        TensorView::i64("edge_index", &eshape, &index),
    ])?;
    let scores = res
        .first()
        .and_then(|t| t.as_f32())
        .filter(|s| s.len() == ne)
        .ok_or_else(|| {
            PluginError::new(
                ErrorKind::Model,
                format!("track-gnn: the model did not return {ne} f32 edge scores"),
            )
        })?;
    out.model_calls += 1;
    for (e, &s) in buf.iter().zip(scores) {
        if s > config.threshold {
            out.kept.push((e[0], e[1], s));
        }
    }
    if config.output_edges {
        out.all_edges.extend_from_slice(buf);
        out.all_scores.extend_from_slice(scores);
    }
    buf.clear();
    Ok(())
}

export_plugin!(TrackGnn);
