//! The HTTP client of `hepinfer conddb serve`: read-only access to a conditions database through
//! one or more services (failover order) and caching proxies (Squid), as CMS's Frontier does.
//!
//! Blocking (plain `std::net`, no async runtime for the caller to set up; see `httpget.rs`
//! for why not a CONNECT-only client), plain HTTP: payloads are verified against their SHA-256
//! before use, so a proxy or a network that alters bytes is caught.

use crate::db::{GlobalTagInfo, MapEntry, TagInfo};
use crate::httpget::{self, HttpUrl};
use crate::iovs::{IovGroups, TagIovs};
use crate::{payload_hash, CondError, Payload};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Path prefix of every endpoint (the API version).
pub const API_PREFIX: &str = "/v1";

/// Header carrying a payload's object type next to its bytes.
pub const OBJECT_TYPE_HEADER: &str = "x-hepinfer-object-type";

/// How the client reaches the service.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// HTTP proxies tried in order (`http://host:port`); empty = the `http_proxy` environment
    /// variable (honouring `no_proxy`), else direct. After every proxy failed, the service is
    /// tried directly, as Frontier does.
    pub proxies: Vec<String>,
    /// Time limit of one request (connect + answer); default 10 s.
    pub timeout: Option<Duration>,
}

/// A global tag with its mapping, as `GET /v1/globaltags/{name}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalTagDoc {
    /// The global tag.
    pub global_tag: GlobalTagInfo,
    /// Its (record, label) → tag entries, by record and label.
    pub map: Vec<MapEntry>,
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDoc {
    /// What went wrong.
    pub error: ErrorBody,
}

/// Kind and message of an error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// [`CondError::kind`], or `method_not_allowed` / `bad_request` for HTTP-level errors.
    pub kind: String,
    /// The error's text (never a database password).
    pub message: String,
    /// For `integrity` errors: the hash the bytes were expected to have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// Percent-encodes one path segment or query value (names may hold `/`, `?`, `%`).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One way to reach the service: through a proxy, or direct.
struct Route {
    name: String,
    proxy: Option<HttpUrl>,
}

/// A read-only client of one or more conditions services.
pub(crate) struct HttpClient {
    servers: Vec<String>,
    routes: Vec<Route>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

/// A failed attempt: whether another route may give another answer.
enum Attempt {
    /// The answer of the service (4xx, or an error the service reports): final.
    Answer(CondError),
    /// Transport error, 5xx, or bytes that fail their hash: try the next route.
    Retry(CondError),
}

impl HttpClient {
    /// A client of `servers` (base URLs, `http://host:port[/prefix]`).
    pub fn new(
        servers: &[String],
        opts: &HttpOptions,
        retries: u32,
        backoff: Duration,
    ) -> Result<Self, CondError> {
        if servers.is_empty() {
            return Err(CondError::Invalid("no conditions service URL given".into()));
        }
        for s in servers {
            if !s.starts_with("http://") {
                return Err(CondError::Invalid(format!(
                    "conditions service URL `{}` must start with http:// (payloads are verified by hash; TLS is not built in)",
                    crate::redact_url(s)
                )));
            }
        }
        let timeout = opts.timeout.unwrap_or(Duration::from_secs(10));
        let parse_proxy = |p: &str| {
            HttpUrl::parse(p)
                .map_err(|e| CondError::Invalid(format!("bad proxy: {e}")))
                .map(|u| Route {
                    name: format!("proxy {}", crate::redact_url(p)),
                    proxy: Some(u),
                })
        };
        let first = HttpUrl::parse(&servers[0]).map_err(CondError::Invalid)?;
        let mut routes = opts
            .proxies
            .iter()
            .map(|p| parse_proxy(p))
            .collect::<Result<Vec<_>, _>>()?;
        if routes.is_empty() {
            if let Some(p) = httpget::proxy_from_env(&first.host) {
                let mut r = parse_proxy(&p)?;
                r.name.push_str(" (http_proxy)");
                routes.push(r);
            }
        }
        // After every proxy failed, the service itself, as Frontier clients do.
        routes.push(Route {
            name: "direct".into(),
            proxy: None,
        });
        Ok(HttpClient {
            servers: servers
                .iter()
                .map(|s| s.trim_end_matches('/').to_string())
                .collect(),
            routes,
            timeout,
            retries,
            backoff,
        })
    }

    /// The servers, for messages.
    pub fn describe(&self) -> String {
        self.servers
            .iter()
            .map(|s| crate::redact_url(s))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// GETs `path` (under [`API_PREFIX`]) through every route and server in order until one
    /// answers, with `accept` judging the body; rounds of attempts are retried with backoff.
    fn get<T>(
        &self,
        path: &str,
        accept: impl Fn(&str, Vec<u8>, Option<String>) -> Result<T, Attempt>,
    ) -> Result<T, CondError> {
        let mut last = None;
        let mut attempts = 0u32;
        let mut delay = self.backoff;
        for round in 0..=self.retries {
            if round > 0 {
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2).min(Duration::from_secs(60));
            }
            for route in &self.routes {
                for server in &self.servers {
                    attempts += 1;
                    let url = format!("{server}{API_PREFIX}{path}");
                    let via = format!("{} via {}", crate::redact_url(&url), route.name);
                    match self.attempt(route, &url, &via, &accept) {
                        Ok(v) => return Ok(v),
                        Err(Attempt::Answer(e)) => return Err(e),
                        // What a service said (integrity, schema, ...) outranks a transport
                        // failure of a later route.
                        Err(Attempt::Retry(e)) => {
                            if !matches!(last, Some(ref l) if !matches!(l, CondError::Backend(_)))
                                || !matches!(e, CondError::Backend(_))
                            {
                                last = Some(e);
                            }
                        }
                    }
                }
            }
        }
        Err(match last {
            // A service answered (integrity, schema, engine error): say what it said.
            Some(e) if !matches!(e, CondError::Backend(_)) => e,
            other => CondError::Unreachable {
                url: self.describe(),
                attempts,
                detail: other.map_or_else(String::new, |e| e.to_string()),
            },
        })
    }

