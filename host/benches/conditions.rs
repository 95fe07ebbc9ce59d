//! Cost of finding the model for an event: the hot path (event inside the cached interval of
//! validity), an IOV boundary at every call (each event in another IOV: after the first sweep
//! every IOV is in the job's resolution table, so this is the in-memory boundary lookup), and a
//! cold job start (host created, first event's model resolved, fetched and loaded) on SQLite, on
//! a PostgreSQL server, over HTTP from `hepinfer conddb serve` directly, and through a warm
//! Squid, all on loopback.
//!
//! Needs the plugins: `scripts/build.sh release`, then `cargo bench -p hepinfer --bench conditions`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hepinfer::Host;
use hepinfer_conddb::{
    serve::Server, testserver::PgServer, testsquid::Squid, ConditionsDb, ConnectOptions, IovKey,
    Synchronization, TimeType,
};
use hepinfer_plugin_api::EventKey;
use std::path::{Path, PathBuf};

const IOVS: u32 = 1000;

fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .join("hepinfer-plugins");
    assert!(
        dir.is_dir(),
        "{} missing: run scripts/build.sh release first",
        dir.display()
    );
    dir
}

/// A database whose tag has an IOV at every run 1..=IOVS, alternating two trained models.
fn populate(url: &str) {
    let db = ConditionsDb::init(url, &ConnectOptions::default()).expect("init");
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/seq-classifier/model");
    let h1 = db
        .insert_payload(
            "onnx",
            &std::fs::read(d.join("model.onnx")).expect("v1"),
            None,
        )
        .expect("p1");
    let h2 = db
        .insert_payload(
            "onnx",
            &std::fs::read(d.join("model_v2.onnx")).expect("v2"),
            None,
        )
        .expect("p2");
    db.create_tag(
        "Seq",
        "onnx",
        TimeType::Run,
        Synchronization::Any,
        "bench",
        None,
    )
    .expect("tag");
    for run in 1..=IOVS {
        db.append_iov(
            "Seq",
            IovKey::new(run, 0),
            if run % 2 == 0 { &h2 } else { &h1 },
            None,
        )
        .expect("iov");
    }
    db.create_global_tag("GT", "bench", "", None, None)
        .expect("gt");
    db.map("GT", "SeqClassifierRcd", "", "Seq", None)
        .expect("map");
}

fn config(url: &str) -> String {
    serde_json::json!({"plugin_dirs": [plugin_dir()], "conddb": url, "global_tag": "GT", "log_level": "warn"})
        .to_string()
}

fn config_proxied(url: &str, proxy: &str) -> String {
    serde_json::json!({"plugin_dirs": [plugin_dir()], "conddb": url, "global_tag": "GT",
        "log_level": "warn", "proxies": [proxy]})
    .to_string()
}

fn key(run: u32) -> EventKey {
    EventKey {
        run,
        lumi: 1,
        event: 1,
    }
}

fn conditions(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    populate(&sqlite);
    let server = PgServer::start().expect("PostgreSQL test server (install Debian's postgresql)");
    let pg = server.fresh_database().expect("pg database");
    populate(&pg);
    let service = Server::start(&sqlite, "127.0.0.1:0", &ConnectOptions::default(), 4, None)
        .expect("conditions service");
    let http = format!("http://{}", service.addr());
    let squid = Squid::start().expect("Squid (scripts/install-deps.sh installs it)");

    let mut g = c.benchmark_group("model_lookup");
    let host = Host::new(&config(&sqlite), None, std::ptr::null_mut()).expect("host");
    let inst = host.instance("seq-classifier", "{}").expect("instance");
    inst.current_model("classifier", key(5)).expect("warm");
    g.bench_function("hot_path_same_iov", |b| {
        b.iter(|| inst.current_model("classifier", key(5)).expect("model"))
    });
    for (name, url) in [("sqlite", &sqlite), ("postgresql", &pg), ("http", &http)] {
        let host = Host::new(&config(url), None, std::ptr::null_mut()).expect("host");
        let inst = host.instance("seq-classifier", "{}").expect("instance");
        let mut run = 0u32;
        g.bench_function(format!("iov_boundary_every_call_{name}"), |b| {
            b.iter(|| {
                // Another IOV each call: after the first sweep every IOV is in the job's
                // resolution table and the instance's list; the model comes from the cache.
                run = run % IOVS + 1;
                inst.current_model("classifier", key(run)).expect("model")
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("cold_model_load");
    g.sample_size(20);
    let via_squid = config_proxied(&http, &squid.url());
    {
        // Warm Squid: one job through it first.
        let host = Host::new(&via_squid, None, std::ptr::null_mut()).expect("host");
        let inst = host.instance("seq-classifier", "{}").expect("instance");
        inst.current_model("classifier", key(5))
            .expect("warm-up job through Squid");
    }
    for (name, cfg) in [
        ("sqlite", config(&sqlite)),
        ("postgresql", config(&pg)),
        ("http_direct", config(&http)),
        ("http_warm_squid", via_squid.clone()),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || Host::new(&cfg, None, std::ptr::null_mut()).expect("host"),
                |host| {
                    // Resolve, fetch and verify the payload, create the ONNX Runtime session.
                    let inst = host.instance("seq-classifier", "{}").expect("instance");
                    inst.current_model("classifier", key(5)).expect("model");
                    host
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, conditions);
criterion_main!(benches);
