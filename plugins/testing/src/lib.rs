//! What the plugin crates' tests and benchmarks, and the demo job, share: a reader for the
//! golden tensors the Python training code exports (`.npz`), a plugin directory and host
//! configuration for a test host, a plugin driven through the C ABI, and figures of merit (ROC
//! AUC, largest difference).

pub mod cabi;
pub mod metrics;
pub mod npz;
pub mod setup;

pub use metrics::{auc, max_abs_diff};
pub use npz::{read_npz, Array};
pub use setup::{file_host, host_config, plugin_dir, profile_dir, run_on_threads};
