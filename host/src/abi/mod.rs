//! The C ABI of `libhepinfer.so`, from which cbindgen generates `include/hepinfer/hepinfer.h`.
//!
//! Conventions (as in rustls-ffi, wasmtime's and ONNX Runtime's C APIs):
//! - every function that can fail returns a `hepinfer_status` and takes `out_error` last: on
//!   failure it stores a `hepinfer_error` there when `out_error` is not NULL (the caller owns it
//!   and frees it with `hepinfer_error_free`); on success `*out_error` is set to NULL;
//! - every pointer argument is checked; a NULL where an object is required is
//!   `HEPINFER_INVALID_ARGUMENT`, never a crash;
//! - every object the library allocates has its `_free` function; `_free(NULL)` does nothing;
//! - each parameter's documentation says who owns it: *borrowed* (the library reads it during
//!   the call only), *caller-owned* (the caller frees what it receives, with the function named),
//!   or *owned by X* (valid as long as object X);
//! - no panic unwinds into C: each function catches it and returns `HEPINFER_PANIC`.
//!
//! The handle types hold the C-facing details (C strings of output names and provenance) so the
//! core (`Instance`, `CallOutputs`) stays free of them. Their `pub(crate)` methods are the single
//! implementation of each call: the C functions below and the C++ bridge (`cxx_bridge.rs`) both
//! call them.
#![allow(non_camel_case_types)]

pub use crate::error::hepinfer_status;

// The asynchronous calls (hepinfer_submit and its companions), ABI 2.1.
mod asynchronous;
pub use asynchronous::*;

use crate::error::{catch, Error, Result};
use crate::host::Host;
use crate::instance::{CallOutputs, Instance};
use crate::logging::LogSink;
use hepinfer_plugin_api::{DType, EventKey, TensorData, TensorView};
use std::cell::OnceCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::Arc;

/// Major version of this C ABI. A library serves clients built for the same major version only.
pub const HEPINFER_ABI_VERSION_MAJOR: u32 = 2;

/// Minor version of this C ABI. Minor versions only add (functions, enum values, status codes);
/// a client built for 2.x works with every library 2.y where y >= x. 2.1 added the asynchronous
/// calls (`hepinfer_submit`, `hepinfer_instance_flush`, `hepinfer_instance_batching_json`).
pub const HEPINFER_ABI_VERSION_MINOR: u32 = 1;

/// `(HEPINFER_ABI_VERSION_MAJOR << 16) | HEPINFER_ABI_VERSION_MINOR`, as returned by
/// `hepinfer_abi_version()`.
pub const HEPINFER_ABI_VERSION: u32 =
    (HEPINFER_ABI_VERSION_MAJOR << 16) | HEPINFER_ABI_VERSION_MINOR;

/// Largest rank accepted for an input.
pub const HEPINFER_MAX_RANK: usize = 16;

/// Largest size of one input in bytes (refused above: a corrupt shape, not a real event).
pub const HEPINFER_MAX_INPUT_BYTES: u64 = 17_179_869_184; // 16 GiB

/// Element types (`hepinfer_tensor.dtype`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hepinfer_dtype {
    /// 32-bit float.
    HEPINFER_F32 = 0,
    /// 64-bit float.
    HEPINFER_F64 = 1,
    /// 32-bit signed integer.
    HEPINFER_I32 = 2,
    /// 64-bit signed integer.
    HEPINFER_I64 = 3,
    /// 8-bit unsigned integer.
    HEPINFER_U8 = 4,
}

/// Log levels passed to the log callback.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum hepinfer_log_level {
    /// Very detailed tracing.
    HEPINFER_LOG_TRACE = 0,
    /// Debugging information.
    HEPINFER_LOG_DEBUG = 1,
    /// Normal operation.
    HEPINFER_LOG_INFO = 2,
    /// Unexpected but harmless.
    HEPINFER_LOG_WARN = 3,
    /// A failure.
    HEPINFER_LOG_ERROR = 4,
}

