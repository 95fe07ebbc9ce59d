//! The host configuration parser: any text is either a configuration or an
//! `HEPINFER_INVALID_CONFIG` error, and every accepted numeric key is within its documented range.
#![no_main]

use hepinfer::config::{HostConfig, NUMERIC_LIMITS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match HostConfig::from_json(text) {
        Ok(c) => {
            let value = |key: &str| -> u64 {
                match key {
                    "intra_op_threads" => c.intra_op_threads as u64,
                    "session_pool_size" => c.session_pool_size as u64,
                    "model_cache_bytes" => c.model_cache_bytes,
                    "db_retries" => u64::from(c.db_retries),
                    "db_backoff_ms" => c.db_backoff_ms,
                    "conddb_deadline_ms" => c.conddb_deadline_ms,
                    other => panic!("NUMERIC_LIMITS names `{other}`, unknown to this target"),
                }
            };
            for &(key, min, max, _) in NUMERIC_LIMITS {
                let v = value(key);
                assert!((min..=max).contains(&v), "{key} = {v} accepted from {text}");
            }
            assert_eq!(c.conddb.is_some(), c.global_tag.is_some());
        }
        Err(e) => assert!(
            matches!(e, hepinfer::Error::InvalidConfig(_)),
            "not an InvalidConfig error: {e:?}"
        ),
    }
});
