//! `hepinfer conddb serve` behind a real Squid (Debian's package) on loopback: a second job is
//! served by Squid with the origin stopped, 100 jobs in a row reach the origin only for the
//! first one's requests, and a payload altered on the way is refused by its hash.
//!
//! Squid must be installed (`scripts/install-deps.sh`); without it these tests FAIL.

use hepinfer_conddb::testsquid::Squid;
use hepinfer_conddb::{
    CondError, ConditionsDb, ConnectOptions, HttpOptions, IovKey, Synchronization, TimeType,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `hepinfer conddb serve` as its own process, with an access log of every request.
struct Origin {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Origin {
    fn start(db: &str, dir: &Path) -> Origin {
        let log = dir.join("origin-access.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hepinfer-conddb"))
            .args([
                "--db",
                db,
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "4",
            ])
            .arg("--access-log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hepinfer-conddb serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line `{line}`"))
            .to_string();
        Origin { child, url, log }
    }

    /// Requests the origin has answered so far.
    fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .count()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A database with two tags (run and lumi) of several IOVs and a global tag whose snapshot is
/// fixed in the past, so its IOV lists are immutable. Returns the payload hashes.
fn populate(url: &str) -> Vec<String> {
    let db = ConditionsDb::init(url, &ConnectOptions::default()).unwrap();
    let h: Vec<String> = (0..6)
        .map(|i| {
            let bytes: Vec<u8> = (0..50_000u32).map(|j| ((i * 31 + j) % 251) as u8).collect();
            db.insert_payload("onnx", &bytes, Some(1_000)).unwrap()
        })
        .collect();
    db.create_tag(
        "a",
        "onnx",
        TimeType::Run,
        Synchronization::Any,
        "",
        Some(1_000),
    )
    .unwrap();
    db.create_tag(
        "l",
        "onnx",
        TimeType::Lumi,
        Synchronization::Any,
        "",
        Some(1_000),
    )
    .unwrap();
    for (i, run) in [1u32, 100, 200, 300].iter().enumerate() {
        db.append_iov("a", IovKey::new(*run, 0), &h[i], Some(2_000))
            .unwrap();
    }
    db.append_iov("l", IovKey::new(1, 0), &h[4], Some(2_000))
        .unwrap();
    db.append_iov("l", IovKey::new(150, 7), &h[5], Some(2_000))
        .unwrap();
    db.create_global_tag("GT", "", "", Some(3_000), Some(1_000))
        .unwrap();
    db.map("GT", "Rec", "", "a", Some(1_000)).unwrap();
    db.map("GT", "LumiRcd", "x", "l", Some(1_000)).unwrap();
    db.lock_global_tag("GT", Some(1_000)).unwrap();
    h
}

/// What one job reads: the global tag, the IOVs of both tags, every payload it needs.
/// Returns (record, key, hash) for each resolution, for comparing jobs.
fn job(db: &ConditionsDb) -> Result<Vec<(String, u32, String)>, CondError> {
    let mut out = Vec::new();
    for run in [5u32, 150, 250, 400] {
        let r = db.resolve("GT", "Rec", "", IovKey::new(run, 3))?;
        db.payload(&r.payload_hash)?;
        out.push(("Rec".to_string(), run, r.payload_hash));
        let r = db.resolve("GT", "LumiRcd", "x", IovKey::new(run, 3))?;
        db.payload(&r.payload_hash)?;
        out.push(("LumiRcd".to_string(), run, r.payload_hash));
    }
    Ok(out)
}

fn client(servers: &[String], proxies: &[String]) -> ConditionsDb {
    ConditionsDb::open_http(
        servers,
        &HttpOptions {
            proxies: proxies.to_vec(),
            timeout: Some(Duration::from_secs(10)),
        },
        &ConnectOptions {
            retries: 0,
            backoff: Duration::from_millis(10),
            payload_cache: None,
        },
    )
    .expect("client")
}

fn squid() -> Squid {
    Squid::start().unwrap_or_else(|e| panic!("Squid could not be started: {e}"))
}

#[test]
fn second_job_is_served_by_squid_with_the_origin_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cond.db").display());
    let h = populate(&db);
    let mut origin = Origin::start(&db, dir.path());
    let squid = squid();

    let first = job(&client(std::slice::from_ref(&origin.url), &[squid.url()])).expect("first job");
    assert_eq!(first[0].2, h[0]);
    assert_eq!(first[3].2, h[4], "run 150 lumi 3 is before since 150:7");
    assert_eq!(first[5].2, h[5]);
    let origin_requests = origin.requests();
    assert!(origin_requests > 0);
    origin.stop();
    let log_before = squid.access_log().lines().count();

    // The origin is gone: only Squid can answer (the client would go direct after it).
    let second =
        job(&client(std::slice::from_ref(&origin.url), &[squid.url()])).expect("second job");
    assert_eq!(first, second);
    let log = squid.access_log();
    let lines: Vec<&str> = log.lines().skip(log_before).collect();
    assert!(
        !lines.is_empty(),
        "the second job's requests are in Squid's log"
    );
    for l in &lines {
        assert!(
            l.contains("TCP_HIT/200") || l.contains("TCP_MEM_HIT/200"),
            "not a cache hit: {l}"
        );
    }
    eprintln!(
        "origin answered {origin_requests} requests; the second job's {} were Squid hits",
        lines.len()
    );
}