/// A borrowed n-d array (inputs: owned by the caller, borrowed for the duration of the call;
/// outputs: owned by the `hepinfer_outputs` they came from).
///
/// `data` holds `shape[0] * ... * shape[rank-1]` elements of `dtype` in C order, aligned for the
/// element type (it may be NULL when that count is 0). A variable-length collection (tracks of
/// jets, hits of an event) is a flat array whose first dimension counts all elements, plus
/// `n_offsets` offsets: one more than the number of groups, starting at 0, non-decreasing,
/// ending at `shape[0]`. `offsets` is NULL and `n_offsets` 0 for an ordinary array.
///
/// One rule for malformed inputs: a NULL `name`, a NULL `shape` with `rank` > 0, a NULL `data`
/// with elements, a NULL `offsets` with `n_offsets` > 0 are all `HEPINFER_INVALID_INPUT`, with a
/// message naming the input (`inputs[i]` when it has no name).
///
/// The layout of this struct is fixed for ABI major version 2.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hepinfer_tensor {
    /// NUL-terminated UTF-8 name.
    pub name: *const c_char,
    /// A `hepinfer_dtype` value.
    pub dtype: u32,
    /// Number of dimensions.
    pub rank: usize,
    /// `rank` dimensions, outermost first.
    pub shape: *const i64,
    /// The elements.
    pub data: *const c_void,
    /// Group boundaries of a variable-length collection, or NULL.
    pub offsets: *const i64,
    /// Number of offsets (0 when `offsets` is NULL).
    pub n_offsets: usize,
}

/// The key of an event (the layout of the plugins' `EventKey`; fixed for ABI major version 2).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct hepinfer_event_key {
    /// Run number.
    pub run: u32,
    /// Luminosity block.
    pub lumi: u32,
    /// Event number.
    pub event: u64,
}

impl From<hepinfer_event_key> for EventKey {
    fn from(k: hepinfer_event_key) -> Self {
        EventKey {
            run: k.run,
            lumi: k.lumi,
            event: k.event,
        }
    }
}

/// The framework's log callback: `(hepinfer_log_level, message, user_data)`. Called from any
/// thread, possibly concurrently; `message` is NUL-terminated UTF-8, borrowed: valid only during
/// the call. It must not unwind (throw) into the library.
pub type hepinfer_log_callback =
    Option<unsafe extern "C" fn(level: u32, message: *const c_char, user_data: *mut c_void)>;

/// An inference host (opaque). Thread-safe: shared by all threads once created.
pub struct hepinfer_host {
    host: Host,
}

/// A configured plugin instance (opaque). Thread-safe: `hepinfer_process` may be called on it
/// from any number of threads at once.
pub struct hepinfer_instance {
    pub(crate) inner: Instance,
    // NUL-terminated names of the declared outputs, shared by every call's outputs.
    output_names: Arc<[CString]>,
}

/// The outputs of one `hepinfer_process` call (opaque). Used by one thread at a time.
pub struct hepinfer_outputs {
    out: CallOutputs,
    // The instance's declared output names: one reference count per call, however many outputs.
    declared: Arc<[CString]>,
    // Each output's name: a declared one (no allocation per call), or owned for an output the
    // plugin did not declare; up to four on the stack (no allocation either).
    names: smallvec::SmallVec<[OutputName; 4]>,
    // (model, payload hash) NUL-terminated, built when C first asks for provenance.
    provenance: OnceCell<Vec<(CString, CString)>>,
}

/// The name of one output of a call (see [`hepinfer_outputs`]).
enum OutputName {
    /// Index in the instance's declared outputs.
    Declared(usize),
    /// A name the plugin did not declare.
    Owned(CString),
}

/// An error: a status and a message (opaque).
pub struct hepinfer_error {
    status: hepinfer_status,
    message: CString,
}

/// `s` with interior NULs, which C strings cannot carry, replaced by U+FFFD: the one place that
/// rule lives (C strings of errors, log messages, names and provenance; C++ error messages).
pub(crate) fn without_nul(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}").into()
    } else {
        s.into()
    }
}

/// A C string of `s` (see [`without_nul`]).
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(without_nul(s).into_owned()).unwrap_or_default()
}

// ---- the shared implementation of each call (C functions below, C++ bridge in cxx_bridge.rs) --

