//! Bad configuration, bad plugins and bad input: each is a clear error for that call, and the
//! next call still works.

mod common;

use hepinfer::{Error, Host};
use hepinfer_plugin_api::{EventKey, TensorData, TensorView};

fn host(dir: &std::path::Path) -> Host {
    Host::new(&common::host_config(dir, ""), None, std::ptr::null_mut()).unwrap()
}

fn err_text(r: Result<impl Sized, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_inputs_are_errors_for_that_call_only() {
    let dir = common::plugin_dir(&["seq_classifier"]);
    let host = host(dir.path());
    let inst = host.instance("seq-classifier", "").unwrap();
    let x = vec![0.5f32; 2 * 15 * 8];
    let good = || {
        inst.process(
            EventKey::default(),
            &[TensorView::f32("sequences", &[2, 15, 8], &x)],
        )
    };
    good().unwrap();

    let cases: Vec<(Vec<TensorView<'_>>, &str)> = vec![
        (vec![], "missing input 'sequences'"),
        (
            vec![TensorView::f32("seqs", &[2, 15, 8], &x)],
            "unknown input 'seqs'",
        ),
        (
            vec![TensorView::new(
                "sequences",
                &[2, 15, 8],
                TensorData::F64(vec![0.0f64; 240].leak()[..].into()),
            )],
            "expected dtype f32, got f64",
        ),
        (
            vec![TensorView::f32("sequences", &[30, 8], &x)],
            "expected rank 3",
        ),
        (
            vec![TensorView::f32("sequences", &[2, 16, 8], &x)],
            "dimension 1 must be 15",
        ),
        (
            vec![TensorView::f32("sequences", &[3, 15, 8], &x)],
            "holds 360 elements but 240",
        ),
    ];
    for (inputs, want) in cases {
        let e = err_text(inst.process(EventKey::default(), &inputs));
        assert!(e.contains(want), "expected '{want}' in '{e}'");
        good().unwrap();
    }
    let mut nan = x.clone();
    nan[37] = f32::NAN;
    let e = err_text(inst.process(
        EventKey::default(),
        &[TensorView::f32("sequences", &[2, 15, 8], &nan)],
    ));
    assert!(e.contains("element 37 is NaN"), "{e}");
    good().unwrap();
    let snap = inst.stats().snapshot();
    assert_eq!(snap.failures, 7);
    assert_eq!(snap.calls, 7 + 8);
}

#[test]
fn a_panicking_plugin_fails_the_call_and_the_process_lives() {
    let dir = common::plugin_dir(&["hepinfer_test_faulty"]);
    let host = host(dir.path());
    let inst = host.instance("faulty", "").unwrap();
    let x = [1.0f32, 2.0];
    let off = [0i64, 2];
    let view = TensorView {
        offsets: off[..].into(),
        ..TensorView::f32("x", &[2], &x)
    };
    let call = |event| {
        inst.process(
            EventKey {
                run: 1,
                lumi: 1,
                event,
            },
            &[view],
        )
    };
    let ok = call(1).unwrap();
    assert_eq!(ok.tensors[0].as_f32().unwrap(), &[2.0, 4.0]);
    let e = call(13).unwrap_err();
    assert_eq!(e.status(), hepinfer::error::hepinfer_status::HEPINFER_PANIC);
    assert!(e.to_string().contains("deliberate panic in process"), "{e}");
    assert_eq!(call(2).unwrap().tensors[0].as_f32().unwrap(), &[2.0, 4.0]);
    let e = call(14).unwrap_err();
    assert_eq!(
        e.status(),
        hepinfer::error::hepinfer_status::HEPINFER_INVALID_INPUT
    );
    let e = call(15).unwrap_err();
    assert!(e.to_string().contains("shape [3] but 2 elements"), "{e}");
    let e = call(16).unwrap_err();
    assert!(
        e.to_string().contains("undeclared model 'undeclared'"),
        "{e}"
    );
    call(3).unwrap();
    // A panic in create is an error too.
    let e = err_text(host.instance("faulty", r#"{"panic":true}"#));
    assert!(e.contains("panicked in create"), "{e}");
}

#[test]
fn bad_configuration_and_unknown_plugins() {
    let dir = common::plugin_dir(&["seq_classifier"]);
    let e = err_text(Host::new("{not json", None, std::ptr::null_mut()));
    assert!(e.contains("invalid configuration"), "{e}");
    let e = err_text(Host::new(
        r#"{"plugin_dirs": ["/no/such/dir"]}"#,
        None,
        std::ptr::null_mut(),
    ));
    assert!(
        e.contains("'/no/such/dir'") && e.contains("does not exist"),
        "{e}"
    );
    let host = host(dir.path());
    let e = err_text(host.instance("no-such-plugin", ""));
    assert!(
        e.contains("unknown plugin 'no-such-plugin'") && e.contains("seq-classifier"),
        "{e}"
    );
    let e = err_text(host.instance("seq-classifier", r#"{"argmax": "yes"}"#));
    assert!(e.contains("seq-classifier config"), "{e}");
    let e = err_text(host.instance("seq-classifier", r#"{"model_labels": {"nope": "v2"}}"#));
    assert!(e.contains("has no model 'nope'"), "{e}");
    // A model that is not configured is an error at the first call that needs it, naming it.
    let bare = Host::new(
        &format!(r#"{{"plugin_dirs": [{:?}]}}"#, dir.path()),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = bare.instance("seq-classifier", "").unwrap();
    let x = vec![0.5f32; 120];
    let e = err_text(inst.process(
        EventKey::default(),
        &[TensorView::f32("sequences", &[1, 15, 8], &x)],
    ));
    assert!(
        e.contains("no model configured for record 'SeqClassifierRcd'"),
        "{e}"
    );
}

#[test]
fn files_that_are_not_plugins_are_refused_by_name() {
    // Not a shared library at all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libbroken.so"), b"not an ELF file").unwrap();
    let e = err_text(Host::new(
        &common::host_config(dir.path(), ""),
        None,
        std::ptr::null_mut(),
    ));
    assert!(
        e.contains("libbroken.so") && e.contains("cannot be opened"),
        "{e}"
    );

    // A plugin built against an incompatible interface layout.
    let dir = common::plugin_dir(&["hepinfer_test_abi_mismatch"]);
    let e = err_text(Host::new(
        &common::host_config(dir.path(), ""),
        None,
        std::ptr::null_mut(),
    ));
    assert!(
        e.contains("libhepinfer_test_abi_mismatch.so")
            && e.contains("incompatible plugin ABI layout")
            && e.lines().count() == 1
            && e.len() < 600,
        "{e}"
    );

    // Two plugins with one name: both paths are named.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let lib = common::plugin_lib("hepinfer_test_faulty");
    std::fs::copy(&lib, a.path().join("libfaulty_a.so")).unwrap();
    std::fs::copy(&lib, b.path().join("libfaulty_b.so")).unwrap();
    let cfg = format!(r#"{{"plugin_dirs": [{:?}, {:?}]}}"#, a.path(), b.path());
    let e = err_text(Host::new(&cfg, None, std::ptr::null_mut()));
    assert!(
        e.contains("two plugins are named 'faulty'")
            && e.contains("libfaulty_a.so")
            && e.contains("libfaulty_b.so"),
        "{e}"
    );
}

#[test]
fn wrong_onnxruntime_library_is_refused_with_a_fix() {
    // The process already has its ONNX Runtime (other tests in this binary may have created it);
    // asking for a different one is refused, and so is a missing file.
    let dir = common::plugin_dir(&["seq_classifier"]);
    let _ok = Host::new(
        &common::host_config(dir.path(), ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let extra = r#", "onnxruntime": "/no/such/libonnxruntime.so""#;
    let e = err_text(Host::new(
        &common::host_config(dir.path(), extra),
        None,
        std::ptr::null_mut(),
    ));
    assert!(e.contains("/no/such/libonnxruntime.so"), "{e}");
}
