//! "Run this model on these tensors": the one interface between plugins and inference backends.
//!
//! Plugins reach models only through [`Model::run`], so a backend can later queue, batch across
//! threads or forward a request to a remote server without any plugin noticing.

#[cfg(feature = "kserve")]
pub mod kserve;
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
    /// Backend name (`onnxruntime`, `libtorch`, `kserve`).
    fn backend(&self) -> &'static str;
    /// [`run`](Model::run), also saying who served this call when the payload only points to
    /// the model (a remote model: which server, or its local fallback). Provenance uses it.
    fn run_traced(&self, inputs: &[TensorView<'_>]) -> Result<(Vec<Tensor>, Option<Served>)> {
        Ok((self.run(inputs)?, None))
    }
    /// Where and what runs the model, for provenance, when the payload hash alone does not say
    /// it (a remote model: server, model name and version, the SHA-256 the server reports).
    fn describe(&self) -> Option<String> {
        None
    }
    /// Whether merging calls from many events into one call of this model saves time. False for
    /// a backend without a per-call cost to amortise (the native LSTM kernel), where the
    /// asynchronous path's queueing would only add work: such calls run at once, unmerged.
    fn merging_pays(&self) -> bool {
        true
    }
    /// Counters of a remote model (calls per server, retries, failovers, fallback calls).
    #[cfg(feature = "kserve")]
    fn remote_stats(&self) -> Option<kserve::RemoteStats> {
        None
    }
}

/// Who served one call of a model whose payload only points to it (see [`Model::run_traced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The server, model name and version and the SHA-256 the server reported; or the local
    /// fallback that ran instead.
    pub description: Arc<str>,
    /// The payload that really ran when it is not the model's own (the local fallback's hash).
    pub payload: Option<Arc<str>>,
}

/// Where a model sends warnings about running in a degraded way (fallback in use).
pub type WarnFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Loads another payload by hash (through the model cache).
pub type LoadPayloadFn<'a> = &'a dyn Fn(&str) -> Result<Arc<dyn Model>>;

/// What loading a payload may need besides its bytes.
#[derive(Default)]
pub struct LoadContext<'a> {
    /// Loads another payload by hash through the model cache (a remote model's local fallback).
    pub load_payload: Option<LoadPayloadFn<'a>>,
    /// Receives warnings of models that keep running in a degraded way (fallback in use).
    pub warn: Option<WarnFn>,
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
    /// Run ONNX recurrent classifiers that `hepinfer-lstm` recognises with its native kernel
    /// (checked against ONNX Runtime when loaded) instead of ONNX Runtime.
    pub native_kernels: bool,
}

/// Loads a payload of `object_type` into a model of the matching backend.
pub fn load(object_type: &str, bytes: &[u8], opts: &LoadOptions) -> Result<Arc<dyn Model>> {
    load_with(object_type, bytes, opts, &LoadContext::default())
}

/// [`load`], with what payloads that refer to other payloads need (see [`LoadContext`]).
pub fn load_with(
    object_type: &str,
    bytes: &[u8],
    opts: &LoadOptions,
    ctx: &LoadContext<'_>,
) -> Result<Arc<dyn Model>> {
    // Only payloads that refer to other payloads (kserve) use the context.
    let _ = ctx;
    match object_type {
        #[cfg(feature = "kserve")]
        "kserve" => {
            let payload = kserve::validate_payload(bytes)?;
            let fallback = match (&payload.fallback, ctx.load_payload) {
                (Some(hash), Some(load)) => Some(load(hash).map_err(|e| {
                    Error::Model(format!(
                        "kserve model '{}': its fallback payload {hash}: {e}",
                        payload.model
                    ))
                })?),
                (Some(hash), None) => {
                    return Err(Error::Model(format!(
                        "kserve model '{}': fallback payload {hash} cannot be loaded here (no model source)",
                        payload.model
                    )))
                }
                (None, _) => None,
            };
            Ok(Arc::new(kserve::KServeModel::new(
                payload,
                fallback,
                ctx.warn.clone(),
            )?))
        }
        #[cfg(not(feature = "kserve"))]
        "kserve" => Err(Error::Model(
            "this payload is served by a KServe v2 server, but libhepinfer was built without the \
             `kserve` feature; rebuild with it (it is on by default) or use a global tag that \
             serves a local model"
                .into(),
        )),
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
            "payload object type '{other}' is not a model (expected 'onnx', 'torchscript' or 'kserve')"
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
