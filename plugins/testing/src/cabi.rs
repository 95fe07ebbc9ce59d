//! One plugin instance driven through the C ABI (`hepinfer_host_create`,
//! `hepinfer_instance_create`, `hepinfer_process`, `hepinfer_outputs_find`), as a C++ framework
//! calls it, with the named outputs copied out for checks.

use hepinfer::abi::{hepinfer_event_key, hepinfer_status, hepinfer_tensor};
/// The safe wrapper over the C ABI (one source, `host/src/cabi.rs`, shared with the `hepinfer`
/// command; not part of the `hepinfer` library's API).
#[path = "../../../host/src/cabi.rs"]
mod wrapper;
use hepinfer_plugin_api::TensorBuf;
pub use wrapper::*;

/// An output copied out of a `hepinfer_outputs`.
#[derive(Debug, Clone)]
pub struct Output {
    /// Shape.
    pub shape: Vec<i64>,
    /// Elements.
    pub data: TensorBuf,
    /// Offsets (empty when not jagged).
    pub offsets: Vec<i64>,
}

impl Output {
    /// The f32 elements (panics otherwise: a test failure).
    pub fn f32(&self) -> &[f32] {
        match &self.data {
            TensorBuf::F32(v) => v,
            d => panic!("not f32: {:?}", d.dtype()),
        }
    }

    /// The i64 elements (panics otherwise).
    pub fn i64(&self) -> &[i64] {
        match &self.data {
            TensorBuf::I64(v) => v,
            d => panic!("not i64: {:?}", d.dtype()),
        }
    }
}

/// A host with one plugin instance.
pub struct CPlugin {
    // Field order: the instance is freed before its host.
    inst: CInstance,
    _host: CHost,
}

impl CPlugin {
    /// `hepinfer_host_create(config)` + `hepinfer_instance_create(plugin, instance_config)`.
    pub fn new(config: &str, plugin: &str, instance_config: &str) -> Result<Self, String> {
        let host = CHost::new(config).map_err(|e| e.to_string())?;
        let inst = host
            .instance(plugin, instance_config)
            .map_err(|e| e.to_string())?;
        Ok(CPlugin { inst, _host: host })
    }

    /// `hepinfer_process`, then every named output copied out (`Err`: status + message).
    pub fn process(
        &self,
        key: hepinfer_event_key,
        inputs: &[hepinfer_tensor],
        outputs: &[&str],
    ) -> Result<Vec<Output>, (hepinfer_status, String)> {
        let out = self
            .inst
            .process(key, inputs)
            .map_err(|e| (e.status, e.message))?;
        outputs
            .iter()
            .map(|name| {
                let t = out.tensor(name).map_err(|e| (e.status, e.message))?;
                Ok(Output {
                    shape: t.shape.into_vec(),
                    data: t.data,
                    offsets: t.offsets.into_vec(),
                })
            })
            .collect()
    }
}
