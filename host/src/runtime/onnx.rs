//! ONNX Runtime backend: one process-wide environment, one session per model shared by all threads.
//!
//! # Why concurrent `Run` on one session is sound here
//! ONNX Runtime documents `OrtApi::Run` as thread-safe on one session, and CMSSW
//! (`PhysicsTools/ONNXRuntime`) and Athena share one session across all their threads. `ort`
//! 2.0.0-rc.15 nevertheless takes `&mut self` in `Session::run`, out of caution about execution
//! providers whose allocators or statistics are not thread-safe (its comment on `run_inner`). We
//! use only the CPU execution provider, sequential execution mode, inputs as read-only views of
//! caller memory and outputs allocated by ONNX Runtime per call — the configuration whose
//! concurrent use we verified bit-for-bit against a serial reference (6.2 million calls during
//! development; `tests/concurrency.rs` re-checks it on every test run). So in
//! [`SessionMode::Shared`] we call `Run` through `ort::api()` with the session's raw pointer from
//! `&self`: no lock around inference, one copy of the weights. [`SessionMode::Pool`] keeps a small
//! pool of sessions sharing one prepacked-weights container, each used by one thread at a time —
//! the switch to flip should a model or a future ONNX Runtime prove that trust wrong.

use super::{check_inputs, LoadOptions, Model, ModelPort};
use crate::config::SessionMode;
use crate::error::{Error, Result};
use hepinfer_plugin_api::{DType, Tensor, TensorBuf, TensorData, TensorView};
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::{TensorElementType, ValueType};
use ort::AsPointer;
use parking_lot::Mutex;
use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The ONNX Runtime version this build of hepinfer is made for (`ort` 2.0.0-rc.15 binds API 31).
pub const REQUIRED_VERSION_PREFIX: &str = "1.31.";
/// File name of the library in the `onnxruntime` wheel.
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// The process-wide ONNX Runtime environment.
pub struct OrtEnv {
    env: ort::environment::Environment,
    /// Absolute path the library was loaded from.
    pub path: PathBuf,
    /// Version reported by the library.
    pub version: String,
}

// `ort` allows one environment per process; every host in the process shares it.
static ENV: Mutex<Option<Arc<OrtEnv>>> = Mutex::new(None);

const HOW_TO_FIX: &str =
    "run `scripts/fetch-onnxruntime.sh` (it unpacks libonnxruntime.so.1.31.1 from the \
     onnxruntime==1.31.1 wheel into .deps/onnxruntime/lib), or point the host config key \
     'onnxruntime' or the environment variable ORT_DYLIB_PATH at that file";

/// Where to look for the library when neither the config nor `ORT_DYLIB_PATH` names it: beside
/// an installed `libhepinfer.so` (`<libdir>/hepinfer/onnxruntime/`), then the build tree's copy.
fn default_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(dir) = crate::paths::library_dir() {
        v.push(dir.join("hepinfer").join("onnxruntime").join(LIBRARY_FILE));
    }
    v.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".deps/onnxruntime/lib")
            .join(LIBRARY_FILE),
    );
    v
}

fn locate(configured: Option<&Path>) -> Result<PathBuf> {
    let (path, origin) = if let Some(p) = configured {
        (p.to_path_buf(), "host config 'onnxruntime'")
    } else if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        (PathBuf::from(p), "ORT_DYLIB_PATH")
    } else {
        let candidates = default_candidates();
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => (p.clone(), "default location"),
            None => {
                let list: Vec<String> =
                    candidates.iter().map(|p| p.display().to_string()).collect();
                return Err(Error::Runtime(format!(
                    "ONNX Runtime library not found (looked in {}); {HOW_TO_FIX}",
                    list.join(", ")
                )));
            }
        }
    };
    path.canonicalize().map_err(|e| {
        Error::Runtime(format!(
            "ONNX Runtime library '{}' (from {origin}): {e}; {HOW_TO_FIX}",
            path.display()
        ))
    })
}

