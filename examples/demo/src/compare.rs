//! Comparing two global tags: the same events through both, per plugin the records whose
//! payloads differ (from the conditions database), the per-event output differences and the
//! physics figures of merit side by side.

use crate::workload::{EventOutput, Merit};
use hepinfer_conddb::{ConditionsDb, ConnectOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Events listed by name in the report: the most changed ones.
const WORST: usize = 10;

/// Per-event output differences of one plugin between the two global tags.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DiffStats {
    /// Events the plugin ran on under both global tags.
    pub events: usize,
    /// Events whose largest |A − B| exceeds the tolerance (or whose outputs differ in length).
    pub changed: usize,
    /// Events whose outputs differ in length (counted in `changed`).
    pub shape_mismatch: usize,
    /// Largest |A − B| over all compared values.
    pub max_abs_diff: f64,
    /// Mean |A − B| over all compared values.
    pub mean_abs_diff: f64,
    /// Values compared.
    pub values: u64,
    /// Values compared whose |A − B| exceeds the tolerance (for btag-rnn, whose output is one
    /// discriminant per jet: the jets whose discriminant changed).
    pub values_changed: u64,
    /// Per run: (events changed, events).
    pub per_run: BTreeMap<u32, (usize, usize)>,
    /// The most changed events: (event number, run, largest |A − B|), largest first.
    pub worst_events: Vec<(u64, u32, f64)>,
    #[serde(skip)]
    sum_abs: f64,
}

impl DiffStats {
    /// Fraction of events changed beyond the tolerance.
    pub fn changed_fraction(&self) -> f64 {
        self.changed as f64 / self.events.max(1) as f64
    }

    /// Fraction of compared values changed beyond the tolerance.
    pub fn values_changed_fraction(&self) -> f64 {
        self.values_changed as f64 / self.values.max(1) as f64
    }
}

/// Accumulates [`DiffStats`] from every thread.
pub struct Differ {
    tolerance: f64,
    stats: Mutex<DiffStats>,
}

impl Differ {
    /// Counts an event as changed when some output differs by more than `tolerance`.
    pub fn new(tolerance: f64) -> Self {
        Differ {
            tolerance,
            stats: Mutex::new(DiffStats::default()),
        }
    }

    /// Compares one event's outputs under the two global tags.
    pub fn add(&self, run: u32, event: u64, a: &EventOutput, b: &EventOutput) {
        if a.values.is_empty() && b.values.is_empty() && a.provenance.is_empty() {
            return; // the plugin did not run on this event
        }
        let (max, sum, n, n_changed, mismatch) = if a.values.len() == b.values.len() {
            let (mut max, mut sum, mut n_changed) = (0.0f64, 0.0f64, 0u64);
            for (x, y) in a.values.iter().zip(&b.values) {
                let d = (f64::from(*x) - f64::from(*y)).abs();
                // NaN on one side only is a difference; NaN on both is not.
                let d = if d.is_nan() {
                    if x.is_nan() && y.is_nan() {
                        0.0
                    } else {
                        f64::INFINITY
                    }
                } else {
                    d
                };
                max = max.max(d);
                sum += d;
                n_changed += u64::from(d > self.tolerance);
            }
            (max, sum, a.values.len() as u64, n_changed, false)
        } else {
            (f64::INFINITY, 0.0, 0, 0, true)
        };
        let changed = mismatch || max > self.tolerance;
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.events += 1;
        s.changed += usize::from(changed);
        s.shape_mismatch += usize::from(mismatch);
        if !mismatch {
            s.max_abs_diff = s.max_abs_diff.max(max);
            s.sum_abs += sum;
            s.values += n;
            s.values_changed += n_changed;
        }
        let r = s.per_run.entry(run).or_default();
        r.0 += usize::from(changed);
        r.1 += 1;
        if changed {
            s.worst_events.push((event, run, max));
            s.worst_events
                .sort_by(|x, y| y.2.total_cmp(&x.2).then(x.0.cmp(&y.0)));
            s.worst_events.truncate(WORST);
        }
    }

    /// The statistics so far.
    pub fn stats(&self) -> DiffStats {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.mean_abs_diff = if s.values > 0 {
            s.sum_abs / s.values as f64
        } else {
            0.0
        };
        s
    }
}

