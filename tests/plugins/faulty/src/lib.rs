//! `faulty`: a test plugin whose failures are chosen by the event number, so tests can produce
//! for real the faults that a correct plugin never shows (a panic inside `process`, an error, an
//! output whose shape does not match its data, a request for an undeclared model).
//!
//! Event 13 panics, 14 returns an error, 15 returns a malformed output, 16 asks for a model it
//! did not declare, 17 makes the host panic inside `run_model` (debug builds of the host only:
//! `TEST_HOST_PANIC_MODEL` in host/src/instance.rs; a release host answers "undeclared model");
//! any other event returns `y = 2 x` with the groups of `x`. Config `{"panic": true}` panics in
//! create.

use hepinfer_plugin_api::{
    export_plugin, Call, DType, Dim, Plugin, PluginError, PluginInfo, PluginLogger, Tensor,
    TensorBuf, TensorSpec,
};

/// The plugin.
pub struct Faulty;

impl Plugin for Faulty {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "faulty".into(),
            version: "0.0.1".into(),
            description: "test plugin that fails on demand".into(),
            inputs: vec![TensorSpec::new(
                "x",
                DType::F32,
                vec![Dim::named("n")],
                "values, grouped",
            )
            .jagged("groups")]
            .into(),
            outputs: vec![TensorSpec::new(
                "y",
                DType::F32,
                vec![Dim::named("n")],
                "2x, same groups",
            )
            .jagged("groups")]
            .into(),
            models: Vec::new().into(),
            config_doc: r#"{"panic": bool}"#.into(),
        }
    }

    fn create(config: &str, logger: PluginLogger) -> Result<Self, PluginError> {
        if config.contains("\"panic\":true") {
            panic!("faulty: asked to panic in create");
        }
        logger.log(hepinfer_plugin_api::LogLevel::Info, "faulty: created");
        Ok(Faulty)
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        let x = call.f32("x")?;
        match call.event().event {
            13 => panic!("faulty: deliberate panic in process"),
            14 => return Err(PluginError::input("faulty: deliberate error for event 14")),
            15 => {
                call.output(Tensor::f32("y", vec![x.len() as i64 + 1], x.to_vec()));
                return Ok(());
            }
            16 => {
                call.run_model("undeclared", &[])?;
            }
            17 => {
                call.run_model("hepinfer-test:host-panic", &[])?;
            }
            _ => {}
        }
        let offsets = call.offsets("x")?.to_vec();
        let y = x.iter().map(|v| 2.0 * v).collect::<Vec<f32>>();
        call.output(Tensor::jagged(
            "y",
            vec![x.len() as i64],
            TensorBuf::F32(y.into()),
            offsets,
        ));
        Ok(())
    }
}

export_plugin!(Faulty);
