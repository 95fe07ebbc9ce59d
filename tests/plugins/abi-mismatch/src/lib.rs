//! A plugin built against a different plugin interface: its root module has the name the host
//! looks for but another layout (as a plugin compiled against an incompatible
//! `hepinfer-plugin-api` would). The host must refuse it with a clear error, not crash.
#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics, export_root_module, library::RootModule, package_version_strings,
    prefix_type::PrefixTypeTrait, sabi_types::VersionStrings, std_types::RString, StableAbi,
};

/// The root module, with fields the host does not know.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// A version of another type than the host's `u32`.
    pub abi_version: u64,
    /// Something the host has no idea of.
    #[sabi(last_prefix_field)]
    pub greeting: extern "C" fn() -> RString,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "hepinfer_plugin";
    const NAME: &'static str = "hepinfer_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

extern "C" fn greeting() -> RString {
    "hello".into()
}

/// Exports the mismatched root module.
#[export_root_module]
pub fn get_library() -> PluginModRef {
    PluginMod {
        abi_version: 1,
        greeting,
    }
    .leak_into_prefix()
}