/// Reads the version of the library at `path` without handing it to `ort`, so that a wrong
/// library never becomes the process's one ONNX Runtime.
fn probe_version(path: &Path) -> Result<String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: loading a shared library runs its initialisers; that is what loading ONNX Runtime
    // means. The handle is dropped (dlclose) before `ort` opens the same file.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        Error::Runtime(format!(
            "cannot load ONNX Runtime from '{}': {e}; {HOW_TO_FIX}",
            path.display()
        ))
    })?;
    let get: libloading::Symbol<GetApiBase> =
        unsafe { lib.get(b"OrtGetApiBase\0") }.map_err(|_| {
            Error::Runtime(format!(
                "'{}' is not ONNX Runtime (no OrtGetApiBase symbol); {HOW_TO_FIX}",
                path.display()
            ))
        })?;
    // SAFETY: OrtGetApiBase has this signature in every ONNX Runtime release and returns a
    // pointer to a static struct; GetVersionString returns a static NUL-terminated string.
    let version = unsafe {
        let base = get();
        if base.is_null() {
            return Err(Error::Runtime(format!(
                "'{}': OrtGetApiBase returned NULL",
                path.display()
            )));
        }
        CStr::from_ptr(((*base).GetVersionString)())
            .to_string_lossy()
            .into_owned()
    };
    if !version.starts_with(REQUIRED_VERSION_PREFIX) {
        return Err(Error::Runtime(format!(
            "ONNX Runtime at '{}' is version {version}, hepinfer needs {REQUIRED_VERSION_PREFIX}x; {HOW_TO_FIX}",
            path.display()
        )));
    }
    Ok(version)
}

/// Returns the process's ONNX Runtime environment, creating it on first use from `configured`
/// (or the default search). Later calls naming a different library are refused: a process can
/// hold only one.
pub fn environment(configured: Option<&Path>) -> Result<Arc<OrtEnv>> {
    let mut guard = ENV.lock();
    if let Some(env) = guard.as_ref() {
        if let Some(p) = configured {
            let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            if p != env.path {
                return Err(Error::Runtime(format!(
                    "ONNX Runtime is already loaded in this process from '{}'; cannot also load '{}'",
                    env.path.display(),
                    p.display()
                )));
            }
        }
        return Ok(env.clone());
    }
    let path = locate(configured)?;
    let version = probe_version(&path)?;
    // The PyPI build enables telemetry when the environment is created; only this variable,
    // set before that, stops it (measured with ONNX Runtime 1.31.1). Grid jobs must not phone home. It is set
    // under the ENV lock, once, before ONNX Runtime reads it.
    std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    let builder = ort::init_from(&path)
        .map_err(|e| Error::Runtime(format!("cannot load ONNX Runtime: {e}; {HOW_TO_FIX}")))?;
    let env = builder
        .with_name("hepinfer")
        .with_telemetry(false)
        .build()
        .map_err(|e| Error::Runtime(format!("cannot create the ONNX Runtime environment: {e}")))?;
    let env = Arc::new(OrtEnv { env, path, version });
    *guard = Some(env.clone());
    Ok(env)
}

impl OrtEnv {
    /// The `ort` environment (for code that builds its own sessions, e.g. benchmarks).
    pub fn ort(&self) -> &ort::environment::Environment {
        &self.env
    }
}

/// A session builder with the options the host uses for every model: `intra_op_threads`, one
/// inter-op thread, sequential execution, all graph optimisations, CPU arena as configured.
/// Benchmarks build their direct-ONNX-Runtime reference with it so both sides match.
pub fn session_builder(
    env: &OrtEnv,
    opts: &LoadOptions,
) -> Result<ort::session::builder::SessionBuilder> {
    let e = |e: ort::Error| Error::Model(format!("ONNX Runtime session options: {e}"));
    Session::builder(&env.env)
        .map_err(e)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|x| e(x.into()))?
        .with_intra_threads(opts.intra_op_threads)
        .map_err(|x| e(x.into()))?
        .with_inter_threads(1)
        .map_err(|x| e(x.into()))?
        .with_parallel_execution(false)
        .map_err(|x| e(x.into()))?
        .with_execution_providers([ort::ep::CPU::default()
            .with_arena_allocator(opts.cpu_arena)
            .build()])
        .map_err(|x| e(x.into()))
}

