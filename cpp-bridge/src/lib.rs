//! The Rust half of hepinfer's C++ API, generated with [cxx].
//!
//! The functions of the bridge below are implemented on top of the C ABI of the same library
//! (`hepinfer_*`, declared in module `c` and resolved when `host` links this crate into
//! `libhepinfer.so`), so this crate does not depend on `host` and the C and C++ APIs share one
//! process-wide state: one ONNX Runtime environment, one plugin registry, one model cache.
//!
//! What the bridge adds over calling the C ABI from C++ directly is the translation that cxx
//! makes safe: configuration and names arrive as `rust::Str` (UTF-8 checked), failures leave as a
//! [`ffi::Status`] whose message is a `rust::String`, JSON results are `rust::String`s. The C++
//! wrapper (`include/hepinfer/hepinfer.hpp`, `src/hepinfer.cpp`) turns a failed `Status` into a
//! `hepinfer::Error` exception and owns every handle in an RAII type.
//!
//! Handles cross the bridge as raw pointers to the opaque C types of `hepinfer.h`, so the C++
//! objects hold exactly what a C caller holds and can hand it to the C API.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

#[cxx::bridge(namespace = "hepinfer::ffi")]
pub mod ffi {
    /// Outcome of a bridge call: `code` is a `hepinfer_status` (0: success) and `message` the
    /// error's message (empty on success).
    #[derive(Debug, Default)]
    pub struct Status {
        /// A `hepinfer_status` value.
        pub code: u32,
        /// The error message, empty on success.
        pub message: String,
    }

    /// One provenance entry of a call's outputs.
    #[derive(Debug, Default)]
    pub struct Provenance {
        /// The model's name in the plugin.
        pub model: String,
        /// SHA-256 (hex) of the payload that ran.
        pub payload_hash: String,
    }

    unsafe extern "C++" {
        include!("hepinfer/hepinfer.h");

        /// `hepinfer_host` of the C API.
        #[namespace = ""]
        type hepinfer_host;
        /// `hepinfer_instance` of the C API.
        #[namespace = ""]
        type hepinfer_instance;
        /// `hepinfer_outputs` of the C API.
        #[namespace = ""]
        type hepinfer_outputs;
        /// `hepinfer_tensor` of the C API (only passed by pointer).
        #[namespace = ""]
        type hepinfer_tensor;
    }

    extern "Rust" {
        /// `hepinfer_abi_version()`.
        fn abi_version() -> u32;
        /// `hepinfer_version()`.
        fn version() -> &'static str;
        /// `hepinfer_status_name()`.
        fn status_name(code: u32) -> &'static str;

        /// Creates a host; null with `status` filled on failure. `log_callback` is a
        /// `hepinfer_log_callback` (0 for none) and `user_data` its argument, as integers
        /// because cxx does not bridge C function pointers.
        unsafe fn host_create(
            config: &str,
            log_callback: usize,
            user_data: usize,
            status: &mut Status,
        ) -> *mut hepinfer_host;
        /// `hepinfer_host_free()`.
        unsafe fn host_free(host: *mut hepinfer_host);
        /// `hepinfer_host_plugins_json()`.
        unsafe fn host_plugins_json(host: *const hepinfer_host, status: &mut Status) -> String;

        /// Creates an instance; null with `status` filled on failure.
        unsafe fn instance_create(
            host: *const hepinfer_host,
            plugin: &str,
            config: &str,
            status: &mut Status,
        ) -> *mut hepinfer_instance;
        /// `hepinfer_instance_free()`.
        unsafe fn instance_free(instance: *mut hepinfer_instance);
        /// `hepinfer_instance_stats_json()`.
        unsafe fn instance_stats_json(
            instance: *const hepinfer_instance,
            status: &mut Status,
        ) -> String;

        /// `hepinfer_process()`: the outputs, or null with `status` filled on failure.
        unsafe fn process(
            instance: *const hepinfer_instance,
            run: u32,
            lumi: u32,
            event: u64,
            inputs: *const hepinfer_tensor,
            n_inputs: usize,
            status: &mut Status,
        ) -> *mut hepinfer_outputs;

        /// `hepinfer_outputs_count()`.
        unsafe fn outputs_count(outputs: *const hepinfer_outputs) -> usize;
        /// `hepinfer_outputs_get()` into `*tensor`; false with `status` filled on failure.
        unsafe fn outputs_get(
            outputs: *const hepinfer_outputs,
            index: usize,
            tensor: *mut hepinfer_tensor,
            status: &mut Status,
        ) -> bool;
        /// `hepinfer_outputs_find()` into `*tensor`; false with `status` filled on failure.
        unsafe fn outputs_find(
            outputs: *const hepinfer_outputs,
            name: &str,
            tensor: *mut hepinfer_tensor,
            status: &mut Status,
        ) -> bool;
        /// `hepinfer_outputs_provenance_count()`.
        unsafe fn outputs_provenance_count(outputs: *const hepinfer_outputs) -> usize;
        /// `hepinfer_outputs_provenance()`.
        unsafe fn outputs_provenance(
            outputs: *const hepinfer_outputs,
            index: usize,
            status: &mut Status,
        ) -> Provenance;
        /// `hepinfer_outputs_free()`.
        unsafe fn outputs_free(outputs: *mut hepinfer_outputs);
    }
}

