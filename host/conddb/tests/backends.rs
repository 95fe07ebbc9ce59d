//! The conditions-database test suite, written once and run on SQLite and PostgreSQL.

mod common;

use common::{Fixture, Kind};
use hepinfer_conddb::{
    CondError, ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType, SNAPSHOT_LATEST,
};
use std::time::{Duration, Instant};

backend_tests!(
    writes: [
        locked_tag_refuses_iovs,
        locked_global_tag_refuses_remapping,
        offline_tags_are_append_only,
        mc_tags_take_one_iov_at_since_1,
        every_change_writes_a_log_row,
        iov_needs_matching_payload_type,
        open_does_not_create_or_accept_uninitialised,
        init_is_idempotent,
        diff_reports_mapping_and_iov_differences,
        copy_within_backend_preserves_everything,
    ],
    reads: [
        greatest_since_not_after_key_wins,
        equal_since_newest_insertion_wins,
        snapshot_hides_later_insertions,
        lumi_tags_use_run_lumi_keys,
        run_tags_ignore_lumi,
        missing_mapping_or_iov_names_everything,
        resolve_in_tag_overrides_mapping_under_snapshot,
        payloads_are_never_overwritten,
        corrupted_payload_in_database_is_refused,
        corrupted_payload_in_cache_is_refused,
        cached_payload_survives_database_loss,
        concurrent_cache_writers_leave_a_valid_file,
        unreachable_database_retries_then_fails_without_password,
        concurrent_resolution_from_many_threads,
        iov_groups_and_lists_agree_with_resolution,
    ],
);

const T0: i64 = 1_000_000;

fn key(run: u32) -> IovKey {
    IovKey::new(run, 0)
}

/// Stores `n` distinct onnx payloads and returns their hashes.
fn payloads(db: &ConditionsDb, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            db.insert_payload("onnx", format!("model bytes #{i}").as_bytes(), Some(T0))
                .expect("insert payload")
        })
        .collect()
}

fn run_tag(db: &ConditionsDb, name: &str, sync: Synchronization) {
    db.create_tag(name, "onnx", TimeType::Run, sync, "test tag", Some(T0))
        .expect("create tag");
}

/// A global tag (snapshot `snap`) mapping record `Rec`, label `lab` to `tag`.
fn gt(db: &ConditionsDb, name: &str, snap: Option<i64>, tag: &str) {
    db.create_global_tag(name, "test", "rel_1", snap, Some(T0))
        .expect("create gt");
    db.map(name, "Rec", "lab", tag, Some(T0)).expect("map");
}

fn greatest_since_not_after_key_wins(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 3);
    run_tag(&db, "t", Synchronization::Any);
    // Inserted out of order on purpose: resolution must not depend on insertion order.
    db.append_iov("t", key(200), &h[2], Some(T0 + 1)).unwrap();
    db.append_iov("t", key(1), &h[0], Some(T0 + 2)).unwrap();
    db.append_iov("t", key(100), &h[1], Some(T0 + 3)).unwrap();
    gt(&db, "GT", None, "t");
    let rd = fx.reader();

    let cases = [
        (1, &h[0], 1, 100),
        (50, &h[0], 1, 100),
        (99, &h[0], 1, 100),
        (100, &h[1], 100, 200),
        (199, &h[1], 100, 200),
        (200, &h[2], 200, u64::MAX),
        (u32::MAX, &h[2], 200, u64::MAX),
    ];
    for (run, hash, since, till) in cases {
        let r = rd.resolve("GT", "Rec", "lab", key(run)).unwrap();
        assert_eq!(
            (&r.payload_hash, r.since, r.till),
            (hash, since, till),
            "run {run}"
        );
        assert_eq!(r.tag, "t");
        assert_eq!(r.object_type, "onnx");
        assert_eq!(r.time_type, TimeType::Run);
        assert!(r.contains(key(run)));
        assert!(!r.contains(key(since as u32 - 1)) || since == 0);
    }
    let r = rd.resolve("GT", "Rec", "lab", key(150)).unwrap();
    assert!(r.contains(key(100)) && r.contains(key(199)));
    assert!(!r.contains(key(99)) && !r.contains(key(200)));
}