/// The environment if one was created already.
pub fn current_environment() -> Option<Arc<OrtEnv>> {
    ENV.lock().clone()
}

fn dtype_of(t: TensorElementType) -> Option<DType> {
    Some(match t {
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float64 => DType::F64,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Int64 => DType::I64,
        TensorElementType::Uint8 => DType::U8,
        _ => return None,
    })
}

fn port(name: &str, ty: &ValueType) -> Result<ModelPort> {
    match ty {
        ValueType::Tensor { ty, shape, .. } => Ok(ModelPort {
            name: name.to_string(),
            dtype: dtype_of(*ty).ok_or_else(|| {
                Error::Model(format!(
                    "model port '{name}' has unsupported element type {ty:?}"
                ))
            })?,
            shape: shape.iter().copied().collect(),
        }),
        other => Err(Error::Model(format!(
            "model port '{name}' is not a tensor ({other:?})"
        ))),
    }
}

/// Small per-call arrays (one entry per model input or output), kept on the stack.
type Ports<T> = smallvec::SmallVec<[T; 8]>;

/// A loaded ONNX model.
pub struct OnnxModel {
    sessions: Vec<Mutex<Session>>,
    mode: SessionMode,
    next: AtomicUsize,
    inputs: Vec<ModelPort>,
    outputs: Vec<ModelPort>,
    input_names: Vec<CString>,
    output_names: Vec<CString>,
    // Describes the caller's buffers (plain CPU memory) to every input view.
    memory: CpuMemory,
    // The native kernel serving every call instead of ONNX Runtime, when the graph is one it runs
    // and it passed the load-time comparison.
    native: Option<Native>,
    // Kept alive for the sessions that share it.
    _prepacked: Option<ort::session::builder::PrepackedWeights>,
    _env: Arc<OrtEnv>,
}

impl OnnxModel {
    /// Loads a model from its bytes (the environment must exist: see [`environment`]).
    pub fn load(bytes: &[u8], opts: &LoadOptions) -> Result<Self> {
        let env = current_environment()
            .ok_or_else(|| Error::Runtime("ONNX Runtime environment not initialised".into()))?;
        let n = match opts.session_mode {
            SessionMode::Shared => 1,
            SessionMode::Pool => opts.pool_size.max(1),
        };
        let prepacked = (opts.session_mode == SessionMode::Pool)
            .then(ort::session::builder::PrepackedWeights::new);
        let mut sessions = Vec::with_capacity(n);
        for _ in 0..n {
            let e =
                |e: ort::Error| Error::Model(format!("ONNX Runtime cannot load the model: {e}"));
            let mut b = session_builder(&env, opts)?;
            if let Some(p) = &prepacked {
                b = b.with_prepacked_weights(p).map_err(|x| e(x.into()))?;
            }
            sessions.push(Mutex::new(b.commit_from_memory(bytes).map_err(e)?));
        }
        let first = sessions[0].lock();
        let inputs = first
            .inputs()
            .iter()
            .map(|o| port(o.name(), o.dtype()))
            .collect::<Result<Vec<_>>>()?;
        let outputs = first
            .outputs()
            .iter()
            .map(|o| port(o.name(), o.dtype()))
            .collect::<Result<Vec<_>>>()?;
        drop(first);
        let cstr = |p: &ModelPort| {
            CString::new(p.name.as_str())
                .map_err(|_| Error::Model(format!("model port name {:?} contains NUL", p.name)))
        };
        let mut model = OnnxModel {
            memory: CpuMemory::new()?,
            input_names: inputs.iter().map(cstr).collect::<Result<_>>()?,
            output_names: outputs.iter().map(cstr).collect::<Result<_>>()?,
            inputs,
            outputs,
            sessions,
            mode: opts.session_mode,
            next: AtomicUsize::new(0),
            native: None,
            _prepacked: prepacked,
            _env: env,
        };
        if opts.native_kernels {
            model.native = Native::check(bytes, &model)?;
        }
        Ok(model)
    }

