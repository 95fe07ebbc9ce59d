//! The ABI-stable contract between the hepinfer host and its plugins.
//!
//! A plugin is a Rust `cdylib` that implements [`Plugin`] and calls [`export_plugin!`]. The host
//! loads it with abi_stable, which checks the version of this crate and the layout of every type
//! crossing the boundary before any plugin code runs. Plugins never link ONNX Runtime or libtorch:
//! they run their models through [`Call::run_model`], a call back into the host.
//!
//! Panics never cross the boundary: the shims generated here catch them inside the plugin and
//! turn them into an error result (abi_stable's own shims would abort the whole process), without
//! printing them ([`panic::catch_quiet`]): the host sends the message to the framework's log.

#![allow(non_local_definitions)] // emitted by abi_stable's `sabi_trait` macro

mod heap;
pub mod jagged;
pub mod panic;
mod plugin;
mod tensor;

pub use jagged::{check_groups, check_offsets, wrap_dphi};
pub use plugin::{
    __create, __create_staged, __info, Call, CallContext, CallContext_TO, ErrorKind, HostServices,
    HostServices_TO, LogLevel, ModelSpec, Plugin, PluginError, PluginInfo, PluginInstance,
    PluginInstanceBox, PluginInstance_TO, PluginLogger, PluginMod, PluginModRef, Prepared,
    StagedExport, StagedInstance, StagedInstanceBox, StagedInstance_TO, StagedMod, StagedModRef,
    PLUGIN_ABI_VERSION, STAGED_SYMBOL,
};
pub use tensor::{DType, Dim, EventKey, Tensor, TensorBuf, TensorData, TensorSpec, TensorView};

/// Re-exported so that [`export_plugin!`] works without the plugin naming abi_stable itself.
pub use abi_stable;

/// Exports `$plugin` (a type implementing [`Plugin`]) as the root module of this `cdylib`.
///
/// ```ignore
/// hepinfer_plugin_api::export_plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The abi_stable root module of this plugin.
        #[$crate::abi_stable::export_root_module]
        pub fn hepinfer_plugin_root_module() -> $crate::PluginModRef {
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::PluginMod {
                abi_version: $crate::PLUGIN_ABI_VERSION,
                info: $crate::__info::<$plugin>,
                create: $crate::__create::<$plugin>,
            }
            .leak_into_prefix()
        }

        /// The staged-call module of this plugin (plugin ABI 1.1; see `StagedMod`).
        #[no_mangle]
        pub extern "C" fn hepinfer_plugin_staged_v1() -> $crate::StagedExport {
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::StagedExport {
                layout: <$crate::StagedModRef as $crate::abi_stable::StableAbi>::LAYOUT,
                module: $crate::StagedMod {
                    create_staged: $crate::__create_staged::<$plugin>,
                }
                .leak_into_prefix(),
            }
        }
    };
}
