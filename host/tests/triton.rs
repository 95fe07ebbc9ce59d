//! The `kserve` backend against a real Triton server serving the project's own ONNX models
//! (btag-rnn, jet-cnn) through its Python backend and onnxruntime: same physics as the local
//! ONNX Runtime on the golden events, many threads without mixed results, dynamic batching seen
//! in the server's statistics, model identity verified. Needs `scripts/setup-triton.sh`.

mod triton_common;

use hepinfer::error::hepinfer_status;
use hepinfer_plugin_api::{EventKey, TensorView};
use std::time::Duration;
use triton_common::*;

/// The shared server: btag-rnn and jet-cnn, and btag-rnn again under names only the threaded
/// and the batching tests use, so that their statistics count their own requests alone.
fn server() -> std::sync::Arc<(tempfile::TempDir, Triton)> {
    let (b, j) = (onnx("btag-rnn"), onnx("jet-cnn"));
    shared(&[
        ("btag-rnn", &b),
        ("jet-cnn", &j),
        ("btag-rnn-threads", &b),
        ("btag-rnn-batched", &b),
    ])
}

/// Two hosts on the same plugins: btag-rnn on local ONNX Runtime, and btag-rnn served by the
/// shared Triton under `model` (its own statistics). Keep the returned server and files alive.
fn local_and_remote_btag(
    model: &str,
) -> (
    std::sync::Arc<(tempfile::TempDir, Triton)>,
    [tempfile::TempDir; 2],
    hepinfer::Host,
    hepinfer::Host,
) {
    let t = server();
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("btag.kserve");
    let sha = sha256_file(&onnx("btag-rnn"));
    std::fs::write(&b, payload(&[t.1.url()], model, &sha, 10_000, 2, None)).unwrap();
    let local = host(
        plugins.path(),
        serde_json::json!({"BTagRnnRcd": onnx("btag-rnn")}),
    );
    let remote = host(plugins.path(), serde_json::json!({"BTagRnnRcd": b}));
    (t, [plugins, dir], local, remote)
}

/// Writes the kserve payloads for both models served by `url` into `dir`; returns their paths.
fn payload_files(dir: &std::path::Path, url: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let b = dir.join("btag.kserve");
    let j = dir.join("jet.kserve");
    let servers = [url.to_string()];
    std::fs::write(
        &b,
        payload(
            &servers,
            "btag-rnn",
            &sha256_file(&onnx("btag-rnn")),
            10_000,
            2,
            None,
        ),
    )
    .unwrap();
    std::fs::write(
        &j,
        payload(
            &servers,
            "jet-cnn",
            &sha256_file(&onnx("jet-cnn")),
            10_000,
            2,
            None,
        ),
    )
    .unwrap();
    (b, j)
}

#[test]
fn btag_and_jet_cnn_through_triton_equal_local_onnxruntime_on_the_golden_events() {
    let t = server();
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    let (b, j) = payload_files(dir.path(), &t.1.url());
    let local = host(
        plugins.path(),
        serde_json::json!({"BTagRnnRcd": onnx("btag-rnn"), "JetCnnRcd": onnx("jet-cnn")}),
    );
    let remote = host(
        plugins.path(),
        serde_json::json!({"BTagRnnRcd": b, "JetCnnRcd": j}),
    );

    // b-tagging: 50 golden jets in one call, and one jet per call (batch 1).
    let all = btag_inputs();
    let (lb, rb) = (
        local.instance("btag-rnn", "{}").unwrap(),
        remote.instance("btag-rnn", "{}").unwrap(),
    );
    let whole = btag_subset(&all, 0..50);
    let args = (&whole.0[..], &whole.1[..], &whole.2[..]);
    let (pl, _) = run_btag(&lb, 1, args).unwrap();
    let (pr, prov) = run_btag(&rb, 1, args).unwrap();
    let d = max_abs_diff(&pl, &pr);
    eprintln!("btag-rnn probabilities, Triton vs local ONNX Runtime: max |diff| = {d:e}");
    assert!(d <= 1e-5, "btag-rnn Triton vs local: max |diff| = {d}");
    let d = max_abs_diff(&pr, &all.3);
    assert!(d <= 1e-5, "btag-rnn Triton vs Python: max |diff| = {d}");
    for i in [0usize, 7, 49] {
        let one = btag_subset(&all, i..i + 1);
        let (p1, _) = run_btag(&rb, 2, (&one.0, &one.1, &one.2)).unwrap();
        assert!(max_abs_diff(&p1, &pl[3 * i..3 * i + 3]) <= 1e-5, "jet {i}");
    }
    // Provenance: the payload, and what served it — server, model, version, verified hash.
    let served = prov[0].served_by.as_deref().expect("remote provenance");
    assert_eq!(prov[0].record, "BTagRnnRcd");
    assert_eq!(
        prov[0].hash,
        hepinfer::models::payload_hash(&std::fs::read(dir.path().join("btag.kserve")).unwrap())
    );
    for want in [
        t.1.url(),
        "'btag-rnn'".to_string(),
        "version '1'".to_string(),
        sha256_file(&onnx("btag-rnn")),
    ] {
        assert!(served.contains(&want), "{served} lacks {want}");
    }

    // W tagging.
    let (c, offsets, p_py) = jet_inputs();
    let run = |inst: &hepinfer::Instance| {
        let shape = [(c.len() / 3) as i64, 3];
        let mut v = TensorView::f32("constituents", &shape, &c);
        v.offsets = offsets.as_slice().into();
        let out = inst.process(EventKey::default(), &[v]).unwrap();
        out.tensors
            .iter()
            .find(|t| t.name.as_str() == "p_w")
            .and_then(|t| t.as_f32())
            .unwrap()
            .to_vec()
    };
    let (wl, wr) = (
        run(&local.instance("jet-cnn", "{}").unwrap()),
        run(&remote.instance("jet-cnn", "{}").unwrap()),
    );
    assert_eq!(wr.len(), 50);
    let d = max_abs_diff(&wl, &wr);
    eprintln!("jet-cnn p_w, Triton vs local ONNX Runtime: max |diff| = {d:e}");
    assert!(d <= 1e-5, "jet-cnn Triton vs local: max |diff| = {d}");
    assert!(max_abs_diff(&wr, &p_py) <= 1e-5, "jet-cnn Triton vs Python");
}