    /// Whether calls run on the native kernel (and which one), rather than ONNX Runtime.
    pub fn native_kernel(&self) -> Option<&str> {
        self.native.as_ref().map(|n| n.description.as_str())
    }

    /// [`Model::run`] through ONNX Runtime, whatever serves the model's calls (for comparisons).
    pub fn run_onnxruntime(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        check_inputs(&self.inputs, inputs)?;
        self.run_sessions(inputs)
    }

    fn run_sessions(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        match self.mode {
            SessionMode::Shared => {
                // SAFETY of sharing: see the module documentation. `data_ptr` reads the session
                // without taking its lock: the lock exists only for pool mode.
                let session = unsafe { &*self.sessions[0].data_ptr() };
                self.run_on(session, inputs)
            }
            SessionMode::Pool => {
                let n = self.sessions.len();
                let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
                for i in 0..n {
                    if let Some(s) = self.sessions[(start + i) % n].try_lock() {
                        return self.run_on(&s, inputs);
                    }
                }
                let s = self.sessions[start].lock();
                self.run_on(&s, inputs)
            }
        }
    }

    /// Calls `OrtApi::Run` on `session` with inputs ordered as the model's inputs.
    ///
    /// Everything per call goes through ONNX Runtime's C API directly (as a C++ framework would
    /// write it): input views of the caller's buffers with `CreateTensorWithDataAsOrtValue`,
    /// `Run`, each output's type, shape and data read once and copied out. With the small models
    /// of reconstruction (a few µs per call) the `ort` crate's value wrappers, which allocate and
    /// query types per value, were a visible part of a call.
    fn run_on(&self, session: &Session, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        let api = ort::api();
        // Zero-copy views of the caller's memory, in the model's input order; released on drop.
        let mut values: Ports<OwnedValue> = Ports::new();
        for p in &self.inputs {
            let t = inputs
                .iter()
                .find(|t| t.name.as_str() == p.name)
                .ok_or_else(|| Error::Model(format!("missing model input '{}'", p.name)))?;
            values.push(self.view_value(t)?);
        }
        // Pointer arrays for the C call live on the stack for up to 8 ports: no allocation.
        let value_ptrs: Ports<*const ort::sys::OrtValue> =
            values.iter().map(|v| v.0.cast_const()).collect();
        let in_names: Ports<*const c_char> = self.input_names.iter().map(|c| c.as_ptr()).collect();
        let out_names: Ports<*const c_char> =
            self.output_names.iter().map(|c| c.as_ptr()).collect();
        let mut outs: Ports<OwnedValue> = (0..self.outputs.len())
            .map(|_| OwnedValue(ptr::null_mut()))
            .collect();
        // SAFETY: all pointers are valid for the duration of the call; the views borrow the
        // caller's buffers, which outlive it, and ONNX Runtime only reads inputs; it allocates
        // every output (null slots), which `outs` then owns — also on an error path. See the
        // module docs for why a shared session is used from `&self`. `OwnedValue` is a
        // transparent pointer, so the slice of them is the `OrtValue**` the API takes.
        let status = unsafe {
            (api.Run)(
                session.ptr().cast_mut(),
                ptr::null(),
                in_names.as_ptr(),
                value_ptrs.as_ptr(),
                value_ptrs.len(),
                out_names.as_ptr(),
                out_names.len(),
                outs.as_mut_ptr().cast::<*mut ort::sys::OrtValue>(),
            )
        };
        ort_result(status).map_err(|e| Error::Model(format!("ONNX Runtime Run failed: {e}")))?;
        outs.iter()
            .zip(&self.outputs)
            .map(|(v, p)| {
                if v.0.is_null() {
                    return Err(Error::Model(format!("output '{}' not produced", p.name)));
                }
                extract(&p.name, v)
            })
            .collect()
    }

