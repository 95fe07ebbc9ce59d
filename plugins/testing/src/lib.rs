//! What the plugin crates' tests and benchmarks, and the demo job, share: a reader for the
//! golden tensors the Python training code exports (`.npz`), a plugin directory and host
//! configuration for a test host, a plugin driven through the C ABI, and figures of merit (ROC
//! AUC, largest difference).

pub mod cabi;
pub mod metrics;
pub mod npz;
pub mod setup;

pub use metrics::{auc, max_abs_diff};
pub use npz::{parse_npz, read_npz, Array, NpzError};
pub use setup::{file_host, host_config, plugin_dir, profile_dir, run_on_threads};

#[doc(hidden)]
pub use {hepinfer, tempfile};

/// Defines, in a plugin's `tests/common/mod.rs`, the helpers that need the plugin crate's own
/// manifest (`env!` expands in the calling crate): `model_dir()`, `golden()`, `plugin_dir()` and
/// `host(record, model_file)`.
#[macro_export]
macro_rules! plugin_test_helpers {
    () => {
        /// The model directory of this plugin.
        pub fn model_dir() -> std::path::PathBuf {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("model")
        }

        /// The golden tensors exported by `model/make_golden.py`.
        pub fn golden() -> std::collections::HashMap<String, $crate::Array> {
            $crate::read_npz(&model_dir().join("golden.npz"))
        }

        /// A temporary plugin directory with a symlink to this crate's freshly built plugin
        /// library.
        pub fn plugin_dir() -> $crate::tempfile::TempDir {
            $crate::plugin_dir(env!("CARGO_PKG_NAME"))
        }

        /// A host with this plugin loaded, serving `record` from `model/<file>` (the directory
        /// is kept alive beside it).
        pub fn host(
            record: &str,
            file: &str,
        ) -> ($crate::tempfile::TempDir, $crate::hepinfer::Host) {
            $crate::file_host(env!("CARGO_PKG_NAME"), record, &model_dir().join(file))
        }
    };
}
