//! A throw-away PostgreSQL server on loopback for tests and benchmarks.
//!
//! [`PgServer::start`] runs `initdb` on a temporary directory and starts the server with
//! `pg_ctl` on a free port, listening only on 127.0.0.1, with `trust` authentication and
//! durability switched off (it is thrown away). When the process runs as root, the server runs
//! as the `postgres` system user (PostgreSQL refuses to run as root) through `runuser`.
//! The binaries are taken from `$HEPINFER_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`,
//! else `PATH`. Install them on Debian/Ubuntu with `apt-get install postgresql`.
//!
//! The server stops when the [`PgServer`] is dropped; [`PgServer::shared`] keeps one per process
//! and stops it at exit. A watchdog process also stops it if the owning process is killed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// How to get the PostgreSQL server binaries, appended to every start-up error.
pub const INSTALL_HINT: &str =
    "install the PostgreSQL server (Debian/Ubuntu: `apt-get install postgresql`) \
     or set HEPINFER_PG_BINDIR to the directory holding initdb and pg_ctl";

/// A running PostgreSQL server owned by this process.
#[derive(Debug)]
pub struct PgServer {
    bindir: PathBuf,
    base: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
    stopped: AtomicBool,
}

fn find_bindir() -> Result<PathBuf, String> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Ok(d) = std::env::var("HEPINFER_PG_BINDIR") {
        let d = PathBuf::from(d);
        return if has_tools(&d) {
            Ok(d)
        } else {
            Err(format!(
                "HEPINFER_PG_BINDIR={} has no initdb/pg_ctl; {INSTALL_HINT}",
                d.display()
            ))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_tools(&d) {
                return Ok(d);
            }
        }
    }
    Err(format!(
        "PostgreSQL server binaries not found; {INSTALL_HINT}"
    ))
}

/// uid and gid of the `postgres` user, needed when running as root.
fn postgres_user() -> Result<(u32, u32), String> {
    let name = c"postgres";
    // SAFETY: getpwnam takes a valid C string; the returned record is read at once, before
    // any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(format!(
            "running as root, but there is no `postgres` user to run the server as; {INSTALL_HINT}"
        ));
    }
    // SAFETY: pw is non-null and points to a passwd record.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl PgServer {
    /// Initialises and starts a new server; the error says how to install PostgreSQL.
    pub fn start() -> Result<Self, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let bindir = find_bindir()?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let run_as = if root { Some(postgres_user()?) } else { None };
        let base = std::env::temp_dir().join(format!(
            "hepinfer-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&base, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", base.display()))?;
        }
        let mut server = PgServer {
            bindir,
            base,
            port: 0,
            run_as,
            stopped: AtomicBool::new(true),
        };
        // Before anything can be left behind: a kill during initdb or start-up is cleaned up too.
        server.spawn_watchdog();
        let data = server.base.join("data");
        server.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        // The port is free when probed but may be taken before the server binds it: retry.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            let opts = format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                server.port,
                server.base.display()
            );
            match server.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-l",
                    &server.base.join("server.log").to_string_lossy(),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &opts,
                    "start",
                ],
            ) {
                Ok(()) => {
                    server.stopped.store(false, Ordering::SeqCst);
                    return Ok(server);
                }
                Err(e) => last = e,
            }
        }
        Err(format!(
            "could not start PostgreSQL: {last}\n{}",
            fs::read_to_string(server.base.join("server.log")).unwrap_or_default()
        ))
    }

    /// One server per process, started on first use and stopped at process exit.
    pub fn shared() -> Result<&'static PgServer, String> {
        static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
        extern "C" fn stop_shared() {
            if let Some(Ok(s)) = SHARED.get() {
                s.stop();
            }
        }
        SHARED
            .get_or_init(|| {
                let s = PgServer::start()?;
                // SAFETY: registering a plain extern "C" function with no arguments.
                unsafe { libc::atexit(stop_shared) };
                Ok(s)
            })
            .as_ref()
            .map_err(|e| e.clone())
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bindir.join(tool);
        match self.run_as {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let log = self.base.join(format!("{tool}.out"));
        let out = fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        // Output goes to a file, not a pipe: the server started by pg_ctl must not inherit a
        // pipe that the test harness waits on.
        let status = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("cannot run {tool}: {e}; {INSTALL_HINT}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed ({status}): {}",
                fs::read_to_string(&log).unwrap_or_default().trim()
            ))
        }
    }

    /// A shell loop that stops the server and removes its files once this process is gone,
    /// so a killed test run leaves nothing behind.
    fn spawn_watchdog(&self) {
        let data = self.base.join("data");
        let pg_ctl = self.bindir.join("pg_ctl");
        let stop = match self.run_as {
            Some(_) => format!(
                "runuser -u postgres -- {} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            ),
            None => format!(
                "{} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            ),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {base}",
            pid = std::process::id(),
            base = self.base.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `db` as the `postgres` superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn admin(&self) -> Result<postgres::Client, String> {
        postgres::Client::connect(&self.url("postgres"), postgres::NoTls).map_err(|e| e.to_string())
    }

    /// Creates a new, empty database with a unique name and returns its URL.
    pub fn fresh_database(&self) -> Result<String, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.admin()?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| e.to_string())?;
        Ok(self.url(&name))
    }

    /// Drops a database created by [`PgServer::fresh_database`], closing its open connections
    /// (to simulate a database that goes away under a running job).
    pub fn drop_database(&self, url: &str) -> Result<(), String> {
        let name = url.rsplit('/').next().unwrap_or_default();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad database name in {url}"));
        }
        self.admin()?
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .map_err(|e| e.to_string())
    }

    /// Stops the server (fast shutdown) if it runs and removes its files; idempotent.
    pub fn stop(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            let data = self.base.join("data");
            let _ = self.run(
                "pg_ctl",
                &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"],
            );
        }
        // Also after a failed start: nothing is left in the temporary directory.
        let _ = fs::remove_dir_all(&self.base);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
