//! Configuration mistakes a framework wants reported when the job starts, as a clear error of
//! host or instance creation, never as an abort or a failure of every event: numeric keys out of
//! range, a configuration that is not a JSON object, a payload cache that cannot be created, a
//! global tag that does not exist or does not map what an instance needs.

mod common;

use hepinfer::abi::hepinfer_log_callback;
use hepinfer::error::hepinfer_status;
use hepinfer::Host;
use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType};
use hepinfer_plugin_api::{EventKey, TensorView};
use std::ffi::{c_char, c_void, CStr};
use std::path::Path;
use std::sync::Mutex;

fn host_err(config: &str) -> hepinfer::Error {
    match Host::new(config, None, std::ptr::null_mut()) {
        Ok(_) => panic!("host created from {config}"),
        Err(e) => e,
    }
}

#[test]
fn an_absurd_session_pool_is_refused_at_host_creation() {
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let cfg = common::host_config(
        plugins.path(),
        r#", "session_mode": "pool", "session_pool_size": 100000000"#,
    );
    let e = host_err(&cfg);
    assert_eq!(e.status(), hepinfer_status::HEPINFER_INVALID_CONFIG);
    let m = e.to_string();
    assert!(
        m.contains("session_pool_size") && m.contains("100000000") && m.contains("1 to 64"),
        "{m}"
    );
    // The largest allowed pool works (and the process is still here to say so).
    let host = Host::new(
        &common::host_config(
            plugins.path(),
            r#", "session_mode": "pool", "session_pool_size": 64"#,
        ),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let inst = host.instance("seq-classifier", "").unwrap();
    let (x, _, _) = common::golden();
    inst.process(
        EventKey {
            run: 1,
            lumi: 1,
            event: 1,
        },
        &[TensorView::f32("sequences", &[1, 15, 8], &x[..120])],
    )
    .unwrap();
}

#[test]
fn a_host_configuration_that_is_not_an_object_is_refused() {
    let plugins = common::plugin_dir(&["seq_classifier"]);
    // The array form serde would accept for a struct: fields in declaration order.
    let as_array = format!(
        r#"[[{:?}], null, 1, "warn"]"#,
        plugins.path().display().to_string()
    );
    for cfg in ["[]", as_array.as_str(), "7", r#""plugin_dirs""#, "null"] {
        let e = host_err(cfg);
        assert_eq!(
            e.status(),
            hepinfer_status::HEPINFER_INVALID_CONFIG,
            "{cfg}"
        );
        assert!(
            e.to_string().contains("expected a JSON object"),
            "{cfg}: {e}"
        );
    }
}

/// Log messages gathered by [`collect`].
type Log = Mutex<Vec<String>>;

unsafe extern "C" fn collect(_level: u32, msg: *const c_char, user: *mut c_void) {
    // SAFETY: user_data is the &Log the test passed, alive for the host's lifetime; msg is a
    // NUL-terminated string valid during the call.
    let log = unsafe { &*(user as *const Log) };
    let text = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    log.lock().unwrap().push(text);
}

/// A database with the seq-classifier model mapped in global tag `GT`, and tag `Other` mapped
/// nowhere.
fn database(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("cond.db").display());
    let db = ConditionsDb::init(&url, &ConnectOptions::default()).unwrap();
    let h = db
        .insert_payload("onnx", &std::fs::read(common::seq_model()).unwrap(), None)
        .unwrap();
    for tag in ["Seq", "Other"] {
        db.create_tag(tag, "onnx", TimeType::Run, Synchronization::Any, "", None)
            .unwrap();
        db.append_iov(tag, IovKey::new(1, 0), &h, None).unwrap();
    }
    db.create_global_tag("GT", "", "", None, None).unwrap();
    db.map("GT", "SeqClassifierRcd", "", "Seq", None).unwrap();
    db.create_global_tag("EMPTY_GT", "", "", None, None)
        .unwrap();
    url
}

fn cond_config(plugins: &Path, url: &str, gt: &str, extra: &str) -> String {
    format!(
        r#"{{"plugin_dirs": [{:?}], "conddb": {url:?}, "global_tag": {gt:?}, "log_level": "warn", "db_retries": 0{extra}}}"#,
        plugins.display().to_string()
    )
}

