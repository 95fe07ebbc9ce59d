//! "Run this model on these tensors": the one interface between plugins and inference backends.
//!
//! Plugins reach models only through [`Model::run`], so a backend can later queue, batch across
//! threads or forward a request to a remote server without any plugin noticing.

pub mod onnx;
#[cfg(feature = "torch")]
pub mod torch;

use crate::error::{Error, Result};
use hepinfer_plugin_api::{DType, Tensor, TensorView};
use std::sync::Arc;

/// Declared input or output of a loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPort {
    /// Name in the model file.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape; -1 for a dynamic dimension.
    pub shape: Vec<i64>,
}

/// A loaded model, shared by every thread and instance that uses it.
pub trait Model: Send + Sync {
    /// Runs the model. `inputs` are matched to model inputs by name; outputs come back in the
    /// model's output order. Safe to call concurrently.
    fn run(&self, inputs: &[TensorView<'_>]) -> Result<Vec<Tensor>>;
    /// The model's inputs.
    fn inputs(&self) -> &[ModelPort];
    /// The model's outputs.
    fn outputs(&self) -> &[ModelPort];
    /// Backend name (`onnxruntime`, `libtorch`).
    fn backend(&self) -> &'static str;
}

/// Options for loading models, from the host configuration.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Intra-op threads per model.
    pub intra_op_threads: usize,
    /// ONNX session concurrency mode.
    pub session_mode: crate::config::SessionMode,
    /// Sessions per model in pool mode.
    pub pool_size: usize,
    /// ONNX Runtime CPU arena.
    pub cpu_arena: bool,
}

/// Loads a payload of `object_type` into a model of the matching backend.
pub fn load(object_type: &str, bytes: &[u8], opts: &LoadOptions) -> Result<Arc<dyn Model>> {
    match object_type {
        "onnx" => Ok(Arc::new(onnx::OnnxModel::load(bytes, opts)?)),
        #[cfg(feature = "torch")]
        "torchscript" => Ok(Arc::new(torch::TorchModel::load(bytes, opts)?)),
        #[cfg(not(feature = "torch"))]
        "torchscript" => Err(Error::Model(
            "this payload is TorchScript, but libhepinfer was built without the `torch` feature; \
             rebuild with `--features torch` or use a global tag that serves ONNX models"
                .into(),
        )),
        other => Err(Error::Model(format!(
            "payload object type '{other}' is not a model (expected 'onnx' or 'torchscript')"
        ))),
    }
}

/// Checks that `inputs` match `ports` by name, dtype and shape.
pub(crate) fn check_inputs(ports: &[ModelPort], inputs: &[TensorView<'_>]) -> Result<()> {
    if inputs.len() != ports.len() {
        let want: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        let got: Vec<&str> = inputs.iter().map(|t| t.name.as_str()).collect();
        return Err(Error::Model(format!(
            "model takes inputs {want:?}, the plugin passed {got:?}"
        )));
    }
    for t in inputs {
        let port = ports
            .iter()
            .find(|p| p.name == t.name.as_str())
            .ok_or_else(|| Error::Model(format!("model has no input named '{}'", t.name)))?;
        if t.data.dtype() != port.dtype {
            return Err(Error::Model(format!(
                "model input '{}': expected {}, got {}",
                port.name,
                port.dtype,
                t.data.dtype()
            )));
        }
        let shape = t.shape.as_slice();
        let ok = shape.len() == port.shape.len()
            && shape
                .iter()
                .zip(&port.shape)
                .all(|(&g, &w)| g >= 0 && (w < 0 || g == w));
        if !ok {
            return Err(Error::Model(format!(
                "model input '{}': expected shape {:?}, got {:?}",
                port.name, port.shape, shape
            )));
        }
        let n: i64 = shape.iter().product();
        if n as usize != t.data.len() {
            return Err(Error::Model(format!(
                "model input '{}': shape {:?} needs {n} elements, data has {}",
                port.name,
                shape,
                t.data.len()
            )));
        }
    }
    Ok(())
}
