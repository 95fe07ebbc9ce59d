//! The ONNX reader and graph recogniser of the native LSTM kernel (`host/lstm`), which every ONNX
//! payload from a conditions database reaches: any bytes are a model or an error, never a panic,
//! and an accepted model runs a small batch into probabilities (or NaN where its weights make
//! them undefined), one row per sequence.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = hepinfer_lstm::LstmClassifier::from_onnx(data) else {
        return;
    };
    // Keep the run small: a fuzzed hidden size may be large.
    if m.hidden() * m.features() > 1 << 16 {
        return;
    }
    let (rows, steps, f) = (3usize, 4usize, m.features());
    let x: Vec<f32> = (0..rows * steps * f)
        .map(|i| (i % 7) as f32 * 0.3 - 1.0)
        .collect();
    let p = m
        .run(&x, [rows, steps, f], &[0, 2, 4])
        .expect("valid inputs");
    assert_eq!(p.len(), rows * m.classes());
    for row in p.chunks(m.classes()) {
        let s: f32 = row.iter().sum();
        assert!(
            s.is_nan() || (s - 1.0).abs() < 1e-3,
            "softmax row sums to {s}"
        );
    }
    assert!(m.run(&x, [rows, steps, f], &[0, 2, 5]).is_err());
});
