//! `btag-rnn`: b-tagging with an LSTM over the impact parameters of a jet's tracks.
//!
//! The framework hands over jets (pT, η, φ) and their tracks as one flat array plus offsets, with
//! the raw quantities a tracker stores (pT, η, φ, d0, z0, σ(d0), σ(z0)). The plugin computes the
//! training features (lifetime-signed impact parameters w.r.t. the jet axis, their significances,
//! the pT fraction and ΔR), sorts the tracks by |d0|/σ(d0), keeps the first [`MAX_TRACKS`], runs
//! the model served under the record `BTagRnnRcd`, and returns p(b), p(c), p(light) and the
//! discriminant `D_b = ln(p_b / (f_c·p_c + (1 − f_c)·p_light))`.
//!
//! One call goes through three pure steps, kept apart so that a caller can batch the middle one:
//! - [`preprocess`]: raw jets and tracks → padded model inputs, following `model/MODEL.md`
//!   operation by operation in float32 (`tests/golden.rs` checks it against the Python
//!   reference);
//! - [`run_packed`]: the model on each jet's *real* tracks only. The LSTM's cost is per time step,
//!   and a jet has 5–6 real tracks on average out of 15; the jets are sorted by track count and
//!   cut into a few groups ([`plan_groups`]), each run with as many steps as its longest jet
//!   (the model reads the hidden state after each jet's last real track, so the answer does not
//!   depend on the padding or on the grouping);
//! - [`postprocess`]: probabilities → the plugin's outputs.

use hepinfer_plugin_api::{
    check_groups, export_plugin, wrap_dphi, Call, DType, Dim, ErrorKind, ModelSpec, Plugin,
    PluginError, PluginInfo, PluginLogger, Prepared, Tensor, TensorBuf, TensorSpec, TensorView,
};
use serde::Deserialize;
use std::cell::RefCell;

/// Tracks the model reads per jet; further tracks (the least displaced) are dropped.
pub const MAX_TRACKS: usize = 15;
/// Features per track fed to the model.
pub const N_FEATURES: usize = 6;
/// Fields per jet in the `jets` input: pT (GeV), η, φ (rad).
pub const JET_FIELDS: usize = 3;
/// Fields per track in the `tracks` input: pT (GeV), η, φ (rad), d0, z0, σ(d0), σ(z0) (mm).
pub const TRACK_FIELDS: usize = 7;
/// Classes of the model's output, in this order.
pub const CLASSES: [&str; 3] = ["b", "c", "light"];
/// Default c fraction of the discriminant (the value used in the model card).
pub const DEFAULT_FC: f64 = 0.07;
/// Regulator of the discriminant's logarithm, as in `model/evaluate.py`: keeps it finite when a
/// probability underflows to 0.
const DISCRIMINANT_EPS: f64 = 1e-12;

/// Preprocessed inputs of one call: `tracks` `[n_jets, 15, 6]` (row-major, zero-padded) and
/// `n_tracks` `[n_jets]`. The model itself is fed slices of them ([`run_packed`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelInputs {
    /// Sorted, truncated, zero-padded track features, `n_jets * MAX_TRACKS * N_FEATURES` values.
    pub tracks: Vec<f32>,
    /// Tracks given to the model per jet (`min(tracks of the jet, MAX_TRACKS)`).
    pub n_tracks: Vec<i64>,
}