fn equal_since_newest_insertion_wins(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 3);
    run_tag(&db, "t", Synchronization::Any);
    db.append_iov("t", key(1), &h[0], Some(T0 + 10)).unwrap();
    db.append_iov("t", key(100), &h[1], Some(T0 + 20)).unwrap();
    // A correction re-inserted at the same since later on.
    db.append_iov("t", key(100), &h[2], Some(T0 + 30)).unwrap();
    gt(&db, "LATEST", None, "t");
    gt(&db, "BEFORE_FIX", Some(T0 + 25), "t");
    let rd = fx.reader();

    assert_eq!(
        rd.resolve("LATEST", "Rec", "lab", key(150))
            .unwrap()
            .payload_hash,
        h[2]
    );
    assert_eq!(
        rd.resolve("BEFORE_FIX", "Rec", "lab", key(150))
            .unwrap()
            .payload_hash,
        h[1]
    );
    // The re-insertion does not split the range.
    let r = rd.resolve("LATEST", "Rec", "lab", key(50)).unwrap();
    assert_eq!((r.since, r.till), (1, 100));
}

fn snapshot_hides_later_insertions(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 3);
    run_tag(&db, "t", Synchronization::Any);
    db.append_iov("t", key(1), &h[0], Some(T0 + 10)).unwrap();
    db.append_iov("t", key(100), &h[1], Some(T0 + 30)).unwrap();
    db.append_iov("t", key(300), &h[2], Some(T0 + 50)).unwrap();
    gt(&db, "SNAP20", Some(T0 + 20), "t");
    gt(&db, "SNAP30", Some(T0 + 30), "t"); // inclusive: inserted at the snapshot is visible
    gt(&db, "LATEST", Some(SNAPSHOT_LATEST), "t");
    let rd = fx.reader();

    // The chosen IOV: since 100 does not exist yet for SNAP20.
    let r = rd.resolve("SNAP20", "Rec", "lab", key(150)).unwrap();
    assert_eq!((r.payload_hash.as_str(), r.since), (h[0].as_str(), 1));
    // ... and the range end: the later IOVs must not cut the range short.
    assert_eq!(r.till, u64::MAX);
    let r = rd.resolve("SNAP20", "Rec", "lab", key(50)).unwrap();
    assert_eq!(r.till, u64::MAX);

    let r = rd.resolve("SNAP30", "Rec", "lab", key(50)).unwrap();
    assert_eq!((r.since, r.till), (1, 100));
    let r = rd.resolve("SNAP30", "Rec", "lab", key(400)).unwrap();
    assert_eq!(
        (r.payload_hash.as_str(), r.since, r.till),
        (h[1].as_str(), 100, u64::MAX)
    );

    let r = rd.resolve("LATEST", "Rec", "lab", key(150)).unwrap();
    assert_eq!((r.since, r.till), (100, 300));

    // A snapshot before every insertion sees nothing.
    gt(&db, "EMPTY", Some(T0), "t");
    assert!(matches!(
        rd.resolve("EMPTY", "Rec", "lab", key(150)),
        Err(CondError::NotFound { .. })
    ));
}

