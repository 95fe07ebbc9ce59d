//! Database URLs: parsing and password redaction.

use crate::CondError;
use std::fmt;
use std::path::PathBuf;

/// A parsed database URL. Its `Display` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// `sqlite://PATH` (`sqlite:///abs/path` or `sqlite://relative/path`).
    Sqlite(PathBuf),
    /// `postgresql://...` or `postgres://...`, kept verbatim for the driver.
    Postgres(String),
    /// `http://host:port[/prefix]`: a `hepinfer conddb serve` service (read-only).
    Http(String),
}

impl DbUrl {
    /// Parses a database URL; anything but `sqlite://` and `postgres(ql)://` is refused.
    pub fn parse(url: &str) -> Result<Self, CondError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(CondError::Invalid("sqlite:// URL without a path".into()));
            }
            Ok(DbUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgresql://") || url.starts_with("postgres://") {
            Ok(DbUrl::Postgres(url.to_string()))
        } else if url.starts_with("http://") {
            Ok(DbUrl::Http(url.to_string()))
        } else {
            Err(CondError::Invalid(format!(
                "unsupported database URL `{}` (expected sqlite://PATH, postgresql://... or http://HOST:PORT)",
                redact_url(url)
            )))
        }
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DbUrl::Postgres(u) | DbUrl::Http(u) => f.write_str(&redact_url(u)),
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

/// Replaces the password of a URL (`scheme://user:PASSWORD@host`, and any `password=` query or
/// key-value parameter) with `***`, so the URL can be logged or shown in an error.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        // The authority ends at the first '/', '?' or '#' after the scheme.
        let auth_end = out[auth_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = auth_start + colon + 1;
                let pw_end = auth_start + at;
                out.replace_range(pw_start..pw_end, "***");
            }
        }
    }
    redact_password_params(&out)
}

/// Redacts `password=VALUE` wherever it appears (URL query or libpq key-value form).
fn redact_password_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let key = "password=";
    while let Some(pos) = rest.to_ascii_lowercase().find(key) {
        let value_start = pos + key.len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let tail = &rest[value_start..];
        let value_end = tail.find(['&', ' ', '#']).unwrap_or(tail.len());
        rest = &tail[value_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(
            redact_url("postgresql://alice:s3cr@t@db.cern.ch:5432/cond"),
            "postgresql://alice:***@db.cern.ch:5432/cond"
        );
        assert_eq!(
            redact_url("postgresql://alice@db:5432/cond"),
            "postgresql://alice@db:5432/cond"
        );
    }

    #[test]
    fn redacts_only_the_password_when_its_text_recurs_in_the_url() {
        // The fuzzer's case (fuzz/seeds/conddb_text/pw-also-in-host): the host starts with the
        // password's text; the password goes, the host stays.
        assert_eq!(
            redact_url("postgresql://alice:db01@db01.cern.ch/cond"),
            "postgresql://alice:***@db01.cern.ch/cond"
        );
    }

    #[test]
    fn redacts_query_and_keyvalue_passwords() {
        assert_eq!(
            redact_url("postgresql://db/cond?user=a&password=xyz&sslmode=disable"),
            "postgresql://db/cond?user=a&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("host=db password=xyz user=a"),
            "host=db password=*** user=a"
        );
    }

    #[test]
    fn display_of_parsed_url_is_redacted() {
        let u = DbUrl::parse("postgres://bob:hunter2@127.0.0.1:1/x").unwrap();
        assert!(!u.to_string().contains("hunter2"));
        assert!(!format!("{u:?}").contains("hunter2"));
        assert!(DbUrl::parse("mysql://x").is_err());
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/a.db").unwrap(),
            DbUrl::Sqlite("/tmp/a.db".into())
        );
    }
}
