//! The kernel on the shipped b-tag models: which graphs it takes, that a row's answer does not
//! depend on its batch or its padding, agreement with a plain f64 reference written from the ONNX
//! operator definitions, and clear errors for bad inputs and corrupted files.
//!
//! (Agreement with ONNX Runtime itself is checked by the host, which loads both:
//! `host/tests/native_kernel.rs`, and at every load.)

use hepinfer_lstm::{proto, Error, Kernel, LstmClassifier};
use std::path::PathBuf;

fn model_file(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn btag() -> Vec<u8> {
    model_file("plugins/btag-rnn/model/model.onnx")
}

/// Deterministic inputs in [-3, 3): `rows` rows of `steps` steps of `f` features.
fn inputs(rows: usize, steps: usize, f: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..rows * steps * f)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 6.0 - 3.0
        })
        .collect()
}

#[test]
fn reads_both_btag_models_and_refuses_other_graphs() {
    let v1 = LstmClassifier::from_onnx(&btag()).unwrap();
    assert_eq!((v1.features(), v1.hidden(), v1.classes()), (6, 64, 3));
    assert_eq!(
        (v1.sequences_input(), v1.lengths_input(), v1.output()),
        ("tracks", "n_tracks", "probs")
    );
    // 4·64·(6+64) multiply-adds per step, plus the 64→32→3 head.
    assert_eq!(v1.flops(1), 2 * (256 * 70 + 64 * 32 + 32 * 3));
    let v2 =
        LstmClassifier::from_onnx(&model_file("plugins/btag-rnn/model/model_v2.onnx")).unwrap();
    assert_eq!(v2.hidden(), 48);
    // torch.onnx.export's form of a similar model (an If, GatherElements...), a CNN, a GNN.
    for other in [
        "plugins/seq-classifier/model/model.onnx",
        "plugins/jet-cnn/model/model.onnx",
        "plugins/track-gnn/model/track_gnn.onnx",
    ] {
        match LstmClassifier::from_onnx(&model_file(other)) {
            Err(Error::Unsupported(m)) => assert!(!m.is_empty()),
            r => panic!("{other}: expected Unsupported, got {r:?}"),
        }
    }
}

#[test]
fn a_rows_answer_does_not_depend_on_its_batch_or_its_padding() {
    let m = LstmClassifier::from_onnx(&btag()).unwrap();
    for kernel in [Kernel::Avx512, Kernel::Fma, Kernel::Portable] {
        let m = m.clone().with_kernel(kernel);
        let (rows, steps) = (37usize, 15usize);
        let x = inputs(rows, steps, 6, 11);
        let lens: Vec<i64> = (0..rows as i64).map(|r| (r * 7) % 17 - 1).collect(); // -1..=15
        let all = m.run(&x, [rows, steps, 6], &lens).unwrap();
        for r in 0..rows {
            let n = lens[r].clamp(1, 15) as usize;
            // Alone, fed exactly its real steps: the same bits.
            let alone = m
                .run(
                    &x[r * steps * 6..(r * steps + n) * 6],
                    [1, n, 6],
                    &lens[r..r + 1],
                )
                .unwrap();
            assert_eq!(
                alone,
                all[3 * r..3 * r + 3],
                "{kernel:?} row {r} (length {n})"
            );
            let s: f32 = alone.iter().sum();
            assert!((s - 1.0).abs() < 1e-6, "softmax sums to {s}");
        }
        // Garbage in the padding changes nothing.
        let mut y = x.clone();
        for r in 0..rows {
            let n = lens[r].clamp(1, 15) as usize;
            y[(r * steps + n) * 6..(r + 1) * steps * 6].fill(1e6);
        }
        assert_eq!(
            m.run(&y, [rows, steps, 6], &lens).unwrap(),
            all,
            "{kernel:?}"
        );
    }
}

/// The ONNX LSTM (gate order i, o, f, c; `Max(n, 1)` steps) and the dense head, in f64, written
/// from the operator definitions with the weights read straight from the file.
fn reference(bytes: &[u8], x: &[f32], steps: usize, lens: &[i64]) -> Vec<f64> {
    let g = proto::read_model(bytes).unwrap();
    let t = |n: &str| {
        g.initializers
            .iter()
            .find(|t| t.name == n)
            .unwrap()
            .f32_values()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect::<Vec<f64>>()
    };
    let (w, r, b) = (t("W"), t("R"), t("B"));
    let (h_n, f_n) = (64usize, 6usize);
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let mut out = Vec::new();
    for (row, &n) in lens.iter().enumerate() {
        let (mut h, mut c) = (vec![0.0f64; h_n], vec![0.0f64; h_n]);
        for s in 0..n.max(1) as usize {
            let xt = &x[(row * steps + s) * f_n..(row * steps + s + 1) * f_n];
            let gate = |u: usize| {
                let mut a = b[u] + b[4 * h_n + u];
                for k in 0..f_n {
                    a += w[u * f_n + k] * f64::from(xt[k]);
                }
                for k in 0..h_n {
                    a += r[u * h_n + k] * h[k];
                }
                a
            };
            let pre: Vec<f64> = (0..4 * h_n).map(gate).collect();
            for u in 0..h_n {
                let (i, o, f, cc) = (
                    sig(pre[u]),
                    sig(pre[h_n + u]),
                    sig(pre[2 * h_n + u]),
                    pre[3 * h_n + u].tanh(),
                );
                c[u] = f * c[u] + i * cc;
                h[u] = o * c[u].tanh();
            }
        }
        let dense = |a: &[f64], w: &[f64], b: &[f64], relu: bool| -> Vec<f64> {
            (0..b.len())
                .map(|o| {
                    let z = b[o] + (0..a.len()).map(|k| w[o * a.len() + k] * a[k]).sum::<f64>();
                    if relu {
                        z.max(0.0)
                    } else {
                        z
                    }
                })
                .collect()
        };
        let z = dense(
            &dense(&h, &t("fc1_w"), &t("fc1_b"), true),
            &t("fc2_w"),
            &t("fc2_b"),
            false,
        );
        let top = z.iter().copied().fold(f64::MIN, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
        let sum: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| v / sum));
    }
    out
}