fn lumi_tags_use_run_lumi_keys(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 4);
    db.create_tag(
        "lt",
        "onnx",
        TimeType::Lumi,
        Synchronization::Offline,
        "",
        Some(T0),
    )
    .unwrap();
    db.append_iov("lt", IovKey::new(1, 0), &h[0], Some(T0 + 1))
        .unwrap();
    db.append_iov("lt", IovKey::new(5, 10), &h[1], Some(T0 + 2))
        .unwrap();
    db.append_iov("lt", IovKey::new(5, 20), &h[2], Some(T0 + 3))
        .unwrap();
    db.append_iov("lt", IovKey::new(6, 0), &h[3], Some(T0 + 4))
        .unwrap();
    gt(&db, "GT", None, "lt");
    let rd = fx.reader();

    let lumi = |r: u32, l: u32| (u64::from(r) << 32) | u64::from(l);
    let r = rd.resolve("GT", "Rec", "lab", IovKey::new(5, 15)).unwrap();
    assert_eq!(r.time_type, TimeType::Lumi);
    assert_eq!(
        (r.payload_hash.as_str(), r.since, r.till),
        (h[1].as_str(), lumi(5, 10), lumi(5, 20))
    );
    assert!(r.contains(IovKey::new(5, 19)));
    assert!(!r.contains(IovKey::new(5, 20)));
    assert!(!r.contains(IovKey::new(5, 9)));

    let r = rd.resolve("GT", "Rec", "lab", IovKey::new(5, 9)).unwrap();
    assert_eq!(
        (r.payload_hash.as_str(), r.since, r.till),
        (h[0].as_str(), lumi(1, 0), lumi(5, 10))
    );
    // Lumi 4e9 of run 5 is still before run 6.
    let r = rd
        .resolve("GT", "Rec", "lab", IovKey::new(5, 4_000_000_000))
        .unwrap();
    assert_eq!(
        (r.payload_hash.as_str(), r.till),
        (h[2].as_str(), lumi(6, 0))
    );
    let r = rd.resolve("GT", "Rec", "lab", IovKey::new(7, 1)).unwrap();
    assert_eq!((r.payload_hash.as_str(), r.till), (h[3].as_str(), u64::MAX));
    assert_eq!(TimeType::Lumi.format_key(r.since), "6:0");
}

fn run_tags_ignore_lumi(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 2);
    run_tag(&db, "t", Synchronization::Any);
    db.append_iov("t", key(1), &h[0], Some(T0 + 1)).unwrap();
    db.append_iov("t", key(5), &h[1], Some(T0 + 2)).unwrap();
    gt(&db, "GT", None, "t");
    let rd = fx.reader();
    let r = rd.resolve("GT", "Rec", "lab", IovKey::new(4, 999)).unwrap();
    assert_eq!(
        (r.payload_hash.as_str(), r.since, r.till),
        (h[0].as_str(), 1, 5)
    );
    assert!(r.contains(IovKey::new(4, 12345)));
    assert!(!r.contains(IovKey::new(5, 0)));
    // A lumi section in the since of a run tag is a mistake, not silently dropped.
    assert!(matches!(
        db.append_iov("t", IovKey::new(9, 3), &h[0], None),
        Err(CondError::Invalid(_))
    ));
}

fn missing_mapping_or_iov_names_everything(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 1);
    run_tag(&db, "t", Synchronization::Any);
    db.append_iov("t", key(100), &h[0], Some(T0 + 1)).unwrap();
    gt(&db, "GT_X", None, "t");
    let rd = fx.reader();

    let msg = |e: CondError| {
        assert!(matches!(e, CondError::NotFound { .. }), "{e:?}");
        e.to_string()
    };
    let m = msg(rd
        .resolve("NO_SUCH_GT", "Rec", "lab", key(150))
        .unwrap_err());
    assert!(m.contains("NO_SUCH_GT"), "{m}");

    let m = msg(rd
        .resolve("GT_X", "Rec", "otherlabel", key(150))
        .unwrap_err());
    for part in ["GT_X", "Rec", "otherlabel", "150"] {
        assert!(m.contains(part), "`{part}` missing in: {m}");
    }
    let m = msg(rd.resolve("GT_X", "OtherRcd", "lab", key(150)).unwrap_err());
    assert!(m.contains("OtherRcd") && m.contains("GT_X"), "{m}");

    let m = msg(rd
        .resolve("GT_X", "Rec", "lab", IovKey::new(42, 7))
        .unwrap_err());
    for part in ["GT_X", "Rec", "lab", "run 42", "lumi 7", "no IOV"] {
        assert!(m.contains(part), "`{part}` missing in: {m}");
    }
}

