//! Asynchronous calls and cross-event batching through the host: 16 threads with thousands of
//! events in flight across run boundaries (a SQLite conditions database serving two btag-rnn
//! payloads), every output compared with the synchronous unbatched reference; bad events failing
//! alone; shutdown with requests in flight; no thread when batching is off; plugins that do not
//! opt in.

mod common;

use hepinfer::{CallOutputs, Host, Instance, Result};
use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType};
use hepinfer_plugin_api::{EventKey, Tensor, TensorData, TensorView};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

/// One framework event for btag-rnn: jets (pT, η, φ) and their tracks.
#[derive(Clone)]
struct Event {
    key: EventKey,
    jets: Vec<f32>,
    tracks: Vec<f32>,
    offsets: Vec<i64>,
}

impl Event {
    fn views(&self) -> ([i64; 2], [i64; 2]) {
        (
            [(self.jets.len() / 3) as i64, 3],
            [(self.tracks.len() / 7) as i64, 7],
        )
    }
}

fn inputs<'a>(e: &'a Event, shapes: &'a ([i64; 2], [i64; 2])) -> [TensorView<'a>; 2] {
    let mut tracks = TensorView::f32("tracks", &shapes.1, &e.tracks);
    tracks.offsets = e.offsets.as_slice().into();
    [TensorView::f32("jets", &shapes.0, &e.jets), tracks]
}

/// `n` events of 1–6 toy-detector jets (a few with none), runs 1..=300 so that every tag
/// interval is crossed, in an order that mixes runs.
fn events(n: usize) -> Vec<Event> {
    let mut gen = toydet::flavour::FlavourGenerator::new(12);
    (0..n)
        .map(|i| {
            let n_jets = if i % 97 == 0 { 0 } else { 1 + (i * 7) % 6 };
            let jets: Vec<_> = (0..n_jets).map(|_| gen.next_jet()).collect();
            let f = toydet::flavour::flatten(&jets);
            let mut e = Event {
                key: EventKey {
                    run: 1 + ((i * 37) % 300) as u32,
                    lumi: 1,
                    event: i as u64,
                },
                jets: Vec::new(),
                tracks: Vec::new(),
                offsets: f.offsets.clone(),
            };
            for j in 0..n_jets {
                e.jets.extend([f.jet_pt[j], f.jet_eta[j], f.jet_phi[j]]);
            }
            for t in 0..f.trk_pt.len() {
                e.tracks.extend([
                    f.trk_pt[t],
                    f.trk_eta[t],
                    f.trk_phi[t],
                    f.trk_d0[t],
                    f.trk_z0[t],
                    f.trk_sigma_d0[t],
                    f.trk_sigma_z0[t],
                ]);
            }
            e
        })
        .collect()
}

/// Walks an ONNX ModelProto (protobuf) and adds `delta` to every float of the first float
/// initializer of exactly `n_floats` values stored as raw_data, in place (lengths unchanged):
/// a second payload with the same signature and different answers.
fn perturb_initializer(model: &mut [u8], n_floats: usize, delta: f32) -> bool {
    fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    /// (field, wire type, start, end) of each field of the message in `b[start..end]`.
    fn fields(b: &[u8], start: usize, end: usize) -> Vec<(u64, u64, usize, usize)> {
        let mut out = Vec::new();
        let mut i = start;
        while i < end {
            let Some(tag) = varint(b, &mut i) else { break };
            let (field, wire) = (tag >> 3, tag & 7);
            let s = i;
            match wire {
                0 => {
                    varint(b, &mut i);
                }
                1 => i += 8,
                5 => i += 4,
                2 => {
                    let Some(len) = varint(b, &mut i) else { break };
                    out.push((field, wire, i, i + len as usize));
                    i += len as usize;
                    continue;
                }
                _ => break,
            }
            out.push((field, wire, s, i));
        }
        out
    }
    let n = model.len();
    // ModelProto.graph = 7; GraphProto.initializer = 5; TensorProto.data_type = 2 (1 = float),
    // raw_data = 9.
    for (f, _, gs, ge) in fields(model, 0, n) {
        if f != 7 {
            continue;
        }
        for (f, w, ts, te) in fields(model, gs, ge) {
            if f != 5 || w != 2 {
                continue;
            }
            let tf = fields(model, ts, te);
            let is_float = tf.iter().any(|&(f, w, s, _)| {
                f == 2 && w == 0 && {
                    let mut i = s;
                    varint(model, &mut i) == Some(1)
                }
            });
            if let Some(&(_, _, rs, re)) = tf.iter().find(|&&(f, w, _, _)| f == 9 && w == 2) {
                if is_float && re - rs == 4 * n_floats {
                    for c in model[rs..re].chunks_exact_mut(4) {
                        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) + delta;
                        c.copy_from_slice(&v.to_le_bytes());
                    }
                    return true;
                }
            }
        }
    }
    false
}

