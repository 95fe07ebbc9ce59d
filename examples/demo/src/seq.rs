//! The seq-classifier reference plugin on its golden held-out sequences.

use crate::workload::Workload;
use hepinfer::abi::hepinfer_event_key;
use hepinfer_plugin_testing::cabi::{f32_input, CError, CInstance};
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Classifies 1–8 sequences per event, taken from the model's held-out sample.
pub struct Seq {
    x: Vec<f32>,
    y: Vec<i64>,
    name: CString,
    correct: AtomicU64,
    seen: AtomicU64,
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
            correct: AtomicU64::new(0),
            seen: AtomicU64::new(0),
        })
    }
}

impl Workload for Seq {
    fn plugin(&self) -> &'static str {
        "seq-classifier"
    }

    fn process(&self, inst: &CInstance, key: hepinfer_event_key, event: u64) -> Result<(), CError> {
        let k = 1 + (event % 8) as usize;
        let first = (event as usize * 13) % (self.y.len() - k);
        let shape = [k as i64, 15, 8];
        let input = [f32_input(
            &self.name,
            &shape,
            &self.x[first * 120..(first + k) * 120],
        )];
        let p = inst.process(key, &input)?.f32("probabilities")?;
        for (j, row) in p.chunks(3).enumerate() {
            let best = (0..3).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            if best as i64 == self.y[first + j] {
                self.correct.fetch_add(1, Ordering::Relaxed);
            }
            self.seen.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn quality(&self) -> String {
        let seen = self.seen.load(Ordering::Relaxed);
        format!(
            "accuracy {:.4} on {seen} sequences (held-out, 3 classes)",
            self.correct.load(Ordering::Relaxed) as f64 / seen.max(1) as f64
        )
    }
}