fn resolve_in_tag_overrides_mapping_under_snapshot(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 3);
    run_tag(&db, "a", Synchronization::Any);
    run_tag(&db, "b", Synchronization::Any);
    db.append_iov("a", key(1), &h[0], Some(T0 + 1)).unwrap();
    db.append_iov("b", key(1), &h[1], Some(T0 + 1)).unwrap();
    db.append_iov("b", key(10), &h[2], Some(T0 + 100)).unwrap();
    gt(&db, "GT", Some(T0 + 50), "a");
    let rd = fx.reader();
    let r = rd.resolve_in_tag("GT", "Rec", "lab", "b", key(20)).unwrap();
    assert_eq!(
        (r.tag.as_str(), r.payload_hash.as_str()),
        ("b", h[1].as_str())
    );
    assert_eq!(
        (r.since, r.till),
        (1, u64::MAX),
        "the snapshot applies to the override"
    );
    assert_eq!(rd.resolve("GT", "Rec", "lab", key(20)).unwrap().tag, "a");
    assert!(matches!(
        rd.resolve_in_tag("GT", "Rec", "lab", "nope", key(20)),
        Err(CondError::NotFound { .. })
    ));
}

fn locked_tag_refuses_iovs(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 2);
    run_tag(&db, "t", Synchronization::Any);
    db.append_iov("t", key(1), &h[0], None).unwrap();
    db.lock_tag("t", None).unwrap();
    assert!(db.tag("t").unwrap().locked);
    let e = db.append_iov("t", key(50), &h[1], None).unwrap_err();
    assert!(matches!(e, CondError::Locked(_)), "{e:?}");
    assert_eq!(db.list_iovs("t").unwrap().len(), 1);
}

fn locked_global_tag_refuses_remapping(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 1);
    run_tag(&db, "a", Synchronization::Any);
    run_tag(&db, "b", Synchronization::Any);
    db.append_iov("a", key(1), &h[0], None).unwrap();
    gt(&db, "GT", None, "a");
    db.map("GT", "Rec", "lab", "b", None).unwrap(); // remapping allowed while unlocked
    db.lock_global_tag("GT", None).unwrap();
    assert!(db.global_tag("GT").unwrap().locked);
    for (rec, tag) in [("Rec", "a"), ("NewRcd", "a")] {
        let e = db.map("GT", rec, "lab", tag, None).unwrap_err();
        assert!(matches!(e, CondError::Locked(_)), "{e:?}");
    }
    let m = db.global_tag_map("GT").unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].tag, "b");
}

fn offline_tags_are_append_only(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 2);
    run_tag(&db, "t", Synchronization::Offline);
    db.append_iov("t", key(100), &h[0], None).unwrap();
    for since in [50, 100] {
        let e = db.append_iov("t", key(since), &h[1], None).unwrap_err();
        assert!(matches!(e, CondError::Policy(_)), "since {since}: {e:?}");
    }
    db.append_iov("t", key(101), &h[1], None).unwrap();
    assert_eq!(db.list_iovs("t").unwrap().len(), 2);
    // `any` accepts what `offline` refuses.
    run_tag(&db, "free", Synchronization::Any);
    db.append_iov("free", key(100), &h[0], None).unwrap();
    db.append_iov("free", key(50), &h[1], None).unwrap();
}

fn mc_tags_take_one_iov_at_since_1(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 2);
    run_tag(&db, "mc", Synchronization::Mc);
    let e = db.append_iov("mc", key(5), &h[0], None).unwrap_err();
    assert!(matches!(e, CondError::Policy(_)), "{e:?}");
    db.append_iov("mc", key(1), &h[0], None).unwrap();
    for since in [1, 2] {
        let e = db.append_iov("mc", key(since), &h[1], None).unwrap_err();
        assert!(matches!(e, CondError::Policy(_)), "{e:?}");
    }
    assert_eq!(db.list_iovs("mc").unwrap().len(), 1);
}

