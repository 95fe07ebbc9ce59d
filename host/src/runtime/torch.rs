//! TorchScript backend through `tch` (libtorch), built with the `torch` cargo feature.
//!
//! # One module, many threads
//! A payload is loaded once per hash (by [`crate::models::ModelCache`]) into one
//! `torch::jit::Module` that every thread calls `forward` on concurrently, without a lock and
//! without per-thread copies of the weights. libtorch supports this: `forward` only reads the
//! module's parameters, and the lazily built execution plans (`GraphFunction::get_executor`,
//! `ProfilingGraphExecutorImpl::getPlanFor`) are created under libtorch's own per-function
//! mutexes. `tests/torch_concurrency.rs` checks it on every run: 8 threads × 10,000 calls with
//! varying batch sizes give bit-identical outputs to one thread.
//!
//! # Per-thread state
//! libtorch keeps two settings per *calling* thread, so they are applied on every thread that
//! runs a model, not once at load:
//! - gradient mode (`GradMode` is thread-local): each call runs under a no-grad guard, restored
//!   on return so that a framework thread which uses libtorch itself is left as it was. (`tch`
//!   exposes no `InferenceMode`; for inference through a loaded module, no-grad already means no
//!   autograd graph is recorded, which is where the cost lies.)
//! - intra-op threads: with the OpenMP build of the `torch` wheel, `at::set_num_threads` sets the
//!   calling thread's OpenMP thread count. Each thread applies the host's `intra_op_threads`
//!   (default 1) before its first call, so libtorch never starts a thread team per framework
//!   thread and never oversubscribes the cores the framework owns.
//!   The count is also process-wide in effect (`at::set_num_threads` stores a global count and
//!   clears oneDNN's global cache): the first TorchScript load fixes it for the process and a
//!   load asking for another is refused, because mixing counts changed the bits of concurrent
//!   calls (`tests/torch_threads.rs`).
//!
//! # Signature
//! Unlike ONNX, a TorchScript file does not record its inputs' dtypes and shapes, nor output
//! names, and `forward` takes its tensors by position. The exporter therefore stores them in the
//! archive as the extra file [`SIGNATURE_FILE`] (`hepinfer.json`), the way Triton asks for a
//! `config.pbtxt` beside a TorchScript model:
//!
//! ```python
//! sig = {"inputs":  [{"name": "tracks", "dtype": "f32", "shape": [-1, 15, 6]},
//!                    {"name": "n_tracks", "dtype": "i64", "shape": [-1]}],
//!        "outputs": [{"name": "probs", "dtype": "f32", "shape": [-1, 3]}]}
//! torch.jit.save(traced, "model.pt", _extra_files={"hepinfer.json": json.dumps(sig)})
//! ```
//!
//! Inputs are listed in `forward`'s positional order; `-1` marks a dynamic dimension. At load the
//! host reads the signature (a file without one is refused, with this recipe in the message;
//! [`embed_signature`] adds one to an existing file) and then runs one *probe* `forward` on zero
//! tensors of the declared shapes (dynamic dimensions 1), checking that the module accepts them
//! and returns the declared number of outputs with the declared dtypes and ranks, all finite
//! (libtorch does not check every shape: its LSTM, fed 8 features where its weights expect 6,
//! returns NaN rather than failing). So a corrupt
//! file, a file whose signature lies, and (through [`Model::inputs`] and the instance's
//! signature check) a model that does not take what the plugin feeds all fail at load, never at
//! the first event. Zero inputs are valid for every model shipped here (index 0, zero tracks,
//! zero energy); a model for which they are not must not be served through TorchScript.
//!
//! # Inputs are copied
//! Inputs are copied into libtorch tensors rather than wrapped (`from_blob`): TorchScript gives
//! no guarantee that a module does not modify its inputs in place, and the caller's event data
//! is borrowed read-only. The copy costs nanoseconds per kilobyte, small against `forward`.