    /// A read-only ONNX Runtime view of `t`'s buffer (shape and length checked by the caller).
    fn view_value(&self, t: &TensorView<'_>) -> Result<OwnedValue> {
        use ort::sys::ONNXTensorElementDataType as T;
        let (data, bytes, ty): (*const std::ffi::c_void, usize, T) = match &t.data {
            TensorData::F32(s) => (
                s.as_ptr().cast(),
                4 * s.len(),
                T::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
            ),
            TensorData::F64(s) => (
                s.as_ptr().cast(),
                8 * s.len(),
                T::ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE,
            ),
            TensorData::I32(s) => (
                s.as_ptr().cast(),
                4 * s.len(),
                T::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
            ),
            TensorData::I64(s) => (
                s.as_ptr().cast(),
                8 * s.len(),
                T::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64,
            ),
            TensorData::U8(s) => (
                s.as_ptr().cast(),
                s.len(),
                T::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8,
            ),
        };
        let shape: &[i64] = t.shape.as_slice();
        let mut v = OwnedValue(ptr::null_mut());
        // SAFETY: `data` points at `bytes` bytes the caller keeps alive for the whole call, and
        // the value is released (by `OwnedValue`) before `run_on` returns. ONNX Runtime takes a
        // mutable pointer but does not write to inputs.
        let status = unsafe {
            (ort::api().CreateTensorWithDataAsOrtValue)(
                self.memory.0.as_ptr(),
                data.cast_mut(),
                bytes,
                shape.as_ptr(),
                shape.len(),
                ty,
                &mut v.0,
            )
        };
        ort_result(status).map_err(|e| Error::Model(format!("model input '{}': {e}", t.name)))?;
        Ok(v)
    }
}

/// An `OrtValue` owned here: released when dropped.
#[repr(transparent)]
struct OwnedValue(*mut ort::sys::OrtValue);

impl Drop for OwnedValue {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: created by ONNX Runtime for us and released exactly once.
            unsafe { (ort::api().ReleaseValue)(self.0) }
        }
    }
}

/// The description of plain CPU memory that input views are made with (one per model).
struct CpuMemory(NonNull<ort::sys::OrtMemoryInfo>);

// SAFETY: an OrtMemoryInfo is an immutable description, only read after creation.
unsafe impl Send for CpuMemory {}
unsafe impl Sync for CpuMemory {}

impl CpuMemory {
    fn new() -> Result<Self> {
        let mut info = ptr::null_mut();
        // SAFETY: a plain constructor call with a valid out-pointer.
        let status = unsafe {
            (ort::api().CreateCpuMemoryInfo)(
                ort::sys::OrtAllocatorType::OrtArenaAllocator,
                ort::sys::OrtMemType::OrtMemTypeDefault,
                &mut info,
            )
        };
        ort_result(status).map_err(|e| Error::Runtime(format!("CreateCpuMemoryInfo: {e}")))?;
        NonNull::new(info)
            .map(CpuMemory)
            .ok_or_else(|| Error::Runtime("CreateCpuMemoryInfo returned NULL".into()))
    }
}

impl Drop for CpuMemory {
    fn drop(&mut self) {
        // SAFETY: created in `new`, released once.
        unsafe { (ort::api().ReleaseMemoryInfo)(self.0.as_ptr()) }
    }
}

/// An ONNX Runtime status as a result (taking ownership of the status).
fn ort_result(status: ort::sys::OrtStatusPtr) -> std::result::Result<(), ort::Error> {
    // SAFETY: `status` comes straight from an ONNX Runtime call and is not used again.
    unsafe { ort::Error::result_from_status(status) }
}

/// Releases a tensor type-and-shape description when dropped.
struct ShapeInfo(*mut ort::sys::OrtTensorTypeAndShapeInfo);

