//! Faults of a remote model, with real Triton servers killed and restarted mid-job: the local
//! fallback takes over (logged once, counted), without one each call fails clearly within its
//! deadline while the job goes on, a restarted server is used again, a second server takes over
//! from a dead first one. Needs `scripts/setup-triton.sh`.

mod triton_common;

use hepinfer::error::hepinfer_status;
use hepinfer_plugin_api::EventKey;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use triton_common::*;

static FALLBACK_WARNINGS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_fallback_warnings(_level: u32, msg: *const c_char, _: *mut c_void) {
    let m = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    if m.contains("local fallback") {
        FALLBACK_WARNINGS.fetch_add(1, Ordering::SeqCst);
    }
}

fn host_logging(plugins: &std::path::Path, models: serde_json::Value) -> hepinfer::Host {
    let cfg = serde_json::json!({"plugin_dirs": [plugins], "models": models, "log_level": "warn"});
    hepinfer::Host::new(
        &cfg.to_string(),
        Some(count_fallback_warnings),
        std::ptr::null_mut(),
    )
    .expect("host")
}

fn stats(inst: &hepinfer::Instance) -> hepinfer::runtime::kserve::RemoteStats {
    inst.current_model("rnn", EventKey::default())
        .unwrap()
        .model
        .remote_stats()
        .expect("a remote model")
}

#[test]
fn a_server_killed_mid_job_means_fallback_or_a_clear_error_and_its_restart_is_picked_up() {
    let repo_dir = tempfile::tempdir().unwrap();
    let btag = onnx("btag-rnn");
    model_repository(repo_dir.path(), &[("btag-rnn", &btag)], 500);
    let mut triton = Triton::start(repo_dir.path());
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    let sha = sha256_file(&btag);
    const TIMEOUT_MS: u64 = 1500;
    let with_fb = dir.path().join("fb.kserve");
    let without = dir.path().join("nofb.kserve");
    std::fs::write(
        &with_fb,
        payload(&[triton.url()], "btag-rnn", &sha, TIMEOUT_MS, 2, Some(&sha)),
    )
    .unwrap();
    std::fs::write(
        &without,
        payload(&[triton.url()], "btag-rnn", &sha, TIMEOUT_MS, 2, None),
    )
    .unwrap();
    // The fallback is the local payload of the same network, found by its hash.
    let h_fb = host_logging(
        plugins.path(),
        serde_json::json!({"BTagRnnRcd": with_fb, "BTagRnnRcd/local": btag}),
    );
    let h_no = host(
        plugins.path(),
        serde_json::json!({"BTagRnnRcd": without, "JetCnnRcd": onnx("jet-cnn")}),
    );
    let (fb, no) = (
        h_fb.instance("btag-rnn", "{}").unwrap(),
        h_no.instance("btag-rnn", "{}").unwrap(),
    );
    let local_jets = h_no.instance("jet-cnn", "{}").unwrap();
    let all = btag_inputs();
    let ev = btag_subset(&all, 0..20);
    let args = (&ev.0[..], &ev.1[..], &ev.2[..]);
    let want = &all.3[..60];

    // Server up: both remote.
    assert!(max_abs_diff(&run_btag(&fb, 1, args).unwrap().0, want) <= 1e-5);
    assert!(max_abs_diff(&run_btag(&no, 1, args).unwrap().0, want) <= 1e-5);
    // btag-rnn makes one model call per group of jets of equal track count: k per event.
    let k = stats(&fb).remote_calls;
    assert!(k >= 1);

    triton.kill_hard();

    // With a fallback: same physics from the local model, within the deadline, logged once.
    for i in 0..3 {
        let t = Instant::now();
        let (p, prov) = run_btag(&fb, 2 + i, args).expect("fallback serves the call");
        let took = t.elapsed();
        assert!(max_abs_diff(&p, want) <= 1e-5, "fallback physics");
        // Provenance: the local payload that really ran, not the remote one.
        assert_eq!(prov[0].hash, sha, "fallback call provenance");
        let by = prov[0].served_by.as_deref().unwrap_or_default();
        assert!(by.contains("local fallback"), "{by}");
        assert!(
            took < Duration::from_millis(TIMEOUT_MS + 1000),
            "call {i} took {took:?}, deadline {TIMEOUT_MS} ms"
        );
    }
    let s = stats(&fb);
    assert_eq!(
        (s.remote_calls, s.fallback_calls, s.failed_calls),
        (k, 3 * k, 0),
        "{s:?}"
    );
    assert!(s.retries >= 1, "transient failures are retried: {s:?}");
    assert_eq!(
        FALLBACK_WARNINGS.load(Ordering::SeqCst),
        1,
        "fallback logged once"
    );

    // Without one: a clear HEPINFER_MODEL error for each call, within the deadline.
    for i in 0..2 {
        let t = Instant::now();
        let e = run_btag(&no, 10 + i, args).expect_err("no server, no fallback");
        let took = t.elapsed();
        assert_eq!(e.status(), hepinfer_status::HEPINFER_MODEL, "{e}");
        let m = e.to_string();
        assert!(
            m.contains("no server answered") && m.contains(&triton.url()),
            "{m}"
        );
        assert!(
            took < Duration::from_millis(TIMEOUT_MS + 1000),
            "error after {took:?}, deadline {TIMEOUT_MS} ms"
        );
    }
    // ... while the job's other, local, work goes on.
    let (c, offsets, p_w) = jet_inputs();
    let shape = [(c.len() / 3) as i64, 3];
    let mut v = hepinfer_plugin_api::TensorView::f32("constituents", &shape, &c);
    v.offsets = offsets.as_slice().into();
    let out = local_jets.process(EventKey::default(), &[v]).unwrap();
    let got = out
        .tensors
        .iter()
        .find(|t| t.name.as_str() == "p_w")
        .and_then(|t| t.as_f32())
        .unwrap();
    assert!(max_abs_diff(got, &p_w) <= 1e-5);

    // The server comes back (same ports): both instances use it again, without a new job.
    triton.restart();
    let (p, _) = run_btag(&no, 20, args).expect("the restarted server answers");
    assert!(max_abs_diff(&p, want) <= 1e-5);
    let (_, prov) = run_btag(&fb, 21, args).unwrap();
    assert_ne!(
        prov[0].hash, sha,
        "served remotely again: the kserve payload"
    );
    let by = prov[0].served_by.as_deref().unwrap_or_default();
    assert!(by.contains(&triton.url()), "{by}");
    let s = stats(&fb);
    assert_eq!((s.remote_calls, s.fallback_calls), (2 * k, 3 * k), "{s:?}");
    assert!(
        s.verifications >= 2,
        "the restarted server is verified again: {s:?}"
    );
}