use super::{check_inputs, LoadOptions, Model, ModelPort};
use crate::error::{Error, Result};
use hepinfer_plugin_api::{DType, Tensor, TensorBuf, TensorData, TensorView};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::io::{Cursor, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{CModule, Device, IValue, Kind};

/// Name of the extra file in a TorchScript archive that holds the model's signature.
pub const SIGNATURE_FILE: &str = "hepinfer.json";

const SIGNATURE_RECIPE: &str = "store the signature in the file at export: \
     torch.jit.save(module, path, _extra_files={\"hepinfer.json\": json.dumps({\"inputs\": \
     [{\"name\": ..., \"dtype\": \"f32\", \"shape\": [-1, ...]}, ...], \"outputs\": [...]})}) \
     (inputs in forward's order, -1 for a dynamic dimension; see host/src/runtime/torch.rs)";

/// The inputs (in `forward`'s positional order) and outputs (in returned order) of a
/// TorchScript module, as stored in its [`SIGNATURE_FILE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Inputs, in the order `forward` takes them.
    pub inputs: Vec<ModelPort>,
    /// Outputs, in the order `forward` returns them (a tensor, or a tuple/list of tensors).
    pub outputs: Vec<ModelPort>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortJson {
    name: String,
    dtype: String,
    shape: Vec<i64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureJson {
    inputs: Vec<PortJson>,
    outputs: Vec<PortJson>,
}

fn dtype_from_name(s: &str) -> Option<DType> {
    Some(match s {
        "f32" | "float32" => DType::F32,
        "f64" | "float64" => DType::F64,
        "i32" | "int32" => DType::I32,
        "i64" | "int64" => DType::I64,
        "u8" | "uint8" => DType::U8,
        _ => return None,
    })
}

fn kind_of(d: DType) -> Kind {
    match d {
        DType::F32 => Kind::Float,
        DType::F64 => Kind::Double,
        DType::I32 => Kind::Int,
        DType::I64 => Kind::Int64,
        DType::U8 => Kind::Uint8,
    }
}

fn dtype_of(k: Kind) -> Option<DType> {
    Some(match k {
        Kind::Float => DType::F32,
        Kind::Double => DType::F64,
        Kind::Int => DType::I32,
        Kind::Int64 => DType::I64,
        Kind::Uint8 => DType::U8,
        _ => return None,
    })
}

impl Signature {
    /// Parses the JSON text of a [`SIGNATURE_FILE`].
    pub fn from_json(text: &str) -> Result<Self> {
        let bad =
            |m: String| Error::Model(format!("TorchScript signature '{SIGNATURE_FILE}': {m}"));
        let j: SignatureJson = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let ports = |v: Vec<PortJson>, what: &str| -> Result<Vec<ModelPort>> {
            let mut out: Vec<ModelPort> = Vec::with_capacity(v.len());
            for p in v {
                let dtype = dtype_from_name(&p.dtype).ok_or_else(|| {
                    bad(format!(
                        "{what} '{}': unknown dtype '{}' (f32, f64, i32, i64, u8)",
                        p.name, p.dtype
                    ))
                })?;
                if p.shape.iter().any(|&d| d < -1) {
                    return Err(bad(format!(
                        "{what} '{}': bad shape {:?} (sizes ≥ 0, -1 for dynamic)",
                        p.name, p.shape
                    )));
                }
                if out.iter().any(|q| q.name == p.name) {
                    return Err(bad(format!("{what} '{}' is listed twice", p.name)));
                }
                out.push(ModelPort {
                    name: p.name,
                    dtype,
                    shape: p.shape,
                });
            }
            Ok(out)
        };
        let sig = Signature {
            inputs: ports(j.inputs, "input")?,
            outputs: ports(j.outputs, "output")?,
        };
        if sig.inputs.is_empty() || sig.outputs.is_empty() {
            return Err(bad("needs at least one input and one output".into()));
        }
        Ok(sig)
    }

    /// The JSON text of this signature, as stored in a [`SIGNATURE_FILE`].
    pub fn to_json(&self) -> String {
        let ports = |v: &[ModelPort]| {
            v.iter()
                .map(|p| PortJson {
                    name: p.name.clone(),
                    dtype: p.dtype.name().to_string(),
                    shape: p.shape.clone(),
                })
                .collect()
        };
        let j = SignatureJson {
            inputs: ports(&self.inputs),
            outputs: ports(&self.outputs),
        };
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string(&j).unwrap_or_default()
    }
}

/// The archive's top-level directory and the index of its signature entry, if any.
/// TorchScript archives hold everything under one directory (`model/`, `archive/`, ...); extra
/// files live in `<dir>/extra/`.
fn signature_entry<R: Read + std::io::Seek>(
    zip: &zip::ZipArchive<R>,
) -> Result<(String, Option<String>)> {
    let mut root: Option<String> = None;
    let mut sig = None;
    for name in zip.file_names() {
        let top = name.split('/').next().unwrap_or_default();
        if root.is_none() && name.ends_with("/data.pkl") && name.matches('/').count() == 1 {
            root = Some(top.to_string());
        }
        let mut parts = name.splitn(3, '/');
        if let (Some(_), Some("extra"), Some(SIGNATURE_FILE)) =
            (parts.next(), parts.next(), parts.next())
        {
            sig = Some(name.to_string());
        }
    }
    let root = root.ok_or_else(|| {
        Error::Model(
            "payload is not a TorchScript archive (a zip file with <name>/data.pkl)".to_string(),
        )
    })?;
    Ok((root, sig))
}

fn open_zip(bytes: &[u8]) -> Result<zip::ZipArchive<Cursor<&[u8]>>> {
    zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        Error::Model(format!(
            "payload is not a TorchScript file (not a readable zip archive: {e})"
        ))
    })
}

