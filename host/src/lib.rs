//! hepinfer: an ML inference host for the event-processing frameworks of particle physics.
//!
//! A C++ framework links `libhepinfer.so` through `include/hepinfer/hepinfer.h` (the [`abi`]
//! module) and, from many threads at once, asks it to run a named plugin on one event. The
//! [`Host`] loads plugins ([`loader`]), finds the model valid for the event ([`models`]), keeps
//! each model loaded once per process and runs it through ONNX Runtime ([`runtime`]).
//! Rust programs can use [`Host`] and [`Instance`] directly.

// Links the cxx bridge of the C++ API (cpp-bridge) into libhepinfer.so: nothing in this crate
// names it, and its exported `hepinfer$ffi$cxxbridge1$*` functions must be in the library.
extern crate hepinfer_cxx;

pub mod abi;
pub mod abi_async;
pub mod batch;
pub mod bench;
pub mod cabi;
pub mod conditions;
pub mod config;
pub mod error;
pub mod host;
pub mod instance;
pub mod loader;
pub mod logging;
pub mod models;
pub mod paths;
pub mod runtime;
pub mod stats;
pub mod validate;

pub use error::{Error, Result};
pub use host::Host;
pub use instance::{CallOutputs, Instance, Provenance};