    fn attempt<T>(
        &self,
        route: &Route,
        url: &str,
        via: &str,
        accept: &impl Fn(&str, Vec<u8>, Option<String>) -> Result<T, Attempt>,
    ) -> Result<T, Attempt> {
        let transport = |detail: String| Attempt::Retry(CondError::Backend(detail));
        let target = HttpUrl::parse(url).map_err(|e| Attempt::Answer(CondError::Invalid(e)))?;
        let resp = httpget::get(&target, route.proxy.as_ref(), self.timeout)
            .map_err(|e| transport(format!("{via}: {e}")))?;
        let status = resp.status;
        let object_type = resp.header(OBJECT_TYPE_HEADER).map(str::to_string);
        let body = resp.body;
        if status == 200 {
            return accept(via, body, object_type);
        }
        let err = serde_json::from_slice::<ErrorDoc>(&body).ok();
        match (status, err) {
            (400..=499, Some(doc)) => Err(Attempt::Answer(from_doc(doc.error, via))),
            // The service failed (its database unreachable, schema, engine): another service of
            // the list may be healthy.
            (_, Some(doc)) => Err(Attempt::Retry(from_doc(doc.error, via))),
            (_, None) => Err(transport(format!(
                "{via}: HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
            ))),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, CondError> {
        self.get(path, |via, body, _| {
            serde_json::from_slice(&body).map_err(|e| {
                // A proxy's error page or a truncated answer: another route may be fine.
                Attempt::Retry(CondError::Backend(format!("{via}: bad JSON answer: {e}")))
            })
        })
    }

    pub fn global_tags(&self) -> Result<Vec<GlobalTagInfo>, CondError> {
        self.json("/globaltags")
    }

    pub fn global_tag(&self, name: &str) -> Result<GlobalTagDoc, CondError> {
        self.json(&format!("/globaltags/{}", encode(name)))
    }

    pub fn tag(&self, name: &str) -> Result<TagInfo, CondError> {
        self.json(&format!("/tags/{}", encode(name)))
    }

    pub fn groups(&self, tag: &str, snapshot: i64, size: usize) -> Result<IovGroups, CondError> {
        self.json(&format!(
            "/tags/{}/groups?snapshot={snapshot}&size={size}",
            encode(tag)
        ))
    }

    pub fn iovs(&self, tag: &str, snapshot: i64, from: u64, to: u64) -> Result<TagIovs, CondError> {
        self.json(&format!(
            "/tags/{}/iovs?snapshot={snapshot}&from={from}&to={to}",
            encode(tag)
        ))
    }

    /// A payload, verified against its hash (a mismatch tries the next route, then fails).
    pub fn payload(&self, hash: &str) -> Result<Payload, CondError> {
        self.get(&format!("/payloads/{hash}"), |via, data, object_type| {
            let actual = payload_hash(&data);
            if actual != hash {
                return Err(Attempt::Retry(CondError::Integrity {
                    hash: hash.to_string(),
                    source_name: via.to_string(),
                    detail: format!(
                        "received {} bytes hashing to {actual}; refusing to use them",
                        data.len()
                    ),
                }));
            }
            let object_type = object_type.ok_or_else(|| {
                Attempt::Retry(CondError::Backend(format!(
                    "{via}: answer without {OBJECT_TYPE_HEADER} header"
                )))
            })?;
            Ok(Payload {
                hash: hash.to_string(),
                object_type,
                data,
            })
        })
    }
}

/// The error a service reported, as the same [`CondError`] the database would have given.
fn from_doc(e: ErrorBody, via: &str) -> CondError {
    let strip = |prefix: &str| {
        e.message
            .strip_prefix(prefix)
            .unwrap_or(&e.message)
            .to_string()
    };
    match e.kind.as_str() {
        "not_found" => CondError::NotFound {
            what: strip("not found: "),
        },
        "invalid" | "bad_request" | "method_not_allowed" => {
            CondError::Invalid(strip("invalid argument: "))
        }
        "schema" => CondError::Schema(strip("schema: ")),
        "integrity" => CondError::Integrity {
            hash: e.hash.unwrap_or_default(),
            source_name: via.to_string(),
            detail: e.message,
        },
        "unreachable" => CondError::Unreachable {
            url: via.to_string(),
            attempts: 1,
            detail: e.message,
        },
        _ => CondError::Backend(format!("{via}: {}", e.message)),
    }
}
