//! The C ABI of `libhepinfer.so`, from which cbindgen generates `include/hepinfer/hepinfer.h`.
//!
//! Conventions (as in rustls-ffi and ONNX Runtime's C API):
//! - every function that can fail returns a `hepinfer_status`; on failure it stores a
//!   `hepinfer_error` in `*out_error` when `out_error` is not NULL (free it with
//!   `hepinfer_error_free`); on success `*out_error` is set to NULL;
//! - every pointer argument is checked; a NULL where an object is required is
//!   `HEPINFER_INVALID_ARGUMENT`, never a crash;
//! - every object the library allocates has its `_free` function; `_free(NULL)` does nothing;
//! - no panic unwinds into C: each function catches it and returns `HEPINFER_PANIC`.
//!
//! Thread-safety: a `hepinfer_host` may be shared by all threads once created
//! (`hepinfer_instance_create` may be called concurrently); a `hepinfer_instance` may be used by
//! any number of threads at once in `hepinfer_process` and `hepinfer_instance_stats_json`;
//! `hepinfer_outputs` and `hepinfer_error` objects belong to the caller that received them and
//! must not be used from two threads at once. Free instances before their host; free nothing
//! while another thread uses it.
#![allow(non_camel_case_types)]

pub use crate::error::hepinfer_status;
use crate::error::{panic_text, Error};
use crate::host::Host;
use crate::instance::{CallOutputs, Instance};
use crate::logging::LogCallback;
use hepinfer_plugin_api::{DType, EventKey, TensorData, TensorView};
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

/// Version of this C ABI. A framework compares `hepinfer_abi_version()` with the value in the
/// header it was compiled against and refuses a library that differs.
pub const HEPINFER_ABI_VERSION: u32 = 1;

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

/// A borrowed n-d array (inputs: owned by the caller for the duration of the call; outputs:
/// owned by the `hepinfer_outputs` they came from).
///
/// `data` holds `shape[0] * ... * shape[rank-1]` elements of `dtype` in C order, aligned for the
/// element type (it may be NULL when that count is 0). A variable-length collection (tracks of
/// jets, hits of an event) is a flat array whose first dimension counts all elements, plus
/// `n_offsets` offsets: one more than the number of groups, starting at 0, non-decreasing,
/// ending at `shape[0]`. `offsets` is NULL and `n_offsets` 0 for an ordinary array.
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

/// The key of an event.
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

/// The framework's log callback: `(hepinfer_log_level, NUL-terminated message, user_data)`.
/// Called from any thread, possibly concurrently; `message` is valid only during the call.
pub type hepinfer_log_callback =
    Option<unsafe extern "C" fn(level: u32, message: *const c_char, user_data: *mut c_void)>;

/// An inference host (opaque).
pub struct hepinfer_host {
    host: Host,
}

/// A configured plugin instance (opaque).
pub struct hepinfer_instance {
    pub(crate) inner: Instance,
}

/// The outputs of one `hepinfer_process` call (opaque).
pub struct hepinfer_outputs {
    out: CallOutputs,
    // Output names: shared with the instance's declarations (no allocation per call), or owned
    // for an output the plugin did not declare.
    names: Vec<Arc<CString>>,
}

/// An error: a status and a message (opaque).
pub struct hepinfer_error {
    status: hepinfer_status,
    message: CString,
}

pub(crate) fn make_error(e: &Error) -> *mut hepinfer_error {
    let message = CString::new(e.to_string().replace('\0', "\u{FFFD}")).unwrap_or_default();
    Box::into_raw(Box::new(hepinfer_error {
        status: e.status(),
        message,
    }))
}

/// Runs `f` behind the panic barrier and reports its error through `out_error`.
pub(crate) fn guard<F>(out_error: *mut *mut hepinfer_error, f: F) -> hepinfer_status
where
    F: FnOnce() -> Result<(), Error>,
{
    if !out_error.is_null() {
        // SAFETY: the caller passes either NULL or a valid `hepinfer_error**`.
        unsafe { *out_error = ptr::null_mut() };
    }
    let result = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(Error::Panic(panic_text(payload.as_ref()))),
    };
    match result {
        Ok(()) => hepinfer_status::HEPINFER_OK,
        Err(e) => {
            let status = e.status();
            if !out_error.is_null() {
                unsafe { *out_error = make_error(&e) };
            }
            status
        }
    }
}