/// The compatibility rule of the ABI, one line of text when refused.
pub(crate) fn abi_check(major: u32, minor: u32) -> Result<()> {
    if major == HEPINFER_ABI_VERSION_MAJOR && minor <= HEPINFER_ABI_VERSION_MINOR {
        return Ok(());
    }
    let why = if major != HEPINFER_ABI_VERSION_MAJOR {
        "a different major version"
    } else {
        "a newer minor version"
    };
    Err(Error::AbiMismatch(format!(
        "the program was built for hepinfer ABI {major}.{minor}, this libhepinfer {} provides ABI {HEPINFER_ABI_VERSION_MAJOR}.{HEPINFER_ABI_VERSION_MINOR} ({why}); use a library with ABI {major}.y, y >= {minor}",
        env!("CARGO_PKG_VERSION")
    )))
}

impl hepinfer_host {
    /// Creates a host logging to `sink`.
    pub(crate) fn create(config: &str, sink: LogSink) -> Result<Box<Self>> {
        Ok(Box::new(hepinfer_host {
            host: Host::with_log_sink(config, sink)?,
        }))
    }

    /// The plugins found, as a JSON array.
    pub(crate) fn plugins_json(&self) -> Result<String> {
        let list: Vec<serde_json::Value> = self
            .host
            .plugins()
            .iter()
            .map(|p| crate::loader::describe_json(p))
            .collect();
        serde_json::to_string(&list).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Creates an instance of `plugin`.
    pub(crate) fn instance(&self, plugin: &str, config: &str) -> Result<Box<hepinfer_instance>> {
        let inner = self.host.instance(plugin, config)?;
        let output_names = inner
            .info()
            .outputs
            .iter()
            .map(|o| c_string(&o.name))
            .collect();
        Ok(Box::new(hepinfer_instance {
            inner,
            output_names,
        }))
    }
}

impl hepinfer_instance {
    /// Runs the plugin on one event with C input views. The checks of the views count as part of
    /// the call in the instance's statistics.
    ///
    /// # Safety
    /// Each view's pointers are valid for what its fields say, or NULL (refused).
    pub(crate) unsafe fn process(
        &self,
        key: hepinfer_event_key,
        inputs: &[hepinfer_tensor],
    ) -> Result<Box<hepinfer_outputs>> {
        let out = self.inner.recorded(|| {
            // Up to 8 inputs live on the stack: no allocation per call for ordinary plugins.
            let views = inputs
                .iter()
                .enumerate()
                .map(|(i, t)| input_view(t, i))
                .collect::<Result<smallvec::SmallVec<[TensorView<'_>; 8]>>>()?;
            self.inner.process_inner(key.into(), &views)
        })?;
        Ok(self.outputs(out))
    }

    /// The C object of one call's outputs (names shared with the instance's declarations).
    pub(crate) fn outputs(&self, out: CallOutputs) -> Box<hepinfer_outputs> {
        let names = out
            .tensors
            .iter()
            .map(|t| {
                self.output_names
                    .iter()
                    .position(|c| c.as_bytes() == t.name.as_bytes())
                    .map_or_else(
                        || OutputName::Owned(c_string(&t.name)),
                        OutputName::Declared,
                    )
            })
            .collect();
        Box::new(hepinfer_outputs {
            out,
            declared: self.output_names.clone(),
            names,
            provenance: OnceCell::new(),
        })
    }

    /// A NULL-inputs call, refused and recorded as a failed call of this instance.
    pub(crate) fn refuse(&self, e: Error) -> Result<Box<hepinfer_outputs>> {
        self.inner.recorded(|| Err(e))
    }

    /// The statistics as JSON.
    pub(crate) fn stats_json(&self) -> Result<String> {
        let mut v = serde_json::to_value(self.inner.stats().snapshot())
            .map_err(|e| Error::Internal(e.to_string()))?;
        v["plugin"] = serde_json::Value::String(self.inner.plugin().to_string());
        Ok(v.to_string())
    }
}

impl hepinfer_outputs {
    /// Number of output arrays.
    pub(crate) fn count(&self) -> usize {
        self.out.tensors.len()
    }

    /// A view of output `index`, owned by `self`.
    pub(crate) fn get(&self, index: usize) -> Result<hepinfer_tensor> {
        let t = self.out.tensors.get(index).ok_or_else(|| {
            Error::NotFound(format!(
                "no output at index {index} (the call has {} outputs)",
                self.out.tensors.len()
            ))
        })?;
        Ok(hepinfer_tensor {
            name: match &self.names[index] {
                OutputName::Declared(i) => self.declared[*i].as_ptr(),
                OutputName::Owned(c) => c.as_ptr(),
            },
            dtype: t.data.dtype() as u32,
            rank: t.shape.len(),
            shape: t.shape.as_ptr(),
            data: t.data.as_ptr().cast(),
            offsets: if t.offsets.is_empty() {
                ptr::null()
            } else {
                t.offsets.as_ptr()
            },
            n_offsets: t.offsets.len(),
        })
    }