/// A SQLite conditions database whose tag serves btag-rnn payload v1 for runs [1, 100), v2 for
/// [100, 200) and v1 again from 200. Returns (dir, url, hash v1, hash v2).
fn conditions() -> (tempfile::TempDir, String, String, String) {
    let m1 = std::fs::read(common::repo().join("plugins/btag-rnn/model/model.onnx")).unwrap();
    let mut m2 = m1.clone();
    assert!(
        perturb_initializer(&mut m2, 3, 0.75),
        "no 3-float initializer (the output layer's bias) in btag-rnn's model.onnx"
    );
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", d.path().join("cond.db").display());
    let db = ConditionsDb::init(&url, &ConnectOptions::default()).unwrap();
    let h1 = db.insert_payload("onnx", &m1, None).unwrap();
    let h2 = db.insert_payload("onnx", &m2, None).unwrap();
    db.create_tag(
        "BTag",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "test",
        None,
    )
    .unwrap();
    db.append_iov("BTag", IovKey::new(1, 0), &h1, None).unwrap();
    db.append_iov("BTag", IovKey::new(100, 0), &h2, None)
        .unwrap();
    db.append_iov("BTag", IovKey::new(200, 0), &h1, None)
        .unwrap();
    db.create_global_tag("GT", "test", "0.1", None, None)
        .unwrap();
    db.map("GT", "BTagRnnRcd", "", "BTag", None).unwrap();
    // seq-classifier (a plugin that does not opt in to batching) needs its record mapped: an
    // instance whose model the global tag does not map is refused at creation.
    let seq = std::fs::read(common::seq_model()).unwrap();
    let hs = db.insert_payload("onnx", &seq, None).unwrap();
    db.create_tag(
        "Seq",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "test",
        None,
    )
    .unwrap();
    db.append_iov("Seq", IovKey::new(1, 0), &hs, None).unwrap();
    db.map("GT", "SeqClassifierRcd", "", "Seq", None).unwrap();
    (d, url, h1, h2)
}

fn host(dir: &Path, url: &str, extra: &str) -> Host {
    let cfg = format!(
        r#"{{"plugin_dirs": [{:?}], "conddb": {url:?}, "global_tag": "GT", "log_level": "warn"{extra}}}"#,
        dir.display().to_string()
    );
    Host::new(&cfg, None, std::ptr::null_mut()).unwrap()
}

fn hash_for(run: u32, h1: &str, h2: &str) -> String {
    if (100..200).contains(&run) { h2 } else { h1 }.to_string()
}

fn bits(t: &Tensor) -> Vec<u64> {
    match t.data.view() {
        TensorData::F32(s) => s.iter().map(|x| u64::from(x.to_bits())).collect(),
        TensorData::I64(s) => s.iter().map(|&x| x as u64).collect(),
        other => panic!("unexpected dtype {}", other.dtype()),
    }
}

/// Waits for a number of completions.
struct Results {
    done: Mutex<HashMap<u64, Result<CallOutputs>>>,
    cv: Condvar,
    // The test's own thread, which submits in some tests.
    main: Option<String>,
}

impl Default for Results {
    fn default() -> Self {
        Results {
            done: Default::default(),
            cv: Condvar::new(),
            main: std::thread::current().name().map(str::to_string),
        }
    }
}

