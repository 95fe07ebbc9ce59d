//! A job resolves each tag once: after the conditions database (SQLite file, PostgreSQL server,
//! HTTP service) goes away, every run whose IOVs were read keeps working, on many threads,
//! without waiting; a run outside what was read fails within `conddb_deadline_ms` with a
//! HEPINFER_CONDITIONS error; evicted models come back from the payload cache.

mod common;

use hepinfer::error::hepinfer_status::HEPINFER_CONDITIONS;
use hepinfer::Host;
use hepinfer_conddb::serve::Server;
use hepinfer_conddb::testserver::PgServer;
use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType};
use hepinfer_plugin_api::{EventKey, TensorView};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORD: &str = "SeqClassifierRcd";
/// More IOVs than one group (`DEFAULT_IOV_GROUP` = 1000): runs past 1000 are in a group the
/// job has not read until an event asks for it.
const IOVS: u32 = 1100;
/// Runs the job meets while the database is there: 12 IOVs, alternating two payloads.
const SEEN: std::ops::RangeInclusive<u32> = 1..=12;
/// A run in the second group of IOVs, never read.
const UNSEEN: u32 = 1050;
const DEADLINE_MS: u64 = 500;

/// Tag `Seq` with an IOV at every run 1..=IOVS, alternating the two trained models, mapped
/// in global tag `GT`. Returns (hash of odd runs, hash of even runs).
fn populate(url: &str) -> (String, String) {
    let db = ConditionsDb::init(url, &ConnectOptions::default()).unwrap();
    let d = common::repo().join("plugins/seq-classifier/model");
    let h1 = db
        .insert_payload("onnx", &std::fs::read(d.join("model.onnx")).unwrap(), None)
        .unwrap();
    let h2 = db
        .insert_payload(
            "onnx",
            &std::fs::read(d.join("model_v2.onnx")).unwrap(),
            None,
        )
        .unwrap();
    db.create_tag("Seq", "onnx", TimeType::Run, Synchronization::Any, "", None)
        .unwrap();
    for run in 1..=IOVS {
        let h = if run % 2 == 1 { &h1 } else { &h2 };
        db.append_iov("Seq", IovKey::new(run, 0), h, None).unwrap();
    }
    db.create_global_tag("GT", "", "", None, None).unwrap();
    db.map("GT", RECORD, "", "Seq", None).unwrap();
    (h1, h2)
}

fn config(plugins: &Path, conddb: &str, cache: &Path, extra: &str) -> String {
    format!(
        r#"{{"plugin_dirs": [{:?}], "conddb": {conddb}, "global_tag": "GT", "log_level": "warn",
            "db_retries": 1, "db_backoff_ms": 20, "conddb_deadline_ms": {DEADLINE_MS},
            "payload_cache": {:?}{extra}}}"#,
        plugins.display().to_string(),
        cache.display().to_string()
    )
}

fn call(inst: &hepinfer::Instance, run: u32) -> hepinfer::Result<String> {
    let x = [0.25f32; 120];
    let key = EventKey {
        run,
        lumi: 1,
        event: u64::from(run),
    };
    let out = inst.process(key, &[TensorView::f32("sequences", &[1, 15, 8], &x)])?;
    Ok(out.provenance[0].hash.clone())
}