    /// A view of the output named `name`, owned by `self`.
    pub(crate) fn find(&self, name: &str) -> Result<hepinfer_tensor> {
        let tensors = &self.out.tensors;
        let i = tensors
            .iter()
            .position(|t| t.name.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
                Error::NotFound(format!("no output named '{name}' (outputs: {known:?})"))
            })?;
        self.get(i)
    }

    /// Number of provenance entries.
    pub(crate) fn provenance_count(&self) -> usize {
        self.out.provenance.len()
    }

    /// Provenance entry `index` as (model, payload hash) C strings owned by `self`.
    pub(crate) fn provenance(&self, index: usize) -> Result<(&CStr, &CStr)> {
        let all = self.provenance.get_or_init(|| {
            self.out
                .provenance
                .iter()
                .map(|p| (c_string(&p.model), c_string(&p.hash)))
                .collect()
        });
        let (m, h) = all.get(index).ok_or_else(|| {
            Error::NotFound(format!(
                "no provenance entry at index {index} (there are {})",
                all.len()
            ))
        })?;
        Ok((m, h))
    }
}

/// Builds a checked view of one C input.
pub(crate) unsafe fn input_view<'a>(
    t: &'a hepinfer_tensor,
    index: usize,
) -> Result<TensorView<'a>> {
    if t.name.is_null() {
        return Err(Error::InvalidInput(format!(
            "inputs[{index}]: name is NULL"
        )));
    }
    let name = CStr::from_ptr(t.name)
        .to_str()
        .map_err(|_| Error::InvalidInput(format!("inputs[{index}]: name is not valid UTF-8")))?;
    let bad = |msg: String| Error::InvalidInput(format!("input '{name}': {msg}"));
    let dtype = DType::from_raw(t.dtype).ok_or_else(|| {
        bad(format!(
            "unknown dtype {} (expected a hepinfer_dtype value)",
            t.dtype
        ))
    })?;
    if t.rank > HEPINFER_MAX_RANK {
        return Err(bad(format!("rank {} exceeds {HEPINFER_MAX_RANK}", t.rank)));
    }
    let shape: &[i64] = if t.rank == 0 {
        &[]
    } else if t.shape.is_null() {
        return Err(bad(format!("shape is NULL with rank {}", t.rank)));
    } else {
        std::slice::from_raw_parts(t.shape, t.rank)
    };
    let mut n: u64 = 1;
    for (axis, &d) in shape.iter().enumerate() {
        if d < 0 {
            return Err(bad(format!("dimension {axis} is negative ({d})")));
        }
        n = n
            .checked_mul(d as u64)
            .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    }
    let bytes = n.saturating_mul(dtype.size() as u64);
    if bytes > HEPINFER_MAX_INPUT_BYTES {
        return Err(bad(format!(
            "shape {shape:?} is {bytes} bytes, above the limit of {HEPINFER_MAX_INPUT_BYTES}"
        )));
    }
    let n = n as usize;
    if n > 0 {
        if t.data.is_null() {
            return Err(bad(format!("data is NULL for {n} elements")));
        }
        if !(t.data as usize).is_multiple_of(dtype.size()) {
            return Err(bad(format!("data pointer is not aligned for {dtype}")));
        }
    }
    macro_rules! slice {
        ($ty:ty) => {
            if n == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(t.data as *const $ty, n)
            }
        };
    }
    let data = match dtype {
        DType::F32 => TensorData::F32(slice!(f32).into()),
        DType::F64 => TensorData::F64(slice!(f64).into()),
        DType::I32 => TensorData::I32(slice!(i32).into()),
        DType::I64 => TensorData::I64(slice!(i64).into()),
        DType::U8 => TensorData::U8(slice!(u8).into()),
    };
    let offsets: &[i64] = if t.n_offsets == 0 {
        &[]
    } else if t.offsets.is_null() {
        return Err(bad(format!(
            "offsets is NULL with n_offsets {}",
            t.n_offsets
        )));
    } else if !(t.offsets as usize).is_multiple_of(8) {
        return Err(bad("offsets pointer is not aligned for int64".into()));
    } else if t.n_offsets as u64 > n as u64 + (HEPINFER_MAX_INPUT_BYTES / 8) {
        return Err(bad(format!("n_offsets {} is implausible", t.n_offsets)));
    } else {
        std::slice::from_raw_parts(t.offsets, t.n_offsets)
    };
    Ok(TensorView {
        name: name.into(),
        shape: shape.into(),
        data,
        offsets: offsets.into(),
    })
}

