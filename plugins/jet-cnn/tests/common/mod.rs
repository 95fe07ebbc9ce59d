//! Helpers of the integration tests: this plugin's model directory, its golden tensors and a
//! plugin directory holding this crate's freshly built library; the rest comes from
//! `hepinfer-plugin-testing`.
#![allow(dead_code, unused_imports)]

pub use hepinfer_plugin_testing::{auc, host_config, max_abs_diff, read_npz, Array};
hepinfer_plugin_testing::plugin_test_helpers!();
