//! Shared test fixtures: one fresh database per test, on SQLite or on the PostgreSQL server
//! that the test binary starts once (and stops at exit).
#![allow(dead_code)] // each test binary uses a different subset

use hepinfer_conddb::serve::Server;
use hepinfer_conddb::testserver::PgServer;
use hepinfer_conddb::{
    ConditionsDb, ConnectOptions, HttpOptions, IovKey, Synchronization, TimeType,
};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Which backend a fixture uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    /// Written through SQLite, read through `hepinfer conddb serve` over HTTP.
    Http,
}

/// A fresh, empty database plus a scratch directory.
pub struct Fixture {
    pub kind: Kind,
    /// The database written to (SQLite behind the service for `Http`).
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The service in front of `url` (`Http`), started on the first read.
    server: Mutex<Option<Server>>,
}

/// The per-binary PostgreSQL server; tests FAIL (not skip) when it cannot be started.
pub fn pg() -> &'static PgServer {
    match PgServer::shared() {
        Ok(s) => s,
        Err(e) => panic!("the PostgreSQL test server could not be started: {e}"),
    }
}

impl Fixture {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("cond.db").display());
        Fixture {
            kind: Kind::Sqlite,
            url,
            dir,
            server: Mutex::new(None),
        }
    }

    pub fn http() -> Self {
        Fixture {
            kind: Kind::Http,
            ..Self::sqlite()
        }
    }

    pub fn postgres() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = pg()
            .fresh_database()
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        Fixture {
            kind: Kind::Postgres,
            url,
            dir,
            server: Mutex::new(None),
        }
    }

    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Sqlite => Self::sqlite(),
            Kind::Postgres => Self::postgres(),
            Kind::Http => Self::http(),
        }
    }

    /// Fast-failing options for tests.
    pub fn opts(&self) -> ConnectOptions {
        ConnectOptions {
            retries: 1,
            backoff: Duration::from_millis(10),
            payload_cache: None,
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("payload-cache")
    }

    /// Creates the schema and returns a connection.
    pub fn init(&self) -> ConditionsDb {
        ConditionsDb::init(&self.url, &self.opts()).expect("init")
    }

    pub fn open_with(&self, opts: &ConnectOptions) -> ConditionsDb {
        match self.kind {
            Kind::Http => ConditionsDb::open_http(
                &[self.service_url()],
                &HttpOptions {
                    proxies: vec![],
                    timeout: Some(Duration::from_secs(10)),
                },
                opts,
            )
            .expect("open http"),
            _ => ConditionsDb::open(&self.url, opts).expect("open"),
        }
    }

    /// A handle for reads: a new connection, or for `Http` a client of the service (started
    /// now if it is not running; the database must be initialised).
    pub fn reader(&self) -> ConditionsDb {
        self.open_with(&self.opts())
    }

    /// The URL of the service in front of the database (started if needed).
    pub fn service_url(&self) -> String {
        let mut s = self.server.lock().unwrap();
        let server = s.get_or_insert_with(|| {
            Server::start(&self.url, "127.0.0.1:0", &self.opts(), 4, None).expect("start service")
        });
        format!("http://{}", server.addr())
    }

    /// Runs raw SQL behind the library's back.
    pub fn raw(&self, sql: &str) -> u64 {
        hepinfer_conddb::raw_execute(&self.url, sql).expect("raw SQL")
    }

    /// Makes the database go away under open connections: the SQLite file is emptied and
    /// removed, the PostgreSQL database dropped (its connections terminated).
    pub fn destroy(&self) {
        if let Some(server) = self.server.lock().unwrap().take() {
            server.stop();
        }
        match self.kind {
            Kind::Sqlite | Kind::Http => {
                let path = self.url.trim_start_matches("sqlite://");
                std::fs::write(path, b"").expect("truncate db file");
                std::fs::remove_file(path).expect("remove db file");
            }
            Kind::Postgres => pg().drop_database(&self.url).expect("drop database"),
        }
    }

    /// A URL of the same kind that cannot be reached, with a password in it.
    pub fn unreachable_url(&self) -> String {
        match self.kind {
            Kind::Sqlite => format!(
                "sqlite://{}",
                self.dir.path().join("missing/nothing.db").display()
            ),
            Kind::Postgres => {
                // A port that was free a moment ago: nothing listens there.
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("free port");
                format!("postgresql://reader:Sup3rS3cretPw@127.0.0.1:{port}/conditions")
            }
            Kind::Http => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("free port");
                format!("http://reader:Sup3rS3cretPw@127.0.0.1:{port}/conditions")
            }
        }
    }
}

/// Instantiates every listed test function `fn(&Fixture)` once per backend, in modules
/// `sqlite` and `postgres`; the `reads` also in module `http` (written through SQLite, read
/// through `hepinfer conddb serve`: same rules, same answers).
#[macro_export]
macro_rules! backend_tests {
    (writes: [$($w:ident),* $(,)?], reads: [$($r:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $( #[test] fn $w() { super::$w(&$crate::common::Fixture::sqlite()) } )*
            $( #[test] fn $r() { super::$r(&$crate::common::Fixture::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $w() { super::$w(&$crate::common::Fixture::postgres()) } )*
            $( #[test] fn $r() { super::$r(&$crate::common::Fixture::postgres()) } )*
        }
        mod http {
            $( #[test] fn $r() { super::$r(&$crate::common::Fixture::http()) } )*
        }
    };
}

const T0: i64 = 1_000_000;

/// Fills a database with every kind of row, snapshots and locks included.
pub fn populate(db: &ConditionsDb) {
    let h: Vec<String> = (0..4)
        .map(|i| {
            db.insert_payload("onnx", format!("model bytes #{i}").as_bytes(), Some(T0))
                .expect("payload")
        })
        .collect();
    db.insert_payload("json", br#"{"unreferenced": true}"#, Some(T0))
        .unwrap();
    db.create_tag(
        "a",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "run tag",
        Some(T0),
    )
    .unwrap();
    db.create_tag(
        "l",
        "onnx",
        TimeType::Lumi,
        Synchronization::Any,
        "lumi tag",
        Some(T0),
    )
    .unwrap();
    db.append_iov("a", IovKey::new(1, 0), &h[0], Some(T0 + 1))
        .unwrap();
    db.append_iov("a", IovKey::new(10, 0), &h[1], Some(T0 + 2))
        .unwrap();
    db.append_iov("l", IovKey::new(3, 4), &h[2], Some(T0 + 3))
        .unwrap();
    db.append_iov("l", IovKey::new(3, 4), &h[3], Some(T0 + 4))
        .unwrap();
    db.lock_tag("a", Some(T0 + 5)).unwrap();
    db.create_global_tag("GT1", "first", "rel_1", Some(T0 + 3), Some(T0))
        .unwrap();
    db.map("GT1", "Rec", "", "a", Some(T0)).unwrap();
    db.map("GT1", "LumiRcd", "x", "l", Some(T0)).unwrap();
    db.lock_global_tag("GT1", Some(T0 + 6)).unwrap();
    db.create_global_tag("GT2", "second", "rel_2", None, Some(T0))
        .unwrap();
    db.map("GT2", "Rec", "", "a", Some(T0)).unwrap();
}