impl Drop for ShapeInfo {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: created by GetTensorTypeAndShape, released once.
            unsafe { (ort::api().ReleaseTensorTypeAndShapeInfo)(self.0) }
        }
    }
}

/// Copies output `name` out of ONNX Runtime's buffer: element type, shape and data read through
/// the C API once.
fn extract(name: &str, v: &OwnedValue) -> Result<Tensor> {
    use ort::sys::ONNXTensorElementDataType as T;
    let api = ort::api();
    let e =
        |what: &str, err: ort::Error| Error::Model(format!("model output '{name}': {what}: {err}"));
    let mut info = ShapeInfo(ptr::null_mut());
    let mut ty = T::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    let mut rank = 0usize;
    let mut count = 0usize;
    let mut data = ptr::null_mut();
    // SAFETY: `v` is a live value from `Run`; valid out-pointers; the dimension buffer holds
    // `rank` entries; `info` is released on every path by its guard.
    let shape: Ports<i64> = unsafe {
        ort_result((api.GetTensorTypeAndShape)(v.0, &mut info.0))
            .map_err(|x| e("not a tensor", x))?;
        ort_result((api.GetTensorElementType)(info.0, &mut ty)).map_err(|x| e("type", x))?;
        ort_result((api.GetDimensionsCount)(info.0, &mut rank)).map_err(|x| e("rank", x))?;
        let mut shape: Ports<i64> = smallvec::smallvec![0; rank];
        ort_result((api.GetDimensions)(info.0, shape.as_mut_ptr(), rank))
            .map_err(|x| e("shape", x))?;
        ort_result((api.GetTensorShapeElementCount)(info.0, &mut count))
            .map_err(|x| e("size", x))?;
        ort_result((api.GetTensorMutableData)(v.0, &mut data)).map_err(|x| e("data", x))?;
        shape
    };
    macro_rules! take {
        ($t:ty, $variant:ident) => {{
            let values: Vec<$t> = if count == 0 || data.is_null() {
                Vec::new()
            } else {
                // SAFETY: a tensor of this element type holds `count` elements at `data`,
                // valid until the value is released (after this copy).
                unsafe { std::slice::from_raw_parts(data.cast::<$t>(), count) }.to_vec()
            };
            TensorBuf::$variant(values.into())
        }};
    }
    let buf = match ty {
        T::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT => take!(f32, F32),
        T::ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE => take!(f64, F64),
        T::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32 => take!(i32, I32),
        T::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 => take!(i64, I64),
        T::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 => take!(u8, U8),
        other => {
            return Err(Error::Model(format!(
                "model output '{name}' has unsupported type {other:?}"
            )))
        }
    };
    Ok(Tensor::new(name, shape.into_iter().collect(), buf))
}

impl Model for OnnxModel {
    fn run(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        check_inputs(&self.inputs, inputs)?;
        match &self.native {
            Some(n) => n.run(inputs),
            None => self.run_sessions(inputs),
        }
    }

    fn describe(&self) -> Option<String> {
        self.native_kernel().map(str::to_string)
    }

    fn merging_pays(&self) -> bool {
        // Measured (`cargo bench -p hepinfer --bench batching`): per-jet calls on the native
        // kernel run 1.2x faster unmerged than through the batcher.
        self.native.is_none()
    }

    fn inputs(&self) -> &[ModelPort] {
        &self.inputs
    }

    fn outputs(&self) -> &[ModelPort] {
        &self.outputs
    }

    fn backend(&self) -> &'static str {
        "onnxruntime"
    }
}

/// Largest difference from ONNX Runtime's probabilities the native kernel may show on the
/// load-time probe (it shows ~1e-7: the sums are grouped differently, the exponential is its own).
pub const NATIVE_TOLERANCE: f32 = 1e-5;

/// A model served by `hepinfer-lstm`'s native kernel.
struct Native {
    model: hepinfer_lstm::LstmClassifier,
    /// For provenance: kernel, and the measured agreement with ONNX Runtime.
    description: String,
}

