//! The Rust half of the C++ API (`cpp-bridge/include/hepinfer/hepinfer.hpp`), generated with
//! [cxx]: one hop from C++ into the same functions the C ABI runs ([`crate::abi`]'s handle
//! methods), never back through the C ABI.
//!
//! The handles are the C API's own objects (`hepinfer_host`, `hepinfer_instance`,
//! `hepinfer_outputs`, bound to cxx with [`cxx::ExternType`]), so a C++ object can hand its
//! handle to C code and C and C++ share one process-wide state. What cxx adds is the safe
//! translation: names and configurations arrive as `rust::Str` (UTF-8 checked by the C++ side's
//! `std::string_view` → `rust::Str`), failures leave as a [`ffi::Status`], JSON as `rust::String`,
//! and the log callback is a C++ object (`LogSink`) that Rust calls.
//!
//! `host/build.rs` compiles the generated C++ shims and the C++ API (`cpp-bridge/src/hepinfer.cpp`)
//! into libhepinfer.so with hidden visibility; only the `hepinfer::` API is exported.
#![allow(unsafe_op_in_unsafe_fn)]

use crate::abi::{
    hepinfer_event_key, hepinfer_host, hepinfer_instance, hepinfer_outputs, hepinfer_tensor,
};
use crate::error::{catch, Error, Result};
use crate::logging::LogSink;
use cxx::{type_id, ExternType, SharedPtr};

#[cxx::bridge(namespace = "hepinfer::ffi")]
mod ffi {
    /// Outcome of a bridge call: `code` is a `hepinfer_status` (0: success) and `message` the
    /// error's message (empty on success).
    #[derive(Debug, Default)]
    struct Status {
        /// A `hepinfer_status` value.
        code: u32,
        /// The error message, empty on success.
        message: String,
    }

    /// One provenance entry of a call's outputs.
    #[derive(Debug, Default)]
    struct Provenance {
        /// The model's name in the plugin.
        model: String,
        /// SHA-256 (hex) of the payload that ran.
        payload_hash: String,
    }

    unsafe extern "C++" {
        include!("hepinfer_bridge.h");

        /// `hepinfer_host` of the C API.
        #[namespace = ""]
        type hepinfer_host = crate::abi::hepinfer_host;
        /// `hepinfer_instance` of the C API.
        #[namespace = ""]
        type hepinfer_instance = crate::abi::hepinfer_instance;
        /// `hepinfer_outputs` of the C API.
        #[namespace = ""]
        type hepinfer_outputs = crate::abi::hepinfer_outputs;
        /// `hepinfer_tensor` of the C API (a plain struct).
        #[namespace = ""]
        type hepinfer_tensor = crate::abi::hepinfer_tensor;
        /// `hepinfer_event_key` of the C API (a plain struct).
        #[namespace = ""]
        type hepinfer_event_key = crate::abi::hepinfer_event_key;

        /// The C++ log callback (a `std::function`), called from any thread.
        type LogSink;
        /// Delivers one message; never throws.
        fn log(self: &LogSink, level: u32, message: &str);
    }