pub(crate) fn null_arg(what: &str) -> Error {
    Error::InvalidArgument(format!("{what} is NULL"))
}

/// Reads a NUL-terminated UTF-8 string argument.
unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(null_arg(what));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::InvalidArgument(format!("{what} is not valid UTF-8")))
}

/// Returns `HEPINFER_ABI_VERSION` of the library (compare with the header's).
#[no_mangle]
pub extern "C" fn hepinfer_abi_version() -> u32 {
    HEPINFER_ABI_VERSION
}

/// Returns the library version as a static NUL-terminated string, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn hepinfer_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Returns the name of a status code as a static string ("HEPINFER_OK", ...), or
/// "HEPINFER_UNKNOWN_STATUS".
#[no_mangle]
pub extern "C" fn hepinfer_status_name(status: u32) -> *const c_char {
    use hepinfer_status::*;
    let all = [
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
    ];
    let name = all
        .iter()
        .find(|(s, _)| *s as u32 == status)
        .map_or("HEPINFER_UNKNOWN_STATUS\0", |(_, n)| n);
    name.as_ptr().cast()
}

/// Creates a host from a JSON configuration (NULL or "" means all defaults).
///
/// Keys: `plugin_dirs` (array of directories), `onnxruntime` (path of libonnxruntime.so),
/// `intra_op_threads` (default 1), `log_level` ("trace".."error", default "info"),
/// `session_mode` ("shared" or "pool"), `session_pool_size`, `cpu_arena`, `models`
/// (`{"Record/label": "file.onnx"}`), `conddb` + `global_tag`, `overrides`, `payload_cache`,
/// `db_retries`, `db_backoff_ms`, `model_cache_bytes`. Unknown keys are an error.
/// `log_callback` (may be NULL: messages then go to stderr) receives every message of the host
/// and its plugins at or above `log_level`, with `user_data`, from any thread.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_host` is a valid pointer;
/// `out_error` is NULL or a valid pointer.
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
        let config = if config_json.is_null() {
            ""
        } else {
            str_arg(config_json, "config_json")?
        };
        let cb: Option<LogCallback> = log_callback;
        let host = Host::new(config, cb, user_data)?;
        *out_host = Box::into_raw(Box::new(hepinfer_host { host }));
        Ok(())
    })
}

/// Frees a host. NULL is ignored.
///
/// # Safety
/// `host` is NULL or was returned by `hepinfer_host_create` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_host_free(host: *mut hepinfer_host) {
    if !host.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(host))));
    }
}

/// Writes a JSON array describing every plugin the host found (name, version, path, inputs,
/// outputs, models) to `*out_json`; free it with `hepinfer_string_free`.
///
/// # Safety
/// `host` is a valid host; `out_json` a valid pointer; `out_error` NULL or valid.
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
        let list: Vec<serde_json::Value> = host
            .host
            .plugins()
            .iter()
            .map(|p| crate::loader::describe_json(p))
            .collect();
        let text = serde_json::to_string(&list).map_err(|e| Error::Internal(e.to_string()))?;
        *out_json = CString::new(text)
            .map_err(|e| Error::Internal(e.to_string()))?
            .into_raw();
        Ok(())
    })
}

/// Creates an instance of plugin `plugin` with a JSON configuration (NULL or "" means `{}`).
/// Besides the plugin's own keys, `"model_labels": {"<model>": "<label>"}` selects other labels
/// of its models. May be called concurrently on one host.
///
/// # Safety
/// `host` is a valid host; `plugin` a NUL-terminated string; `config_json` NULL or a
/// NUL-terminated string; `out_instance` a valid pointer; `out_error` NULL or valid.
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
        let config = if config_json.is_null() {
            ""
        } else {
            str_arg(config_json, "config_json")?
        };
        let inner = host.host.instance(plugin, config)?;
        *out_instance = Box::into_raw(Box::new(hepinfer_instance { inner }));
        Ok(())
    })
}

