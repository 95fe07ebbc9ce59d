//! The conditions database's text inputs: database URLs (parsing and password redaction),
//! run/lumi keys, snapshot times, and JSON payloads as `upload` checks them. The first byte
//! picks the parser.
#![no_main]

use hepinfer_conddb::validate::Validators;
use hepinfer_conddb::{redact_url, DbUrl, IovKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 4 {
        0 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let redacted = redact_url(s);
            if let Ok(url) = DbUrl::parse(s) {
                let shown = url.to_string();
                // A password given as user:PASSWORD@ never survives redaction. Checked only when
                // the password's text occurs nowhere else in the URL (a host or database name may
                // contain it: fuzz/seeds/conddb_text/pw-also-in-host) and has no `*` (the mask
                // `***` next to the user name could spell it).
                if let Some((scheme, after)) = s.split_once("://") {
                    let auth = after.split(['/', '?', '#']).next().unwrap_or("");
                    if let Some((userinfo, _)) = auth.rsplit_once('@') {
                        if let Some((user, pw)) = userinfo.split_once(':') {
                            let pw_start = scheme.len() + 3 + user.len() + 1;
                            let elsewhere =
                                s[..pw_start].contains(pw) || s[pw_start + pw.len()..].contains(pw);
                            if pw.len() >= 4
                                && !elsewhere
                                && !pw.contains('*')
                                && matches!(url, DbUrl::Postgres(_))
                            {
                                assert!(!shown.contains(pw), "password shown: {shown}");
                                assert!(!redacted.contains(pw), "password kept: {redacted}");
                            }
                        }
                    }
                }
            }
        }
        1 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(k) = s.parse::<IovKey>() {
                assert_eq!(k.to_string().parse::<IovKey>().unwrap(), k);
            }
        }
        2 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = hepinfer_conddb::cli::parse_time(s);
        }
        _ => {
            let _ = Validators::builtin().check("json", rest);
        }
    }
});