#[test]
fn a_second_server_takes_over_when_the_first_dies() {
    let repo_dir = tempfile::tempdir().unwrap();
    let btag = onnx("btag-rnn");
    model_repository(repo_dir.path(), &[("btag-rnn", &btag)], 500);
    let mut a = Triton::start(repo_dir.path());
    let b = Triton::start(repo_dir.path());
    // First in the list: a port nothing listens on, skipped at load.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("two.kserve");
    let sha = sha256_file(&btag);
    std::fs::write(
        &f,
        payload(
            &[dead.clone(), a.url(), b.url()],
            "btag-rnn",
            &sha,
            3000,
            1,
            None,
        ),
    )
    .unwrap();
    let h = host(plugins.path(), serde_json::json!({"BTagRnnRcd": f}));
    let inst = h.instance("btag-rnn", "{}").unwrap();
    let all = btag_inputs();
    let ev = btag_subset(&all, 10..30);
    let args = (&ev.0[..], &ev.1[..], &ev.2[..]);
    let want = &all.3[30..90];
    for i in 0..5 {
        assert!(max_abs_diff(&run_btag(&inst, i, args).unwrap().0, want) <= 1e-5);
    }
    let s = stats(&inst);
    assert_eq!(
        s.per_server[0].1, 0,
        "the dead server served nothing: {s:?}"
    );
    assert_eq!(
        s.per_server[1].1, s.remote_calls,
        "the first live server served all: {s:?}"
    );
    // btag-rnn makes one model call per group of jets of equal track count: k per event.
    assert!(
        s.remote_calls >= 5 && s.remote_calls.is_multiple_of(5),
        "{s:?}"
    );
    let k = s.remote_calls / 5;
    a.kill_hard();
    for i in 5..10 {
        let (p, prov) = run_btag(&inst, i, args).unwrap();
        assert!(max_abs_diff(&p, want) <= 1e-5);
        // Each call's provenance names the server that answered it.
        let by = prov[0].served_by.as_deref().unwrap_or_default();
        assert!(by.contains(&b.url()), "{by}");
    }
    let s = stats(&inst);
    assert_eq!(
        s.per_server[2].1,
        5 * k,
        "the second server took over: {s:?}"
    );
    assert!(s.failovers >= 1, "{s:?}");
    assert_eq!((s.remote_calls, s.failed_calls), (10 * k, 0), "{s:?}");
    drop(b);
}
