//! `hepinfer-lstm`: runs small recurrent classifiers from their ONNX files without ONNX Runtime.
//!
//! A b-tagging RNN called on one jet costs ONNX Runtime a fixed ~14–40 µs per call (session
//! dispatch, shape inference, per-node allocations) on top of ~0.2 MFLOP of arithmetic, so a
//! framework that calls per jet pays more for the call than for the model — what ATLAS avoids by
//! running such taggers through lwtnn. This crate reads the same ONNX file and, when its graph is
//! the shape in [`graph`](crate) documents (`LSTM` with per-row lengths read at each row's last
//! step, dense layers, softmax), runs it directly: only each row's real steps, rows of a batch in
//! tiles, AVX-512 or AVX2+FMA when the CPU has them (checked at run time).
//!
//! ```no_run
//! let bytes = std::fs::read("model.onnx").unwrap();
//! let model = hepinfer_lstm::LstmClassifier::from_onnx(&bytes).unwrap();
//! // 2 jets, 15 steps of 6 features, 3 and 1 real tracks.
//! let x = vec![0.0f32; 2 * 15 * 6];
//! let probs = model.run(&x, [2, 15, 6], &[3, 1]).unwrap();
//! assert_eq!(probs.len(), 2 * model.classes());
//! ```
//!
//! Results agree with ONNX Runtime's to about 1e-7 (not bit for bit: sums are grouped
//! differently, and the exponential is this crate's own). They are bit-identical for a row
//! whatever other rows share its call (`kernel` module docs), are the same for
//! [`Kernel::Avx512`] and [`Kernel::Fma`], and differ from the portable kernel by rounding only.

mod graph;
mod kernel;
pub mod proto;

/// Why a model cannot be read or run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a readable ONNX file.
    #[error("malformed ONNX model: {0}")]
    Malformed(String),
    /// A valid model of another shape than this crate runs (use a general runtime).
    #[error("not a recurrent classifier this kernel runs: {0}")]
    Unsupported(String),
    /// Inputs of a call that the model cannot take.
    #[error("{0}")]
    Input(String),
}

/// Which compiled variant of the arithmetic runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernel {
    /// Plain multiply and add, any CPU.
    Portable,
    /// AVX2 with fused multiply-add (x86-64 CPUs since 2013).
    Fma,
    /// AVX-512 with fused multiply-add: the same operations per element as [`Kernel::Fma`],
    /// hence the same bits, in larger tiles.
    Avx512,
}

impl Kernel {
    /// The fastest variant this CPU runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return if std::arch::is_x86_feature_detected!("avx512f") {
                Kernel::Avx512
            } else {
                Kernel::Fma
            };
        }
        Kernel::Portable
    }

    /// `"avx2+fma"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512+fma",
            Kernel::Fma => "avx2+fma",
            Kernel::Portable => "portable",
        }
    }
}

/// One dense layer: `out = act(x · W + b)`, W given `[n_in][n_out]`.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    pub(crate) w_io: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) relu: bool,
    /// `w_io` in the kernel's pass layout, outputs padded with zeros to `padded` (set by
    /// [`LstmClassifier::new`]).
    pub(crate) w_pass: Vec<f32>,
    /// `b` padded to `padded`.
    pub(crate) b_pad: Vec<f32>,
    /// Outputs rounded up to a whole pass.
    pub(crate) padded: usize,
}

/// Weights `get(k, unit)` for `k_len` inputs and `units` outputs in the kernel's layout: passes
/// of `pass` units, `[unit / pass][k][unit % pass]`, padded with zeros to whole passes.
/// Returns the weights and the padded unit count.
fn pass_layout(
    k_len: usize,
    units: usize,
    pass: usize,
    get: impl Fn(usize, usize) -> f32,
) -> (Vec<f32>, usize) {
    let padded = units.div_ceil(pass) * pass;
    let mut w = vec![0.0f32; k_len * padded];
    for unit in 0..units {
        for k in 0..k_len {
            w[((unit / pass) * k_len + k) * pass + unit % pass] = get(k, unit);
        }
    }
    (w, padded)
}

/// Rows of a call whose lengths [`LstmClassifier::run`] keeps on the stack.
const SMALL_BATCH: usize = 64;

/// A recurrent classifier read from an ONNX file: LSTM, dense layers, softmax. Immutable once
/// built: one instance serves any number of threads at once.
#[derive(Debug, Clone)]
pub struct LstmClassifier {
    x_name: String,
    n_name: String,
    output: String,
    pub(crate) features: usize,
    pub(crate) hidden: usize,
    /// 4·hidden rounded up to a whole pass of `kernel::PASS` units (the padding columns are zero).
    pub(crate) gates_padded: usize,
    /// The gate weights, inputs k = x then h, units in ONNX's gate order i, o, f, c, stored in
    /// passes of `kernel::PASS` units: `[unit / PASS][k][unit % PASS]`.
    pub(crate) w_gates: Vec<f32>,
    /// Input and recurrent biases summed, padded like a row of `w_gates`.
    pub(crate) b_gates: Vec<f32>,
    pub(crate) layers: Vec<Dense>,
    kernel: Kernel,
}

