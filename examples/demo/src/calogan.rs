//! The calo-gan plugin: fast simulation of 8 particles per event (e+, γ, π+, E flat in
//! 1-100 GeV); energy response (mean of sum of cells / E) per particle type on this run.

use crate::workload::Workload;
use hepinfer::abi::{hepinfer_dtype, hepinfer_event_key};
use hepinfer_plugin_testing::cabi::{f32_input, CError, CInstance};
use std::sync::Mutex;

/// Particles simulated per event (one batch per call).
pub const PER_EVENT: usize = 8;
const PDG: [i32; 3] = [-11, 22, 211];
const NAMES: [&str; 3] = ["e+", "gamma", "pi+"];
/// Model card GAN response per type (mean of the 10-100 GeV bins of `model/eval.json`).
const CARD: [f64; 3] = [0.9913, 0.9849, 0.5042];

/// SplitMix64 step: the particles of event `event` from its number, deterministically.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Simulates the showers of 8 particles per event.
pub struct CaloGan {
    /// Per type: sum of response, sum of squares, count (E >= 10 GeV, as the card's bins).
    sums: Mutex<[(f64, f64, usize); 3]>,
}

impl CaloGan {
    /// A workload with nothing seen yet.
    pub fn new() -> Self {
        CaloGan {
            sums: Mutex::new([(0.0, 0.0, 0); 3]),
        }
    }
}

impl Workload for CaloGan {
    fn plugin(&self) -> &'static str {
        "calo-gan"
    }

    fn process(&self, inst: &CInstance, key: hepinfer_event_key, event: u64) -> Result<(), CError> {
        let mut st = event ^ 0xca10;
        let kinds: Vec<usize> = (0..PER_EVENT)
            .map(|_| (splitmix(&mut st) % 3) as usize)
            .collect();
        let pdg: Vec<i32> = kinds.iter().map(|&k| PDG[k]).collect();
        let energy: Vec<f32> = (0..PER_EVENT)
            .map(|_| (1.0 + 99.0 * (splitmix(&mut st) >> 11) as f64 / (1u64 << 53) as f64) as f32)
            .collect();
        let angles = vec![0.0f32; PER_EVENT];
        let s = [PER_EVENT as i64];
        let inputs = [
            hepinfer::abi::hepinfer_tensor {
                dtype: hepinfer_dtype::HEPINFER_I32 as u32,
                data: pdg.as_ptr().cast(),
                ..f32_input(c"pdg", &s, &[])
            },
            f32_input(c"energy", &s, &energy),
            f32_input(c"eta", &s, &angles),
            f32_input(c"phi", &s, &angles),
        ];
        let out = inst.process(key, &inputs)?;
        let layers = [out.f32("layer0")?, out.f32("layer1")?, out.f32("layer2")?];
        let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..PER_EVENT {
            if energy[i] < 10.0 {
                continue;
            }
            let total: f64 = layers
                .iter()
                .map(|l| {
                    let per = l.len() / PER_EVENT;
                    l[i * per..(i + 1) * per]
                        .iter()
                        .map(|&c| f64::from(c))
                        .sum::<f64>()
                })
                .sum();
            let r = total / f64::from(energy[i]);
            let e = &mut sums[kinds[i]];
            e.0 += r;
            e.1 += r * r;
            e.2 += 1;
        }
        Ok(())
    }

    fn quality(&self) -> String {
        let sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        let parts: Vec<String> = (0..3)
            .map(|k| {
                let (s, s2, n) = sums[k];
                let n = n.max(1) as f64;
                let mean = s / n;
                let err = ((s2 / n - mean * mean).max(0.0) / n).sqrt();
                format!("{} {mean:.4}±{err:.4} (card {:.4})", NAMES[k], CARD[k])
            })
            .collect();
        format!("response sum/E, 10-100 GeV: {}", parts.join(", "))
    }
}