/// +1 for x ≥ 0 (zero counts as positive), −1 otherwise.
fn sign_pos(x: f32) -> f32 {
    if x >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// The six model features of one track of a jet (`jet` = pT, η, φ; `track` as in the `tracks`
/// input) and its sort key |d0|/σ(d0), in float32 in the order of `model/MODEL.md`.
///
/// The caller guarantees positive pT and uncertainties ([`preprocess`] checks them).
pub fn track_features(
    jet: [f32; JET_FIELDS],
    track: &[f32; TRACK_FIELDS],
) -> ([f32; N_FEATURES], f32) {
    let [jet_pt, jet_eta, jet_phi] = jet;
    let [pt, eta, phi, d0, z0, sigma_d0, sigma_z0] = *track;
    let deta = eta - jet_eta;
    let dphi = wrap_dphi(phi - jet_phi);
    // Lifetime signs: + when the point of closest approach lies on the jet side.
    let s_d0 = sign_pos(d0 * dphi);
    let s_z0 = sign_pos(z0 * (jet_eta - eta));
    let sin_theta = 1.0 / eta.cosh();
    let sd0 = s_d0 * d0.abs();
    let sz0_raw = s_z0 * z0.abs();
    let sz0 = sz0_raw * sin_theta;
    let sd0_sig = sd0 / sigma_d0;
    let sz0_sig = sz0_raw / sigma_z0;
    let features = [
        (sd0 * 10.0).clamp(-10.0, 10.0),
        (sz0 * 10.0).clamp(-10.0, 10.0),
        sd0_sig.clamp(-30.0, 30.0) * 0.1,
        sz0_sig.clamp(-30.0, 30.0) * 0.1,
        (pt / jet_pt).ln(),
        (deta * deta + dphi * dphi).sqrt() * 10.0,
    ];
    (features, d0.abs() / sigma_d0)
}

/// The model inputs for a call: `jets` is `[n_jets, 3]` (pT, η, φ), `tracks` is `[n_tracks, 7]`
/// (pT, η, φ, d0, z0, σ(d0), σ(z0)) grouped by `offsets` (n_jets + 1 entries).
///
/// Per jet: features of every track ([`track_features`]), a stable sort by |d0|/σ(d0)
/// descending, the first [`MAX_TRACKS`] kept, zero padding. A jet without tracks gets an all-zero
/// block and `n_tracks = 0`. Refuses (naming the jet or track) non-positive pT or uncertainties,
/// which would turn the features into NaN or ±inf.
pub fn preprocess(
    jets: &[f32],
    tracks: &[f32],
    offsets: &[i64],
) -> Result<ModelInputs, PluginError> {
    let mut out = ModelInputs {
        tracks: Vec::new(),
        n_tracks: Vec::new(),
    };
    preprocess_into(jets, tracks, offsets, &mut out, &mut Vec::new())?;
    Ok(out)
}

/// [`preprocess`] into `out`, reusing its buffers and `feats` (a jet's features and sort keys):
/// what [`BTagRnn::process`] runs, with per-thread buffers.
fn preprocess_into(
    jets: &[f32],
    tracks: &[f32],
    offsets: &[i64],
    out: &mut ModelInputs,
    feats: &mut Vec<([f32; N_FEATURES], f32)>,
) -> Result<(), PluginError> {
    if jets.len() % JET_FIELDS != 0 || tracks.len() % TRACK_FIELDS != 0 {
        return Err(PluginError::input(format!(
            "'jets' must hold {JET_FIELDS} values per jet and 'tracks' {TRACK_FIELDS} per track, got {} and {} values",
            jets.len(),
            tracks.len()
        )));
    }
    let n_jets = jets.len() / JET_FIELDS;
    // The host checks this before a call; repeated so that this public function is safe on any
    // input.
    check_groups("tracks", offsets, n_jets, tracks.len() / TRACK_FIELDS)
        .map_err(PluginError::input)?;
    let block = MAX_TRACKS * N_FEATURES;
    out.tracks.clear();
    out.tracks.resize(n_jets * block, 0.0);
    out.n_tracks.clear();
    out.n_tracks.resize(n_jets, 0);
    for (j, jet) in jets.chunks_exact(JET_FIELDS).enumerate() {
        let jet = [jet[0], jet[1], jet[2]];
        if jet[0] <= 0.0 {
            return Err(PluginError::input(format!(
                "input 'jets': jet {j} has pT {} GeV, expected > 0",
                jet[0]
            )));
        }
        let (a, b) = (offsets[j] as usize, offsets[j + 1] as usize);
        feats.clear();
        for (k, t) in tracks[a * TRACK_FIELDS..b * TRACK_FIELDS]
            .chunks_exact(TRACK_FIELDS)
            .enumerate()
        {
            let t: &[f32; TRACK_FIELDS] = t.try_into().map_err(|_| {
                PluginError::input("input 'tracks': internal slicing error".to_string())
            })?;
            let i = a + k;
            if t[0] <= 0.0 || t[5] <= 0.0 || t[6] <= 0.0 {
                return Err(PluginError::input(format!(
                    "input 'tracks': track {i} (jet {j}) has pT {} GeV, sigma_d0 {} mm, sigma_z0 {} mm; all must be > 0",
                    t[0], t[5], t[6]
                )));
            }
            feats.push(track_features(jet, t));
        }
        // Stable: equal keys keep their input order, like numpy's argsort(kind="stable"). Keys are
        // finite and ≥ +0 (checked above), so total_cmp orders them like the reference.
        feats.sort_by(|x, y| y.1.total_cmp(&x.1));
        let kept = feats.len().min(MAX_TRACKS);
        let dst = &mut out.tracks[j * block..(j + 1) * block];
        for (row, (f, _)) in dst.chunks_exact_mut(N_FEATURES).zip(&feats[..kept]) {
            row.copy_from_slice(f);
        }
        out.n_tracks[j] = kept as i64;
    }
    Ok(())
}

/// One model call of a packed batch: the jets `order[start..end]` of a [`Plan`], fed with `steps`
/// time steps each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// First position in [`Plan::order`].
    pub start: usize,
    /// One past the last position in [`Plan::order`].
    pub end: usize,
    /// Time steps of the call: the longest jet of the group (at least 1).
    pub steps: usize,
}

