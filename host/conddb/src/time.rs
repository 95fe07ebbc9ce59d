//! Times as the database stores them: integer microseconds since the Unix epoch (UTC).

use crate::{CondError, Micros, SNAPSHOT_LATEST};
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in µs since the Unix epoch.
pub(crate) fn now_micros() -> Micros {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Formats µs since the epoch as `YYYY-MM-DD HH:MM:SS.ffffff` UTC.
pub fn format_time(t: Micros) -> String {
    if t == SNAPSHOT_LATEST {
        return "latest".into();
    }
    let secs = t.div_euclid(1_000_000);
    let micros = t.rem_euclid(1_000_000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Parses a snapshot time: `latest`, `now`, `YYYY-MM-DD[THH:MM:SS]` (UTC) or µs since epoch.
pub fn parse_time(s: &str) -> Result<Micros, CondError> {
    let bad = || {
        CondError::Invalid(format!(
            "bad time `{s}` (expected latest, now, YYYY-MM-DD[THH:MM:SS] or microseconds)"
        ))
    };
    match s {
        "latest" => return Ok(SNAPSHOT_LATEST),
        "now" => return Ok(now_micros()),
        _ => {}
    }
    if let Ok(v) = s.parse::<i64>() {
        return Ok(v);
    }
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00:00"));
    let time = time.trim_end_matches('Z');
    let num = |p: Option<&str>| p.and_then(|x| x.parse::<i64>().ok()).ok_or_else(bad);
    let mut dp = date.splitn(3, '-');
    let (y, m, d) = (num(dp.next())?, num(dp.next())?, num(dp.next())?);
    let mut tp = time.splitn(3, ':');
    let (hh, mm, ss) = (
        num(tp.next())?,
        num(tp.next())?,
        num(tp.next().or(Some("0")))?,
    );
    // Years of four digits: the format's own range, and far inside what i64 microseconds hold
    // (a year of 18 digits overflowed the arithmetic below; found by fuzzing).
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || !(0..=23).contains(&hh)
        || !(0..=59).contains(&mm)
        || !(0..=60).contains(&ss)
    {
        return Err(bad());
    }
    // Days since 1970-01-01 from a civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1_000_000)
}