// ---- the C functions: argument checks, the panic barrier, the error out-parameter ----------

pub(crate) fn make_error(e: &Error) -> *mut hepinfer_error {
    Box::into_raw(Box::new(hepinfer_error {
        status: e.status(),
        message: c_string(&e.to_string()),
    }))
}

/// Runs `f` behind the panic barrier and reports its error through `out_error`.
pub(crate) fn guard<F>(out_error: *mut *mut hepinfer_error, f: F) -> hepinfer_status
where
    F: FnOnce() -> Result<()>,
{
    if !out_error.is_null() {
        // SAFETY: the caller passes either NULL or a valid `hepinfer_error**`.
        unsafe { *out_error = ptr::null_mut() };
    }
    match catch(f) {
        Ok(()) => hepinfer_status::HEPINFER_OK,
        Err(e) => {
            let status = e.status();
            if !out_error.is_null() {
                // A failure to allocate the error object is not reported twice.
                if let Ok(err) = catch(|| Ok(make_error(&e))) {
                    unsafe { *out_error = err };
                }
            }
            status
        }
    }
}

/// Runs an infallible accessor or a `_free` behind the panic barrier; `fallback` on a panic.
fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch(|| Ok(f())).unwrap_or(fallback)
}

pub(crate) fn null_arg(what: &str) -> Error {
    Error::InvalidArgument(format!("{what} is NULL"))
}

/// Reads a NUL-terminated UTF-8 string argument.
unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null_arg(what));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::InvalidArgument(format!("{what} is not valid UTF-8")))
}

/// Reads an optional configuration string (NULL means "").
unsafe fn config_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        Ok("")
    } else {
        str_arg(p, what)
    }
}

/// Writes a `String` result as a caller-owned C string.
unsafe fn put_string(out: *mut *mut c_char, text: String) -> Result<()> {
    *out = CString::new(text)
        .map_err(|e| Error::Internal(e.to_string()))?
        .into_raw();
    Ok(())
}

/// Returns the library's ABI version: `(major << 16) | minor` (compare with
/// `HEPINFER_ABI_VERSION`, or better call `hepinfer_abi_check`).
#[no_mangle]
pub extern "C" fn hepinfer_abi_version() -> u32 {
    HEPINFER_ABI_VERSION
}

/// Checks that this library can serve a client built for ABI `major.minor`: the same major
/// version and a minor version at least `minor`. Call it once at start-up with the header's
/// `HEPINFER_ABI_VERSION_MAJOR` and `HEPINFER_ABI_VERSION_MINOR`; on `HEPINFER_ABI_MISMATCH`
/// the one-line message says which versions meet and what to do.
///
/// # Safety
/// `out_error`: NULL, or where a caller-owned error is stored (free with `hepinfer_error_free`).
#[no_mangle]
pub unsafe extern "C" fn hepinfer_abi_check(
    major: u32,
    minor: u32,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || abi_check(major, minor))
}