impl Results {
    fn completion(self: &Arc<Self>, id: u64) -> hepinfer::instance::Completion {
        let me = self.clone();
        Box::new(move |r| {
            let thread = std::thread::current();
            // Documented: framework threads or the host's flusher, nothing else.
            assert!(
                thread.name().is_none_or(|n| n == "hepinfer-batch"
                    || n.starts_with("sub")
                    || Some(n) == me.main.as_deref()),
                "completion on unexpected thread {:?}",
                thread.name()
            );
            let prev = me.done.lock().unwrap().insert(id, r);
            assert!(prev.is_none(), "event {id} completed twice");
            me.cv.notify_all();
        })
    }

    fn wait_for(&self, n: usize) -> std::sync::MutexGuard<'_, HashMap<u64, Result<CallOutputs>>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut g = self.done.lock().unwrap();
        while g.len() < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} completions arrived",
                g.len()
            );
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
        g
    }
}

fn view<'a>((c, o): &'a (Vec<f32>, Vec<i64>), shape: &'a [i64; 2]) -> [TensorView<'a>; 1] {
    let mut v = TensorView::f32("constituents", shape, c);
    v.offsets = o.as_slice().into();
    [v]
}

fn submit(inst: &Instance, e: &Event, results: &Arc<Results>) -> Result<()> {
    let shapes = e.views();
    inst.submit(e.key, &inputs(e, &shapes), results.completion(e.key.event))
}

#[test]
fn sixteen_threads_across_runs_get_exactly_their_unbatched_outputs() {
    let plugins = common::plugin_dir(&["btag_rnn"]);
    let (_d, url, h1, h2) = conditions();
    // ONNX Runtime serves the b-tag model here: calls on the native kernel are never merged
    // (`native_kernel_calls_run_unmerged`).
    let host = host(
        plugins.path(),
        &url,
        r#", "native_kernels": false, "batching": {"max_items": 32, "max_delay_us": 300}"#,
    );
    let reference = host
        .instance("btag-rnn", r#"{"batching": {"enabled": false}}"#)
        .unwrap();
    let batched = host.instance("btag-rnn", "{}").unwrap();
    assert!(
        !host.batch_thread_started(),
        "no thread before a queued request"
    );

    let mut evs = events(4000);
    // Bad events: a jet with pT 0 (refused by the plugin's prepare stage) and a NaN track
    // (refused by the host's validation). Each must fail alone.
    evs[10].jets[0] = 0.0;
    evs[2001].tracks[3] = f32::NAN;
    let bad = [10u64, 2001];

    // The reference: synchronous, unbatched, one event at a time.
    let want: Vec<Option<Vec<Vec<u64>>>> = evs
        .iter()
        .map(|e| {
            let shapes = e.views();
            let r = reference.process(e.key, &inputs(e, &shapes));
            r.ok().map(|o| {
                // Events without jets run no model and name none.
                let hashes: Vec<&str> = o.provenance.iter().map(|p| p.hash.as_str()).collect();
                if e.jets.is_empty() {
                    assert!(hashes.is_empty());
                } else {
                    assert_eq!(hashes, [hash_for(e.key.run, &h1, &h2)]);
                }
                o.tensors.iter().map(bits).collect()
            })
        })
        .collect();
    for &b in &bad {
        assert!(want[b as usize].is_none(), "event {b} should fail");
    }
    // The two payloads really answer differently, so a merge across them would be seen.
    let differs = evs.iter().zip(&want).any(|(e, w)| {
        e.key.run >= 100 && e.key.run < 200 && w.as_ref().is_some_and(|w| !w[0].is_empty()) && {
            let mut moved = e.clone();
            moved.key.run = 50;
            let shapes = moved.views();
            let o = reference
                .process(moved.key, &inputs(&moved, &shapes))
                .unwrap();
            o.tensors.iter().map(bits).collect::<Vec<_>>() != *w.as_ref().unwrap()
        }
    });
    assert!(differs, "payload v2 gives the same answers as v1");

    // 16 framework threads submit everything without waiting: thousands in flight.
    let results = Arc::new(Results::default());
    let refused = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..16 {
            let (batched, results, evs, refused) = (&batched, &results, &evs, &refused);
            std::thread::Builder::new()
                .name(format!("sub{t}"))
                .spawn_scoped(s, move || {
                    for e in evs.iter().skip(t).step_by(16) {
                        if let Err(err) = submit(batched, e, results) {
                            refused.lock().unwrap().push((e.key.event, err.to_string()));
                        }
                    }
                })
                .unwrap();
        }
    });
    let mut refused = refused.into_inner().unwrap();
    refused.sort();
    assert_eq!(
        refused.iter().map(|r| r.0).collect::<Vec<_>>(),
        bad,
        "{refused:?}"
    );
    assert!(refused[0].1.contains("jet 0 has pT 0"), "{}", refused[0].1);
    assert!(refused[1].1.contains("tracks"), "{}", refused[1].1);

    let got = results.wait_for(evs.len() - bad.len());
    let mut compared = 0;
    for (e, w) in evs.iter().zip(&want) {
        let Some(w) = w else { continue };
        let out = match got.get(&e.key.event) {
            Some(Ok(o)) => o,
            other => panic!(
                "event {}: {:?}",
                e.key.event,
                other.map(|r| r.as_ref().err())
            ),
        };
        let names: Vec<&str> = out.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["probabilities", "discriminant", "n_tracks"]);
        let got_bits: Vec<Vec<u64>> = out.tensors.iter().map(bits).collect();
        assert!(
            got_bits == *w,
            "event {} (run {}): batched outputs differ from the unbatched reference",
            e.key.event,
            e.key.run
        );
        let hashes: Vec<&str> = out.provenance.iter().map(|p| p.hash.as_str()).collect();
        if e.jets.is_empty() {
            assert!(hashes.is_empty());
        } else {
            assert_eq!(
                hashes,
                [hash_for(e.key.run, &h1, &h2)],
                "event {}",
                e.key.event
            );
        }
        compared += 1;
    }
    drop(got);
    assert_eq!(compared, evs.len() - bad.len());

    let (settings, counters) = batched.batching();
    let c = counters.expect("btag-rnn batches");
    assert_eq!(settings.max_items, 32);
    let jets: usize = evs.iter().map(|e| e.jets.len() / 3).sum::<usize>();
    let bad_jets: usize = bad.iter().map(|&b| evs[b as usize].jets.len() / 3).sum();
    assert_eq!(c.items as usize, jets - bad_jets, "{c:?}");
    assert!(
        c.items as f64 / c.model_calls as f64 > 4.0,
        "hardly any merging: {c:?}"
    );
    assert!(host.batch_thread_started());
}