/// Meets every run of SEEN, runs `kill`, then checks that 4 threads hopping over the seen runs
/// get every call right without waiting, and that the unseen run fails within the deadline.
fn survives(conddb: &str, hashes: (String, String), kill: impl FnOnce(), budget: Option<u64>) {
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let cache = tempfile::tempdir().unwrap();
    let extra = budget.map_or(String::new(), |b| format!(r#", "model_cache_bytes": {b}"#));
    let host = Host::new(
        &config(plugins.path(), conddb, cache.path(), &extra),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = Arc::new(host.instance("seq-classifier", "").unwrap());
    let expected = |run: u32| {
        if run % 2 == 1 {
            hashes.0.clone()
        } else {
            hashes.1.clone()
        }
    };
    for run in SEEN {
        assert_eq!(call(&inst, run).unwrap(), expected(run), "run {run}");
    }
    let loads_before = host.model_cache().loads();

    kill();

    let slowest = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let inst = inst.clone();
                let expected = &expected;
                s.spawn(move || {
                    let mut slowest = Duration::ZERO;
                    for i in 0..300u32 {
                        // Every thread hops across all twelve runs, in its own order.
                        let run = 1 + (i * (2 * t + 1) + t) % 12;
                        let start = Instant::now();
                        let h = call(&inst, run).unwrap_or_else(|e| panic!("run {run}: {e}"));
                        slowest = slowest.max(start.elapsed());
                        assert_eq!(h, expected(run), "run {run}");
                    }
                    slowest
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .max()
            .unwrap()
    });
    // Before the resolution table, calls blocked for seconds in database retries here. (With
    // a budget for one model, calls also wait for the other model's reload: not bounded here.)
    assert!(
        budget.is_some() || slowest < Duration::from_millis(DEADLINE_MS),
        "a call on a seen run waited {slowest:?}"
    );
    match budget {
        // Room for one model: the two payloads take turns, reloaded from the payload cache.
        Some(_) => {
            assert!(
                host.model_cache().loads() > loads_before,
                "models were evicted and reloaded"
            );
            eprintln!(
                "model loads: {loads_before} before the database went, {} after",
                host.model_cache().loads()
            );
        }
        None => assert_eq!(host.model_cache().loads(), 2, "each payload loaded once"),
    }

    let start = Instant::now();
    let e = call(&inst, UNSEEN).unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.status(), HEPINFER_CONDITIONS, "{e}");
    assert!(
        took < Duration::from_millis(DEADLINE_MS + 1000),
        "the unseen run waited {took:?}"
    );
    eprintln!("unseen run {UNSEEN}: failed after {took:?}: {e}");
    // ... and the seen runs still work after that failure.
    for run in SEEN {
        assert_eq!(call(&inst, run).unwrap(), expected(run));
    }
}

#[test]
fn sqlite_file_removed_after_twelve_runs_seen() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("cond.db");
    let url = format!("sqlite://{}", path.display());
    let hashes = populate(&url);
    survives(
        &format!("{url:?}"),
        hashes,
        || {
            // Emptied first: the open connection would otherwise still read the unlinked file.
            std::fs::write(&path, b"").unwrap();
            std::fs::remove_file(&path).unwrap();
        },
        None,
    );
}

#[test]
fn postgresql_killed_after_twelve_runs_seen() {
    let server =
        PgServer::start().expect("PostgreSQL test server (install Debian's postgresql package)");
    let url = server.fresh_database().unwrap();
    let hashes = populate(&url);
    survives(&format!("{url:?}"), hashes, || server.stop(), None);
}

#[test]
fn evicted_models_come_back_from_the_payload_cache_without_the_database() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("cond.db");
    let url = format!("sqlite://{}", path.display());
    let hashes = populate(&url);
    let size = std::fs::metadata(common::repo().join("plugins/seq-classifier/model/model.onnx"))
        .unwrap()
        .len();
    survives(
        &format!("{url:?}"),
        hashes,
        || {
            std::fs::write(&path, b"").unwrap();
            std::fs::remove_file(&path).unwrap();
        },
        Some(size + size / 2),
    );
}

#[test]
fn http_service_hanging_after_twelve_runs_seen() {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", d.path().join("cond.db").display());
    let hashes = populate(&url);
    let service = Server::start(&url, "127.0.0.1:0", &ConnectOptions::default(), 2, None)
        .expect("conditions service");
    let addr = service.addr();
    let mut hang = None;
    survives(
        &format!("\"http://{addr}\""),
        hashes,
        || {
            service.stop();
            // Something takes the port and never answers: the worst case for a waiting call.
            let start = Instant::now();
            hang = loop {
                match std::net::TcpListener::bind(addr) {
                    Ok(l) => break Some(l),
                    // The service's accept thread may hold the socket a moment longer.
                    Err(e) if start.elapsed() < Duration::from_secs(5) => {
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("rebind the service port {addr}: {e}"),
                }
            };
        },
        None,
    );
    drop(hang);
}

#[test]
fn service_behind_squid_killed_after_twelve_runs_seen() {
    let d = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", d.path().join("cond.db").display());
    let hashes = populate(&url);
    let service = Server::start(&url, "127.0.0.1:0", &ConnectOptions::default(), 2, None)
        .expect("conditions service");
    let squid = hepinfer_conddb::testsquid::Squid::start()
        .unwrap_or_else(|e| panic!("Squid could not be started: {e}"));
    let addr = service.addr();
    survives(
        &format!("\"http://{addr}\", \"proxies\": [{:?}]", squid.url()),
        hashes,
        || service.stop(),
        None,
    );
    assert!(
        squid
            .access_log()
            .contains(&format!("http://{addr}/v1/payloads/")),
        "the job's reads went through Squid"
    );
}
