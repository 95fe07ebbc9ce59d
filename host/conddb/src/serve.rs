//! `hepinfer conddb serve`: a read-only JSON/HTTP service in front of a conditions database, made
//! for caching proxies (Squid), as CMS's Frontier is. See the crate README for the API table.
//!
//! Answers that can never change are marked so: payloads are content-addressed (`ETag` = hash,
//! one-year `max-age`, `immutable`), and IOV lists under a snapshot in the past are immutable
//! too; everything else gets a short `max-age`, errors `no-store`. Nothing writes: methods other
//! than GET and HEAD are answered 405.

use crate::remote::{encode, ErrorBody, ErrorDoc, API_PREFIX, OBJECT_TYPE_HEADER};
use crate::{time::now_micros, CondError, ConditionsDb, ConnectOptions, SNAPSHOT_LATEST};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// `Cache-Control` of answers that never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of answers that may change (listings, unlocked global tags, open snapshots).
pub const SHORT: &str = "public, max-age=60";
/// `Cache-Control` of errors: a proxy must not keep them (Frontier's `DontCacheErrors`).
pub const NO_STORE: &str = "no-store";

/// A running service; stopped (listener closed, workers joined) by [`Server::stop`] or drop.
pub struct Server {
    _http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    workers: Vec<JoinHandle<()>>,
    requests: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
}

/// An answer before it is sent.
struct Answer {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn json(status: u16, value: &impl serde::Serialize, cache: &str) -> Answer {
        Answer {
            status,
            body: serde_json::to_vec(value).unwrap_or_default(),
            content_type: "application/json",
            headers: vec![("Cache-Control", cache.to_string())],
        }
    }

    fn error(status: u16, kind: &str, message: String) -> Answer {
        Answer::error_doc(
            status,
            ErrorBody {
                kind: kind.to_string(),
                message,
                hash: None,
            },
        )
    }

    fn error_doc(status: u16, error: ErrorBody) -> Answer {
        Answer::json(status, &ErrorDoc { error }, NO_STORE)
    }

    fn from_cond(e: &CondError) -> Answer {
        let status = match e {
            CondError::NotFound { .. } => 404,
            CondError::Invalid(_) => 400,
            CondError::Unreachable { .. } => 503,
            _ => 500,
        };
        let hash = match e {
            CondError::Integrity { hash, .. } => Some(hash.clone()),
            _ => None,
        };
        Answer::error_doc(
            status,
            ErrorBody {
                kind: e.kind().to_string(),
                message: e.to_string(),
                hash,
            },
        )
    }
}

/// Decodes `%XX` escapes of one path segment or query value.
fn decode(s: &str) -> Result<String, Answer> {
    let bad = || Answer::error(400, "bad_request", format!("bad percent-encoding in `{s}`"));
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// A numeric query parameter (`default` when absent).
fn param<T: std::str::FromStr>(
    query: &[(String, String)],
    name: &str,
    default: Option<T>,
) -> Result<T, Answer> {
    match query.iter().find(|(k, _)| k == name) {
        Some((_, v)) => v.parse().map_err(|_| {
            Answer::error(
                400,
                "bad_request",
                format!("query parameter `{name}`: `{v}` is not a number in range"),
            )
        }),
        None => default.ok_or_else(|| {
            Answer::error(
                400,
                "bad_request",
                format!("query parameter `{name}` is required"),
            )
        }),
    }
}

/// Whether what is visible at `snapshot` can no longer change: a fixed snapshot in the past.
fn frozen(snapshot: i64) -> bool {
    snapshot != SNAPSHOT_LATEST && snapshot < now_micros()
}

fn route(db: &ConditionsDb, url: &str, if_none_match: Option<&str>) -> Result<Answer, Answer> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let query: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect::<Result<_, Answer>>()?;
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return Err(Answer::error(
            404,
            "not_found",
            format!("no such endpoint `{path}` (the API is under {API_PREFIX}/)"),
        ));
    };
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect::<Result<_, _>>()?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let cond = |e: CondError| Answer::from_cond(&e);
    match segs.as_slice() {
        ["globaltags"] => Ok(Answer::json(
            200,
            &db.list_global_tags().map_err(cond)?,
            SHORT,
        )),
        ["globaltags", name] => {
            let doc = db.global_tag_doc(name).map_err(cond)?;
            // A locked global tag's row and mapping cannot change any more.
            let cache = if doc.global_tag.locked {
                IMMUTABLE
            } else {
                SHORT
            };
            Ok(Answer::json(200, &doc, cache))
        }
        ["tags", name] => Ok(Answer::json(200, &db.tag(name).map_err(cond)?, SHORT)),
        ["tags", name, "groups"] => {
            let snapshot: i64 = param(&query, "snapshot", None)?;
            let size: usize = param(&query, "size", Some(crate::DEFAULT_IOV_GROUP))?;
            if !(1..=1_000_000).contains(&size) {
                return Err(Answer::error(
                    400,
                    "bad_request",
                    format!("group size {size} out of range 1..=1000000"),
                ));
            }
            let g = db.iov_groups(name, snapshot, size).map_err(cond)?;
            let cache = if frozen(snapshot) { IMMUTABLE } else { SHORT };
            Ok(Answer::json(200, &g, cache))
        }
        ["tags", name, "iovs"] => {
            let snapshot: i64 = param(&query, "snapshot", None)?;
            let from: u64 = param(&query, "from", Some(0))?;
            let to: u64 = param(&query, "to", Some(u64::MAX))?;
            let t = db.tag_iovs(name, snapshot, from, to).map_err(cond)?;
            let cache = if frozen(snapshot) { IMMUTABLE } else { SHORT };
            Ok(Answer::json(200, &t, cache))
        }
        ["payloads", hash] => {
            let etag = format!("\"{hash}\"");
            if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
                db.payload_uncached(hash).map_err(cond)?;
                return Ok(Answer {
                    status: 304,
                    body: Vec::new(),
                    content_type: "application/octet-stream",
                    headers: vec![("Cache-Control", IMMUTABLE.into()), ("ETag", etag)],
                });
            }
            // Verified against the hash by the read: the service never sends bad bytes it knows of.
            let p = db.payload(hash).map_err(cond)?;
            Ok(Answer {
                status: 200,
                body: p.data,
                content_type: "application/octet-stream",
                headers: vec![
                    ("Cache-Control", IMMUTABLE.into()),
                    ("ETag", etag),
                    (OBJECT_TYPE_HEADER, p.object_type),
                ],
            })
        }
        _ => Err(Answer::error(
            404,
            "not_found",
            format!("no such endpoint `{}`", encode(path).replace("%2F", "/")),
        )),
    }
}