#[test]
fn native_kernel_calls_run_unmerged_and_equal_the_synchronous_ones() {
    // The native LSTM kernel has no per-call cost to amortise: merging would only add the
    // batcher's work, so submitted calls run at once, on the caller's thread.
    let plugins = common::plugin_dir(&["btag_rnn"]);
    let (_d, url, _h1, _h2) = conditions();
    let host = host(plugins.path(), &url, "");
    let inst = host.instance("btag-rnn", "{}").unwrap();
    let results = Arc::new(Results::default());
    let evs = events(200);
    let mut refused = 0;
    for e in &evs {
        let shapes = e.views();
        let sync = inst.process(e.key, &inputs(e, &shapes));
        match submit(&inst, e, &results) {
            Ok(()) => {
                // Completed before submit returned, with the synchronous call's bits.
                let got = results.done.lock().unwrap();
                let out = got[&e.key.event].as_ref().expect("completed");
                let want = sync.expect("the synchronous call succeeds too");
                let a: Vec<Vec<u64>> = out.tensors.iter().map(bits).collect();
                let b: Vec<Vec<u64>> = want.tensors.iter().map(bits).collect();
                assert_eq!(a, b, "event {}", e.key.event);
                let served = out
                    .provenance
                    .first()
                    .and_then(|p| p.served_by.as_deref())
                    .unwrap_or_default();
                assert!(
                    served.contains("native LSTM kernel") || e.jets.is_empty(),
                    "{served}"
                );
            }
            Err(_) => {
                assert!(
                    sync.is_err(),
                    "event {}: refused only if process refuses",
                    e.key.event
                );
                refused += 1;
            }
        }
    }
    assert!(refused < evs.len() / 2);
    let (_, counters) = inst.batching();
    let c = counters.expect("btag-rnn is a batching plugin");
    assert_eq!((c.requests, c.model_calls), (0, 0), "{c:?}");
    assert!(
        !host.batch_thread_started(),
        "no flusher thread for unmerged calls"
    );
}

