//! hepinfer: an ML inference host for the event-processing frameworks of particle physics.
//!
//! A C++ framework links `libhepinfer.so` through `include/hepinfer/hepinfer.h` (the [`abi`]
//! module) and, from many threads at once, asks it to run a named plugin on one event. The
//! [`Host`] loads plugins ([`loader`]), finds the model valid for the event ([`models`]), keeps
//! each model loaded once per process and runs it through ONNX Runtime ([`runtime`]).
//! Rust programs can use [`Host`] and [`Instance`] directly.

pub mod abi;
pub mod batch;
pub mod conditions;
pub mod config;
mod cxx_bridge;
pub mod error;
pub mod host;
pub mod instance;
pub mod loader;
pub mod logging;
pub mod models;
pub mod paths;
pub mod payloads;
pub mod runtime;
pub mod stats;
pub mod validate;

pub use error::{Error, Result};
pub use host::Host;
pub use instance::{CallOutputs, Instance, Provenance};