/// Frees an instance. NULL is ignored.
///
/// # Safety
/// `instance` is NULL or was returned by `hepinfer_instance_create`, and no thread uses it.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_instance_free(instance: *mut hepinfer_instance) {
    if !instance.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(instance))));
    }
}

/// Builds a checked view of one C input.
pub(crate) unsafe fn input_view<'a>(
    t: &'a hepinfer_tensor,
    index: usize,
) -> Result<TensorView<'a>, Error> {
    let name = str_arg(t.name, &format!("inputs[{index}].name"))?;
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

/// Runs the instance's plugin on one event. `inputs` are borrowed for the duration of the call
/// (zero-copy); on success `*out_outputs` receives the outputs (free with
/// `hepinfer_outputs_free`). Safe to call from many threads at once on the same instance. A bad
/// input fails this call only, with a message naming the input and what was expected.
///
/// # Safety
/// `instance` is a valid instance; `inputs` points to `n_inputs` valid `hepinfer_tensor`s (may be
/// NULL when `n_inputs` is 0) whose arrays are as described; `out_outputs` is a valid pointer;
/// `out_error` is NULL or valid.
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
        let raw: &[hepinfer_tensor] = if n_inputs == 0 {
            &[]
        } else if inputs.is_null() {
            instance
                .inner
                .stats()
                .record(std::time::Duration::ZERO, true);
            return Err(null_arg("inputs"));
        } else {
            std::slice::from_raw_parts(inputs, n_inputs)
        };
        let start = std::time::Instant::now();
        // Up to 8 inputs live on the stack: no allocation per call for ordinary plugins.
        let views = match raw
            .iter()
            .enumerate()
            .map(|(i, t)| input_view(t, i))
            .collect::<Result<smallvec::SmallVec<[TensorView<'_>; 8]>, _>>()
        {
            Ok(v) => v,
            Err(e) => {
                // A call refused before reaching the plugin is still a failed call of this instance.
                instance.inner.stats().record(start.elapsed(), true);
                return Err(e);
            }
        };
        let key = EventKey {
            run: key.run,
            lumi: key.lumi,
            event: key.event,
        };
        let out = instance.inner.process(key, &views)?;
        *out_outputs = outputs_object(&instance.inner, out);
        Ok(())
    })
}

/// The C object of one call's outputs (also used by the asynchronous API).
pub(crate) fn outputs_object(instance: &Instance, out: CallOutputs) -> *mut hepinfer_outputs {
    let names = out
        .tensors
        .iter()
        .map(|t| match instance.output_c_name(&t.name) {
            Some(c) => c.clone(),
            None => Arc::new(crate::instance::c_string(&t.name)),
        })
        .collect();
    Box::into_raw(Box::new(hepinfer_outputs { out, names }))
}

/// Number of output arrays (0 for NULL).
///
/// # Safety
/// `outputs` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_count(outputs: *const hepinfer_outputs) -> usize {
    outputs.as_ref().map_or(0, |o| o.out.tensors.len())
}

fn fill(o: &hepinfer_outputs, i: usize, out: &mut hepinfer_tensor) {
    let t = &o.out.tensors[i];
    *out = hepinfer_tensor {
        name: o.names[i].as_ptr(),
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
    };
}

/// Fills `*out_tensor` with a view of output `index` (valid until `hepinfer_outputs_free`).
///
/// # Safety
/// `outputs` is valid; `out_tensor` is a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_get(
    outputs: *const hepinfer_outputs,
    index: usize,
    out_tensor: *mut hepinfer_tensor,
) -> hepinfer_status {
    guard(ptr::null_mut(), || {
        let o = outputs.as_ref().ok_or_else(|| null_arg("outputs"))?;
        let out = out_tensor.as_mut().ok_or_else(|| null_arg("out_tensor"))?;
        if index >= o.out.tensors.len() {
            return Err(Error::NotFound(format!(
                "output index {index} (there are {})",
                o.out.tensors.len()
            )));
        }
        fill(o, index, out);
        Ok(())
    })
}