fn every_change_writes_a_log_row(fx: &Fixture) {
    let mut db = fx.init();
    db.set_log_command("hepinfer conddb --db postgresql://u:TopSecret@h/db test");
    let h = payloads(&db, 2);
    run_tag(&db, "t", Synchronization::Any);
    db.append_iov("t", key(1), &h[0], Some(T0 + 1)).unwrap();
    db.append_iov("t", key(9), &h[1], Some(T0 + 2)).unwrap();
    db.lock_tag("t", Some(T0 + 3)).unwrap();
    db.create_global_tag("GT", "", "", None, Some(T0 + 4))
        .unwrap();
    db.map("GT", "Rec", "", "t", Some(T0 + 5)).unwrap();
    db.lock_global_tag("GT", Some(T0 + 6)).unwrap();
    // Refused changes leave no trace.
    assert!(db.append_iov("t", key(20), &h[0], None).is_err());

    let tag_log: Vec<String> = db
        .tag_log(Some("t"))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        tag_log,
        ["create", "append_iov", "append_iov", "lock", "gt_map"]
    );
    let gt_log: Vec<String> = db
        .tag_log(Some("GT"))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(gt_log, ["gt_create", "gt_lock"]);
    let all = db.tag_log(None).unwrap();
    assert_eq!(all.len(), 7);
    for e in &all {
        assert!(!e.user.is_empty() && !e.host.is_empty(), "{e:?}");
        assert!(
            !e.command.contains("TopSecret"),
            "password logged: {}",
            e.command
        );
        assert!(e.command.contains("conddb"), "{}", e.command);
    }
    assert!(all[1].text.contains(&h[0]), "{:?}", all[1]);
}

fn payloads_are_never_overwritten(fx: &Fixture) {
    let db = fx.init();
    let a = db.insert_payload("onnx", b"same bytes", Some(T0)).unwrap();
    let rd = fx.reader();
    let b = db
        .insert_payload("onnx", b"same bytes", Some(T0 + 99))
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, hepinfer_conddb::payload_hash(b"same bytes"));
    let e = db.insert_payload("json", b"same bytes", None).unwrap_err();
    assert!(matches!(e, CondError::Policy(_)), "{e:?}");
    let content = db.content().unwrap();
    assert_eq!(content.payloads.len(), 1);
    assert_eq!(content.payloads[0].3, T0, "first insertion kept");
    let p = rd.payload(&a).unwrap();
    assert_eq!(
        (p.object_type.as_str(), p.data.as_slice()),
        ("onnx", &b"same bytes"[..])
    );
    assert!(matches!(
        rd.payload(&"0".repeat(64)),
        Err(CondError::NotFound { .. })
    ));
    assert!(matches!(
        rd.payload("../etc/passwd"),
        Err(CondError::Invalid(_))
    ));
}

fn iov_needs_matching_payload_type(fx: &Fixture) {
    let db = fx.init();
    let j = db.insert_payload("json", b"{}", None).unwrap();
    run_tag(&db, "t", Synchronization::Any);
    let e = db.append_iov("t", key(1), &j, None).unwrap_err();
    assert!(matches!(e, CondError::Policy(_)), "{e:?}");
    let e = db
        .append_iov("t", key(1), &"a".repeat(64), None)
        .unwrap_err();
    assert!(matches!(e, CondError::NotFound { .. }), "{e:?}");
    let e = db.append_iov("missing", key(1), &j, None).unwrap_err();
    assert!(matches!(e, CondError::NotFound { .. }), "{e:?}");
}

