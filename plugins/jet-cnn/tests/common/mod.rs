//! Helpers of the integration tests: this plugin's model directory, its golden tensors and a
//! plugin directory holding this crate's freshly built library; the rest comes from
//! `hepinfer-plugin-testing`.
#![allow(dead_code, unused_imports)]

pub use hepinfer_plugin_testing::{auc, host_config, max_abs_diff, read_npz, Array};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The model directory of this plugin.
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model")
}

/// The golden tensors exported by `model/make_golden.py`.
pub fn golden() -> HashMap<String, Array> {
    read_npz(&model_dir().join("golden.npz"))
}

/// A temporary plugin directory with a symlink to this crate's freshly built plugin library.
pub fn plugin_dir() -> tempfile::TempDir {
    hepinfer_plugin_testing::plugin_dir(env!("CARGO_PKG_NAME"))
}