#[test]
fn queues_left_alone_complete_at_their_deadline_after_others_ran_full() {
    // Small batches and a short delay: most queues run because they fill up, leaving their
    // deadline entries behind (the flusher drops those without waking); the last partial queues
    // of each signature run only because their deadline came. Nothing here calls `flush`.
    let plugins = common::plugin_dir(&["btag_rnn"]);
    let (_d, url, _h1, _h2) = conditions();
    let host = host(
        plugins.path(),
        &url,
        r#", "native_kernels": false, "batching": {"max_items": 8, "max_delay_us": 20000}"#,
    );
    let inst = host.instance("btag-rnn", "{}").unwrap();
    let results = Arc::new(Results::default());
    let evs = events(300);
    let accepted = evs
        .iter()
        .filter(|e| submit(&inst, e, &results).is_ok())
        .count();
    assert!(
        accepted > evs.len() / 2,
        "{accepted} of {} accepted",
        evs.len()
    );
    let done = results.wait_for(accepted);
    assert!(done.values().all(|r| r.is_ok()));
    drop(done);
    let c = inst.batching().1.expect("btag-rnn batches");
    assert!(c.model_calls > 10, "{c:?}");
    assert!(
        c.deadline_flushes >= 1,
        "no queue waited for its deadline: {c:?}"
    );
    assert!(
        c.deadline_flushes < c.model_calls,
        "every queue waited for its deadline: {c:?}"
    );
}

