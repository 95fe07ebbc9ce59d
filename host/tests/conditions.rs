//! Models served by the conditions database through the host: IOV boundaries under 16 threads,
//! single-flight loading, job-level overrides, corrupted payloads, a database that goes away.

mod common;

use hepinfer::Host;
use hepinfer_conddb::{
    testserver::PgServer, ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType,
};
use hepinfer_plugin_api::{EventKey, TensorView};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

const RECORD: &str = "SeqClassifierRcd";

/// The two trained versions of the seq-classifier model.
fn models() -> (Vec<u8>, Vec<u8>) {
    let d = common::repo().join("plugins/seq-classifier/model");
    (
        std::fs::read(d.join("model.onnx")).unwrap(),
        std::fs::read(d.join("model_v2.onnx")).unwrap(),
    )
}

/// Fills `url` with tag `Seq` (v1 from run 1, v2 from 100, v1 again from 200), tag `SeqV2`
/// (v2 from run 1) and global tag `GT` mapping the record to `Seq`. Returns (hash v1, hash v2).
fn populate(url: &str) -> (String, String) {
    let db = ConditionsDb::init(url, &ConnectOptions::default()).unwrap();
    let (m1, m2) = models();
    let h1 = db.insert_payload("onnx", &m1, None).unwrap();
    let h2 = db.insert_payload("onnx", &m2, None).unwrap();
    db.create_tag(
        "Seq",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "test",
        None,
    )
    .unwrap();
    db.append_iov("Seq", IovKey::new(1, 0), &h1, None).unwrap();
    db.append_iov("Seq", IovKey::new(100, 0), &h2, None)
        .unwrap();
    db.append_iov("Seq", IovKey::new(200, 0), &h1, None)
        .unwrap();
    db.create_tag(
        "SeqV2",
        "onnx",
        TimeType::Run,
        Synchronization::Any,
        "override",
        None,
    )
    .unwrap();
    db.append_iov("SeqV2", IovKey::new(1, 0), &h2, None)
        .unwrap();
    db.create_global_tag("GT", "test", "0.1", None, None)
        .unwrap();
    db.map("GT", RECORD, "", "Seq", None).unwrap();
    (h1, h2)
}

fn config(dir: &Path, url: &str, extra: &str) -> String {
    format!(
        r#"{{"plugin_dirs": [{:?}], "conddb": {url:?}, "global_tag": "GT", "log_level": "warn", "db_retries": 2, "db_backoff_ms": 20{extra}}}"#,
        dir.display().to_string()
    )
}

fn sqlite_db() -> (tempfile::TempDir, String, String, String) {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", d.path().join("cond.db").display());
    let (h1, h2) = populate(&url);
    (d, url, h1, h2)
}

fn key(run: u32, event: u64) -> EventKey {
    EventKey {
        run,
        lumi: 1,
        event,
    }
}