/// Returns the library version as a static NUL-terminated string, e.g. "0.1.0" (owned by the
/// library, never freed).
#[no_mangle]
pub extern "C" fn hepinfer_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Returns the name of a status code as a static string ("HEPINFER_OK", ...; owned by the
/// library, never freed), or "HEPINFER_UNKNOWN_STATUS" for a value this library does not know.
#[no_mangle]
pub extern "C" fn hepinfer_status_name(status: u32) -> *const c_char {
    status_name(status).as_ptr().cast()
}

/// The NUL-terminated name of a status code.
pub(crate) fn status_name(status: u32) -> &'static str {
    use hepinfer_status::*;
    const ALL: [(hepinfer_status, &str); 13] = [
        (HEPINFER_OK, "HEPINFER_OK\0"),
        (HEPINFER_INVALID_ARGUMENT, "HEPINFER_INVALID_ARGUMENT\0"),
        (HEPINFER_INVALID_CONFIG, "HEPINFER_INVALID_CONFIG\0"),
        (HEPINFER_INVALID_INPUT, "HEPINFER_INVALID_INPUT\0"),
        (HEPINFER_UNKNOWN_PLUGIN, "HEPINFER_UNKNOWN_PLUGIN\0"),
        (HEPINFER_PLUGIN_LOAD, "HEPINFER_PLUGIN_LOAD\0"),
        (HEPINFER_RUNTIME, "HEPINFER_RUNTIME\0"),
        (HEPINFER_MODEL, "HEPINFER_MODEL\0"),
        (HEPINFER_CONDITIONS, "HEPINFER_CONDITIONS\0"),
        (HEPINFER_PANIC, "HEPINFER_PANIC\0"),
        (HEPINFER_NOT_FOUND, "HEPINFER_NOT_FOUND\0"),
        (HEPINFER_INTERNAL, "HEPINFER_INTERNAL\0"),
        (HEPINFER_ABI_MISMATCH, "HEPINFER_ABI_MISMATCH\0"),
    ];
    ALL.iter()
        .find(|(s, _)| *s as u32 == status)
        .map_or("HEPINFER_UNKNOWN_STATUS\0", |(_, n)| n)
}

/// Creates a host from a JSON configuration.
///
/// Keys: `plugin_dirs` (array of directories), `onnxruntime` (path of libonnxruntime.so),
/// `intra_op_threads` (default 1), `log_level` ("trace".."error", default "info"),
/// `session_mode` ("shared" or "pool"), `session_pool_size`, `cpu_arena`, `native_kernels`
/// (default true: the b-tag LSTM runs on hepinfer's native kernel, checked against ONNX Runtime
/// at load), `models`
/// (`{"Record/label": "file.onnx"}`), `conddb` + `global_tag`, `overrides`, `payload_cache`,
/// `db_retries`, `db_backoff_ms`, `model_cache_bytes`. Unknown keys are an error.
///
/// Lifetime: the host may be freed before the instances created from it (they keep what they
/// need), and outputs may outlive their instance. The log callback is called until the last of
/// the host and its instances is freed.
///
/// # Safety
/// - `config_json`: borrowed; NULL or "" means all defaults.
/// - `log_callback`: NULL (messages then go to stderr) or a function that receives every message
///   of the host and its plugins at or above `log_level`, from any thread, concurrently; it and
///   `user_data` must stay valid until the host and all its instances are freed.
/// - `user_data`: passed to `log_callback` as is; never dereferenced by the library.
/// - `out_host`: where the caller-owned host is stored (free with `hepinfer_host_free`); NULL
///   on failure.
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_host_create(
    config_json: *const c_char,
    log_callback: hepinfer_log_callback,
    user_data: *mut c_void,
    out_host: *mut *mut hepinfer_host,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        if out_host.is_null() {
            return Err(null_arg("out_host"));
        }
        *out_host = ptr::null_mut();
        let config = config_arg(config_json, "config_json")?;
        let host = hepinfer_host::create(config, LogSink::from_c(log_callback, user_data))?;
        *out_host = Box::into_raw(host);
        Ok(())
    })
}

/// Frees a host. NULL is ignored. Its instances stay usable (see `hepinfer_host_create`).
///
/// # Safety
/// `host`: NULL, or a host from `hepinfer_host_create`, not used afterwards and not in use by
/// another thread (concurrent `hepinfer_instance_create` on it).
#[no_mangle]
pub unsafe extern "C" fn hepinfer_host_free(host: *mut hepinfer_host) {
    if !host.is_null() {
        guard_value((), || drop(Box::from_raw(host)));
    }
}

/// Writes a JSON array describing every plugin the host found (name, version, path, inputs,
/// outputs, models).
///
/// # Safety
/// - `host`: borrowed.
/// - `out_json`: where the caller-owned NUL-terminated string is stored (free with
///   `hepinfer_string_free`).
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_host_plugins_json(
    host: *const hepinfer_host,
    out_json: *mut *mut c_char,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let host = host.as_ref().ok_or_else(|| null_arg("host"))?;
        if out_json.is_null() {
            return Err(null_arg("out_json"));
        }
        put_string(out_json, host.plugins_json()?)
    })
}