fn respond(req: tiny_http::Request, a: Answer) {
    let mut resp = tiny_http::Response::from_data(a.body).with_status_code(a.status);
    let headers = std::iter::once(("Content-Type", a.content_type.to_string())).chain(a.headers);
    for (k, v) in headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    // The client may have gone away: nothing to do about it.
    let _ = req.respond(resp);
}

impl Server {
    /// Serves the database at `db_url` on `listen` (`127.0.0.1:0` picks a free port) with
    /// `threads` workers, each with its own connection. `access_log` receives one line per
    /// request (`METHOD URL STATUS`).
    pub fn start(
        db_url: &str,
        listen: &str,
        opts: &ConnectOptions,
        threads: usize,
        access_log: Option<&Path>,
    ) -> Result<Server, CondError> {
        let dbs = (0..threads.max(1))
            .map(|_| ConditionsDb::open(db_url, opts))
            .collect::<Result<Vec<_>, _>>()?;
        let http = tiny_http::Server::http(listen)
            .map_err(|e| CondError::Invalid(format!("cannot listen on {listen}: {e}")))?;
        let addr = http.server_addr().to_ip().ok_or_else(|| {
            CondError::Invalid(format!("{listen} is not an IP address to listen on"))
        })?;
        let log = match access_log {
            Some(p) => Some(Arc::new(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| CondError::io(p, e))?,
            ))),
            None => None,
        };
        let http = Arc::new(http);
        let requests = Arc::new(AtomicU64::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = dbs
            .into_iter()
            .map(|db| {
                let (http, log, requests) = (http.clone(), log.clone(), requests.clone());
                let stopping = stopping.clone();
                std::thread::spawn(move || {
                    while !stopping.load(Ordering::Relaxed) {
                        let req = match http.recv_timeout(std::time::Duration::from_millis(100)) {
                            Ok(Some(req)) => req,
                            Ok(None) => continue,
                            Err(_) => break,
                        };
                        requests.fetch_add(1, Ordering::Relaxed);
                        let method = req.method().clone();
                        let url = req.url().to_string();
                        let answer = match method.clone() {
                            tiny_http::Method::Get | tiny_http::Method::Head => {
                                let inm = req
                                    .headers()
                                    .iter()
                                    .find(|h| h.field.equiv("If-None-Match"))
                                    .map(|h| h.value.as_str().to_string());
                                route(&db, &url, inm.as_deref()).unwrap_or_else(|e| e)
                            }
                            other => {
                                let mut a = Answer::error(
                                    405,
                                    "method_not_allowed",
                                    format!("{other} refused: the conditions service is read-only"),
                                );
                                a.headers.push(("Allow", "GET, HEAD".into()));
                                a
                            }
                        };
                        if let Some(log) = &log {
                            if let Ok(mut f) = log.lock() {
                                let _ = writeln!(f, "{method} {url} {}", answer.status);
                            }
                        }
                        respond(req, answer);
                    }
                })
            })
            .collect();
        Ok(Server {
            _http: http,
            addr,
            workers,
            requests,
            stopping,
        })
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
    }

    /// Stops listening and waits for the workers to finish their current request.
    pub fn stop(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
    }
}
