//! What the demo runs for each plugin: a [`Workload`] makes the inputs of one event, calls the
//! plugin through the C ABI and accumulates what it needs to measure the physics quality.

use hepinfer::abi::hepinfer_event_key;
use hepinfer::cabi::{CError, CInstance};

/// Called when an asynchronous call has completed and its results are recorded.
pub type Done = Box<dyn FnOnce(Result<(), CError>) + Send>;

/// One plugin's part of the demo job. Shared by all worker threads.
pub trait Workload: Send + Sync {
    /// Plugin name.
    fn plugin(&self) -> &'static str;
    /// Instance configuration (JSON).
    fn config(&self) -> String {
        "{}".into()
    }
    /// Generates the inputs of event number `event` (deterministic in it), runs the plugin on
    /// them and records the results for [`Workload::quality`].
    fn process(
        &self,
        instance: &CInstance,
        key: hepinfer_event_key,
        event: u64,
    ) -> Result<(), CError>;
    /// Like [`Workload::process`] through `hepinfer_submit` (cross-event batching); `done` runs
    /// once the results are recorded. `None`: this workload only runs synchronously.
    fn submit(
        &self,
        instance: &CInstance,
        key: hepinfer_event_key,
        event: u64,
        done: Done,
    ) -> Option<Result<(), CError>> {
        let _ = (instance, key, event, done);
        None
    }
    /// The physics quality measured on this run, one line (e.g. `AUC(b vs light) 0.986 on 41,234 jets`).
    fn quality(&self) -> String;
}

pub use hepinfer_plugin_testing::auc;