/// Reads the signature stored in a TorchScript file; `None` when the file has none.
pub fn read_signature(bytes: &[u8]) -> Result<Option<Signature>> {
    let mut zip = open_zip(bytes)?;
    let (_, entry) = signature_entry(&zip)?;
    let Some(entry) = entry else { return Ok(None) };
    let mut text = String::new();
    zip.by_name(&entry)
        .and_then(|mut f| f.read_to_string(&mut text).map_err(Into::into))
        .map_err(|e| Error::Model(format!("TorchScript file: cannot read '{entry}': {e}")))?;
    Signature::from_json(&text).map(Some)
}

/// Returns a copy of TorchScript file `bytes` with `sig` stored as its [`SIGNATURE_FILE`]
/// (replacing one already there). Every other entry is copied unchanged, byte for byte, so the
/// module and its weights are exactly those of the original. For files exported without a
/// signature; new exports should pass it to `torch.jit.save` (module docs).
pub fn embed_signature(bytes: &[u8], sig: &Signature) -> Result<Vec<u8>> {
    let mut src = open_zip(bytes)?;
    let (root, old) = signature_entry(&src)?;
    let e = |e: zip::result::ZipError| Error::Model(format!("rewriting TorchScript file: {e}"));
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(bytes.len() + 4096)));
    for i in 0..src.len() {
        let f = src.by_index_raw(i).map_err(e)?;
        if Some(f.name()) == old.as_deref() {
            continue;
        }
        out.raw_copy_file(f).map_err(e)?;
    }
    let opts = zip::write::FileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    out.start_file(format!("{root}/extra/{SIGNATURE_FILE}"), opts)
        .map_err(e)?;
    out.write_all(sig.to_json().as_bytes())
        .map_err(|x| e(x.into()))?;
    Ok(out.finish().map_err(e)?.into_inner())
}

/// libtorch's messages carry a C++ backtrace after the first lines; keep what a user can act on.
fn torch_message(e: &tch::TchError) -> String {
    let s = e.to_string();
    let cut = s
        .find("\nException raised from")
        .or_else(|| s.find("\nframe #"))
        .unwrap_or(s.len());
    s[..cut].trim().to_string()
}