/// Creates an instance of plugin `plugin`. Besides the plugin's own keys, the configuration may
/// hold `"model_labels": {"<model>": "<label>"}` to select other labels of its models. May be
/// called concurrently on one host.
///
/// # Safety
/// - `host`: borrowed (the instance does not need it afterwards).
/// - `plugin`: borrowed NUL-terminated name.
/// - `config_json`: borrowed; NULL or "" means `{}`.
/// - `out_instance`: where the caller-owned instance is stored (free with
///   `hepinfer_instance_free`); NULL on failure.
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_instance_create(
    host: *const hepinfer_host,
    plugin: *const c_char,
    config_json: *const c_char,
    out_instance: *mut *mut hepinfer_instance,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        if out_instance.is_null() {
            return Err(null_arg("out_instance"));
        }
        *out_instance = ptr::null_mut();
        let host = host.as_ref().ok_or_else(|| null_arg("host"))?;
        let plugin = str_arg(plugin, "plugin")?;
        let config = config_arg(config_json, "config_json")?;
        *out_instance = Box::into_raw(host.instance(plugin, config)?);
        Ok(())
    })
}

/// Frees an instance. NULL is ignored. Outputs it produced stay valid.
///
/// # Safety
/// `instance`: NULL, or an instance from `hepinfer_instance_create` that no thread uses any
/// more.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_instance_free(instance: *mut hepinfer_instance) {
    if !instance.is_null() {
        guard_value((), || drop(Box::from_raw(instance)));
    }
}

/// Runs the instance's plugin on one event. Safe to call from many threads at once on the same
/// instance. A bad input fails this call only, with a message naming the input and what was
/// expected.
///
/// # Safety
/// - `instance`: borrowed.
/// - `key`: the event (by value).
/// - `inputs`: `n_inputs` views, borrowed for the duration of the call (zero-copy; the arrays
///   they point to are the caller's); may be NULL when `n_inputs` is 0.
/// - `out_outputs`: where the caller-owned outputs are stored (free with
///   `hepinfer_outputs_free`; they may outlive the instance); NULL on failure.
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_process(
    instance: *const hepinfer_instance,
    key: hepinfer_event_key,
    inputs: *const hepinfer_tensor,
    n_inputs: usize,
    out_outputs: *mut *mut hepinfer_outputs,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        if out_outputs.is_null() {
            return Err(null_arg("out_outputs"));
        }
        *out_outputs = ptr::null_mut();
        let instance = instance.as_ref().ok_or_else(|| null_arg("instance"))?;
        let outputs = if n_inputs == 0 {
            instance.process(key, &[])?
        } else if inputs.is_null() {
            return instance.refuse(null_arg("inputs")).map(|_| ());
        } else {
            instance.process(key, std::slice::from_raw_parts(inputs, n_inputs))?
        };
        *out_outputs = Box::into_raw(outputs);
        Ok(())
    })
}

/// Number of output arrays (0 for NULL).
///
/// # Safety
/// `outputs`: NULL or borrowed.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_count(outputs: *const hepinfer_outputs) -> usize {
    guard_value(0, || outputs.as_ref().map_or(0, hepinfer_outputs::count))
}

/// Fills `*out_tensor` with a view of output `index`; `HEPINFER_NOT_FOUND` when out of range.
///
/// # Safety
/// - `outputs`: borrowed.
/// - `out_tensor`: filled with a view whose pointers are owned by `outputs` (valid until
///   `hepinfer_outputs_free`).
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_get(
    outputs: *const hepinfer_outputs,
    index: usize,
    out_tensor: *mut hepinfer_tensor,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let o = outputs.as_ref().ok_or_else(|| null_arg("outputs"))?;
        let out = out_tensor.as_mut().ok_or_else(|| null_arg("out_tensor"))?;
        *out = o.get(index)?;
        Ok(())
    })
}