fn corrupted_payload_in_database_is_refused(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 2);
    let rd = fx.reader();
    assert_eq!(rd.payload(&h[0]).unwrap().hash, h[0]);
    let n = fx.raw(&format!(
        "UPDATE payload SET data = (SELECT data FROM payload WHERE hash = '{}') WHERE hash = '{}'",
        h[1], h[0]
    ));
    assert_eq!(n, 1);
    let e = rd.payload(&h[0]).unwrap_err();
    match &e {
        CondError::Integrity { hash, detail, .. } => {
            assert_eq!(hash, &h[0]);
            assert!(detail.contains(&h[1]), "{detail}");
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
    assert!(e.to_string().contains("integrity"), "{e}");
    // The untouched payload still reads fine.
    assert_eq!(rd.payload(&h[1]).unwrap().hash, h[1]);
}

fn corrupted_payload_in_cache_is_refused(fx: &Fixture) {
    let opts = ConnectOptions {
        payload_cache: Some(fx.cache_dir()),
        ..fx.opts()
    };
    let db0 = fx.init();
    let h = payloads(&db0, 1);
    let db = fx.open_with(&opts);
    db.payload(&h[0]).unwrap();
    let file = fx.cache_dir().join(&h[0][..2]).join(&h[0]);
    let mut bytes = std::fs::read(&file).expect("payload cached");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let e = db.payload(&h[0]).unwrap_err();
    match &e {
        CondError::Integrity { source_name, .. } => {
            assert!(source_name.contains("cache"), "{source_name}")
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

fn cached_payload_survives_database_loss(fx: &Fixture) {
    let opts = ConnectOptions {
        payload_cache: Some(fx.cache_dir()),
        ..fx.opts()
    };
    let db0 = fx.init();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let hb = db0.insert_payload("onnx", &big, None).unwrap();
    let other = db0.insert_payload("onnx", b"never read", None).unwrap();
    drop(db0);
    let db = fx.open_with(&opts);
    assert_eq!(db.payload(&hb).unwrap().data, big);
    fx.destroy();
    // Not cached: the database is needed and is gone.
    assert!(db.payload(&other).is_err(), "database should be gone");
    // Cached: still served, verified.
    let p = db.payload(&hb).expect("served from the cache");
    assert_eq!((p.data, p.object_type.as_str()), (big, "onnx"));
}

fn concurrent_cache_writers_leave_a_valid_file(fx: &Fixture) {
    let db0 = fx.init();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let h = db0.insert_payload("torchscript", &data, None).unwrap();
    let opts = ConnectOptions {
        payload_cache: Some(fx.cache_dir()),
        ..fx.opts()
    };
    // Separate connections, as separate jobs on one node would have.
    let dbs: Vec<ConditionsDb> = (0..6).map(|_| fx.open_with(&opts)).collect();
    let barrier = std::sync::Barrier::new(dbs.len());
    std::thread::scope(|s| {
        for db in &dbs {
            let (barrier, h, data) = (&barrier, &h, &data);
            s.spawn(move || {
                barrier.wait();
                for _ in 0..3 {
                    let p = db.payload(h).expect("payload");
                    assert_eq!(&p.data, data);
                }
            });
        }
    });
    let dir = fx.cache_dir().join(&h[..2]);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        std::slice::from_ref(&h),
        "temporary files left behind"
    );
    drop(dbs);
    fx.destroy();
    let db = ConditionsDb::init(&Fixture::sqlite().url, &opts).unwrap();
    let p = db.payload(&h).expect("valid cache file");
    assert_eq!((p.data, p.object_type.as_str()), (data, "torchscript"));
}

fn unreachable_database_retries_then_fails_without_password(fx: &Fixture) {
    let url = fx.unreachable_url();
    let opts = ConnectOptions {
        retries: 2,
        backoff: Duration::from_millis(40),
        payload_cache: None,
    };
    let start = Instant::now();
    // A service is only asked at the first read; a database already at `open`.
    let e = match ConditionsDb::open(&url, &opts).and_then(|db| db.list_global_tags()) {
        Ok(_) => panic!("read from an unreachable database"),
        Err(e) => e,
    };
    let took = start.elapsed();
    // A missing SQLite file fails at once (retrying a local file is pointless); a server or a
    // service is retried with backoff.
    let (want_attempts, min_took) = if fx.kind == Kind::Sqlite {
        (1, Duration::ZERO)
    } else {
        (3, Duration::from_millis(120))
    };
    match &e {
        CondError::Unreachable { attempts, .. } => assert_eq!(*attempts, want_attempts),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(took >= min_took, "backoff 40 + 80 ms, took {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let text = format!("{e} {e:?}");
    assert!(!text.contains("Sup3rS3cretPw"), "password leaked: {text}");
    if fx.kind == Kind::Postgres {
        assert!(text.contains("reader:***@127.0.0.1"), "{text}");
    }
    // Opening never creates a SQLite file.
    if fx.kind == Kind::Sqlite {
        assert!(!fx.dir.path().join("missing").exists());
    }
}

fn open_does_not_create_or_accept_uninitialised(fx: &Fixture) {
    match fx.kind {
        Kind::Sqlite => {
            let e = ConditionsDb::open(&fx.url, &fx.opts()).expect_err("must fail");
            assert!(matches!(e, CondError::Unreachable { .. }), "{e:?}");
            assert!(!std::path::Path::new(fx.url.trim_start_matches("sqlite://")).exists());
            std::fs::write(fx.url.trim_start_matches("sqlite://"), b"").unwrap();
        }
        Kind::Postgres | Kind::Http => {}
    }
    // The database exists but has no schema.
    let e = ConditionsDb::open(&fx.url, &fx.opts()).expect_err("must fail");
    assert!(matches!(e, CondError::Schema(_)), "{e:?}");
    assert!(e.to_string().contains("init"), "{e}");
    fx.init();
    ConditionsDb::open(&fx.url, &fx.opts()).expect("open after init");
}

fn init_is_idempotent(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 1);
    drop(db);
    let db = fx.init();
    assert_eq!(db.payload(&h[0]).unwrap().hash, h[0]);
    fx.raw(&format!(
        "INSERT INTO schema_version (version, applied_at) VALUES ({}, 0)",
        hepinfer_conddb::SCHEMA_VERSION + 1
    ));
    let e = ConditionsDb::open(&fx.url, &fx.opts()).expect_err("newer schema refused");
    assert!(matches!(e, CondError::Schema(_)), "{e:?}");
}

fn diff_reports_mapping_and_iov_differences(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 3);
    run_tag(&db, "a", Synchronization::Any);
    run_tag(&db, "b", Synchronization::Any);
    db.append_iov("a", key(1), &h[0], Some(T0 + 10)).unwrap();
    db.append_iov("a", key(50), &h[1], Some(T0 + 30)).unwrap();
    db.append_iov("b", key(1), &h[2], Some(T0 + 10)).unwrap();
    for (name, snap) in [("G1", None), ("G2", None), ("G3", Some(T0 + 20))] {
        db.create_global_tag(name, "", "", snap, None).unwrap();
        db.map(name, "Rec", "", "a", None).unwrap();
    }
    db.map("G1", "Other", "x", "b", None).unwrap();
    assert!(db.diff_global_tags("G2", &db, "G2").unwrap().is_empty());
    let d = db.diff_global_tags("G1", &db, "G2").unwrap();
    assert_eq!(d.entries.len(), 1);
    assert_eq!(
        (d.entries[0].record.as_str(), d.entries[0].tag_b.as_deref()),
        ("Other", None)
    );
    // Same tag, different snapshot: the visible IOVs differ.
    let d = db.diff_global_tags("G2", &db, "G3").unwrap();
    assert_eq!(d.entries.len(), 1);
    assert!(d.entries[0].detail.contains("50"), "{:?}", d.entries[0]);
    db.map("G2", "Rec", "", "b", None).unwrap();
    let d = db.diff_global_tags("G2", &db, "G3").unwrap();
    assert!(
        d.entries[0].detail.contains("tag `b` vs `a`"),
        "{:?}",
        d.entries[0]
    );
}

fn copy_within_backend_preserves_everything(fx: &Fixture) {
    let src = fx.init();
    common::populate(&src);
    let other = Fixture::new(fx.kind);
    let dst = other.init();
    let st = src.copy_to(&dst, &hepinfer_conddb::CopyScope::All).unwrap();
    assert_eq!(
        (st.payloads, st.tags, st.iovs, st.global_tags, st.mappings),
        (5, 2, 4, 2, 3)
    );
    assert_eq!(src.content().unwrap(), dst.content().unwrap());
    // Copying again changes nothing.
    let st = src.copy_to(&dst, &hepinfer_conddb::CopyScope::All).unwrap();
    assert_eq!(st, hepinfer_conddb::CopyStats::default());
    // Locks travel with the rows.
    assert!(matches!(
        dst.map("GT1", "Rec", "", "l", None),
        Err(CondError::Locked(_))
    ));
}

fn concurrent_resolution_from_many_threads(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 20);
    run_tag(&db, "t", Synchronization::Offline);
    for (i, hash) in h.iter().enumerate() {
        db.append_iov("t", key(1 + 100 * i as u32), hash, None)
            .unwrap();
    }
    gt(&db, "GT", None, "t");
    let rd = fx.reader();
    // One shared handle, as the host's instances on many framework threads use it.
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (db, h) = (&rd, &h);
            s.spawn(move || {
                for j in 0..60u32 {
                    let run = 1 + (t * 977 + j * 131) % 2000;
                    let r = db.resolve("GT", "Rec", "lab", key(run)).expect("resolve");
                    let i = ((run - 1) / 100) as usize;
                    assert_eq!(r.payload_hash, h[i], "run {run}");
                    assert_eq!(r.since, 1 + 100 * i as u64);
                    let p = db.payload(&r.payload_hash).expect("payload");
                    assert_eq!(p.hash, r.payload_hash);
                }
            });
        }
    });
}