thread_local! {
    // The intra-op thread count last applied on this thread (0: never).
    static APPLIED_THREADS: Cell<usize> = const { Cell::new(0) };
}

/// libtorch's intra-op thread count for this process, fixed by the first TorchScript model
/// loaded. `at::set_num_threads` is not only per thread: it also stores a process-wide count and
/// clears oneDNN's global primitive cache, so a model run with 2 threads on one thread changed
/// the bits of concurrent 1-thread calls on others (measured: 24,997 of 80,000 calls differed,
/// in 3 of 4 runs, whenever a 2-thread load overlapped them). One count per process keeps every
/// call deterministic.
static PROCESS_THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Fixes the process's libtorch thread count at `n`, or refuses `n` if another count was fixed.
fn claim_threads(n: usize) -> Result<()> {
    let fixed = *PROCESS_THREADS.get_or_init(|| n);
    if fixed != n {
        return Err(Error::Model(format!(
            "TorchScript models in this process already run with intra_op_threads = {fixed}; \
             libtorch's thread count is process-wide and changing it changes the results of \
             concurrent calls, so a model with intra_op_threads = {n} cannot be served here \
             (use one intra_op_threads for every host of a process)"
        )));
    }
    Ok(())
}

/// Sets libtorch's intra-op thread count for the calling thread, once per thread (see the
/// module docs: with OpenMP the setting belongs to the calling thread).
fn apply_threads(n: usize) {
    APPLIED_THREADS.with(|c| {
        if c.get() != n {
            // n ≥ 1 (checked by the host config), so libtorch cannot refuse it.
            tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
            c.set(n);
        }
    });
}

/// Copies one input into a libtorch tensor of `shape` (the caller checked the element count).
fn to_torch(t: &TensorView<'_>) -> Result<tch::Tensor> {
    fn bytes_of<T: Copy>(s: &[T]) -> &[u8] {
        // SAFETY: the element types here are plain numbers without padding; any byte pattern
        // of them is a valid `u8` sequence of the same length.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
    }
    let (bytes, dtype) = match t.data {
        TensorData::F32(s) => (bytes_of(s.as_slice()), DType::F32),
        TensorData::F64(s) => (bytes_of(s.as_slice()), DType::F64),
        TensorData::I32(s) => (bytes_of(s.as_slice()), DType::I32),
        TensorData::I64(s) => (bytes_of(s.as_slice()), DType::I64),
        TensorData::U8(s) => (bytes_of(s.as_slice()), DType::U8),
    };
    let shape = t.shape.as_slice();
    let n: i64 = shape.iter().product();
    // `at_tensor_of_data` copies shape-product elements: never let it read past the slice.
    if n < 0 || n as usize * dtype.size() != bytes.len() {
        return Err(Error::Model(format!(
            "model input '{}': shape {shape:?} does not match {} elements",
            t.name,
            t.data.len()
        )));
    }
    tch::Tensor::f_from_data_size(bytes, shape, kind_of(dtype))
        .map_err(|e| Error::Model(format!("model input '{}': {}", t.name, torch_message(&e))))
}

/// Copies one libtorch output into a host tensor named `name`.
fn from_torch(name: &str, t: &tch::Tensor) -> Result<Tensor> {
    let kind = t
        .f_kind()
        .map_err(|e| Error::Model(format!("model output '{name}': {}", torch_message(&e))))?;
    let dtype = dtype_of(kind).ok_or_else(|| {
        Error::Model(format!(
            "model output '{name}' has unsupported element type {kind:?}"
        ))
    })?;
    let shape = t.size();
    let n = shape.iter().product::<i64>().max(0) as usize;
    macro_rules! take {
        ($t:ty, $variant:ident) => {{
            let mut v = vec![<$t>::default(); n];
            t.f_copy_data(&mut v, n).map_err(|e| {
                Error::Model(format!("model output '{name}': {}", torch_message(&e)))
            })?;
            TensorBuf::$variant(v.into())
        }};
    }
    let data = match dtype {
        DType::F32 => take!(f32, F32),
        DType::F64 => take!(f64, F64),
        DType::I32 => take!(i32, I32),
        DType::I64 => take!(i64, I64),
        DType::U8 => take!(u8, U8),
    };
    Ok(Tensor::new(name, shape, data))
}

