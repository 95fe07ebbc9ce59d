//! A blocking HTTP/1.1 GET over `std::net`, direct or through a forward proxy.
//!
//! Caching proxies (Squid) cache only requests sent to them in absolute form
//! (`GET http://host:port/path HTTP/1.1`); clients that tunnel with `CONNECT` (as `ureq` 3 does
//! for every proxy) bypass the cache. Conditions reads are small GETs on one connection each, so
//! this is all the client needs: no async runtime, no TLS (payloads are verified by hash).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response head accepted (status line and headers).
const MAX_HEAD: usize = 64 * 1024;

/// `host:port` of an `http://` URL, and the path with its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpUrl {
    /// Parses `http://[user[:pw]@]host[:port][/path]`; credentials are dropped.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{}` is not an http:// URL", crate::redact_url(url)))?;
        let (auth, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let hostport = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("bad port in `{}`", crate::redact_url(url)))?,
            ),
            _ => (hostport, 80),
        };
        if host.is_empty() {
            return Err(format!("no host in `{}`", crate::redact_url(url)));
        }
        Ok(HttpUrl {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The URL in absolute form, without credentials (what a proxy is sent).
    pub fn absolute(&self) -> String {
        format!("http://{}{}", self.authority(), self.path)
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An answer: status, headers (names lower-case), body.
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// GETs `url`, through `proxy` when given, within `timeout` overall.
pub(crate) fn get(
    url: &HttpUrl,
    proxy: Option<&HttpUrl>,
    timeout: Duration,
) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    let (via, target) = match proxy {
        Some(p) => (p, url.absolute()),
        None => (url, url.path.clone()),
    };
    let addrs = (via.host.as_str(), via.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", via.authority()))?;
    let mut last = format!("{} has no address", via.authority());
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {} ms", timeout.as_millis()))
    };
    stream
        .set_write_timeout(Some(remaining()?))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hepinfer-conddb/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.authority(),
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut r = BufReader::new(stream);
    let read_line = |r: &mut BufReader<TcpStream>, head: &mut usize| -> Result<String, String> {
        r.get_ref()
            .set_read_timeout(Some(remaining()?))
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("reading the answer: {e}"))?;
        *head += n;
        if n == 0 {
            return Err("connection closed before the answer's head was complete".into());
        }
        if *head > MAX_HEAD {
            return Err(format!("answer head longer than {MAX_HEAD} bytes"));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let mut head = 0;
    let status_line = read_line(&mut r, &mut head)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| format!("not an HTTP answer: `{status_line}`"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut r, &mut head)?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    let read_exact = |r: &mut BufReader<TcpStream>, n: usize, body: &mut Vec<u8>| {
        let start = body.len();
        body.resize(start + n, 0);
        let mut got = start;
        while got < body.len() {
            r.get_ref()
                .set_read_timeout(Some(remaining()?))
                .map_err(|e| e.to_string())?;
            match r.read(&mut body[got..]) {
                Ok(0) => return Err(format!("answer truncated after {} bytes", got)),
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading the answer: {e}")),
            }
        }
        Ok::<(), String>(())
    };
    if find("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) {
        loop {
            let size_line = read_line(&mut r, &mut 0)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size `{size_line}`"))?;
            if size == 0 {
                // Trailers, then the blank line.
                while !read_line(&mut r, &mut 0)?.is_empty() {}
                break;
            }
            read_exact(&mut r, size, &mut body)?;
            read_line(&mut r, &mut 0)?;
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length `{len}`"))?;
        read_exact(&mut r, len, &mut body)?;
    } else if status != 204 && status != 304 {
        // Delimited by the end of the connection (we asked for `Connection: close`).
        loop {
            r.get_ref()
                .set_read_timeout(Some(remaining()?))
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 64 * 1024];
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => body.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading the answer: {e}")),
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The proxy of the `http_proxy` (or `HTTP_PROXY`) environment variable, unless `no_proxy`
/// (or `NO_PROXY`) excludes `host`.
pub(crate) fn proxy_from_env(host: &str) -> Option<String> {
    let var = |a: &str, b: &str| {
        std::env::var(a)
            .or_else(|_| std::env::var(b))
            .ok()
            .filter(|v| !v.trim().is_empty())
    };
    let proxy = var("http_proxy", "HTTP_PROXY")?;
    if let Some(no) = var("no_proxy", "NO_PROXY") {
        let host = host.to_ascii_lowercase();
        for pat in no.split(',').map(|p| p.trim().to_ascii_lowercase()) {
            let pat = pat.trim_start_matches("*.").trim_start_matches('.');
            if pat == "*" || host == pat || host.ends_with(&format!(".{pat}")) {
                return None;
            }
        }
    }
    // `http_proxy=host:port` without a scheme is common.
    Some(if proxy.contains("://") {
        proxy
    } else {
        format!("http://{proxy}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_without_their_credentials() {
        let u = HttpUrl::parse("http://u:pw@conddb.cern.ch:8000/v1/x?y=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("conddb.cern.ch", 8000, "/v1/x?y=1")
        );
        assert_eq!(u.absolute(), "http://conddb.cern.ch:8000/v1/x?y=1");
        let u = HttpUrl::parse("http://127.0.0.1").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        assert!(HttpUrl::parse("https://x").is_err());
        assert!(HttpUrl::parse("http://:80/").is_err());
        assert!(HttpUrl::parse("http://h:notaport/").is_err());
    }
}
