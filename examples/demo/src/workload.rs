//! What the demo runs for each plugin: a [`Workload`] makes the inputs of one event, calls the
//! plugin through the C ABI and accumulates what it needs to measure the physics quality.

use hepinfer::abi::hepinfer_event_key;
use hepinfer::cabi::{CError, CInstance};

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
    /// The physics quality measured on this run, one line (e.g. `AUC(b vs light) 0.986 on 41,234 jets`).
    fn quality(&self) -> String;
}

/// Area under the ROC curve of `signal` vs `background` scores (ties count one half).
pub fn auc(signal: &[f32], background: &[f32]) -> f64 {
    if signal.is_empty() || background.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f32, bool)> = signal
        .iter()
        .map(|&s| (s, true))
        .chain(background.iter().map(|&b| (b, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann–Whitney U from average ranks.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0; // ranks i+1..=j
        rank_sum += avg_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (ns, nb) = (signal.len() as f64, background.len() as f64);
    (rank_sum - ns * (ns + 1.0) / 2.0) / (ns * nb)
}

#[cfg(test)]
mod tests {
    use super::auc;

    #[test]
    fn auc_of_known_cases() {
        assert_eq!(auc(&[1.0, 2.0], &[0.0, 0.5]), 1.0);
        assert_eq!(auc(&[0.0], &[1.0]), 0.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
        assert!((auc(&[0.2, 0.8], &[0.5]) - 0.5).abs() < 1e-12);
    }
}