/// Fills `*out_tensor` with a view of the output named `name`; `HEPINFER_NOT_FOUND` (with the
/// available names in `*out_error`) if there is none.
///
/// # Safety
/// `outputs` is valid; `name` a NUL-terminated string; `out_tensor` valid; `out_error` NULL or valid.
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
        let i = o
            .out
            .tensors
            .iter()
            .position(|t| t.name.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = o.out.tensors.iter().map(|t| t.name.as_str()).collect();
                Error::NotFound(format!("no output named '{name}' (outputs: {known:?})"))
            })?;
        fill(o, i, out);
        Ok(())
    })
}

/// Number of models that produced these outputs.
///
/// # Safety
/// `outputs` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_provenance_count(
    outputs: *const hepinfer_outputs,
) -> usize {
    outputs.as_ref().map_or(0, |o| o.out.provenance.len())
}

/// Provenance entry `index`: the model's name in the plugin and the SHA-256 (hex) of the exact
/// payload that ran. The strings live as long as `outputs`.
///
/// # Safety
/// `outputs` is valid; `out_model` and `out_payload_hash` are valid pointers.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_provenance(
    outputs: *const hepinfer_outputs,
    index: usize,
    out_model: *mut *const c_char,
    out_payload_hash: *mut *const c_char,
) -> hepinfer_status {
    guard(ptr::null_mut(), || {
        let o = outputs.as_ref().ok_or_else(|| null_arg("outputs"))?;
        if out_model.is_null() || out_payload_hash.is_null() {
            return Err(null_arg("out_model or out_payload_hash"));
        }
        let (m, h) = o
            .out
            .provenance
            .get(index)
            .map(|p| &p.c_strings)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "provenance index {index} (there are {})",
                    o.out.provenance.len()
                ))
            })?;
        *out_model = m.as_ptr();
        *out_payload_hash = h.as_ptr();
        Ok(())
    })
}

/// Frees outputs. NULL is ignored.
///
/// # Safety
/// `outputs` is NULL or was returned by `hepinfer_process`.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_outputs_free(outputs: *mut hepinfer_outputs) {
    if !outputs.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(outputs))));
    }
}

/// Writes the instance's statistics as JSON to `*out_json` (free with `hepinfer_string_free`):
/// `{"plugin", "calls", "failures", "mean_us", "p50_us", "p90_us", "p99_us", "max_us"}`.
///
/// # Safety
/// `instance` is valid; `out_json` a valid pointer; `out_error` NULL or valid.
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
        let mut v = serde_json::to_value(i.inner.stats().snapshot())
            .map_err(|e| Error::Internal(e.to_string()))?;
        v["plugin"] = serde_json::Value::String(i.inner.plugin().to_string());
        *out_json = CString::new(v.to_string())
            .map_err(|e| Error::Internal(e.to_string()))?
            .into_raw();
        Ok(())
    })
}

/// Frees a string returned by this library. NULL is ignored.
///
/// # Safety
/// `s` is NULL or was returned by a `hepinfer_*_json` function.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}

/// The status of an error (`HEPINFER_INVALID_ARGUMENT` for NULL).
///
/// # Safety
/// `error` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_error_status(error: *const hepinfer_error) -> hepinfer_status {
    error
        .as_ref()
        .map_or(hepinfer_status::HEPINFER_INVALID_ARGUMENT, |e| e.status)
}

/// The message of an error, valid until `hepinfer_error_free` ("" for NULL).
///
/// # Safety
/// `error` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_error_message(error: *const hepinfer_error) -> *const c_char {
    error.as_ref().map_or(c"".as_ptr(), |e| e.message.as_ptr())
}

/// Frees an error. NULL is ignored.
///
/// # Safety
/// `error` is NULL or was stored by a `hepinfer_*` function.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_error_free(error: *mut hepinfer_error) {
    if !error.is_null() {
        drop(Box::from_raw(error));
    }
}
