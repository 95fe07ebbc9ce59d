//! `track-gnn`: track finding in the toy silicon barrel with a graph neural network.
//!
//! Per event it takes the hits (x, y, z in mm and the layer id), builds the hit graph exactly as
//! `model/preprocess.py` does ([`graph`]: same edges, bit-identical node features), scores the
//! edges with the interaction network served by the host (record `TrackGnnRcd`), and turns the
//! edges above threshold into track candidates ([`tracks`]) with helix parameters from a
//! circle + line fit. The model card is `model/MODEL.md`.
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
use tracks::{build_tracks, fit_helix, ScoredEdge, TrackBuilding};

/// Columns of `track_params`: pT [GeV], φ, η, z0 [mm], charge sign.
pub const N_TRACK_PARAMS: usize = 5;
/// Entries of `graph_stats`: hits, edges, edges above threshold, model calls.
pub const N_GRAPH_STATS: usize = 4;

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
    /// its time; grows as hits², about 0.4 G at 100,000 hits); larger events are refused.
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
        let geo = HitGeometry::new(hits, layers).map_err(|b| {
            PluginError::input(format!(
                "input 'hit_layer': element {} is {}, expected a layer id in 0..={}",
                b.index,
                b.layer,
                N_LAYERS - 1
            ))
        })?;
        let scored = score_edges(call, &geo, &self.config)?;
        let tracks = build_tracks(
            &geo.layer,
            &scored.kept,
            self.config.tracking,
            self.config.min_hits,
        );
        self.emit(call, hits, &geo, &scored, &tracks);
        Ok(())
    }
}

impl TrackGnn {
    fn emit(
        &self,
        call: &mut Call<'_>,
        hits: &[f32],
        geo: &HitGeometry,
        scored: &Scored,
        tracks: &[Vec<u32>],
    ) {
        let n = geo.len();
        let mut hit_track = vec![-1i64; n];
        let mut flat = Vec::new();
        let mut offsets = Vec::with_capacity(tracks.len() + 1);
        let mut params = Vec::with_capacity(tracks.len() * N_TRACK_PARAMS);
        offsets.push(0i64);
        for (t, hs) in tracks.iter().enumerate() {
            let xyz: Vec<[f64; 3]> = hs
                .iter()
                .map(|&h| {
                    let i = 3 * h as usize;
                    [hits[i], hits[i + 1], hits[i + 2]].map(f64::from)
                })
                .collect();
            let p = fit_helix(&xyz, self.config.bfield_t);
            params.extend([p.pt_gev, p.phi, p.eta, p.z0_mm, p.charge].map(|v| v as f32));
            for &h in hs {
                hit_track[h as usize] = t as i64;
                flat.push(i64::from(h));
            }
            offsets.push(flat.len() as i64);
        }
        let nt = tracks.len() as i64;
        let hit_track = if self.config.float_ids {
            TensorBuf::F32(hit_track.iter().map(|&t| t as f32).collect())
        } else {
            TensorBuf::I64(hit_track.into())
        };
        call.output(Tensor::new("hit_track", vec![n as i64], hit_track));
        call.output(Tensor::jagged(
            "track_hits",
            vec![flat.len() as i64],
            TensorBuf::I64(flat.into()),
            offsets,
        ));
        call.output(Tensor::f32(
            "track_params",
            vec![nt, N_TRACK_PARAMS as i64],
            params,
        ));
        call.output(Tensor::new(
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
        ));
        if self.config.output_edges {
            let ne = scored.all_scores.len() as i64;
            let mut idx: Vec<i64> = scored.all_edges.iter().map(|e| i64::from(e[0])).collect();
            idx.extend(scored.all_edges.iter().map(|e| i64::from(e[1])));
            call.output(Tensor::new(
                "edge_index",
                vec![2, ne],
                TensorBuf::I64(idx.into()),
            ));
            call.output(Tensor::f32(
                "edge_scores",
                vec![ne],
                scored.all_scores.clone(),
            ));
        }
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

/// Builds the graph of `geo` and scores it with the model, in chunks of at most about
/// `max_edges_per_call` edges. A graph that fits in one call is exactly `preprocess.py`'s: all
/// hits as nodes, edges sorted by (source, destination).
pub fn score_edges(
    call: &Call<'_>,
    geo: &HitGeometry,
    config: &Config,
) -> Result<Scored, PluginError> {
    let mut out = Scored::default();
    if geo.is_empty() {
        return Ok(out);
    }
    let limits = Limits {
        max_edges: config.max_edges,
        max_candidates: config.max_candidates,
    };
    let edges = GraphBuilder::new(geo).build(limits).map_err(|l| {
        let what = match l {
            GraphLimit::Edges(_) => format!("more than max_edges = {} edges", limits.max_edges),
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
            "input 'hits': the graph of these {} hits has {what}; the event is refused to bound \
             time and memory (max_edges and max_candidates are configurable; graphs above \
             max_edges_per_call = {} are scored in chunks)",
            geo.len(),
            config.max_edges_per_call
        ))
    })?;
    out.n_edges = edges.len();
    if edges.is_empty() {
        return Ok(out); // the model does not take an empty edge set
    }
    let features = geo.node_features();
    if edges.len() <= config.max_edges_per_call {
        let mut all = edges;
        score_chunk(call, &features, &mut all, None, config, &mut out)?;
        return Ok(out);
    }
    // Source hits in φ order: a chunk is then a φ sector, whose edges mostly stay inside it.
    let mut first = vec![0usize; geo.len() + 1]; // edges of source a: first[a]..first[a + 1]
    for e in &edges {
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
            score_chunk(
                call,
                &features,
                &mut buf,
                Some(&mut local),
                config,
                &mut out,
            )?;
        }
    }
    call.log(
        LogLevel::Debug,
        &format!(
            "track-gnn: {} edges scored in {} chunks of <= ~{} edges",
            out.n_edges, out.model_calls, config.max_edges_per_call
        ),
    );
    Ok(out)
}

/// Scores the edges in `buf` (emptied). `local` is a scratch map (all `u32::MAX`) for a chunk
/// whose nodes are the hits its edges touch; `None` gives every hit as a node.
fn score_chunk(
    call: &Call<'_>,
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
    let res = call.run_model(
        "gnn",
        &[
            TensorView::f32("node_features", &fshape, feats),
            TensorView::i64("edge_index", &eshape, &index),
        ],
    )?;
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