#[test]
fn eight_threads_share_one_server_without_mixing_results_and_the_server_batches_them() {
    let (t, _files, local, remote) = local_and_remote_btag("btag-rnn-threads");
    let (li, ri) = (
        local.instance("btag-rnn", "{}").unwrap(),
        remote.instance("btag-rnn", "{}").unwrap(),
    );
    // Every (thread, call) sends its own slice of jets, of its own size: a result handed to the
    // wrong caller has the wrong values or the wrong length.
    let all = btag_inputs();
    let case = |t: usize, i: usize| {
        let start = (7 * t + 3 * i) % 45;
        let n = 1 + (t + i) % 5;
        btag_subset(&all, start..start + n)
    };
    let want: Vec<Vec<Vec<f32>>> = (0..8)
        .map(|t| {
            (0..60)
                .map(|i| {
                    let c = case(t, i);
                    run_btag(&li, 1, (&c.0, &c.1, &c.2)).unwrap().0
                })
                .collect()
        })
        .collect();
    let (req0, exe0) = hepinfer::runtime::kserve::model_statistics(
        &t.1.url(),
        "btag-rnn-threads",
        Duration::from_secs(5),
    )
    .unwrap();
    std::thread::scope(|s| {
        for th in 0..8 {
            let (ri, want, case) = (&ri, &want, &case);
            s.spawn(move || {
                for (i, want) in want[th].iter().enumerate() {
                    let c = case(th, i);
                    let (got, _) = run_btag(ri, 1, (&c.0, &c.1, &c.2)).unwrap();
                    assert_eq!(got.len(), want.len(), "thread {th} call {i}: length");
                    let d = max_abs_diff(&got, want);
                    assert!(d <= 1e-5, "thread {th} call {i}: max |diff| {d}");
                }
            });
        }
    });
    let (req1, exe1) = hepinfer::runtime::kserve::model_statistics(
        &t.1.url(),
        "btag-rnn-threads",
        Duration::from_secs(5),
    )
    .unwrap();
    let (requests, executions) = (req1 - req0, exe1 - exe0);
    eprintln!(
        "Triton dynamic batcher: {requests} requests in {executions} executions ({:.2} per execution)",
        requests as f64 / executions.max(1) as f64
    );
    // btag-rnn runs one model call per group of jets with the same track count, so an event
    // makes one or more model calls: each must reach the server exactly once.
    let m = ri.current_model("rnn", EventKey::default()).unwrap();
    let st = m.model.remote_stats().expect("remote model");
    assert!(st.remote_calls >= 8 * 60, "{st:?}");
    assert_eq!(
        requests, st.remote_calls,
        "every model call reached the server once"
    );
    assert!(
        executions < requests,
        "no dynamic batching seen: {requests} requests, {executions} executions"
    );
    assert_eq!((st.fallback_calls, st.failed_calls), (0, 0), "{st:?}");
}

