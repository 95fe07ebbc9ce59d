//! Soak: 16 threads, 100,000 mixed calls over two plugins (seq-classifier, btag-rnn) whose models
//! come from a SQLite conditions database with run switches (seq-classifier changes model at
//! runs 3 and 5), with bad inputs interleaved. Every good call's outputs are compared bit for bit
//! with a single-thread reference from a separate host and its provenance with the payload valid
//! for its run: 0 lost, 0 mixed. Every bad call fails with INVALID_INPUT. Resident memory after
//! warm-up and at the end must agree within a margin.

mod common;

use hepinfer::error::hepinfer_status;
use hepinfer::{CallOutputs, Host, Instance};
use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType};
use hepinfer_plugin_api::{EventKey, TensorBuf, TensorView};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

const THREADS: usize = 16;
const CALLS_PER_THREAD: usize = 6_250; // 100,000 in all
const WARM_UP: usize = 600;
const EVENTS: usize = 24; // distinct inputs per plugin
const RUNS: u32 = 6;
/// Allowed resident-memory growth between the end of warm-up and the end (bytes).
const RSS_MARGIN: u64 = 64 << 20;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// SplitMix64, for reproducible inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// One btag-rnn event: jets [n, 3], tracks [m, 7] grouped by offsets.
struct BTagEvent {
    jets: Vec<f32>,
    tracks: Vec<f32>,
    offsets: Vec<i64>,
}

fn btag_event(rng: &mut Rng) -> BTagEvent {
    let n_jets = 1 + (rng.next() % 4) as usize;
    let (mut jets, mut tracks, mut offsets) = (Vec::new(), Vec::new(), vec![0i64]);
    for _ in 0..n_jets {
        let phi = rng.uniform(-3.1, 3.1);
        let eta = rng.uniform(-2.4, 2.4);
        jets.extend([rng.uniform(20.0, 200.0), eta, phi]);
        let n_trk = (rng.next() % 20) as i64;
        for _ in 0..n_trk {
            let s = rng.uniform(0.01, 0.05);
            tracks.extend([
                rng.uniform(1.0, 40.0),
                eta + rng.uniform(-0.3, 0.3),
                phi + rng.uniform(-0.3, 0.3),
                rng.uniform(-0.5, 0.5),
                rng.uniform(-1.0, 1.0),
                s,
                s * 1.5,
            ]);
        }
        offsets.push(offsets.last().unwrap() + n_trk);
    }
    BTagEvent {
        jets,
        tracks,
        offsets,
    }
}

fn btag_views(e: &BTagEvent) -> (Vec<i64>, Vec<i64>) {
    (
        vec![(e.jets.len() / 3) as i64, 3],
        vec![(e.tracks.len() / 7) as i64, 7],
    )
}

fn call_btag(inst: &Instance, key: EventKey, e: &BTagEvent) -> hepinfer::Result<CallOutputs> {
    let (js, ts) = btag_views(e);
    let mut tracks = TensorView::f32("tracks", &ts, &e.tracks);
    tracks.offsets = e.offsets.as_slice().into();
    inst.process(key, &[TensorView::f32("jets", &js, &e.jets), tracks])
}

fn call_seq(inst: &Instance, key: EventKey, x: &[f32]) -> hepinfer::Result<CallOutputs> {
    inst.process(key, &[TensorView::f32("sequences", &[1, 15, 8], x)])
}

fn bits(o: &CallOutputs) -> Vec<u64> {
    o.tensors
        .iter()
        .flat_map(|t| match &t.data {
            TensorBuf::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect::<Vec<_>>(),
            TensorBuf::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
            TensorBuf::I64(v) => v.iter().map(|&x| x as u64).collect(),
            TensorBuf::I32(v) => v.iter().map(|&x| x as u64).collect(),
            TensorBuf::U8(v) => v.iter().map(|&x| u64::from(x)).collect(),
        })
        .collect()
}

/// seq-classifier's model version for a run: v1, v2 from run 3, v1 again from run 5.
fn seq_version(run: u32) -> usize {
    usize::from((3..5).contains(&run))
}