impl Native {
    /// The native kernel for `bytes` if the graph is one it runs and it agrees with ONNX
    /// Runtime (`onnx`, the same model) on a probe batch: rows of every length, random inputs.
    /// A graph it does not run is `None`; one it runs but that disagrees is an error, since
    /// either the kernel or ONNX Runtime is then wrong and no number from it can be trusted.
    fn check(bytes: &[u8], onnx: &OnnxModel) -> Result<Option<Native>> {
        let Ok(model) = hepinfer_lstm::LstmClassifier::from_onnx(bytes) else {
            return Ok(None);
        };
        let names_match = onnx.outputs.len() == 1
            && onnx.outputs[0].name == model.output()
            && onnx.inputs.len() == 2
            && onnx
                .inputs
                .iter()
                .any(|p| p.name == model.sequences_input())
            && onnx.inputs.iter().any(|p| p.name == model.lengths_input());
        if !names_match {
            return Ok(None);
        }
        let (steps, f) = (12usize, model.features());
        // Two rows of each length 0..=steps (0 reads step 0), values from a fixed LCG in [-4, 4).
        let rows = 2 * (steps + 1);
        let lens: Vec<i64> = (0..rows as i64).map(|r| r % (steps as i64 + 1)).collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let x: Vec<f32> = (0..rows * steps * f)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
            })
            .collect();
        let xshape = [rows as i64, steps as i64, f as i64];
        let nshape = [rows as i64];
        let views = [
            TensorView::f32(model.sequences_input(), &xshape, &x),
            TensorView::i64(model.lengths_input(), &nshape, &lens),
        ];
        let want = onnx.run_onnxruntime(&views)?;
        let want = want.first().and_then(Tensor::as_f32).unwrap_or(&[]);
        let got = model
            .run(&x, [rows, steps, f], &lens)
            .map_err(|e| Error::Model(format!("native kernel on its probe batch: {e}")))?;
        let diff = if want.len() == got.len() {
            want.iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(
                    0.0f32,
                    |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
                )
        } else {
            f32::INFINITY
        };
        if diff.is_nan() || diff > NATIVE_TOLERANCE {
            return Err(Error::Model(format!(
                "the native LSTM kernel ({}) differs from ONNX Runtime by {diff:e} on its probe \
                 batch (tolerance {NATIVE_TOLERANCE:e}); set \"native_kernels\": false in the \
                 host configuration to run this model on ONNX Runtime, and report it",
                model.kernel().name()
            )));
        }
        let description = format!(
            "hepinfer native LSTM kernel ({}, hidden {}), max |diff| to ONNX Runtime {diff:.1e} \
             on the load-time probe",
            model.kernel().name(),
            model.hidden()
        );
        Ok(Some(Native { model, description }))
    }

    /// Runs the model (inputs checked against the ports already).
    fn run(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>> {
        let find = |name: &str| inputs.iter().find(|t| t.name.as_str() == name);
        let (Some(x), Some(n)) = (
            find(self.model.sequences_input()),
            find(self.model.lengths_input()),
        ) else {
            return Err(Error::Model("native kernel: missing input".into()));
        };
        let (TensorData::F32(xd), TensorData::I64(nd)) = (&x.data, &n.data) else {
            return Err(Error::Model(
                "native kernel: expected float32 sequences and int64 lengths".into(),
            ));
        };
        let dims = x.shape.as_slice();
        let shape = match dims {
            [b, s, f] => [*b as usize, *s as usize, *f as usize],
            _ => {
                return Err(Error::Model(format!(
                    "model input '{}': expected 3 dimensions, got {dims:?}",
                    x.name
                )))
            }
        };
        let probs = self
            .model
            .run(xd, shape, nd)
            .map_err(|e| Error::Model(format!("model input: {e}")))?;
        Ok(vec![Tensor::f32(
            self.model.output(),
            vec![shape[0] as i64, self.model.classes() as i64],
            probs,
        )])
    }
}