/// Fills `*out_tensor` with a view of the output named `name`; `HEPINFER_NOT_FOUND` (with the
/// available names in the message) if there is none.
///
/// # Safety
/// - `outputs`: borrowed.
/// - `name`: borrowed NUL-terminated name.
/// - `out_tensor`: filled with a view whose pointers are owned by `outputs`.
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_find(
    outputs: *const hepinfer_outputs,
    name: *const c_char,
    out_tensor: *mut hepinfer_tensor,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let o = outputs.as_ref().ok_or_else(|| null_arg("outputs"))?;
        let name = str_arg(name, "name")?;
        let out = out_tensor.as_mut().ok_or_else(|| null_arg("out_tensor"))?;
        *out = o.find(name)?;
        Ok(())
    })
}

/// Number of models that produced these outputs (0 for NULL).
///
/// # Safety
/// `outputs`: NULL or borrowed.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_provenance_count(
    outputs: *const hepinfer_outputs,
) -> usize {
    guard_value(0, || {
        outputs
            .as_ref()
            .map_or(0, hepinfer_outputs::provenance_count)
    })
}

/// Provenance entry `index`: the model's name in the plugin and the SHA-256 (hex) of the exact
/// payload that ran; `HEPINFER_NOT_FOUND` when out of range.
///
/// # Safety
/// - `outputs`: borrowed.
/// - `out_model`, `out_payload_hash`: receive NUL-terminated strings owned by `outputs` (valid
///   until `hepinfer_outputs_free`).
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_provenance(
    outputs: *const hepinfer_outputs,
    index: usize,
    out_model: *mut *const c_char,
    out_payload_hash: *mut *const c_char,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let o = outputs.as_ref().ok_or_else(|| null_arg("outputs"))?;
        if out_model.is_null() {
            return Err(null_arg("out_model"));
        }
        if out_payload_hash.is_null() {
            return Err(null_arg("out_payload_hash"));
        }
        let (m, h) = o.provenance(index)?;
        *out_model = m.as_ptr();
        *out_payload_hash = h.as_ptr();
        Ok(())
    })
}

/// Frees outputs. NULL is ignored.
///
/// # Safety
/// `outputs`: NULL, or outputs from `hepinfer_process`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_free(outputs: *mut hepinfer_outputs) {
    if !outputs.is_null() {
        guard_value((), || drop(Box::from_raw(outputs)));
    }
}

/// Writes the instance's statistics as JSON: `{"plugin", "calls", "failures", "mean_us",
/// "p50_us", "p90_us", "p99_us", "max_us"}`. May be called concurrently with `hepinfer_process`.
///
/// # Safety
/// - `instance`: borrowed.
/// - `out_json`: where the caller-owned NUL-terminated string is stored (free with
///   `hepinfer_string_free`).
/// - `out_error`: NULL, or where a caller-owned error is stored on failure.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_instance_stats_json(
    instance: *const hepinfer_instance,
    out_json: *mut *mut c_char,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let i = instance.as_ref().ok_or_else(|| null_arg("instance"))?;
        if out_json.is_null() {
            return Err(null_arg("out_json"));
        }
        put_string(out_json, i.stats_json()?)
    })
}

/// Frees a string returned by this library. NULL is ignored.
///
/// # Safety
/// `s`: NULL, or a string from a `hepinfer_*_json` function, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_string_free(s: *mut c_char) {
    if !s.is_null() {
        guard_value((), || drop(CString::from_raw(s)));
    }
}

/// The status of an error (`HEPINFER_INVALID_ARGUMENT` for NULL).
///
/// # Safety
/// `error`: NULL or borrowed.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_error_status(error: *const hepinfer_error) -> hepinfer_status {
    guard_value(hepinfer_status::HEPINFER_INTERNAL, || {
        error
            .as_ref()
            .map_or(hepinfer_status::HEPINFER_INVALID_ARGUMENT, |e| e.status)
    })
}

/// The message of an error ("" for NULL): owned by `error`, valid until `hepinfer_error_free`.
///
/// # Safety
/// `error`: NULL or borrowed.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_error_message(error: *const hepinfer_error) -> *const c_char {
    guard_value(c"".as_ptr(), || {
        error.as_ref().map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// Frees an error. NULL is ignored.
///
/// # Safety
/// `error`: NULL, or an error stored by a `hepinfer_*` function, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_error_free(error: *mut hepinfer_error) {
    if !error.is_null() {
        guard_value((), || drop(Box::from_raw(error)));
    }
}