    extern "Rust" {
        /// `hepinfer_version()`.
        fn version() -> &'static str;
        /// `hepinfer_status_name()` without its NUL.
        fn status_name(code: u32) -> &'static str;

        /// Creates a host logging to `log` (stderr when null); null with `status` filled on
        /// failure.
        fn host_create(
            config: &str,
            log: SharedPtr<LogSink>,
            status: &mut Status,
        ) -> *mut hepinfer_host;
        /// Frees a host (null is ignored).
        unsafe fn host_free(host: *mut hepinfer_host);
        /// The plugins found, as JSON.
        unsafe fn host_plugins_json(host: *const hepinfer_host, status: &mut Status) -> String;

        /// Creates an instance; null with `status` filled on failure.
        unsafe fn instance_create(
            host: *const hepinfer_host,
            plugin: &str,
            config: &str,
            status: &mut Status,
        ) -> *mut hepinfer_instance;
        /// Frees an instance (null is ignored).
        unsafe fn instance_free(instance: *mut hepinfer_instance);
        /// Statistics as JSON.
        unsafe fn instance_stats_json(
            instance: *const hepinfer_instance,
            status: &mut Status,
        ) -> String;

        /// Runs the plugin on one event: the outputs, or null with `status` filled on failure.
        unsafe fn process(
            instance: *const hepinfer_instance,
            key: hepinfer_event_key,
            inputs: *const hepinfer_tensor,
            n_inputs: usize,
            status: &mut Status,
        ) -> *mut hepinfer_outputs;

        /// Number of outputs (0 for null).
        unsafe fn outputs_count(outputs: *const hepinfer_outputs) -> usize;
        /// A view of output `index`.
        unsafe fn outputs_get(
            outputs: *const hepinfer_outputs,
            index: usize,
            status: &mut Status,
        ) -> hepinfer_tensor;
        /// A view of the output named `name`.
        unsafe fn outputs_find(
            outputs: *const hepinfer_outputs,
            name: &str,
            status: &mut Status,
        ) -> hepinfer_tensor;
        /// Number of provenance entries (0 for null).
        unsafe fn outputs_provenance_count(outputs: *const hepinfer_outputs) -> usize;
        /// Provenance entry `index`.
        unsafe fn outputs_provenance(
            outputs: *const hepinfer_outputs,
            index: usize,
            status: &mut Status,
        ) -> Provenance;
        /// Frees outputs (null is ignored).
        unsafe fn outputs_free(outputs: *mut hepinfer_outputs);
    }
}

use ffi::{LogSink as CxxLogSink, Provenance, Status};

// SAFETY (all five): these are the C API's types, declared in hepinfer.h under these names; the
// handles are only used through pointers, the two structs are plain `#[repr(C)]` data.
unsafe impl ExternType for hepinfer_host {
    type Id = type_id!("hepinfer_host");
    type Kind = cxx::kind::Opaque;
}
unsafe impl ExternType for hepinfer_instance {
    type Id = type_id!("hepinfer_instance");
    type Kind = cxx::kind::Opaque;
}
unsafe impl ExternType for hepinfer_outputs {
    type Id = type_id!("hepinfer_outputs");
    type Kind = cxx::kind::Opaque;
}
unsafe impl ExternType for hepinfer_tensor {
    type Id = type_id!("hepinfer_tensor");
    type Kind = cxx::kind::Trivial;
}
unsafe impl ExternType for hepinfer_event_key {
    type Id = type_id!("hepinfer_event_key");
    type Kind = cxx::kind::Trivial;
}

// SAFETY: the C++ API documents that the log callback may be called from any thread,
// concurrently; LogSink::log only calls it.
unsafe impl Send for CxxLogSink {}
unsafe impl Sync for CxxLogSink {}

/// Runs `f` behind the panic barrier; on failure fills `status` and returns `fallback`.
fn bridged<T>(status: &mut Status, fallback: T, f: impl FnOnce() -> Result<T>) -> T {
    match catch(f) {
        Ok(v) => v,
        Err(e) => {
            status.code = e.status() as u32;
            status.message = crate::abi::without_nul(&e.to_string()).into_owned();
            fallback
        }
    }
}

/// A text argument: the C API cannot receive a NUL inside a name or configuration, and neither
/// does the C++ API, so both APIs refuse the same things.
fn text<'a>(s: &'a str, what: &str) -> Result<&'a str> {
    if s.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "{what} contains a NUL character"
        )));
    }
    Ok(s)
}

/// A handle the C++ object holds; null only after a move.
unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    p.as_ref()
        .ok_or_else(|| Error::InvalidArgument(format!("{what} is null (used after a move?)")))
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn status_name(code: u32) -> &'static str {
    crate::abi::status_name(code).trim_end_matches('\0')
}