use ffi::{
    hepinfer_host, hepinfer_instance, hepinfer_outputs, hepinfer_tensor, Provenance, Status,
};

/// The C ABI of libhepinfer, as far as the bridge uses it (see `include/hepinfer/hepinfer.h`).
/// Defined by the `host` crate, which links this crate into the same library.
mod c {
    use super::*;

    /// `hepinfer_error` (opaque).
    #[repr(C)]
    pub struct Error {
        _private: [u8; 0],
    }

    /// `hepinfer_log_callback`.
    pub type LogCallback =
        unsafe extern "C" fn(level: u32, message: *const c_char, user_data: *mut c_void);

    /// `hepinfer_event_key`.
    #[repr(C)]
    pub struct EventKey {
        /// Run number.
        pub run: u32,
        /// Luminosity block.
        pub lumi: u32,
        /// Event number.
        pub event: u64,
    }

    /// `HEPINFER_OK`.
    pub const OK: u32 = 0;
    /// `HEPINFER_INVALID_ARGUMENT`.
    pub const INVALID_ARGUMENT: u32 = 1;

    extern "C" {
        pub fn hepinfer_abi_version() -> u32;
        pub fn hepinfer_version() -> *const c_char;
        pub fn hepinfer_status_name(status: u32) -> *const c_char;
        pub fn hepinfer_host_create(
            config_json: *const c_char,
            log_callback: Option<LogCallback>,
            user_data: *mut c_void,
            out_host: *mut *mut hepinfer_host,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_host_free(host: *mut hepinfer_host);
        pub fn hepinfer_host_plugins_json(
            host: *const hepinfer_host,
            out_json: *mut *mut c_char,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_instance_create(
            host: *const hepinfer_host,
            plugin: *const c_char,
            config_json: *const c_char,
            out_instance: *mut *mut hepinfer_instance,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_instance_free(instance: *mut hepinfer_instance);
        pub fn hepinfer_process(
            instance: *const hepinfer_instance,
            key: EventKey,
            inputs: *const hepinfer_tensor,
            n_inputs: usize,
            out_outputs: *mut *mut hepinfer_outputs,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_outputs_count(outputs: *const hepinfer_outputs) -> usize;
        pub fn hepinfer_outputs_get(
            outputs: *const hepinfer_outputs,
            index: usize,
            out: *mut hepinfer_tensor,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_outputs_find(
            outputs: *const hepinfer_outputs,
            name: *const c_char,
            out: *mut hepinfer_tensor,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_outputs_provenance_count(outputs: *const hepinfer_outputs) -> usize;
        pub fn hepinfer_outputs_provenance(
            outputs: *const hepinfer_outputs,
            index: usize,
            out_model: *mut *const c_char,
            out_payload_hash: *mut *const c_char,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_outputs_free(outputs: *mut hepinfer_outputs);
        pub fn hepinfer_instance_stats_json(
            instance: *const hepinfer_instance,
            out_json: *mut *mut c_char,
            out_error: *mut *mut Error,
        ) -> u32;
        pub fn hepinfer_string_free(s: *mut c_char);
        pub fn hepinfer_error_message(error: *const Error) -> *const c_char;
        pub fn hepinfer_error_free(error: *mut Error);
    }
}

/// A static C string of the library as `&'static str` ("" if it is not UTF-8).
fn static_str(s: *const c_char) -> &'static str {
    if s.is_null() {
        return "";
    }
    // SAFETY: the library returns static NUL-terminated strings from these functions.
    unsafe { CStr::from_ptr(s) }.to_str().unwrap_or("")
}

fn abi_version() -> u32 {
    // SAFETY: no arguments.
    unsafe { c::hepinfer_abi_version() }
}

fn version() -> &'static str {
    // SAFETY: returns a static string.
    static_str(unsafe { c::hepinfer_version() })
}

fn status_name(code: u32) -> &'static str {
    // SAFETY: returns a static string for any value.
    static_str(unsafe { c::hepinfer_status_name(code) })
}

/// Stores a failed C call's status and message in `status` and frees the error object.
///
/// # Safety
/// `err` is null or an error object of the library, not used afterwards.
unsafe fn fail(code: u32, err: *mut c::Error, status: &mut Status) {
    status.code = code;
    status.message = if err.is_null() {
        String::new()
    } else {
        CStr::from_ptr(c::hepinfer_error_message(err))
            .to_string_lossy()
            .into_owned()
    };
    c::hepinfer_error_free(err);
}

/// Runs `f` with `s` as a NUL-terminated string: on the stack when short (names, the common
/// case, so that a lookup allocates nothing), else in a `CString`. An interior NUL is refused.
fn with_cstr<R>(
    s: &str,
    what: &str,
    status: &mut Status,
    f: impl FnOnce(*const c_char, &mut Status) -> R,
) -> Option<R> {
    if s.as_bytes().contains(&0) {
        status.code = c::INVALID_ARGUMENT;
        status.message = format!("{what} contains a NUL character");
        return None;
    }
    const SHORT: usize = 128;
    if s.len() < SHORT {
        let mut buf = [0u8; SHORT];
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Some(f(buf.as_ptr().cast(), status))
    } else {
        let owned = CString::new(s).expect("checked for NUL above");
        Some(f(owned.as_ptr(), status))
    }
}

/// Takes ownership of a JSON string returned by the library.
///
/// # Safety
/// `s` was returned by a `hepinfer_*_json` function.
unsafe fn take_string(s: *mut c_char) -> String {
    let owned = CStr::from_ptr(s).to_string_lossy().into_owned();
    c::hepinfer_string_free(s);
    owned
}

unsafe fn host_create(
    config: &str,
    log_callback: usize,
    user_data: usize,
    status: &mut Status,
) -> *mut hepinfer_host {
    // SAFETY: the C++ side passes a `hepinfer_log_callback` or 0; an integer-to-function-pointer
    // transmute of a non-zero value gives that pointer back.
    let callback: Option<c::LogCallback> = if log_callback == 0 {
        None
    } else {
        Some(std::mem::transmute::<usize, c::LogCallback>(log_callback))
    };
    with_cstr(config, "host configuration", status, |cfg, status| {
        let mut host = ptr::null_mut();
        let mut err = ptr::null_mut();
        let code =
            c::hepinfer_host_create(cfg, callback, user_data as *mut c_void, &mut host, &mut err);
        if code != c::OK {
            fail(code, err, status);
        }
        host
    })
    .unwrap_or(ptr::null_mut())
}

unsafe fn host_free(host: *mut hepinfer_host) {
    c::hepinfer_host_free(host)
}

unsafe fn host_plugins_json(host: *const hepinfer_host, status: &mut Status) -> String {
    let mut json = ptr::null_mut();
    let mut err = ptr::null_mut();
    let code = c::hepinfer_host_plugins_json(host, &mut json, &mut err);
    if code != c::OK {
        fail(code, err, status);
        return String::new();
    }
    take_string(json)
}

unsafe fn instance_create(
    host: *const hepinfer_host,
    plugin: &str,
    config: &str,
    status: &mut Status,
) -> *mut hepinfer_instance {
    with_cstr(plugin, "plugin name", status, |plugin, status| {
        with_cstr(config, "instance configuration", status, |cfg, status| {
            let mut inst = ptr::null_mut();
            let mut err = ptr::null_mut();
            let code = c::hepinfer_instance_create(host, plugin, cfg, &mut inst, &mut err);
            if code != c::OK {
                fail(code, err, status);
            }
            inst
        })
        .unwrap_or(ptr::null_mut())
    })
    .unwrap_or(ptr::null_mut())
}

unsafe fn instance_free(instance: *mut hepinfer_instance) {
    c::hepinfer_instance_free(instance)
}

unsafe fn instance_stats_json(instance: *const hepinfer_instance, status: &mut Status) -> String {
    let mut json = ptr::null_mut();
    let mut err = ptr::null_mut();
    let code = c::hepinfer_instance_stats_json(instance, &mut json, &mut err);
    if code != c::OK {
        fail(code, err, status);
        return String::new();
    }
    take_string(json)
}

unsafe fn process(
    instance: *const hepinfer_instance,
    run: u32,
    lumi: u32,
    event: u64,
    inputs: *const hepinfer_tensor,
    n_inputs: usize,
    status: &mut Status,
) -> *mut hepinfer_outputs {
    let mut out = ptr::null_mut();
    let mut err = ptr::null_mut();
    let key = c::EventKey { run, lumi, event };
    let code = c::hepinfer_process(instance, key, inputs, n_inputs, &mut out, &mut err);
    if code != c::OK {
        fail(code, err, status);
        return ptr::null_mut();
    }
    out
}

unsafe fn outputs_count(outputs: *const hepinfer_outputs) -> usize {
    c::hepinfer_outputs_count(outputs)
}

unsafe fn outputs_get(
    outputs: *const hepinfer_outputs,
    index: usize,
    tensor: *mut hepinfer_tensor,
    status: &mut Status,
) -> bool {
    let mut err = ptr::null_mut();
    let code = c::hepinfer_outputs_get(outputs, index, tensor, &mut err);
    if code != c::OK {
        fail(code, err, status);
        return false;
    }
    true
}

unsafe fn outputs_find(
    outputs: *const hepinfer_outputs,
    name: &str,
    tensor: *mut hepinfer_tensor,
    status: &mut Status,
) -> bool {
    with_cstr(name, "output name", status, |name, status| {
        let mut err = ptr::null_mut();
        let code = c::hepinfer_outputs_find(outputs, name, tensor, &mut err);
        if code != c::OK {
            fail(code, err, status);
            return false;
        }
        true
    })
    .unwrap_or(false)
}

unsafe fn outputs_provenance_count(outputs: *const hepinfer_outputs) -> usize {
    c::hepinfer_outputs_provenance_count(outputs)
}

unsafe fn outputs_provenance(
    outputs: *const hepinfer_outputs,
    index: usize,
    status: &mut Status,
) -> Provenance {
    let mut model = ptr::null();
    let mut hash = ptr::null();
    let mut err = ptr::null_mut();
    let code = c::hepinfer_outputs_provenance(outputs, index, &mut model, &mut hash, &mut err);
    if code != c::OK {
        fail(code, err, status);
        return Provenance::default();
    }
    Provenance {
        model: CStr::from_ptr(model).to_string_lossy().into_owned(),
        payload_hash: CStr::from_ptr(hash).to_string_lossy().into_owned(),
    }
}

unsafe fn outputs_free(outputs: *mut hepinfer_outputs) {
    c::hepinfer_outputs_free(outputs)
}