#[test]
fn a_server_serving_another_model_file_is_refused_naming_both_hashes() {
    let t = server();
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    // The payload expects the seq-classifier's model file; the server declares btag-rnn's.
    let expected = sha256_file(&repo().join("plugins/seq-classifier/model/model.onnx"));
    let served = sha256_file(&onnx("btag-rnn"));
    let f = dir.path().join("wrong.kserve");
    std::fs::write(
        &f,
        payload(&[t.1.url()], "btag-rnn", &expected, 5000, 0, None),
    )
    .unwrap();
    let h = host(plugins.path(), serde_json::json!({"BTagRnnRcd": f}));
    let inst = h.instance("btag-rnn", "{}").unwrap();
    let e = inst
        .prefetch(EventKey::default())
        .expect_err("a wrong model must be refused");
    assert_eq!(e.status(), hepinfer_status::HEPINFER_MODEL, "{e}");
    let m = e.to_string();
    assert!(m.contains(&expected) && m.contains(&served), "{m}");
    // And an event call fails the same clear way, with nothing handed to the plugin.
    let all = btag_inputs();
    let one = btag_subset(&all, 0..1);
    let e = run_btag(&inst, 1, (&one.0, &one.1, &one.2)).unwrap_err();
    assert!(e.to_string().contains(&served), "{e}");
}

#[test]
fn cross_event_batching_merges_asynchronous_calls_into_fewer_remote_calls() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let (t, _files, local, remote) = local_and_remote_btag("btag-rnn-batched");
    let li = local.instance("btag-rnn", "{}").unwrap();
    // The same batcher as for local models: the plugin's prepare stage, merged model calls.
    let ri = remote
        .instance(
            "btag-rnn",
            r#"{"batching": {"max_items": 32, "max_delay_us": 2000}}"#,
        )
        .unwrap();
    assert!(ri.batching().1.is_some(), "btag-rnn batches its model");

    // 2 framework threads × 100 events of one or two jets each, submitted without waiting.
    let all = btag_inputs();
    let case =
        |t: usize, i: usize| btag_subset(&all, (t * 7 + i) % 48..(t * 7 + i) % 48 + 1 + i % 2);
    let key = |t: usize, i: usize| EventKey {
        run: 1,
        lumi: 1,
        event: (t * 1000 + i) as u64,
    };
    let (req0, _) = hepinfer::runtime::kserve::model_statistics(
        &t.1.url(),
        "btag-rnn-batched",
        Duration::from_secs(5),
    )
    .unwrap();
    let got: Arc<Mutex<HashMap<u64, Vec<f32>>>> = Arc::default();
    std::thread::scope(|s| {
        for th in 0..2 {
            let (ri, got, case) = (&ri, &got, &case);
            s.spawn(move || {
                for i in 0..100 {
                    let (jets, tracks, offsets) = case(th, i);
                    let js = [(jets.len() / 3) as i64, 3];
                    let ts = [(tracks.len() / 7) as i64, 7];
                    let mut tv = TensorView::f32("tracks", &ts, &tracks);
                    tv.offsets = offsets.as_slice().into();
                    let got = got.clone();
                    let event = key(th, i).event;
                    ri.submit(
                        key(th, i),
                        &[TensorView::f32("jets", &js, &jets), tv],
                        Box::new(move |r| {
                            let p = probabilities(&r.expect("batched remote call"));
                            got.lock().unwrap().insert(event, p);
                        }),
                    )
                    .unwrap();
                }
            });
        }
    });
    ri.flush();
    // A batch the flusher thread took before `flush` may still be on the wire.
    let t0 = std::time::Instant::now();
    while got.lock().unwrap().len() < 200 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 200, "every submitted event completed once");
    for th in 0..2 {
        for i in 0..100 {
            let c = case(th, i);
            let want = run_btag(&li, 1, (&c.0, &c.1, &c.2)).unwrap().0;
            let p = &got[&key(th, i).event];
            assert_eq!(p.len(), want.len(), "event {th}/{i}: its own rows");
            let d = max_abs_diff(p, &want);
            assert!(d <= 1e-5, "event {th}/{i}: max |diff| {d} vs local");
        }
    }
    let (_, counters) = ri.batching();
    let c = counters.expect("batching counters");
    let (req1, _) = hepinfer::runtime::kserve::model_statistics(
        &t.1.url(),
        "btag-rnn-batched",
        Duration::from_secs(5),
    )
    .unwrap();
    eprintln!(
        "remote batching: {} events in {} model calls ({:.1} items per call), {} server requests",
        c.requests,
        c.model_calls,
        c.items as f64 / c.model_calls.max(1) as f64,
        req1 - req0
    );
    assert_eq!(c.requests, 200);
    assert!(c.model_calls < 100, "events were merged: {c:?}");
    assert_eq!(
        req1 - req0,
        c.model_calls,
        "each merged call reached the server once"
    );
}