#[test]
fn hundred_jobs_in_a_row_reach_the_origin_only_for_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cond.db").display());
    populate(&db);
    let origin = Origin::start(&db, dir.path());
    let squid = squid();
    let first = job(&client(std::slice::from_ref(&origin.url), &[squid.url()])).expect("job 1");
    let after_first = origin.requests();
    let start = Instant::now();
    for i in 2..=100 {
        // Each job is a new process in real life: a new client, no shared state but Squid.
        let answers = job(&client(std::slice::from_ref(&origin.url), &[squid.url()]))
            .unwrap_or_else(|e| panic!("job {i}: {e}"));
        assert_eq!(answers, first, "job {i}");
    }
    assert_eq!(
        origin.requests(),
        after_first,
        "jobs 2..100 must not reach the origin"
    );
    let hits = squid
        .access_log()
        .lines()
        .filter(|l| l.contains("_HIT/200"))
        .count();
    assert!(hits >= 99 * after_first, "{hits} hits");
    eprintln!(
        "origin: {after_first} requests for job 1, none for jobs 2..100 ({hits} Squid hits, {:?})",
        start.elapsed()
    );
}

/// A one-connection-at-a-time HTTP proxy that forwards to `origin` and flips one byte of every
/// payload body: the network fault a hash must catch. Test-only by design.
fn corrupting_proxy(origin: String) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let origin = origin.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            // Absolute-form request line: GET http://host:port/v1/... HTTP/1.1
            let Some(target) = head.split_whitespace().nth(1) else {
                continue;
            };
            let path = target
                .splitn(4, '/')
                .nth(3)
                .map_or("/".to_string(), |p| format!("/{p}"));
            let Ok(mut up) = std::net::TcpStream::connect(&origin) else {
                continue;
            };
            let req = format!("GET {path} HTTP/1.1\r\nHost: {origin}\r\nConnection: close\r\n\r\n");
            let mut answer = Vec::new();
            if up.write_all(req.as_bytes()).is_err() || up.read_to_end(&mut answer).is_err() {
                continue;
            }
            // The service answers with Content-Length; flip a byte in the middle of the body.
            let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let body_len = answer.len() - split - 4;
            if path.contains("/payloads/") && body_len > 0 {
                let mid = split + 4 + body_len / 2;
                answer[mid] ^= 0x20;
            }
            let _ = conn.write_all(&answer);
        }
    });
    url
}

#[test]
fn a_payload_altered_on_the_way_is_refused_by_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cond.db").display());
    let h = populate(&db);
    let origin = Origin::start(&db, dir.path());
    let proxy = corrupting_proxy(origin.url.clone());
    let cache = dir.path().join("payload-cache");
    // Nothing listens on port 1: the corrupting proxy is the only way to the service.
    let c = ConditionsDb::open_http(
        &["http://127.0.0.1:1".to_string()],
        &HttpOptions {
            proxies: vec![proxy],
            timeout: Some(Duration::from_secs(10)),
        },
        &ConnectOptions {
            retries: 0,
            backoff: Duration::from_millis(10),
            payload_cache: Some(cache.clone()),
        },
    )
    .unwrap();
    // JSON answers pass unaltered: resolution works through the proxy.
    let r = c.resolve("GT", "Rec", "", IovKey::new(5, 0)).unwrap();
    assert_eq!(r.payload_hash, h[0]);
    let e = c.payload(&h[0]).unwrap_err();
    match &e {
        CondError::Integrity {
            hash,
            source_name,
            detail,
        } => {
            assert_eq!(hash, &h[0]);
            assert!(source_name.contains("via proxy"), "{source_name}");
            assert!(detail.contains("refusing"), "{detail}");
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
    // Nothing altered reached the local payload cache.
    assert!(!cache.join(&h[0][..2]).join(&h[0]).exists());
    // The same request straight to the service gives the true bytes.
    let direct = client(std::slice::from_ref(&origin.url), &[]);
    assert_eq!(direct.payload(&h[0]).unwrap().hash, h[0]);
}
