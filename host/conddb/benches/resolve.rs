//! Cost of the two database operations a job does at an IOV boundary, on SQLite and on a local
//! PostgreSQL server: resolving (global tag, record, label, run) to a payload hash, and fetching
//! a ~1 MB payload that is not in the local cache (read from the database and hash-verified).
//! For comparison, the same payload served from a warm local payload cache.
//!
//! Run: `cargo bench -p hepinfer-conddb --bench resolve`

use criterion::{criterion_group, criterion_main, Criterion};
use hepinfer_conddb::testserver::PgServer;
use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType};
use std::hint::black_box;
use std::time::Duration;

const N_IOVS: u32 = 1000;
const RUN_STEP: u32 = 10;

/// A tag with `N_IOVS` IOVs (one small payload each) mapped in global tag `GT`, and one ~1 MB
/// payload; returns the big payload's hash.
fn fill(db: &ConditionsDb) -> String {
    db.create_tag(
        "t",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "bench",
        None,
    )
    .expect("tag");
    for i in 0..N_IOVS {
        let h = db
            .insert_payload("onnx", format!("payload {i}").as_bytes(), None)
            .expect("payload");
        db.append_iov("t", IovKey::new(1 + i * RUN_STEP, 0), &h, None)
            .expect("iov");
    }
    db.create_global_tag("GT", "", "", None, None).expect("gt");
    db.map("GT", "BenchRcd", "", "t", None).expect("map");
    let big: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    db.insert_payload("onnx", &big, None).expect("big payload")
}

fn bench_backend(c: &mut Criterion, name: &str, url: &str, cache_dir: &std::path::Path) {
    let opts = ConnectOptions::default();
    let db = ConditionsDb::init(url, &opts).expect("init");
    let big = fill(&db);

    let mut g = c.benchmark_group(format!("conddb/{name}"));
    g.measurement_time(Duration::from_secs(4));
    let mut i = 0u32;
    g.bench_function("resolve_at_iov_boundary", |b| {
        b.iter(|| {
            // Every key is the first run of an IOV: the case a job hits when it leaves one.
            i = (i + 7) % N_IOVS;
            let r = db
                .resolve("GT", "BenchRcd", "", IovKey::new(1 + i * RUN_STEP, 0))
                .expect("resolve");
            black_box(r)
        })
    });
    g.sample_size(20);
    g.bench_function("payload_1MB_from_db_verified", |b| {
        b.iter(|| black_box(db.payload(&big).expect("payload")))
    });
    let cached = ConditionsDb::open(
        url,
        &ConnectOptions {
            payload_cache: Some(cache_dir.to_path_buf()),
            ..ConnectOptions::default()
        },
    )
    .expect("open");
    cached.payload(&big).expect("fill cache");
    g.bench_function("payload_1MB_from_local_cache_verified", |b| {
        b.iter(|| black_box(cached.payload(&big).expect("payload")))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench_backend(c, "sqlite", &sqlite_url, &dir.path().join("cache-sqlite"));
    let server = match PgServer::start() {
        Ok(s) => s,
        Err(e) => panic!("PostgreSQL benchmark needs a server: {e}"),
    };
    let pg_url = server.fresh_database().expect("database");
    bench_backend(c, "postgres", &pg_url, &dir.path().join("cache-pg"));
    drop(server);
}

criterion_group!(conddb, benches);
criterion_main!(conddb);