/// The tensors `forward` returned: one tensor, or a tuple or list of tensors.
fn output_tensors(v: IValue) -> Result<Vec<tch::Tensor>> {
    let not_tensor = |what: &str| {
        Error::Model(format!(
            "TorchScript forward returned {what}; expected a tensor or a tuple of tensors"
        ))
    };
    match v {
        IValue::Tensor(t) => Ok(vec![t]),
        IValue::TensorList(v) => Ok(v),
        IValue::Tuple(v) | IValue::GenericList(v) => v
            .into_iter()
            .map(|x| match x {
                IValue::Tensor(t) => Ok(t),
                _ => Err(not_tensor("a tuple with a non-tensor element")),
            })
            .collect(),
        _ => Err(not_tensor("a non-tensor value")),
    }
}

/// A loaded TorchScript module.
pub struct TorchModel {
    module: CModule,
    inputs: Vec<ModelPort>,
    outputs: Vec<ModelPort>,
    intra_op_threads: usize,
}

impl TorchModel {
    /// Loads a TorchScript file from its bytes: reads its signature, loads the module on the CPU
    /// in evaluation mode, and runs the probe `forward` (module docs). Every failure is an
    /// [`Error::Model`] that says what is wrong with the file.
    pub fn load(bytes: &[u8], opts: &LoadOptions) -> Result<Self> {
        let sig = read_signature(bytes)?.ok_or_else(|| {
            Error::Model(format!(
                "TorchScript file has no signature ('extra/{SIGNATURE_FILE}'), so its inputs cannot \
                 be checked against the plugin's; {SIGNATURE_RECIPE}"
            ))
        })?;
        claim_threads(opts.intra_op_threads.max(1))?;
        apply_threads(opts.intra_op_threads.max(1));
        let mut module = CModule::load_data_on_device(&mut Cursor::new(bytes), Device::Cpu)
            .map_err(|e| {
                Error::Model(format!(
                    "libtorch cannot load the TorchScript file: {}",
                    torch_message(&e)
                ))
            })?;
        module.f_set_eval().map_err(|e| {
            Error::Model(format!(
                "TorchScript module: cannot switch to evaluation mode: {}",
                torch_message(&e)
            ))
        })?;
        let model = TorchModel {
            module,
            inputs: sig.inputs,
            outputs: sig.outputs,
            intra_op_threads: opts.intra_op_threads.max(1),
        };
        model.probe()?;
        Ok(model)
    }