/// One (record, label) whose payloads differ between the global tags.
#[derive(Debug, Clone, Serialize)]
pub struct PayloadChange {
    /// Record.
    pub record: String,
    /// Label.
    pub label: String,
    /// Tag in A (None: not mapped).
    pub tag_a: Option<String>,
    /// Tag in B.
    pub tag_b: Option<String>,
    /// What differs, in the conditions database's words.
    pub detail: String,
    /// (since, payload hash) visible in A.
    pub iovs_a: Vec<(u64, String)>,
    /// (since, payload hash) visible in B.
    pub iovs_b: Vec<(u64, String)>,
}

/// The records whose payloads differ between global tags `a` and `b` of database `url`.
pub fn payload_changes(url: &str, a: &str, b: &str) -> Result<Vec<PayloadChange>, String> {
    let db = ConditionsDb::open(url, &ConnectOptions::default())
        .map_err(|e| format!("conditions database: {e}"))?;
    let diff = db
        .diff_global_tags(a, &db, b)
        .map_err(|e| format!("diff {a} {b}: {e}"))?;
    let iovs = |gt: &str, tag: &Option<String>| -> Result<Vec<(u64, String)>, String> {
        let Some(tag) = tag else {
            return Ok(Vec::new());
        };
        let snap = db.global_tag(gt).map_err(|e| e.to_string())?.snapshot_time;
        db.visible_iovs(tag, snap).map_err(|e| e.to_string())
    };
    diff.entries
        .into_iter()
        .map(|e| {
            Ok(PayloadChange {
                iovs_a: iovs(a, &e.tag_a)?,
                iovs_b: iovs(b, &e.tag_b)?,
                record: e.record,
                label: e.label,
                tag_a: e.tag_a,
                tag_b: e.tag_b,
                detail: e.detail,
            })
        })
        .collect()
}

/// The comparison of one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginComparison {
    /// Plugin.
    pub plugin: String,
    /// Output compared event by event.
    pub output: String,
    /// Its records whose payloads differ.
    pub payload_changes: Vec<PayloadChange>,
    /// Per-event differences.
    pub diff: DiffStats,
    /// Figures of merit under A and B, paired by name.
    pub merits: Vec<(Merit, Merit)>,
    /// `identical` (no output differs at all), `within tolerance` or `changed`.
    pub verdict: String,
}

impl PluginComparison {
    /// Puts the pieces together and decides the verdict.
    pub fn new(
        plugin: &str,
        output: &str,
        payload_changes: Vec<PayloadChange>,
        diff: DiffStats,
        merits_a: Vec<Merit>,
        merits_b: Vec<Merit>,
    ) -> Self {
        let verdict = if diff.changed > 0 {
            "changed"
        } else if diff.max_abs_diff > 0.0 {
            "within tolerance"
        } else {
            "identical"
        };
        PluginComparison {
            plugin: plugin.into(),
            output: output.into(),
            payload_changes,
            diff,
            merits: merits_a.into_iter().zip(merits_b).collect(),
            verdict: verdict.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(v: &[f32]) -> EventOutput {
        EventOutput {
            values: v.to_vec(),
            provenance: vec![("m".into(), "h".into())],
        }
    }

    #[test]
    fn identical_outputs_give_zero() {
        let d = Differ::new(1e-4);
        d.add(1, 0, &out(&[0.1, 0.2]), &out(&[0.1, 0.2]));
        let s = d.stats();
        assert_eq!(
            (s.events, s.changed, s.max_abs_diff, s.mean_abs_diff),
            (1, 0, 0.0, 0.0)
        );
    }

    #[test]
    fn differences_beyond_tolerance_are_counted_per_run() {
        let d = Differ::new(1e-4);
        d.add(1, 0, &out(&[0.1, 0.2]), &out(&[0.1, 0.2 + 1e-5]));
        d.add(2, 1, &out(&[0.1, 0.2]), &out(&[0.3, 0.2]));
        d.add(2, 2, &out(&[0.1]), &out(&[0.1, 0.2]));
        let s = d.stats();
        assert_eq!((s.events, s.changed, s.shape_mismatch), (3, 2, 1));
        // Of the 4 values compared (the mismatched event has none), only 0.1 -> 0.3 changed.
        assert_eq!((s.values, s.values_changed), (4, 1));
        assert!((s.values_changed_fraction() - 0.25).abs() < 1e-12);
        assert!((s.max_abs_diff - 0.2).abs() < 1e-6);
        assert_eq!(s.per_run[&1], (0, 1));
        assert_eq!(s.per_run[&2], (2, 2));
        assert_eq!(s.worst_events[0].0, 2);
    }
}