#[test]
fn agrees_with_an_f64_reference_of_the_onnx_operators() {
    let bytes = btag();
    let m = LstmClassifier::from_onnx(&bytes).unwrap();
    let (rows, steps) = (32usize, 15usize);
    let x = inputs(rows, steps, 6, 3);
    let lens: Vec<i64> = (0..rows as i64).map(|r| r % 16).collect();
    let want = reference(&bytes, &x, steps, &lens);
    for kernel in [Kernel::Avx512, Kernel::Fma, Kernel::Portable] {
        let got = m
            .clone()
            .with_kernel(kernel)
            .run(&x, [rows, steps, 6], &lens)
            .unwrap();
        let d = got
            .iter()
            .zip(&want)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(
            d < 2e-6,
            "{kernel:?}: max |diff| to the f64 reference {d:e}"
        );
    }
}

#[test]
fn bad_inputs_are_errors_naming_the_input() {
    let m = LstmClassifier::from_onnx(&btag()).unwrap();
    let x = inputs(2, 4, 6, 1);
    let e = m.run(&x, [2, 4, 6], &[3, 5]).unwrap_err();
    assert!(
        matches!(&e, Error::Input(s) if s.contains("n_tracks") && s.contains("row 1")),
        "{e}"
    );
    let e = m.run(&x[..40], [2, 4, 5], &[1, 1]).unwrap_err();
    assert!(e.to_string().contains("5 features"), "{e}");
    let e = m.run(&x, [2, 4, 6], &[1]).unwrap_err();
    assert!(e.to_string().contains("1 lengths"), "{e}");
    let e = m.run(&[], [1, 0, 6], &[0]).unwrap_err();
    assert!(e.to_string().contains("more than the 0 steps"), "{e}");
    assert!(m.run(&[], [0, 15, 6], &[]).unwrap().is_empty());
    // NaN in, NaN out (never a plausible number).
    let mut y = x.clone();
    y[0] = f32::NAN;
    let p = m.run(&y, [2, 4, 6], &[1, 1]).unwrap();
    assert!(p[..3].iter().all(|v| v.is_nan()) && p[3..].iter().all(|v| v.is_finite()));
}

#[test]
fn corrupted_files_are_errors_not_panics() {
    let bytes = btag();
    // Truncations and single-byte corruptions across the file: an error or (where the damage
    // hits a field not read) a model, never a panic.
    let mut cuts = 0;
    for cut in (0..bytes.len()).step_by(7) {
        cuts += usize::from(LstmClassifier::from_onnx(&bytes[..cut]).is_err());
    }
    assert!(
        cuts > bytes.len() / 7 / 2,
        "only {cuts} truncations refused"
    );
    let mut flips = 0;
    for at in (0..bytes.len()).step_by(13) {
        let mut b = bytes.clone();
        b[at] ^= 0xa5;
        if LstmClassifier::from_onnx(&b).is_err() {
            flips += 1;
        }
    }
    assert!(flips > 0);
    assert!(matches!(
        LstmClassifier::from_onnx(b"not onnx"),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn the_avx512_and_avx2_kernels_give_the_same_bits() {
    // Same operations per element in the same order, wider registers: identical results, so a
    // job's numbers do not depend on which of the two a grid node runs.
    let m = LstmClassifier::from_onnx(&btag()).unwrap();
    if Kernel::detect() != Kernel::Avx512 {
        eprintln!("!!! this CPU has no AVX-512: the AVX-512 kernel is NOT compared here");
        assert_eq!(
            m.clone().with_kernel(Kernel::Avx512).kernel(),
            Kernel::detect()
        );
        return;
    }
    for rows in [1usize, 3, 7, 64] {
        let x = inputs(rows, 15, 6, rows as u64);
        let lens: Vec<i64> = (0..rows as i64).map(|r| (r * 5) % 16).collect();
        let run = |k: Kernel| {
            m.clone()
                .with_kernel(k)
                .run(&x, [rows, 15, 6], &lens)
                .unwrap()
        };
        let (a, b) = (run(Kernel::Avx512), run(Kernel::Fma));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{rows} rows");
    }
}