#[test]
fn shutdown_with_requests_in_flight_completes_every_one() {
    let plugins = common::plugin_dir(&["btag_rnn"]);
    let (_d, url, _h1, _h2) = conditions();
    let host = host(plugins.path(), &url, r#", "native_kernels": false"#);
    // A delay far longer than the test: only the shutdown can complete these.
    let inst = host
        .instance(
            "btag-rnn",
            r#"{"batching": {"max_items": 100000, "max_delay_us": 1000000}}"#,
        )
        .unwrap();
    let results = Arc::new(Results::default());
    let evs = events(300);
    for e in &evs {
        submit(&inst, e, &results).unwrap();
    }
    let before = results.done.lock().unwrap().len();
    // Events without jets complete at once; the others wait in the queues.
    assert!(before < 10, "{before} completed before shutdown");
    drop(inst);
    let done = results.done.lock().unwrap();
    assert_eq!(done.len(), evs.len(), "freeing the instance lost requests");
    assert!(done.values().all(|r| r.is_ok()));
}

#[test]
fn batching_off_or_sync_only_starts_no_thread_and_unstaged_plugins_complete_inline() {
    let plugins = common::plugin_dir(&["btag_rnn", "seq_classifier"]);
    let (_d, url, _h1, _h2) = conditions();
    let host = host(plugins.path(), &url, r#", "batching": {"enabled": false}"#);
    let inst = host.instance("btag-rnn", "{}").unwrap();
    assert!(inst.batching().1.is_none());
    let results = Arc::new(Results::default());
    for e in &events(50) {
        submit(&inst, e, &results).unwrap();
        // Unbatched: completed on this thread before submit returned.
        assert!(results.done.lock().unwrap().contains_key(&e.key.event));
    }
    assert!(!host.batch_thread_started());

    // seq-classifier does not opt in: with batching on it still runs in one piece, inline.
    let (_d2, url2, _, _) = conditions();
    let host = self::host(plugins.path(), &url2, "");
    let seq = host.instance("seq-classifier", "{}").unwrap();
    assert!(seq.batching().1.is_none());
    let err = host
        .instance("btag-rnn", r#"{"batching": {"max_items": 0}}"#)
        .err()
        .expect("max_items 0 refused");
    assert!(err.to_string().contains("max_items"), "{err}");
    let btag = host.instance("btag-rnn", "{}").unwrap();
    // Sync calls never start the thread, even on a batching instance.
    let e = &events(2)[1];
    let shapes = e.views();
    btag.process(e.key, &inputs(e, &shapes)).unwrap();
    assert!(!host.batch_thread_started());
}

#[test]
fn jet_cnn_images_batched_from_many_threads_are_bit_identical() {
    let plugins = common::plugin_dir(&["jet_cnn"]);
    let model = common::repo().join("plugins/jet-cnn/model/model.onnx");
    let cfg = format!(
        r#"{{"plugin_dirs": [{:?}], "models": {{"JetCnnRcd": {:?}}}, "log_level": "warn", "batching": {{"max_items": 16, "max_delay_us": 300}}}}"#,
        plugins.path().display().to_string(),
        model.display().to_string()
    );
    let host = Host::new(&cfg, None, std::ptr::null_mut()).unwrap();
    let inst = host.instance("jet-cnn", "{}").unwrap();
    // Events of 1–3 jets: (η, φ, pT) per constituent, offsets per jet.
    let mut gen = toydet::jetimage::JetImageGenerator::new(5);
    let evs: Vec<(Vec<f32>, Vec<i64>)> = (0..600)
        .map(|i| {
            let mut c = Vec::new();
            let mut offsets = vec![0i64];
            for _ in 0..1 + i % 3 {
                for k in gen.next_jet().constituents {
                    c.extend([k.eta, k.phi, k.pt]);
                }
                offsets.push((c.len() / 3) as i64);
            }
            (c, offsets)
        })
        .collect();
    let key = |i: usize| EventKey {
        run: 1,
        lumi: 1,
        event: i as u64,
    };
    let want: Vec<Vec<u64>> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let shape = [(e.0.len() / 3) as i64, 3];
            let o = inst.process(key(i), &view(e, &shape)).unwrap();
            bits(&o.tensors[0])
        })
        .collect();
    let results = Arc::new(Results::default());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (inst, results, evs) = (&inst, &results, &evs);
            std::thread::Builder::new()
                .name(format!("sub{t}"))
                .spawn_scoped(s, move || {
                    for (i, e) in evs.iter().enumerate().skip(t).step_by(4) {
                        let shape = [(e.0.len() / 3) as i64, 3];
                        inst.submit(key(i), &view(e, &shape), results.completion(i as u64))
                            .unwrap();
                    }
                })
                .unwrap();
        }
    });
    let got = results.wait_for(evs.len());
    for (i, w) in want.iter().enumerate() {
        let o = got[&(i as u64)].as_ref().unwrap();
        assert_eq!(
            bits(&o.tensors[0]),
            *w,
            "event {i}: p_w differs when batched"
        );
    }
    let c = inst.batching().1.unwrap();
    assert!(c.items as f64 / c.model_calls as f64 > 2.0, "{c:?}");
}

#[test]
fn plugins_built_before_staged_calls_load_and_run_unbatched() {
    let plugins = common::plugin_dir(&["hepinfer_test_legacy", "btag_rnn"]);
    let cfg = format!(
        r#"{{"plugin_dirs": [{:?}], "log_level": "warn"}}"#,
        plugins.path().display().to_string()
    );
    let host = Host::new(&cfg, None, std::ptr::null_mut()).unwrap();
    let legacy = host.instance("legacy", "{}").unwrap();
    assert!(legacy.batching().1.is_none(), "a 1.0 plugin cannot batch");
    let x = [1.0f32, 2.5];
    let results = Arc::new(Results::default());
    legacy
        .submit(
            EventKey::default(),
            &[TensorView::f32("x", &[2], &x)],
            results.completion(7),
        )
        .unwrap();
    // Unbatched: completed inside submit.
    let done = results.done.lock().unwrap();
    let out = done[&7].as_ref().unwrap();
    assert_eq!(out.tensors[0].as_f32().unwrap(), [2.0, 5.0]);
    assert!(!host.batch_thread_started());
}
