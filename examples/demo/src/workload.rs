//! What the demo runs for each plugin: a [`Workload`] makes the inputs of one event, calls the
//! plugin through the C ABI and accumulates what it needs to measure the physics quality.

use crate::figure::Figure;
use hepinfer::abi::hepinfer_event_key;
use hepinfer_plugin_testing::cabi::{CError, CInstance, COutputs};
use serde::Serialize;

/// What one call returned that the global-tag comparison looks at.
pub struct EventOutput {
    /// The plugin's main continuous output for this event, flattened (see [`Workload::compared`]).
    pub values: Vec<f32>,
    /// (model, payload hash) of every model that produced it.
    pub provenance: Vec<(String, String)>,
}

impl EventOutput {
    /// `values` with the provenance of `out`.
    pub fn new(values: Vec<f32>, out: &COutputs) -> Self {
        EventOutput {
            values,
            provenance: out.provenance(),
        }
    }

    /// An event the plugin was not run on (the comparison skips it).
    pub fn skipped() -> Self {
        EventOutput {
            values: Vec::new(),
            provenance: Vec::new(),
        }
    }
}

/// Receives the output of an asynchronous call (see [`Workload::submit`]).
pub type Done = Box<dyn FnOnce(Result<EventOutput, CError>) + Send>;

/// One physics figure of merit, for the side-by-side table of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Merit {
    /// What it is (`AUC(b vs light)`).
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its statistical uncertainty (NaN: not estimated).
    pub error: f64,
}

impl Merit {
    /// A figure of merit with an uncertainty.
    pub fn new(name: &str, value: f64, error: f64) -> Self {
        Merit {
            name: name.into(),
            value,
            error,
        }
    }
}

/// A table for the report (e.g. the calorimeter fidelity metrics).
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Heading.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells, already formatted.
    pub rows: Vec<Vec<String>>,
    /// A sentence under the table saying how to read it.
    pub note: String,
}

/// Everything a workload measured on the run, computed once at its end.
pub struct Results {
    /// One line for the terminal.
    pub quality: String,
    /// Figures of merit.
    pub merits: Vec<Merit>,
    /// Plots (captions are filled in by the caller).
    pub figures: Vec<Figure>,
    /// Extra tables for the report.
    pub tables: Vec<Table>,
    /// Machine-readable extras for `summary.json` (e.g. the fidelity metrics).
    pub extra: serde_json::Value,
}

/// One plugin's part of the demo job. Shared by all worker threads.
pub trait Workload: Send + Sync {
    /// Plugin name.
    fn plugin(&self) -> &'static str;
    /// Conditions records the plugin's models come from.
    fn records(&self) -> &'static [&'static str];
    /// Name of the output [`EventOutput::values`] holds.
    fn compared(&self) -> &'static str;
    /// Instance configuration (JSON).
    fn config(&self) -> String {
        "{}".into()
    }
    /// Generates the inputs of event number `event` (deterministic in it), runs the plugin on
    /// them and records the results for [`Workload::results`].
    fn process(
        &self,
        instance: &CInstance,
        key: hepinfer_event_key,
        event: u64,
    ) -> Result<EventOutput, CError>;
    /// The physics measured on this run.
    fn results(&self) -> Results;
    /// Like [`Workload::process`] through `hepinfer_submit` (cross-event batching): `done`
    /// receives the event's output once its results are recorded, on the thread that completed
    /// the call. `None`: this workload only runs synchronously.
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
}

pub use hepinfer_plugin_testing::auc;

/// Standard error of an AUC estimated from `ns` signal and `nb` background scores (Hanley &
/// McNeil 1982).
pub fn auc_error(a: f64, ns: usize, nb: usize) -> f64 {
    let (ns, nb) = (ns as f64, nb as f64);
    if ns < 1.0 || nb < 1.0 {
        return f64::NAN;
    }
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    ((a * (1.0 - a) + (ns - 1.0) * (q1 - a * a) + (nb - 1.0) * (q2 - a * a)) / (ns * nb))
        .max(0.0)
        .sqrt()
}