/// How the jets of a call are run: sorted by track count (descending, stable) and cut into
/// groups of similar length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Jet indices, longest first.
    pub order: Vec<usize>,
    /// Consecutive ranges of `order`, one model call each.
    pub groups: Vec<Group>,
}

/// Cost model of one ONNX Runtime call of the b-tag LSTM on one core, in µs:
/// `CALL_US + steps · (STEP_US + ROW_STEP_US · jets)`, estimated on the development machine
/// (a call's fixed cost, ≈ 0.8 µs per step for one jet, ≈ 0.45 µs per jet and step in large
/// batches). Only the ratios matter for [`plan_groups`], and a poor ratio costs speed, never
/// correctness: every grouping gives the same answers.
const CALL_US: f64 = 6.0;
const STEP_US: f64 = 0.35;
const ROW_STEP_US: f64 = 0.45;

/// Time steps the model needs for a jet with `n` real tracks: its tracks, or one (all-zero) step
/// for a jet without tracks, whose answer is the model's reading of step 0 (`model/MODEL.md`).
fn steps_of(n: i64) -> usize {
    n.clamp(1, MAX_TRACKS as i64) as usize
}

/// Plans the model calls for jets with `n_tracks` real tracks: sorts them by steps (longest
/// first, stable) and cuts the sorted list where the saved padded steps outweigh the cost of one
/// more call, by dynamic programming over the (at most 15) distinct lengths under the cost model
/// above. One jet, or jets of one length, give one call with exactly their steps.
pub fn plan_groups(n_tracks: &[i64]) -> Plan {
    let mut plan = Plan {
        order: Vec::new(),
        groups: Vec::new(),
    };
    plan_groups_into(n_tracks, &mut plan);
    plan
}

/// [`plan_groups`] into `plan`, reusing its buffers; everything else lives on the stack (at most
/// [`MAX_TRACKS`] distinct lengths).
fn plan_groups_into(n_tracks: &[i64], plan: &mut Plan) {
    let order = &mut plan.order;
    order.clear();
    order.extend(0..n_tracks.len());
    order.sort_by_key(|&j| std::cmp::Reverse(steps_of(n_tracks[j])));
    // Distinct lengths, ascending, with the number of jets of each.
    let mut count = [0usize; MAX_TRACKS + 1];
    for &n in n_tracks {
        count[steps_of(n)] += 1;
    }
    let mut lengths = [0usize; MAX_TRACKS];
    let mut m = 0;
    for l in (1..=MAX_TRACKS).filter(|&l| count[l] > 0) {
        lengths[m] = l;
        m += 1;
    }
    // best[i]: cheapest cover of the i shortest lengths; cut[i]: where its last group starts.
    let mut best = [0.0f64; MAX_TRACKS + 1];
    let mut cut = [0usize; MAX_TRACKS + 1];
    for i in 1..=m {
        best[i] = f64::INFINITY;
        let mut rows = 0usize;
        for j in (0..i).rev() {
            rows += count[lengths[j]];
            let steps = lengths[i - 1] as f64;
            let c = best[j] + CALL_US + steps * (STEP_US + ROW_STEP_US * rows as f64);
            if c < best[i] {
                best[i] = c;
                cut[i] = j;
            }
        }
    }
    // Walk the cuts back from the longest lengths, which come first in `order`.
    let groups = &mut plan.groups;
    groups.clear();
    let (mut i, mut start) = (m, 0usize);
    while i > 0 {
        let j = cut[i];
        let rows: usize = lengths[j..i].iter().map(|&l| count[l]).sum();
        groups.push(Group {
            start,
            end: start + rows,
            steps: lengths[i - 1],
        });
        start += rows;
        i = j;
    }
}