    /// Runs `forward` once on zeros of the declared input shapes (dynamic dimensions 1) and
    /// checks the outputs against the declared ones.
    fn probe(&self) -> Result<()> {
        let shapes: Vec<Vec<i64>> = self
            .inputs
            .iter()
            .map(|p| p.shape.iter().map(|&d| if d < 0 { 1 } else { d }).collect())
            .collect();
        let bufs: Vec<TensorBuf> = self
            .inputs
            .iter()
            .zip(&shapes)
            .map(|(p, s)| {
                let n = s.iter().product::<i64>() as usize;
                match p.dtype {
                    DType::F32 => TensorBuf::F32(vec![0.0; n].into()),
                    DType::F64 => TensorBuf::F64(vec![0.0; n].into()),
                    DType::I32 => TensorBuf::I32(vec![0; n].into()),
                    DType::I64 => TensorBuf::I64(vec![0; n].into()),
                    DType::U8 => TensorBuf::U8(vec![0; n].into()),
                }
            })
            .collect();
        let views: Vec<TensorView<'_>> = self
            .inputs
            .iter()
            .zip(&shapes)
            .zip(&bufs)
            .map(|((p, s), b)| TensorView::new(&p.name, s, b.view()))
            .collect();
        let declared = |v: &[ModelPort]| {
            v.iter()
                .map(|p| format!("{} {} {:?}", p.name, p.dtype, p.shape))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let outs = self.forward_caught(&views).map_err(|e| {
            Error::Model(format!(
                "TorchScript module does not run on its declared inputs ({}) — probe forward on \
                 zeros failed: {e}",
                declared(&self.inputs)
            ))
        })?;
        for (got, want) in outs.iter().zip(&self.outputs) {
            let rank_ok = got.shape.len() == want.shape.len()
                && got
                    .shape
                    .iter()
                    .zip(&want.shape)
                    .all(|(&g, &w)| w < 0 || g == w);
            if got.data.dtype() != want.dtype || !rank_ok {
                return Err(Error::Model(format!(
                    "TorchScript module: output '{}' is declared {} {:?}, the probe forward gave {} {:?}",
                    want.name,
                    want.dtype,
                    want.shape,
                    got.data.dtype(),
                    got.shape.as_slice()
                )));
            }
            // libtorch does not check every shape: its LSTM fed 8 features where its weights
            // expect 6 returns NaN instead of failing. Zeros in must give finite numbers out.
            let finite = match &got.data {
                TensorBuf::F32(v) => v.iter().all(|x| x.is_finite()),
                TensorBuf::F64(v) => v.iter().all(|x| x.is_finite()),
                _ => true,
            };
            if !finite {
                return Err(Error::Model(format!(
                    "TorchScript module: the probe forward on zeros of the declared inputs ({}) \
                     gave non-finite values in output '{}'; the signature does not fit the module",
                    declared(&self.inputs),
                    want.name
                )));
            }
        }
        Ok(())
    }

    /// `forward` on inputs already checked against the signature; outputs named from it.
    fn forward(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        apply_threads(self.intra_op_threads);
        // Per call and per thread: grad mode is thread-local (module docs).
        let _no_grad = tch::no_grad_guard();
        let mut args = Vec::with_capacity(self.inputs.len());
        for p in &self.inputs {
            let t = inputs
                .iter()
                .find(|t| t.name.as_str() == p.name)
                .ok_or_else(|| Error::Model(format!("missing model input '{}'", p.name)))?;
            args.push(IValue::Tensor(to_torch(t)?));
        }
        let out = self.module.forward_is(&args).map_err(|e| {
            Error::Model(format!("TorchScript forward failed: {}", torch_message(&e)))
        })?;
        let tensors = output_tensors(out)?;
        if tensors.len() != self.outputs.len() {
            let names: Vec<&str> = self.outputs.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::Model(format!(
                "TorchScript forward returned {} tensors, the signature declares {} ({names:?})",
                tensors.len(),
                self.outputs.len()
            )));
        }
        tensors
            .iter()
            .zip(&self.outputs)
            .map(|(t, p)| from_torch(&p.name, t))
            .collect()
    }

    /// [`Self::forward`], with a panic turned into an error: `tch` panics (rather than returning
    /// an error) on a few conditions, e.g. an undefined tensor; keep that from unwinding through
    /// a plugin's call or a model load.
    fn forward_caught(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        catch_unwind(AssertUnwindSafe(|| self.forward(inputs))).unwrap_or_else(|p| {
            Err(Error::Model(format!(
                "TorchScript forward panicked: {}",
                hepinfer_plugin_api::panic::panic_message(p.as_ref())
            )))
        })
    }
}

impl Model for TorchModel {
    fn run(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        check_inputs(&self.inputs, inputs)?;
        self.forward_caught(inputs)
    }

    fn inputs(&self) -> &[ModelPort] {
        &self.inputs
    }

    fn outputs(&self) -> &[ModelPort] {
        &self.outputs
    }

    fn backend(&self) -> &'static str {
        "libtorch"
    }
}