#[test]
fn an_uncreatable_payload_cache_is_ignored_with_a_warning() {
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let d = tempfile::tempdir().unwrap();
    let url = database(d.path());
    // A directory below a regular file cannot be created, whoever runs the test (root too).
    let file = d.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let cache = file.join("cache");
    let cfg = cond_config(
        plugins.path(),
        &url,
        "GT",
        &format!(r#", "payload_cache": {:?}"#, cache.display().to_string()),
    );
    let log: Log = Mutex::new(Vec::new());
    let cb: hepinfer_log_callback = Some(collect);
    let host = Host::new(&cfg, cb, &log as *const Log as *mut c_void)
        .expect("an unusable payload cache must not stop the job");
    let inst = host.instance("seq-classifier", "").unwrap();
    let (x, _, _) = common::golden();
    let out = inst
        .process(
            EventKey {
                run: 3,
                lumi: 1,
                event: 7,
            },
            &[TensorView::f32("sequences", &[1, 15, 8], &x[..120])],
        )
        .unwrap();
    assert_eq!(out.provenance.len(), 1);
    let warned = log
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.contains("payload_cache") && m.contains("without a payload cache"));
    assert!(warned, "no warning in {:?}", log.lock().unwrap());
    drop(inst);
    drop(host);
}

#[test]
fn a_global_tag_that_does_not_exist_fails_host_creation() {
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let d = tempfile::tempdir().unwrap();
    let url = database(d.path());
    let e = host_err(&cond_config(plugins.path(), &url, "GT_TYPO", ""));
    assert_eq!(e.status(), hepinfer_status::HEPINFER_CONDITIONS);
    assert!(e.to_string().contains("GT_TYPO"), "{e}");

    // An override naming a tag that does not exist is the same kind of mistake.
    let e = host_err(&cond_config(
        plugins.path(),
        &url,
        "GT",
        r#", "overrides": [{"record": "SeqClassifierRcd", "tag": "NoSuchTag"}]"#,
    ));
    assert!(e.to_string().contains("NoSuchTag"), "{e}");
}

#[test]
fn a_global_tag_without_the_record_an_instance_needs_fails_instance_creation() {
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let d = tempfile::tempdir().unwrap();
    let url = database(d.path());
    let host = Host::new(
        &cond_config(plugins.path(), &url, "EMPTY_GT", ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    let e = match host.instance("seq-classifier", "") {
        Ok(_) => panic!("instance created though EMPTY_GT maps no model"),
        Err(e) => e,
    };
    assert_eq!(e.status(), hepinfer_status::HEPINFER_CONDITIONS);
    let m = e.to_string();
    assert!(
        m.contains("EMPTY_GT") && m.contains("SeqClassifierRcd") && m.contains("seq-classifier"),
        "{m}"
    );
    // Another label through model_labels is checked the same way.
    let host = Host::new(
        &cond_config(plugins.path(), &url, "GT", ""),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    host.instance("seq-classifier", "").unwrap();
    let model = host.plugins().get("seq-classifier").unwrap().info.models[0]
        .name
        .to_string();
    let e = host
        .instance(
            "seq-classifier",
            &format!(r#"{{"model_labels": {{"{model}": "v9"}}}}"#),
        )
        .err()
        .expect("label v9 is not mapped");
    assert!(e.to_string().contains("label 'v9'"), "{e}");
    // An override supplies the record without a mapping.
    let host = Host::new(
        &cond_config(
            plugins.path(),
            &url,
            "EMPTY_GT",
            r#", "overrides": [{"record": "SeqClassifierRcd", "tag": "Other"}]"#,
        ),
        None,
        std::ptr::null_mut(),
    )
    .unwrap();
    host.instance("seq-classifier", "").unwrap();
}

#[test]
fn a_stray_library_in_a_plugin_directory_is_named_with_the_rule() {
    let dir = common::plugin_dir(&["seq_classifier"]);
    // A real shared library that is not a plugin (the C library, found through /proc).
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let libc = maps
        .split_whitespace()
        .find(|w| w.contains("/libc.so") || w.contains("/libc-"))
        .expect("libc mapped");
    std::fs::copy(libc, dir.path().join("libstray.so")).unwrap();
    let e = host_err(&common::host_config(dir.path(), ""));
    assert_eq!(e.status(), hepinfer_status::HEPINFER_PLUGIN_LOAD);
    let m = e.to_string();
    assert!(
        m.contains("libstray.so")
            && m.contains("must be a loadable hepinfer plugin")
            && m.contains("move"),
        "{m}"
    );
}