/// Step counts a batched (asynchronous) call is padded to: the batcher merges only calls whose
/// tensors agree beyond the batch dimension, so two buckets keep batches full while sparing about
/// half of the padded steps (`n_tracks` is the LSTM's `sequence_lens`: padding is never read, and
/// the results equal the unbatched call's bit for bit, `host/tests/batching.rs`). Measured with
/// the batching bench on ONNX Runtime (two threads, 32 calls in flight each): four buckets (4, 8,
/// 12, 15) gave 9 jets per model call, and queues of rare lengths waited for their deadline; two
/// give 16 jets per call, the same throughput within noise, and a p99 latency a third lower
/// (4-jet events: 717-845 us against 959-1,195, inside the issue's bound of about 900).
pub const BATCH_STEP_BUCKETS: [usize; 2] = [8, MAX_TRACKS];

/// The bucket of [`BATCH_STEP_BUCKETS`] holding a call's longest jet.
pub fn batch_steps(n_tracks: &[i64]) -> usize {
    let longest = n_tracks.iter().map(|&n| steps_of(n)).max().unwrap_or(1);
    BATCH_STEP_BUCKETS
        .into_iter()
        .find(|&b| b >= longest)
        .unwrap_or(MAX_TRACKS)
}

/// The first `steps` track rows of each of `n` jets padded to `MAX_TRACKS` rows.
fn cut_steps(tracks: &[f32], n: usize, steps: usize) -> Vec<f32> {
    let (block, row) = (MAX_TRACKS * N_FEATURES, steps * N_FEATURES);
    (0..n)
        .flat_map(|j| &tracks[j * block..j * block + row])
        .copied()
        .collect()
}

