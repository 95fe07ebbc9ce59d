//! `seq-classifier`: the reference plugin that proves the host's path end to end.
//!
//! It takes sequences the framework has already turned into features (`[n, 15, 8]`, zero-padded)
//! and returns class probabilities from an LSTM served by the host (record `SeqClassifierRcd`).
//! Its model, training script and card live in `model/`. Being the thinnest possible plugin, it
//! is also what the overhead benchmarks run: what it costs above a direct ONNX Runtime call is the
//! host's cost.

use hepinfer_plugin_api::{
    export_plugin, Call, DType, Dim, ModelSpec, Plugin, PluginError, PluginInfo, PluginLogger,
    Tensor, TensorSpec, TensorView,
};
use serde::Deserialize;

/// Steps per sequence.
pub const MAX_LEN: i64 = 15;
/// Features per step.
pub const N_FEATURES: i64 = 8;
/// Classes.
pub const N_CLASSES: i64 = 3;

/// Instance configuration.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Also return the index of the most probable class per sequence.
    #[serde(default)]
    argmax: bool,
}

/// The plugin.
pub struct SeqClassifier {
    config: Config,
}

impl Plugin for SeqClassifier {
    fn info() -> PluginInfo {
        let seq = TensorSpec::new(
            "sequences",
            DType::F32,
            vec![Dim::named("n"), Dim::fixed(MAX_LEN), Dim::fixed(N_FEATURES)],
            "feature sequences, zero-padded after the last step",
        );
        PluginInfo {
            name: "seq-classifier".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "LSTM(64) classifier over 15x8 feature sequences; the reference plugin"
                .into(),
            inputs: vec![seq.clone()].into(),
            outputs: vec![
                TensorSpec::new(
                    "probabilities",
                    DType::F32,
                    vec![Dim::named("n"), Dim::fixed(N_CLASSES)],
                    "class probabilities",
                ),
                TensorSpec::new(
                    "class",
                    DType::I64,
                    vec![Dim::named("n")],
                    "most probable class (only with argmax: true)",
                ),
            ]
            .into(),
            models: vec![ModelSpec {
                name: "classifier".into(),
                record: "SeqClassifierRcd".into(),
                label: "".into(),
                inputs: vec![seq].into(),
                doc: "model/MODEL.md".into(),
            }]
            .into(),
            config_doc: r#"{"argmax": bool (default false)}"#.into(),
        }
    }

    fn create(config: &str, _logger: PluginLogger) -> Result<Self, PluginError> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| PluginError::config(format!("seq-classifier config: {e}")))?;
        Ok(SeqClassifier { config })
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        let input = call.input("sequences")?;
        let n = input.shape[0];
        if n == 0 {
            // An empty batch is a valid event with nothing to classify.
            call.output(Tensor::f32("probabilities", vec![0, N_CLASSES], Vec::new()));
        } else {
            let view = TensorView {
                name: "sequences".into(),
                ..*input
            };
            let mut out = call.run_model("classifier", &[view])?;
            let mut probs = out.swap_remove(0);
            probs.name = "probabilities".into();
            call.output(probs);
        }
        if self.config.argmax {
            let p = call_output_probs(call)?;
            let class: Vec<i64> = p
                .chunks(N_CLASSES as usize)
                .map(|c| {
                    c.iter()
                        .enumerate()
                        .fold(0, |best, (i, v)| if *v > c[best] { i } else { best })
                        as i64
                })
                .collect();
            call.output(Tensor::new(
                "class",
                vec![class.len() as i64],
                hepinfer_plugin_api::TensorBuf::I64(class.into()),
            ));
        }
        Ok(())
    }
}

fn call_output_probs(call: &Call<'_>) -> Result<Vec<f32>, PluginError> {
    call.outputs()
        .iter()
        .find(|t| t.name.as_str() == "probabilities")
        .and_then(|t| t.as_f32())
        .map(|s| s.to_vec())
        .ok_or_else(|| {
            PluginError::new(hepinfer_plugin_api::ErrorKind::Internal, "no probabilities")
        })
}

export_plugin!(SeqClassifier);
