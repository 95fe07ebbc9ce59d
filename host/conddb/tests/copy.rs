//! Cross-backend copies (SQLite → PostgreSQL → SQLite) and PostgreSQL reconnection.

mod common;

use common::{pg, Fixture};
use hepinfer_conddb::{CondError, ConditionsDb, CopyScope, IovKey};

#[test]
fn sqlite_to_postgres_to_sqlite_round_trip_preserves_everything() {
    let a = Fixture::sqlite();
    let p = Fixture::postgres();
    let b = Fixture::sqlite();
    let src = a.init();
    common::populate(&src);
    let mid = p.init();
    let back = b.init();
    src.copy_to(&mid, &CopyScope::All).unwrap();
    mid.copy_to(&back, &CopyScope::All).unwrap();
    let original = src.content().unwrap();
    assert_eq!(original, mid.content().unwrap());
    assert_eq!(original, back.content().unwrap());
    for gt in ["GT1", "GT2"] {
        let d = src.diff_global_tags(gt, &mid, gt).unwrap();
        assert!(d.is_empty(), "{gt}: {d:?}");
        let d = src.diff_global_tags(gt, &back, gt).unwrap();
        assert!(d.is_empty(), "{gt}: {d:?}");
    }
    // Payload bytes made it intact (verified by hash on read).
    for (hash, ..) in &original.payloads {
        assert_eq!(
            back.payload(hash).unwrap().data,
            src.payload(hash).unwrap().data
        );
    }
    // Resolution gives the same answers, snapshot included.
    for k in [IovKey::new(5, 0), IovKey::new(3, 9), IovKey::new(20, 0)] {
        assert_eq!(
            src.resolve("GT1", "Rec", "", k).ok(),
            back.resolve("GT1", "Rec", "", k).ok()
        );
        assert_eq!(
            src.resolve("GT1", "LumiRcd", "x", k).ok(),
            mid.resolve("GT1", "LumiRcd", "x", k).ok()
        );
    }
}

#[test]
fn copying_one_global_tag_takes_what_it_references() {
    let a = Fixture::sqlite();
    let p = Fixture::postgres();
    let src = a.init();
    common::populate(&src);
    let dst = p.init();
    let st = src
        .copy_to(&dst, &CopyScope::GlobalTag("GT2".into()))
        .unwrap();
    assert_eq!(
        (st.global_tags, st.tags, st.iovs, st.payloads),
        (1, 1, 2, 2)
    );
    assert_eq!(dst.list_global_tags().unwrap().len(), 1);
    assert!(dst.diff_global_tags("GT2", &src, "GT2").unwrap().is_empty());
    assert!(dst.tag_log(Some("a")).unwrap().len() >= 3);
    // The unreferenced payload and tag stayed behind.
    assert!(matches!(dst.tag("l"), Err(CondError::NotFound { .. })));
}

#[test]
fn copy_refuses_conflicting_rows() {
    let a = Fixture::sqlite();
    let b = Fixture::postgres();
    let src = a.init();
    common::populate(&src);
    let dst = b.init();
    dst.create_tag(
        "a",
        "json",
        hepinfer_conddb::TimeType::Run,
        hepinfer_conddb::Synchronization::Any,
        "",
        None,
    )
    .unwrap();
    let e = src.copy_to(&dst, &CopyScope::All).unwrap_err();
    assert!(matches!(e, CondError::Policy(_)), "{e:?}");
    // The copy is one transaction: nothing of it is left.
    assert!(dst.list_global_tags().unwrap().is_empty());
    assert_eq!(dst.content().unwrap().payloads.len(), 0);
}

#[test]
fn postgres_connection_loss_is_retried() {
    let fx = Fixture::postgres();
    let db = fx.init();
    common::populate(&db);
    let before = db.resolve("GT2", "Rec", "", IovKey::new(12, 0)).unwrap();
    let dbname = fx.url.rsplit('/').next().unwrap().to_string();
    let mut admin = postgres::Client::connect(&pg().url("postgres"), postgres::NoTls).unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&dbname],
        )
        .unwrap();
    assert!(!killed.is_empty(), "no connection to terminate");
    let after = db.resolve("GT2", "Rec", "", IovKey::new(12, 0)).unwrap();
    assert_eq!(before, after);
    let _ = ConditionsDb::open(&fx.url, &fx.opts()).unwrap();
}

#[test]
fn cached_payloads_survive_a_stopped_server() {
    // A server of its own, so stopping it does not disturb the other tests.
    let server = hepinfer_conddb::testserver::PgServer::start()
        .unwrap_or_else(|e| panic!("the PostgreSQL test server could not be started: {e}"));
    let url = server.fresh_database().expect("database");
    let cache = tempfile::tempdir().unwrap();
    let opts = hepinfer_conddb::ConnectOptions {
        retries: 2,
        backoff: std::time::Duration::from_millis(20),
        payload_cache: Some(cache.path().to_path_buf()),
    };
    let db = ConditionsDb::init(&url, &opts).unwrap();
    let model = vec![7u8; 100_000];
    let h = db.insert_payload("onnx", &model, None).unwrap();
    let other = db.insert_payload("onnx", b"not fetched", None).unwrap();
    assert_eq!(db.payload(&h).unwrap().data, model);
    server.stop();
    assert_eq!(db.payload(&h).expect("served from the cache").data, model);
    match db.payload(&other) {
        Err(CondError::Unreachable { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("expected Unreachable after the retries, got {other:?}"),
    }
}
