//! Checks of payloads before `hepinfer conddb upload` stores them: a model must load in the
//! backend of its object type and declare inputs and outputs. The conditions database crate
//! knows no runtime, so the `hepinfer` command registers these checks with it.
//!
//! One function per object type: a new payload kind (e.g. a remote-model description) adds its
//! check in [`validators`].

use crate::config::SessionMode;
use crate::runtime::{self, LoadOptions, ModelPort};
use hepinfer_conddb::validate::Validators;
use std::path::PathBuf;

/// The upload checks of the `hepinfer` command: the conditions database's own (JSON) plus a real
/// load of `onnx` and `torchscript` payloads. `onnxruntime` is the library to load ONNX models
/// with (else the host's default search).
pub fn validators(onnxruntime: Option<PathBuf>) -> Validators {
    Validators::builtin()
        .with("onnx", move |data| {
            runtime::onnx::environment(onnxruntime.as_deref()).map_err(|e| e.to_string())?;
            check_model("onnx", data)
        })
        .with("torchscript", check_torchscript)
}

#[cfg(feature = "torch")]
fn check_torchscript(data: &[u8]) -> Result<String, String> {
    check_model("torchscript", data)
}

#[cfg(not(feature = "torch"))]
fn check_torchscript(_data: &[u8]) -> Result<String, String> {
    Err(
        "this hepinfer was built without the `torch` feature, so it cannot load a TorchScript \
         payload to check it; upload with a `torch` build (`cargo build -p hepinfer --features \
         torch`) or pass --no-validate"
            .into(),
    )
}

/// Loads `data` as a model of `object_type` and describes its signature.
pub fn check_model(object_type: &str, data: &[u8]) -> Result<String, String> {
    let opts = LoadOptions {
        intra_op_threads: 1,
        session_mode: SessionMode::Shared,
        pool_size: 1,
        cpu_arena: false,
        native_kernels: true,
    };
    let model = runtime::load(object_type, data, &opts).map_err(|e| e.to_string())?;
    if model.inputs().is_empty() || model.outputs().is_empty() {
        return Err(format!(
            "the model declares no {}",
            if model.inputs().is_empty() {
                "inputs"
            } else {
                "outputs"
            }
        ));
    }
    Ok(format!(
        "loads in {}: inputs {}, outputs {}",
        model.backend(),
        ports(model.inputs()),
        ports(model.outputs())
    ))
}

fn ports(p: &[ModelPort]) -> String {
    let each: Vec<String> = p
        .iter()
        .map(|p| format!("{} {} {:?}", p.name, p.dtype, p.shape))
        .collect();
    format!("[{}]", each.join(", "))
}