#[test]
fn sixteen_threads_100k_mixed_calls_nothing_lost_nothing_mixed_memory_flat() {
    let plugins = common::plugin_dir(&["seq_classifier", "btag_rnn"]);
    let seq_dir = common::repo().join("plugins/seq-classifier/model");
    let seq_files = [seq_dir.join("model.onnx"), seq_dir.join("model_v2.onnx")];
    let btag_file = common::repo().join("plugins/btag-rnn/model/model.onnx");

    // The conditions database, written as a conditions team would.
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", d.path().join("cond.db").display());
    let db = ConditionsDb::init(&url, &ConnectOptions::default()).unwrap();
    let seq_hash: Vec<String> = seq_files
        .iter()
        .map(|f| {
            db.insert_payload("onnx", &std::fs::read(f).unwrap(), None)
                .unwrap()
        })
        .collect();
    let btag_hash = db
        .insert_payload("onnx", &std::fs::read(&btag_file).unwrap(), None)
        .unwrap();
    db.create_tag(
        "Seq",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "",
        None,
    )
    .unwrap();
    for (since, v) in [(1, 0), (3, 1), (5, 0)] {
        db.append_iov("Seq", IovKey::new(since, 0), &seq_hash[v], None)
            .unwrap();
    }
    db.create_tag(
        "BTag",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "",
        None,
    )
    .unwrap();
    db.append_iov("BTag", IovKey::new(1, 0), &btag_hash, None)
        .unwrap();
    db.create_global_tag("GT", "", "", None, None).unwrap();
    db.map("GT", "SeqClassifierRcd", "", "Seq", None).unwrap();
    db.map("GT", "BTagRnnRcd", "", "BTag", None).unwrap();
    drop(db);

    // Inputs and single-thread references from hosts with the models as files.
    let (x, _, _) = common::golden();
    let seq_inputs: Vec<Vec<f32>> = (0..EVENTS)
        .map(|i| x[i * 120..(i + 1) * 120].to_vec())
        .collect();
    let mut rng = Rng(2026);
    let btag_inputs: Vec<BTagEvent> = (0..EVENTS).map(|_| btag_event(&mut rng)).collect();
    let key0 = EventKey {
        run: 1,
        lumi: 1,
        event: 0,
    };
    let file_host = |record: &str, file: &std::path::Path| {
        let cfg = format!(
            r#"{{"plugin_dirs": [{:?}], "models": {{"{record}": {:?}}}, "log_level": "warn"}}"#,
            plugins.path(),
            file
        );
        Host::new(&cfg, None, std::ptr::null_mut()).unwrap()
    };
    let seq_ref: Vec<Vec<Vec<u64>>> = seq_files
        .iter()
        .map(|f| {
            let h = file_host("SeqClassifierRcd", f);
            let i = h.instance("seq-classifier", "").unwrap();
            seq_inputs
                .iter()
                .map(|s| bits(&call_seq(&i, key0, s).unwrap()))
                .collect()
        })
        .collect();
    assert_ne!(
        seq_ref[0], seq_ref[1],
        "the two seq-classifier versions must differ"
    );
    let btag_ref: Vec<Vec<u64>> = {
        let h = file_host("BTagRnnRcd", &btag_file);
        let i = h.instance("btag-rnn", "").unwrap();
        btag_inputs
            .iter()
            .map(|e| bits(&call_btag(&i, key0, e).unwrap()))
            .collect()
    };

    // The host under test: everything through the conditions database.
    let cfg = format!(
        r#"{{"plugin_dirs": [{:?}], "conddb": {url:?}, "global_tag": "GT", "log_level": "warn"}}"#,
        plugins.path()
    );
    let host = Host::new(&cfg, None, std::ptr::null_mut()).unwrap();
    let seq = Arc::new(host.instance("seq-classifier", "").unwrap());
    let btag = Arc::new(host.instance("btag-rnn", "").unwrap());
    let shared = Arc::new((
        seq_inputs,
        btag_inputs,
        seq_ref,
        btag_ref,
        seq_hash,
        btag_hash,
    ));

    let good = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let warm = Arc::new(Barrier::new(THREADS + 1));
    let go = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (seq, btag, shared) = (seq.clone(), btag.clone(), shared.clone());
            let (good, refused, warm, go) =
                (good.clone(), refused.clone(), warm.clone(), go.clone());
            std::thread::spawn(move || {
                let (seq_in, btag_in, seq_ref, btag_ref, seq_hash, btag_hash) = &*shared;
                let mut failures: Vec<String> = Vec::new();
                for c in 0..CALLS_PER_THREAD {
                    if c == WARM_UP {
                        warm.wait();
                        go.wait();
                    }
                    // Threads sweep runs and events in their own orders.
                    let run = 1 + ((c / 97 + t * 3) % RUNS as usize) as u32;
                    let ev = (c * (2 * t + 1) + t) % EVENTS;
                    let key = EventKey {
                        run,
                        lumi: 1 + (c % 7) as u32,
                        event: (t * CALLS_PER_THREAD + c) as u64,
                    };
                    let bad = c % 11 == 5;
                    let use_seq = (c + t) % 2 == 0;
                    let result = match (use_seq, bad) {
                        (true, false) => call_seq(&seq, key, &seq_in[ev]),
                        (true, true) => {
                            // NaN in a finite input.
                            let mut x = seq_in[ev].clone();
                            x[(c * 7) % 120] = f32::NAN;
                            call_seq(&seq, key, &x)
                        }
                        (false, false) => call_btag(&btag, key, &btag_in[ev]),
                        (false, true) => {
                            // Offsets that do not cover the tracks.
                            let e = &btag_in[ev];
                            let mut broken = BTagEvent {
                                jets: e.jets.clone(),
                                tracks: e.tracks.clone(),
                                offsets: e.offsets.clone(),
                            };
                            *broken.offsets.last_mut().unwrap() += 1;
                            call_btag(&btag, key, &broken)
                        }
                    };
                    match (bad, result) {
                        (true, Err(e)) if e.status() == hepinfer_status::HEPINFER_INVALID_INPUT => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        (true, other) => failures.push(format!(
                            "bad input not refused as INVALID_INPUT: {:?}",
                            other.map(|_| "accepted").map_err(|e| e.to_string())
                        )),
                        (false, Err(e)) => failures.push(format!("lost call (run {run}): {e}")),
                        (false, Ok(out)) => {
                            let (want_hash, want_bits) = if use_seq {
                                let v = seq_version(run);
                                (&seq_hash[v], &seq_ref[v][ev])
                            } else {
                                (btag_hash, &btag_ref[ev])
                            };
                            let hashes: Vec<&str> =
                                out.provenance.iter().map(|p| p.hash.as_str()).collect();
                            if hashes != [want_hash.as_str()] {
                                failures.push(format!(
                                    "run {run}: provenance {hashes:?}, expected {want_hash}"
                                ));
                            } else if &bits(&out) != want_bits {
                                failures.push(format!(
                                    "run {run} event {ev}: outputs differ from the reference"
                                ));
                            } else {
                                good.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                failures
            })
        })
        .collect();
    warm.wait();
    let rss_warm = rss_bytes();
    go.wait();
    let mut failures = Vec::new();
    for h in handles {
        failures.extend(h.join().expect("soak thread"));
    }
    let rss_end = rss_bytes();
    let (good, refused) = (
        good.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!(
        "soak: {good} good calls bit-identical with provenance, {refused} bad inputs refused, \
         {} failures; RSS {} MiB after warm-up, {} MiB at the end",
        failures.len(),
        rss_warm >> 20,
        rss_end >> 20
    );
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(
        good + refused,
        THREADS * CALLS_PER_THREAD,
        "calls unaccounted for"
    );
    let bad_expected = THREADS * (0..CALLS_PER_THREAD).filter(|c| c % 11 == 5).count();
    assert_eq!(refused, bad_expected);
    assert!(
        rss_end <= rss_warm + RSS_MARGIN,
        "resident memory grew from {} MiB to {} MiB",
        rss_warm >> 20,
        rss_end >> 20
    );
}