fn iov_groups_and_lists_agree_with_resolution(fx: &Fixture) {
    let db = fx.init();
    let h = payloads(&db, 25);
    run_tag(&db, "t", Synchronization::Any);
    for (i, hash) in h.iter().enumerate() {
        db.append_iov("t", key(10 + 10 * i as u32), hash, Some(T0 + 10))
            .unwrap();
    }
    // A correction at since 50 after the snapshot: invisible to SNAP.
    db.append_iov("t", key(50), &h[0], Some(T0 + 90)).unwrap();
    gt(&db, "SNAP", Some(T0 + 50), "t");
    let rd = fx.reader();
    let g = rd.iov_groups("t", T0 + 50, 10).unwrap();
    assert_eq!((g.count, g.time_type), (25, TimeType::Run));
    assert_eq!(g.boundaries, vec![10, 110, 210]);
    assert_eq!(g.group_of(5), None);
    assert_eq!(g.group_of(115), Some((110, 210)));
    let mut seen = 0;
    for (from, to) in [(10, 110), (110, 210), (210, u64::MAX)] {
        let l = rd.tag_iovs("t", T0 + 50, from, to).unwrap();
        assert_eq!((l.from, l.to, l.object_type.as_str()), (from, to, "onnx"));
        for (i, (since, hash)) in l.iovs.iter().enumerate() {
            assert_eq!(hash, &h[(*since as usize - 10) / 10], "since {since}");
            // The range of each IOV in its group is what the database resolves.
            let r = rd
                .resolve("SNAP", "Rec", "lab", key(*since as u32 + 5))
                .unwrap();
            assert_eq!((r.since, r.till), (l.range(i).0, l.range(i).1));
            seen += 1;
        }
    }
    assert_eq!(seen, 25);
    // The whole list under the latest snapshot sees the correction.
    let all = rd.tag_iovs("t", SNAPSHOT_LATEST, 0, u64::MAX).unwrap();
    assert_eq!(all.iovs[4], (50, h[0].clone()));
    assert!(matches!(
        rd.iov_groups("nope", T0, 10),
        Err(CondError::NotFound { .. })
    ));
    assert!(matches!(
        rd.iov_groups("t", T0, 0),
        Err(CondError::Invalid(_))
    ));
}