#[test]
fn sixteen_threads_across_iov_boundaries_use_the_model_of_their_own_iov() {
    let (_d, url, h1, h2) = sqlite_db();
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let host = Host::new(
        &config(plugins.path(), &url, ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = Arc::new(host.instance("seq-classifier", "").unwrap());
    let (x, _, _) = common::golden();
    let x = Arc::new(x);
    let expected_hash = |run: u32| {
        if (100..200).contains(&run) {
            h2.clone()
        } else {
            h1.clone()
        }
    };

    // Reference outputs of each model for each of the first 64 sequences, from a separate host
    // with the models as files (so the check does not depend on the code under test's IOVs).
    let d = common::repo().join("plugins/seq-classifier/model");
    let mut reference: HashMap<String, Vec<Vec<u32>>> = HashMap::new();
    for (file, hash) in [("model.onnx", &h1), ("model_v2.onnx", &h2)] {
        let cfg = format!(
            r#"{{"plugin_dirs": [{:?}], "models": {{"{RECORD}": {:?}}}}}"#,
            plugins.path(),
            d.join(file)
        );
        let h = Host::new(&cfg, None, std::ptr::null_mut()).unwrap();
        let i = h.instance("seq-classifier", "").unwrap();
        let outs = (0..64)
            .map(|s| {
                let o = i
                    .process(
                        key(1, 0),
                        &[TensorView::f32(
                            "sequences",
                            &[1, 15, 8],
                            &x[s * 120..(s + 1) * 120],
                        )],
                    )
                    .unwrap();
                o.tensors[0]
                    .as_f32()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            })
            .collect();
        reference.insert(hash.clone(), outs);
    }
    assert_ne!(
        reference[&h1], reference[&h2],
        "the two model versions must differ"
    );
    let reference = Arc::new(reference);

    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let (inst, x, reference) = (inst.clone(), x.clone(), reference.clone());
            let (h1, h2) = (h1.clone(), h2.clone());
            std::thread::spawn(move || {
                let expected = |run: u32| if (100..200).contains(&run) { &h2 } else { &h1 };
                let mut checked = 0;
                for i in 0..600u64 {
                    // Threads sweep the runs in different directions and strides, so boundaries
                    // are crossed at different moments and out of order.
                    let run = 1 + ((i * (t + 1) * 7 + t * 37) % 299) as u32;
                    let s = ((i + t) % 64) as usize;
                    let out = inst
                        .process(
                            key(run, i),
                            &[TensorView::f32(
                                "sequences",
                                &[1, 15, 8],
                                &x[s * 120..(s + 1) * 120],
                            )],
                        )
                        .expect("call failed");
                    assert_eq!(out.provenance.len(), 1);
                    let hash = &out.provenance[0].hash;
                    assert_eq!(hash, expected(run), "run {run}: wrong model");
                    let bits: Vec<u32> = out.tensors[0]
                        .as_f32()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect();
                    assert_eq!(
                        bits, reference[hash][s],
                        "run {run}: output is not that of its model"
                    );
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    let checked: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(checked, 16 * 600);
    assert_eq!(
        host.model_cache().loads(),
        2,
        "each payload is loaded exactly once"
    );
    let mut loaded = host.model_cache().loaded_hashes();
    loaded.sort();
    let mut want = vec![expected_hash(1), expected_hash(150)];
    want.sort();
    assert_eq!(loaded, want);
}

#[test]
fn job_override_points_a_record_at_another_tag() {
    let (_d, url, _h1, h2) = sqlite_db();
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let extra =
        format!(r#", "overrides": [{{"record": "{RECORD}", "label": "", "tag": "SeqV2"}}]"#);
    let host = Host::new(
        &config(plugins.path(), &url, &extra),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = host.instance("seq-classifier", "").unwrap();
    let x = vec![0.5f32; 120];
    let out = inst
        .process(key(5, 1), &[TensorView::f32("sequences", &[1, 15, 8], &x)])
        .unwrap();
    assert_eq!(
        out.provenance[0].hash, h2,
        "run 5 must come from the override tag"
    );
}

#[test]
fn missing_mapping_and_unknown_global_tag_name_everything() {
    let (_d, url, _, _) = sqlite_db();
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let host = Host::new(
        &config(plugins.path(), &url, ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    // A label the global tag does not map: refused when the instance is created, not per event.
    let e = host
        .instance(
            "seq-classifier",
            r#"{"model_labels": {"classifier": "other"}}"#,
        )
        .err()
        .expect("an unmapped label is refused")
        .to_string();
    assert!(
        e.contains("GT") && e.contains(RECORD) && e.contains("other"),
        "{e}"
    );
    // A global tag that does not exist: refused when the host is created.
    let cfg = config(plugins.path(), &url, "").replace("\"GT\"", "\"NO_SUCH_GT\"");
    let e = Host::new(&cfg, None, std::ptr::null_mut())
        .err()
        .expect("an unknown global tag is refused");
    assert_eq!(
        e.status(),
        hepinfer::error::hepinfer_status::HEPINFER_CONDITIONS
    );
    assert!(e.to_string().contains("NO_SUCH_GT"), "{e}");
    // A database that does not exist is refused when the host is created.
    let e = Host::new(
        &config(plugins.path(), "sqlite:///no/such/cond.db", ""),
        None,
        std::ptr::null_mut(),
    );
    assert!(e.is_err());
}

#[test]
fn corrupted_payload_is_refused_and_never_loaded() {
    let (d, url, h1, _) = sqlite_db();
    let conn = rusqlite::Connection::open(d.path().join("cond.db")).unwrap();
    let (mut m1, _) = models();
    let n = m1.len() / 2;
    m1[n] ^= 0x40; // one flipped bit in the middle of the weights
    let changed = conn
        .execute(
            "UPDATE payload SET data = ?1 WHERE hash = ?2",
            rusqlite::params![m1, h1],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let host = Host::new(
        &config(plugins.path(), &url, ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = host.instance("seq-classifier", "").unwrap();
    let x = vec![0.5f32; 120];
    let e = inst
        .process(key(5, 1), &[TensorView::f32("sequences", &[1, 15, 8], &x)])
        .unwrap_err();
    assert_eq!(
        e.status(),
        hepinfer::error::hepinfer_status::HEPINFER_CONDITIONS,
        "{e}"
    );
    assert!(
        e.to_string().contains("integrity") && e.to_string().contains(&h1),
        "{e}"
    );
    assert_eq!(
        host.model_cache().loads(),
        0,
        "a corrupted payload is never loaded"
    );
    // The intact payload of another IOV still works.
    inst.process(
        key(150, 2),
        &[TensorView::f32("sequences", &[1, 15, 8], &x)],
    )
    .unwrap();
}

#[test]
fn killing_postgresql_mid_job_keeps_resolved_iovs_running() {
    let server =
        PgServer::start().expect("PostgreSQL test server (install Debian's postgresql package)");
    let url = server.fresh_database().unwrap();
    let (h1, _) = populate(&url);
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let host = Host::new(
        &config(plugins.path(), &url, ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = host.instance("seq-classifier", "").unwrap();
    let x = vec![0.5f32; 120];
    let call = |run| {
        inst.process(
            key(run, 1),
            &[TensorView::f32("sequences", &[1, 15, 8], &x)],
        )
    };
    assert_eq!(call(5).unwrap().provenance[0].hash, h1);

    server.stop();
    // Events of the IOV already resolved keep going: no database access on that path.
    for run in 5..60 {
        assert_eq!(call(run).unwrap().provenance[0].hash, h1);
    }
    // A new IOV needs the database: a clear error after the bounded retries, quickly.
    let start = std::time::Instant::now();
    let e = call(150).unwrap_err();
    assert_eq!(
        e.status(),
        hepinfer::error::hepinfer_status::HEPINFER_CONDITIONS
    );
    assert!(e.to_string().contains("unreachable"), "{e}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "retries are bounded"
    );
    // And the old IOV still works after that failure.
    call(7).unwrap();
}

/// Collects every log message of a host (the framework's log callback).
unsafe extern "C" fn collect(
    _level: u32,
    message: *const std::ffi::c_char,
    user: *mut std::ffi::c_void,
) {
    // SAFETY: `user` is the `Mutex<Vec<String>>` the test passed, alive for the host's lifetime;
    // `message` is a NUL-terminated string valid during the call.
    let (log, msg) = unsafe {
        (
            &*(user as *const std::sync::Mutex<Vec<String>>),
            std::ffi::CStr::from_ptr(message),
        )
    };
    log.lock().unwrap().push(msg.to_string_lossy().into_owned());
}

#[test]
fn a_password_in_any_url_form_never_reaches_the_log_or_an_error() {
    let plugins = common::plugin_dir(&["seq_classifier"]);
    // Nothing listens there: every attempt fails, and says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let forms = [
        (
            format!("postgresql://reader:Pw1Userinfo@127.0.0.1:{port}/cond"),
            "Pw1Userinfo",
        ),
        (
            format!("postgresql://127.0.0.1:{port}/cond?user=reader&password=Pw2Query"),
            "Pw2Query",
        ),
        (
            format!("host=127.0.0.1 port={port} user=reader password=Pw3Keyword"),
            "Pw3Keyword",
        ),
        (format!("http://reader:Pw4Http@127.0.0.1:{port}"), "Pw4Http"),
    ];
    for (url, secret) in &forms {
        let log = std::sync::Mutex::new(Vec::<String>::new());
        let cfg = format!(
            r#"{{"plugin_dirs": [{:?}], "conddb": {url:?}, "global_tag": "GT", "log_level": "trace", "db_retries": 0, "conddb_deadline_ms": 2000}}"#,
            plugins.path().display().to_string()
        );
        let mut errors = Vec::new();
        match Host::new(
            &cfg,
            Some(collect),
            &log as *const _ as *mut std::ffi::c_void,
        ) {
            Err(e) => errors.push(format!("{e} {e:?}")),
            Ok(host) => {
                // A service is only asked at the first event.
                let inst = host.instance("seq-classifier", "").unwrap();
                let x = vec![0.5f32; 120];
                let e = inst
                    .process(key(5, 1), &[TensorView::f32("sequences", &[1, 15, 8], &x)])
                    .unwrap_err();
                assert_eq!(
                    e.status(),
                    hepinfer::error::hepinfer_status::HEPINFER_CONDITIONS
                );
                errors.push(format!("{e} {e:?}"));
            }
        }
        let everything = format!("{errors:?} {:?}", log.lock().unwrap());
        assert!(!errors.is_empty(), "{url}: no error");
        assert!(
            !everything.contains(secret),
            "{url}: password leaked: {everything}"
        );
        assert!(
            everything.contains("***") || everything.contains("127.0.0.1"),
            "{everything}"
        );
    }
}