impl LstmClassifier {
    /// Reads the model from ONNX bytes. [`Error::Unsupported`] for any graph but the recognised
    /// shape; [`Error::Malformed`] for bytes that are not a readable ONNX file.
    pub fn from_onnx(bytes: &[u8]) -> Result<Self, Error> {
        graph::recognise(&proto::read_model(bytes)?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        x_name: String,
        n_name: String,
        output: String,
        features: usize,
        hidden: usize,
        w: &[f32],
        r: &[f32],
        bias: &[f32],
        layers: Vec<Dense>,
    ) -> Result<Self, Error> {
        let g = 4 * hidden;
        let (w_gates, gp) = pass_layout(features + hidden, g, kernel::PASS, |k, unit| {
            if k < features {
                w[unit * features + k]
            } else {
                r[unit * hidden + k - features]
            }
        });
        let mut b_gates = vec![0.0f32; gp];
        for (unit, b) in b_gates[..g].iter_mut().enumerate() {
            *b = bias[unit] + bias[g + unit];
        }
        // Skipping zero products (a zero hidden state at step 0) is exact only for finite weights.
        if w.iter().chain(r).chain(bias).any(|v| !v.is_finite())
            || layers
                .iter()
                .any(|l| l.w_io.iter().chain(&l.b).any(|v| !v.is_finite()))
        {
            return Err(Error::Unsupported("weights that are not all finite".into()));
        }
        let mut layers = layers;
        for l in &mut layers {
            let (w_pass, padded) = pass_layout(
                l.n_in,
                l.n_out,
                kernel::DENSE_WIDE * kernel::BLOCK,
                |k, o| l.w_io[k * l.n_out + o],
            );
            l.b_pad = l.b.clone();
            l.b_pad.resize(padded, 0.0);
            (l.w_pass, l.padded) = (w_pass, padded);
        }
        let m = LstmClassifier {
            x_name,
            n_name,
            output,
            features,
            hidden,
            gates_padded: gp,
            w_gates,
            b_gates,
            layers,
            kernel: Kernel::detect(),
        };
        if m.classes() == 0 {
            return Err(Error::Unsupported("a dense head without outputs".into()));
        }
        Ok(m)
    }

    /// Name of the sequence input (`[batch, steps, features]`, float32).
    pub fn sequences_input(&self) -> &str {
        &self.x_name
    }

    /// Name of the lengths input (`[batch]`, int64).
    pub fn lengths_input(&self) -> &str {
        &self.n_name
    }

    /// Name of the probabilities output (`[batch, classes]`, float32).
    pub fn output(&self) -> &str {
        &self.output
    }

    /// Features per step.
    pub fn features(&self) -> usize {
        self.features
    }

    /// LSTM hidden size.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Number of classes of the softmax.
    pub fn classes(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    /// The variant [`run`](Self::run) uses.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Chooses the variant (e.g. [`Kernel::Portable`] to compare with); one this CPU cannot run
    /// is replaced by the best it can ([`Kernel::detect`]).
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = kernel.min(Kernel::detect());
        self
    }

    /// Floating-point operations for one row of `steps` real steps (multiply-adds count two).
    pub fn flops(&self, steps: usize) -> u64 {
        let gates = 2 * 4 * self.hidden * (self.features + self.hidden);
        let head: usize = self.layers.iter().map(|l| 2 * l.n_in * l.n_out).sum();
        (steps * gates + head) as u64
    }

    /// Runs the model: `x` is `[batch, steps, features]` row-major, `lengths[b]` the real steps
    /// of row b (values below 1 count as 1, as the graph's `Max(n, 1)` says). Returns
    /// `[batch, classes]` probabilities.
    pub fn run(&self, x: &[f32], shape: [usize; 3], lengths: &[i64]) -> Result<Vec<f32>, Error> {
        let [batch, steps, features] = shape;
        if features != self.features {
            return Err(Error::Input(format!(
                "input '{}' has {features} features per step, the model takes {}",
                self.x_name, self.features
            )));
        }
        let numel = batch
            .checked_mul(steps)
            .and_then(|n| n.checked_mul(features));
        if numel != Some(x.len()) || lengths.len() != batch {
            return Err(Error::Input(format!(
                "input '{}' holds {} values for shape [{batch}, {steps}, {features}] and '{}' {} \
                 lengths",
                self.x_name,
                x.len(),
                self.n_name,
                lengths.len()
            )));
        }
        // Small batches (a call per jet) keep the lengths on the stack: no allocation besides
        // the output.
        let mut small = [0usize; SMALL_BATCH];
        let mut large = Vec::new();
        let lens: &mut [usize] = if batch <= SMALL_BATCH {
            &mut small[..batch]
        } else {
            large.resize(batch, 0);
            &mut large
        };
        for (b, (len, &n)) in lens.iter_mut().zip(lengths).enumerate() {
            let n = n.max(1);
            if n as u64 > steps as u64 {
                return Err(Error::Input(format!(
                    "input '{}': row {b} has length {n}, more than the {steps} steps given",
                    self.n_name
                )));
            }
            *len = n as usize;
        }
        let lens = &*lens;
        let mut out = vec![0.0f32; batch * self.classes()];
        if batch == 0 {
            return Ok(out);
        }
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Fma` and `Kernel::Avx512` are only set when the CPU has their
            // features (`with_kernel`, `Kernel::detect`).
            Kernel::Fma => unsafe { kernel::forward_fma(self, x, steps, lens, &mut out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { kernel::forward_avx512(self, x, steps, lens, &mut out) },
            _ => kernel::forward_portable(self, x, steps, lens, &mut out),
        }
        Ok(out)
    }
}
