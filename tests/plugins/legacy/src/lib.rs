//! `legacy`: exports exactly what `export_plugin!` expanded to before plugin ABI 1.1 (the root
//! module, no staged-call module), so tests can check that such plugins still load and run
//! unbatched. Returns `y = 2 x`.

use hepinfer_plugin_api::{
    Call, DType, Dim, Plugin, PluginError, PluginInfo, PluginLogger, Tensor, TensorSpec,
};

/// The plugin.
pub struct Legacy;

impl Plugin for Legacy {
    fn info() -> PluginInfo {
        let spec = |name: &str| TensorSpec::new(name, DType::F32, vec![Dim::named("n")], "values");
        PluginInfo {
            name: "legacy".into(),
            version: "0.0.1".into(),
            description: "test plugin built like a plugin of ABI 1.0".into(),
            inputs: vec![spec("x")].into(),
            outputs: vec![spec("y")].into(),
            models: Vec::new().into(),
            config_doc: "{}".into(),
        }
    }

    fn create(_config: &str, _logger: PluginLogger) -> Result<Self, PluginError> {
        Ok(Legacy)
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        let y: Vec<f32> = call.f32("x")?.iter().map(|v| 2.0 * v).collect();
        call.output(Tensor::f32("y", vec![y.len() as i64], y));
        Ok(())
    }
}

/// The root module, as `export_plugin!` of plugin ABI 1.0 wrote it.
#[abi_stable::export_root_module]
pub fn hepinfer_plugin_root_module() -> hepinfer_plugin_api::PluginModRef {
    use abi_stable::prefix_type::PrefixTypeTrait;
    hepinfer_plugin_api::PluginMod {
        abi_version: hepinfer_plugin_api::PLUGIN_ABI_VERSION,
        info: hepinfer_plugin_api::__info::<Legacy>,
        create: hepinfer_plugin_api::__create::<Legacy>,
    }
    .leak_into_prefix()
}
