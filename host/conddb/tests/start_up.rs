//! Failures a job wants to see at once and explained: a missing SQLite file (no retries), a
//! PostgreSQL server that is down (the cause, not just "error connecting"), and a
//! SQLite file rewritten in place under an open connection (reopened, not failing forever).

use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Options whose retries would take over a minute if they were used.
fn slow_retries() -> ConnectOptions {
    ConnectOptions {
        retries: 4,
        backoff: Duration::from_secs(5),
        payload_cache: None,
    }
}

/// A loopback port with nothing listening (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_missing_sqlite_file_fails_at_once_without_retries() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("typo.db").display());
    let t = Instant::now();
    let e = ConditionsDb::open(&url, &slow_retries()).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("after 1 attempt(s)"), "{m}");
    assert!(
        m.contains("no database file") && m.contains("typo.db"),
        "{m}"
    );
    // With 4 retries from 5 s, retrying would take 75 s.
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[test]
fn postgresql_refusing_connections_says_so() {
    let url = format!("postgresql://nobody@127.0.0.1:{}/cond", closed_port());
    let opts = ConnectOptions {
        retries: 1,
        backoff: Duration::from_millis(10),
        payload_cache: None,
    };
    let m = ConditionsDb::open(&url, &opts).unwrap_err().to_string();
    assert!(m.contains("after 2 attempt(s)"), "{m}");
    assert!(m.to_lowercase().contains("connection refused"), "{m}");
}

fn fill(url: &str, payload: &[u8]) -> String {
    let db = ConditionsDb::init(url, &ConnectOptions::default()).unwrap();
    let h = db.insert_payload("json", payload, None).unwrap();
    db.create_tag("T", "json", TimeType::Run, Synchronization::Any, "", None)
        .unwrap();
    db.append_iov("T", IovKey::new(1, 0), &h, None).unwrap();
    db.create_global_tag("GT", "", "", None, None).unwrap();
    db.map("GT", "Rcd", "", "T", None).unwrap();
    h
}

#[test]
fn a_sqlite_file_rewritten_in_place_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("cond.db");
    let other = dir.path().join("other.db");
    let url = format!("sqlite://{}", live.display());
    let h1 = fill(&url, b"{\"v\": 1}");
    let h2 = fill(&format!("sqlite://{}", other.display()), b"{\"v\": 2}");

    let db = ConditionsDb::open(&url, &ConnectOptions::default()).unwrap();
    let key = IovKey::new(5, 0);
    assert_eq!(db.resolve("GT", "Rcd", "", key).unwrap().payload_hash, h1);

    // Truncated in place (e.g. a copy in progress): reads fail, with the engine's reason.
    std::fs::write(&live, b"").unwrap();
    let e = db.resolve("GT", "Rcd", "", key).unwrap_err().to_string();
    assert!(e.contains("no such table"), "{e}");

    // The copy completes in place: the same handle sees the new content.
    std::fs::write(&live, std::fs::read(&other).unwrap()).unwrap();
    let r = db
        .resolve("GT", "Rcd", "", key)
        .expect("the rewritten file is read again");
    assert_eq!(r.payload_hash, h2);
    assert_eq!(db.payload(&h2).unwrap().data, b"{\"v\": 2}");
}
