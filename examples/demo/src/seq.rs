//! The seq-classifier reference plugin on its golden held-out sequences.

use crate::figure::{efficiency, roc, Figure, Panel, Series};
use crate::workload::{auc, auc_error, EventOutput, Merit, Results, Workload};
use hepinfer::abi::hepinfer_event_key;
use hepinfer::cabi::{f32_input, CError, CInstance};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::Path;
use std::sync::Mutex;

/// What was seen: per sequence its probabilities and true class; per run (correct, seen).
#[derive(Default)]
struct Seen {
    rows: Vec<([f32; 3], i64)>,
    per_run: BTreeMap<u32, (usize, usize)>,
}

/// Classifies 1–8 sequences per event, taken from the model's held-out sample.
pub struct Seq {
    x: Vec<f32>,
    y: Vec<i64>,
    name: CString,
    seen: Mutex<Seen>,
}

impl Seq {
    /// Loads the held-out sample from the model directory.
    pub fn load(model_dir: &Path) -> Result<Self, String> {
        let read = |f: &str| std::fs::read(model_dir.join(f)).map_err(|e| format!("{f}: {e}"));
        let x: Vec<f32> = read("golden_x.f32")?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let y: Vec<i64> = read("golden_y.i64")?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        if y.len() < 16 || x.len() != y.len() * 120 {
            return Err("seq-classifier held-out sample is inconsistent".into());
        }
        Ok(Seq {
            x,
            y,
            name: c"sequences".into(),
            seen: Mutex::new(Seen::default()),
        })
    }
}

impl Workload for Seq {
    fn plugin(&self) -> &'static str {
        "seq-classifier"
    }

    fn records(&self) -> &'static [&'static str] {
        &["SeqClassifierRcd"]
    }

    fn compared(&self) -> &'static str {
        "probabilities"
    }

    fn process(
        &self,
        inst: &CInstance,
        key: hepinfer_event_key,
        event: u64,
    ) -> Result<EventOutput, CError> {
        let k = 1 + (event % 8) as usize;
        let first = (event as usize * 13) % (self.y.len() - k);
        let shape = [k as i64, 15, 8];
        let input = [f32_input(
            &self.name,
            &shape,
            &self.x[first * 120..(first + k) * 120],
        )];
        let out = inst.process(key, &input)?;
        let p = out.f32("probabilities")?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (j, row) in p.chunks_exact(3).enumerate() {
            let best = (0..3).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            let label = self.y[first + j];
            let r = seen.per_run.entry(key.run).or_default();
            r.0 += usize::from(best as i64 == label);
            r.1 += 1;
            seen.rows.push(([row[0], row[1], row[2]], label));
        }
        drop(seen);
        Ok(EventOutput::new(p, &out))
    }

    fn results(&self) -> Results {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (correct, total) = seen
            .per_run
            .values()
            .fold((0, 0), |(c, n), r| (c + r.0, n + r.1));
        let (acc, acc_err) = efficiency(correct, total);
        let mut roc_panel = Panel::new(
            "seq-classifier: one class vs the others",
            "class efficiency",
            "rejection of the other classes 1/ε",
        )
        .log_y();
        let mut merits = vec![Merit::new("accuracy", acc, acc_err)];
        for k in 0..3 {
            let (sig, bkg): (Vec<&([f32; 3], i64)>, Vec<_>) =
                seen.rows.iter().partition(|r| r.1 == k as i64);
            let s: Vec<f32> = sig.iter().map(|r| r.0[k]).collect();
            let b: Vec<f32> = bkg.iter().map(|r| r.0[k]).collect();
            let a = auc(&s, &b);
            let (e, r) = roc(&s, &b, 100);
            roc_panel = roc_panel.with(Series::line(format!("class {k} (AUC {a:.4})"), e, r, k));
            merits.push(Merit::new(
                &format!("AUC(class {k} vs rest)"),
                a,
                auc_error(a, s.len(), b.len()),
            ));
        }
        let (mut runs, mut accs, mut errs) = (Vec::new(), Vec::new(), Vec::new());
        for (&run, &(c, n)) in &seen.per_run {
            let (a, e) = efficiency(c, n);
            runs.push(f64::from(run));
            accs.push(a);
            errs.push(e);
        }
        let run_panel = Panel::new("seq-classifier accuracy per run", "run", "accuracy")
            .legend_lower()
            .bounded(0.0, 1.0)
            .with(Series::markers("held-out sequences", runs, accs, errs, 0));
        Results {
            quality: format!("accuracy {acc:.4} on {total} sequences (held-out, 3 classes)"),
            merits,
            figures: vec![
                Figure::single("seq-classifier", "roc", roc_panel),
                Figure::single("seq-classifier", "accuracy_per_run", run_panel),
            ],
            tables: Vec::new(),
            extra: serde_json::Value::Null,
        }
    }
}