/// Runs the model on `inputs` as planned by [`plan_groups`]: per group, the group's jets with
/// their first `steps` track rows (`tracks` `[jets, steps, 6]`, `n_tracks` `[jets]`), through
/// `run` (one model call, outputs in the model's order). Returns p(b), p(c), p(light) per jet in
/// the input order.
pub fn run_packed(
    inputs: &ModelInputs,
    run: impl FnMut(&[TensorView<'_>]) -> Result<Vec<Tensor>, PluginError>,
) -> Result<Vec<f32>, PluginError> {
    run_packed_with(inputs, &mut Packing::default(), run)
}

/// The buffers of [`run_packed`]: the plan and one group's model inputs.
#[derive(Debug, Default)]
struct Packing {
    plan: Plan,
    tracks: Vec<f32>,
    counts: Vec<i64>,
}

/// [`run_packed`] with the buffers of `packing`, reused across calls.
fn run_packed_with(
    inputs: &ModelInputs,
    packing: &mut Packing,
    mut run: impl FnMut(&[TensorView<'_>]) -> Result<Vec<Tensor>, PluginError>,
) -> Result<Vec<f32>, PluginError> {
    let n = inputs.n_tracks.len();
    let mut probs = vec![0.0f32; 3 * n];
    let Packing {
        plan,
        tracks,
        counts,
    } = packing;
    plan_groups_into(&inputs.n_tracks, plan);
    let block = MAX_TRACKS * N_FEATURES;
    for g in &plan.groups {
        let jets = &plan.order[g.start..g.end];
        let row = g.steps * N_FEATURES;
        tracks.clear();
        counts.clear();
        for &j in jets {
            tracks.extend_from_slice(&inputs.tracks[j * block..j * block + row]);
            counts.push(inputs.n_tracks[j]);
        }
        let tshape = [jets.len() as i64, g.steps as i64, N_FEATURES as i64];
        let nshape = [jets.len() as i64];
        let out = run(&[
            TensorView::f32("tracks", &tshape, tracks),
            TensorView::i64("n_tracks", &nshape, counts),
        ])?;
        let p = out.first().and_then(Tensor::as_f32).ok_or_else(|| {
            PluginError::new(
                ErrorKind::Model,
                "btag-rnn: the model returned no f32 output",
            )
        })?;
        if p.len() != 3 * jets.len() {
            return Err(PluginError::new(
                ErrorKind::Model,
                format!(
                    "btag-rnn: the model returned {} values for {} jets, expected {}",
                    p.len(),
                    jets.len(),
                    3 * jets.len()
                ),
            ));
        }
        for (&j, pj) in jets.iter().zip(p.chunks_exact(3)) {
            probs[3 * j..3 * j + 3].copy_from_slice(pj);
        }
    }
    Ok(probs)
}

/// The plugin's outputs from the model's probabilities (`3 · n_jets`, input order):
/// `probabilities`, `discriminant` (with c fraction `f_c`) and `n_tracks`.
pub fn postprocess(probs: Vec<f32>, n_tracks: Vec<i64>, f_c: f64) -> [Tensor; 3] {
    let n = n_tracks.len() as i64;
    let disc: Vec<f32> = probs
        .chunks_exact(3)
        .map(|p| discriminant([p[0], p[1], p[2]], f_c))
        .collect();
    [
        Tensor::f32("probabilities", vec![n, 3], probs),
        Tensor::f32("discriminant", vec![n], disc),
        Tensor::new("n_tracks", vec![n], TensorBuf::I64(n_tracks.into())),
    ]
}

/// `D_b = ln((p_b + ε) / (f_c·p_c + (1 − f_c)·p_light + ε))` with ε = 1e-12, computed in f64.
pub fn discriminant(p: [f32; 3], f_c: f64) -> f32 {
    let [pb, pc, pl] = p.map(f64::from);
    ((pb + DISCRIMINANT_EPS) / (f_c * pc + (1.0 - f_c) * pl + DISCRIMINANT_EPS)).ln() as f32
}

/// One thread's buffers for a call's preprocessing (`process` and `prepare`), kept between
/// calls: the model inputs, a jet's track features and the packing. Outside the model, a one-jet call would otherwise
/// spend much of its time in the allocator.
#[derive(Default)]
struct Scratch {
    inputs: ModelInputs,
    feats: Vec<([f32; N_FEATURES], f32)>,
    packing: Packing,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// Buffers above this many track features (4 MB) are freed after the call rather than kept by
/// the thread.
const KEEP_FLOATS: usize = 1 << 20;

/// Runs `f` with this thread's [`Scratch`]. Taken rather than borrowed: a call that unwinds
/// leaves the thread's slot empty (fresh buffers next time), and no borrow is held while the
/// host runs the model. Buffers that grew past [`KEEP_FLOATS`] are dropped afterwards.
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    let mut scratch = SCRATCH
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default();
    let out = f(&mut scratch);
    if scratch.inputs.tracks.capacity() <= KEEP_FLOATS {
        // `try_with`: nothing to keep on a thread whose locals are being torn down.
        let _ = SCRATCH.try_with(|s| *s.borrow_mut() = scratch);
    }
    out
}

impl Scratch {
    /// One call, as [`preprocess`] → [`run_packed`] → [`postprocess`], in these buffers.
    fn process(&mut self, call: &mut Call<'_>, f_c: f64) -> Result<(), PluginError> {
        preprocess_into(
            call.f32("jets")?,
            call.f32("tracks")?,
            call.offsets("tracks")?,
            &mut self.inputs,
            &mut self.feats,
        )?;
        // No jets: a valid event with nothing to tag; the model is not run.
        let probs = run_packed_with(&self.inputs, &mut self.packing, |views| {
            call.run_model("rnn", views)
        })?;
        for t in postprocess(probs, self.inputs.n_tracks.clone(), f_c) {
            call.output(t);
        }
        Ok(())
    }
}

/// Instance configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// c-jet fraction f_c of the discriminant.
    #[serde(default = "default_fc")]
    f_c: f64,
}

fn default_fc() -> f64 {
    DEFAULT_FC
}

/// The plugin.
pub struct BTagRnn {
    f_c: f64,
}

fn jets_spec() -> TensorSpec {
    TensorSpec::new(
        "jets",
        DType::F32,
        vec![Dim::named("n_jets"), Dim::fixed(JET_FIELDS as i64)],
        "per jet: pT (GeV, > 0), eta, phi (rad)",
    )
}

fn tracks_spec() -> TensorSpec {
    TensorSpec::new(
        "tracks",
        DType::F32,
        vec![Dim::named("n_tracks"), Dim::fixed(TRACK_FIELDS as i64)],
        "per track, grouped by jet (offsets): pT (GeV), eta, phi (rad), d0, z0, sigma_d0, sigma_z0 (mm); \
         d0 with the geometric sign, z0 w.r.t. the primary vertex; pT and sigmas > 0",
    )
    .jagged("n_jets")
}

impl Plugin for BTagRnn {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "btag-rnn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "b-tagging LSTM over the impact parameters of up to 15 tracks per jet \
                          (sorted by |d0|/sigma); returns p(b), p(c), p(light) and D_b"
                .into(),
            inputs: vec![jets_spec(), tracks_spec()].into(),
            outputs: vec![
                TensorSpec::new(
                    "probabilities",
                    DType::F32,
                    vec![Dim::named("n_jets"), Dim::fixed(3)],
                    "p(b), p(c), p(light) per jet (softmax, sums to 1)",
                ),
                TensorSpec::new(
                    "discriminant",
                    DType::F32,
                    vec![Dim::named("n_jets")],
                    "D_b = ln(p_b / (f_c p_c + (1 - f_c) p_light))",
                ),
                TensorSpec::new(
                    "n_tracks",
                    DType::I64,
                    vec![Dim::named("n_jets")],
                    "tracks the model read per jet (at most 15; 0: no tracks, uninformative answer)",
                ),
            ]
            .into(),
            models: vec![ModelSpec {
                name: "rnn".into(),
                record: "BTagRnnRcd".into(),
                label: "".into(),
                inputs: vec![
                    TensorSpec::new(
                        "tracks",
                        DType::F32,
                        vec![
                            Dim::named("batch"),
                            Dim::named("steps"),
                            Dim::fixed(N_FEATURES as i64),
                        ],
                        "sorted track features of the longest jet's real tracks (at most 15 \
                         steps), zero-padded",
                    ),
                    TensorSpec::new("n_tracks", DType::I64, vec![Dim::named("batch")], "real tracks per jet"),
                ]
                .into(),
                doc: "plugins/btag-rnn/model/MODEL.md".into(),
            }]
            .into(),
            config_doc: r#"{"f_c": number in [0, 1] (default 0.07): c fraction of the discriminant}"#.into(),
        }
    }

    fn create(config: &str, _logger: PluginLogger) -> Result<Self, PluginError> {
        let config: Config = serde_json::from_str(if config.trim().is_empty() {
            "{}"
        } else {
            config
        })
        .map_err(|e| PluginError::config(format!("btag-rnn config: {e}")))?;
        if !(0.0..=1.0).contains(&config.f_c) {
            return Err(PluginError::config(format!(
                "btag-rnn config: f_c must be in [0, 1], got {}",
                config.f_c
            )));
        }
        Ok(BTagRnn { f_c: config.f_c })
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        with_scratch(|scratch| scratch.process(call, self.f_c))
    }

    fn batched_model(&self) -> Option<&str> {
        // One row per jet, padded to a step bucket (`batch_steps`): calls of any events whose
        // longest jets fall in one bucket merge.
        Some("rnn")
    }

    fn prepare(&self, call: &Call<'_>) -> Result<Prepared, PluginError> {
        let (jets, tracks, offsets) = (
            call.f32("jets")?,
            call.f32("tracks")?,
            call.offsets("tracks")?,
        );
        // Preprocessed in this thread's buffers; what the host keeps is copied out of them.
        let (n, steps, cut, n_tracks) = with_scratch(|s| {
            preprocess_into(jets, tracks, offsets, &mut s.inputs, &mut s.feats)?;
            let inputs = &s.inputs;
            let n = inputs.n_tracks.len();
            let steps = batch_steps(&inputs.n_tracks);
            let cut = if n == 0 {
                Vec::new()
            } else {
                cut_steps(&inputs.tracks, n, steps)
            };
            Ok::<_, PluginError>((n, steps, cut, inputs.n_tracks.clone()))
        })?;
        let n_tracks = Tensor::new("n_tracks", vec![n as i64], TensorBuf::I64(n_tracks.into()));
        Ok(Prepared {
            // No jets: a valid event with nothing to tag; the model is not run.
            inputs: if n == 0 {
                Default::default()
            } else {
                vec![
                    Tensor::f32(
                        "tracks",
                        vec![n as i64, steps as i64, N_FEATURES as i64],
                        cut,
                    ),
                    n_tracks.clone(),
                ]
                .into()
            },
            carry: vec![n_tracks].into(),
        })
    }

    fn finish(
        &self,
        call: &mut Call<'_>,
        carry: Vec<Tensor>,
        model_outputs: Vec<Tensor>,
    ) -> Result<(), PluginError> {
        let model_error = |m: String| PluginError::new(ErrorKind::Model, m);
        let n_tracks = match carry.into_iter().next().map(|t| t.data) {
            Some(TensorBuf::I64(v)) => v.into_vec(),
            _ => return Err(model_error("btag-rnn: finish without its carry".into())),
        };
        let n = n_tracks.len();
        let probs: Vec<f32> = if n == 0 {
            Vec::new()
        } else {
            let p = model_outputs
                .first()
                .and_then(Tensor::as_f32)
                .ok_or_else(|| model_error("btag-rnn: the model returned no f32 output".into()))?;
            if p.len() != 3 * n {
                return Err(model_error(format!(
                    "btag-rnn: the model returned {} values for {n} jets, expected {}",
                    p.len(),
                    3 * n
                )));
            }
            p.to_vec()
        };
        for t in postprocess(probs, n_tracks, self.f_c) {
            call.output(t);
        }
        Ok(())
    }
}

export_plugin!(BTagRnn);

#[cfg(test)]
mod tests {
    use super::*;
    use hepinfer_plugin_api::TensorData;

    fn track(pt: f32, d0: f32, sigma: f32) -> [f32; TRACK_FIELDS] {
        [pt, 0.1, 0.05, d0, 0.01, sigma, 0.05]
    }

    #[test]
    fn batched_calls_pad_to_the_bucket_of_their_longest_jet() {
        assert_eq!(batch_steps(&[0]), 8);
        assert_eq!(batch_steps(&[3, 4]), 8);
        assert_eq!(batch_steps(&[8, 1]), 8);
        assert_eq!(batch_steps(&[9]), MAX_TRACKS);
        assert_eq!(batch_steps(&[13, 2]), MAX_TRACKS);
        assert_eq!(batch_steps(&[40]), MAX_TRACKS);
        // Cutting keeps each jet's first rows, in order.
        let tracks: Vec<f32> = (0..2 * MAX_TRACKS * N_FEATURES).map(|i| i as f32).collect();
        let cut = cut_steps(&tracks, 2, 4);
        assert_eq!(cut.len(), 2 * 4 * N_FEATURES);
        assert_eq!(cut[0], 0.0);
        assert_eq!(cut[4 * N_FEATURES], (MAX_TRACKS * N_FEATURES) as f32);
    }

    #[test]
    fn sorts_by_significance_stably_truncates_and_pads() {
        let jets = [50.0, 0.0, 0.0, 30.0, 1.0, 3.0];
        // Jet 0: 20 tracks with significances 0..19 shuffled plus ties; jet 1: none.
        let mut tracks = Vec::new();
        for i in 0..20 {
            let sig = ((i * 7) % 20) as f32; // a permutation of 0..19
            tracks.extend_from_slice(&track(1.0 + i as f32, 0.01 * sig, 0.01));
        }
        let offsets = [0, 20, 20];
        let m = preprocess(&jets, &tracks, &offsets).unwrap();
        assert_eq!(m.n_tracks, vec![15, 0]);
        assert_eq!(m.tracks.len(), 2 * MAX_TRACKS * N_FEATURES);
        // Significance feature (index 2) strictly decreasing: the 15 largest, in order.
        let sig: Vec<f32> = (0..15).map(|i| m.tracks[i * N_FEATURES + 2]).collect();
        assert!(sig.windows(2).all(|w| w[0] >= w[1]), "{sig:?}");
        assert!(
            (sig[0] - 1.9).abs() < 1e-5 && (sig[14] - 0.5).abs() < 1e-5,
            "{sig:?}"
        );
        // The jet without tracks is all zeros.
        assert!(m.tracks[MAX_TRACKS * N_FEATURES..]
            .iter()
            .all(|&x| x == 0.0));
    }

    #[test]
    fn equal_keys_keep_input_order() {
        let jets = [50.0, 0.0, 0.0];
        let tracks: Vec<f32> = [
            track(1.0, 0.02, 0.01),
            track(2.0, -0.02, 0.01),
            track(3.0, 0.02, 0.01),
        ]
        .concat();
        let m = preprocess(&jets, &tracks, &[0, 3]).unwrap();
        let log_frac: Vec<f32> = (0..3).map(|i| m.tracks[i * N_FEATURES + 4]).collect();
        let want: Vec<f32> = [1.0f32, 2.0, 3.0]
            .iter()
            .map(|pt| (pt / 50.0).ln())
            .collect();
        assert_eq!(log_frac, want);
    }

    #[test]
    fn refuses_unphysical_values_naming_the_track() {
        let jets = [50.0, 0.0, 0.0];
        let mut t = track(1.0, 0.02, 0.01);
        t[5] = 0.0;
        let e = preprocess(&jets, &t, &[0, 1]).unwrap_err();
        assert!(
            e.message.contains("track 0 (jet 0)") && e.message.contains("sigma_d0 0"),
            "{e}"
        );
        let e = preprocess(&[0.0, 0.0, 0.0], &[], &[0, 0]).unwrap_err();
        assert!(e.message.contains("jet 0 has pT 0"), "{e}");
        let e = preprocess(&jets, &track(1.0, 0.0, 0.1), &[0, 2]).unwrap_err();
        assert!(e.message.contains("offsets"), "{e}");
    }

    #[test]
    fn dphi_wraps_across_pi() {
        // A track just across φ = ±π from the jet is close to it, not 2π away.
        let (f, _) = track_features([50.0, 0.0, 3.1], &[5.0, 0.0, -3.1, 0.01, 0.0, 0.01, 0.01]);
        assert!((f[5] - 0.8318).abs() < 1e-3, "ΔR·10 = {}", f[5]);
        // d0 > 0 with dphi > 0 (wrapped): positive lifetime sign.
        assert!(f[0] > 0.0);
    }

    #[test]
    fn discriminant_matches_formula() {
        let d = discriminant([0.5, 0.25, 0.25], 0.07);
        assert!((d as f64 - (0.5f64 / 0.25).ln()).abs() < 1e-6);
        assert!(discriminant([0.0, 0.0, 1.0], 0.07).is_finite());
        assert!(discriminant([1.0, 0.0, 0.0], 0.07).is_finite());
    }
    #[test]
    fn plan_sorts_longest_first_and_covers_every_jet_once() {
        let n = [3i64, 0, 15, 7, 3, 22, 1, 9];
        let plan = plan_groups(&n);
        let steps: Vec<usize> = plan.order.iter().map(|&j| steps_of(n[j])).collect();
        assert!(steps.windows(2).all(|w| w[0] >= w[1]), "{steps:?}");
        // Stable: the two jets with 3 tracks keep their order.
        let threes: Vec<usize> = plan.order.iter().copied().filter(|&j| n[j] == 3).collect();
        assert_eq!(threes, vec![0, 4]);
        let mut seen = plan.order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..n.len()).collect::<Vec<_>>());
        // Groups tile `order`, each as long as its longest jet.
        let mut at = 0;
        for g in &plan.groups {
            assert_eq!(g.start, at);
            assert!(g.end > g.start);
            assert_eq!(g.steps, steps_of(n[plan.order[g.start]]));
            at = g.end;
        }
        assert_eq!(at, n.len());
    }

    #[test]
    fn plan_of_one_jet_or_one_length_is_one_exact_call() {
        for k in [0i64, 1, 4, 15, 40] {
            let plan = plan_groups(&[k]);
            assert_eq!(
                plan.groups,
                vec![Group {
                    start: 0,
                    end: 1,
                    steps: steps_of(k)
                }]
            );
        }
        let plan = plan_groups(&[6; 64]);
        assert_eq!(
            plan.groups,
            vec![Group {
                start: 0,
                end: 64,
                steps: 6
            }]
        );
        assert!(plan_groups(&[]).groups.is_empty());
    }

    #[test]
    fn plan_splits_a_mixed_batch_where_padding_would_cost_more_than_a_call() {
        // 63 short jets and one with 15 tracks: padding the short ones to 15 steps costs far more
        // than a second call.
        let mut n = vec![2i64; 63];
        n.push(15);
        let plan = plan_groups(&n);
        assert_eq!(plan.groups.len(), 2, "{:?}", plan.groups);
        assert_eq!(
            plan.groups[0],
            Group {
                start: 0,
                end: 1,
                steps: 15
            }
        );
    }

    #[test]
    fn packed_run_feeds_each_group_its_real_steps_and_restores_the_order() {
        let n_tracks = vec![2i64, 0, 5];
        let mut tracks = vec![0.0f32; 3 * MAX_TRACKS * N_FEATURES];
        for (j, &k) in n_tracks.iter().enumerate() {
            for r in 0..k as usize {
                tracks[(j * MAX_TRACKS + r) * N_FEATURES] = (10 * j + r + 1) as f32;
            }
        }
        let inputs = ModelInputs { tracks, n_tracks };
        let mut calls = Vec::new();
        // A fake model that answers (first feature of the last real step, steps, n) per jet.
        let probs = run_packed(&inputs, |v| {
            let (TensorData::F32(t), TensorData::I64(n)) = (&v[0].data, &v[1].data) else {
                panic!("inputs are tracks f32, n_tracks i64");
            };
            let steps = v[0].shape[1] as usize;
            calls.push((v[0].shape.to_vec(), n.to_vec()));
            let p: Vec<f32> = n
                .iter()
                .enumerate()
                .flat_map(|(i, &k)| {
                    let last = (k.max(1) - 1) as usize;
                    [t[(i * steps + last) * N_FEATURES], steps as f32, k as f32]
                })
                .collect();
            Ok(vec![Tensor::f32("probs", vec![n.len() as i64, 3], p)])
        })
        .unwrap();
        assert_eq!(probs, vec![2.0, 5.0, 2.0, 0.0, 5.0, 0.0, 25.0, 5.0, 5.0]);
        assert_eq!(calls, vec![(vec![3, 5, 6], vec![5, 2, 0])]);
    }
}