fn host_create(
    config: &str,
    log: SharedPtr<CxxLogSink>,
    status: &mut Status,
) -> *mut hepinfer_host {
    bridged(status, std::ptr::null_mut(), || {
        let sink = if log.is_null() {
            LogSink::Stderr
        } else {
            LogSink::Func(Box::new(move |level, message| {
                if let Some(sink) = log.as_ref() {
                    sink.log(level as u32, message);
                }
            }))
        };
        let config = text(config, "host configuration")?;
        Ok(Box::into_raw(hepinfer_host::create(config, sink)?))
    })
}

unsafe fn host_free(host: *mut hepinfer_host) {
    crate::abi::hepinfer_host_free(host)
}

unsafe fn host_plugins_json(host: *const hepinfer_host, status: &mut Status) -> String {
    bridged(status, String::new(), || {
        handle(host, "host")?.plugins_json()
    })
}

unsafe fn instance_create(
    host: *const hepinfer_host,
    plugin: &str,
    config: &str,
    status: &mut Status,
) -> *mut hepinfer_instance {
    bridged(status, std::ptr::null_mut(), || {
        let host = handle(host, "host")?;
        let plugin = text(plugin, "plugin name")?;
        let config = text(config, "instance configuration")?;
        Ok(Box::into_raw(host.instance(plugin, config)?))
    })
}

unsafe fn instance_free(instance: *mut hepinfer_instance) {
    crate::abi::hepinfer_instance_free(instance)
}

unsafe fn instance_stats_json(instance: *const hepinfer_instance, status: &mut Status) -> String {
    bridged(status, String::new(), || {
        handle(instance, "instance")?.stats_json()
    })
}

unsafe fn process(
    instance: *const hepinfer_instance,
    key: hepinfer_event_key,
    inputs: *const hepinfer_tensor,
    n_inputs: usize,
    status: &mut Status,
) -> *mut hepinfer_outputs {
    bridged(status, std::ptr::null_mut(), || {
        let instance = handle(instance, "instance")?;
        let outputs = if n_inputs == 0 {
            instance.process(key, &[])?
        } else if inputs.is_null() {
            return instance
                .refuse(Error::InvalidArgument("inputs is NULL".into()))
                .map(Box::into_raw);
        } else {
            instance.process(key, std::slice::from_raw_parts(inputs, n_inputs))?
        };
        Ok(Box::into_raw(outputs))
    })
}

unsafe fn outputs_count(outputs: *const hepinfer_outputs) -> usize {
    crate::abi::hepinfer_outputs_count(outputs)
}

fn empty_tensor() -> hepinfer_tensor {
    hepinfer_tensor {
        name: c"".as_ptr(),
        dtype: 0,
        rank: 0,
        shape: std::ptr::null(),
        data: std::ptr::null(),
        offsets: std::ptr::null(),
        n_offsets: 0,
    }
}

unsafe fn outputs_get(
    outputs: *const hepinfer_outputs,
    index: usize,
    status: &mut Status,
) -> hepinfer_tensor {
    bridged(status, empty_tensor(), || {
        handle(outputs, "outputs")?.get(index)
    })
}

unsafe fn outputs_find(
    outputs: *const hepinfer_outputs,
    name: &str,
    status: &mut Status,
) -> hepinfer_tensor {
    bridged(status, empty_tensor(), || {
        handle(outputs, "outputs")?.find(text(name, "output name")?)
    })
}

unsafe fn outputs_provenance_count(outputs: *const hepinfer_outputs) -> usize {
    crate::abi::hepinfer_outputs_provenance_count(outputs)
}

unsafe fn outputs_provenance(
    outputs: *const hepinfer_outputs,
    index: usize,
    status: &mut Status,
) -> Provenance {
    bridged(status, Provenance::default(), || {
        let (model, hash) = handle(outputs, "outputs")?.provenance(index)?;
        Ok(Provenance {
            model: model.to_string_lossy().into_owned(),
            payload_hash: hash.to_string_lossy().into_owned(),
        })
    })
}

unsafe fn outputs_free(outputs: *mut hepinfer_outputs) {
    crate::abi::hepinfer_outputs_free(outputs)
}
