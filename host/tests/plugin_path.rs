//! `HEPINFER_PLUGIN_PATH` (colon-separated) is searched besides the configured directories. Its
//! own test binary: it changes the process environment.

mod common;

use hepinfer::Host;

#[test]
fn plugin_path_environment_variable() {
    let a = common::plugin_dir(&["seq_classifier"]);
    let b = common::plugin_dir(&["hepinfer_test_faulty"]);
    let joined = std::env::join_paths([a.path(), b.path()]).unwrap();
    std::env::set_var("HEPINFER_PLUGIN_PATH", &joined);
    let host = Host::new("{}", None, std::ptr::null_mut()).unwrap();
    assert_eq!(
        host.plugins().names(),
        vec!["faulty".to_string(), "seq-classifier".to_string()]
    );

    // Empty entries are ignored; a directory that does not exist is an error naming it and the variable.
    let with_missing = format!(":{}:/no/such/plugins", a.path().display());
    std::env::set_var("HEPINFER_PLUGIN_PATH", &with_missing);
    let e = Host::new("{}", None, std::ptr::null_mut())
        .err()
        .expect("missing dir must fail")
        .to_string();
    assert!(
        e.contains("/no/such/plugins") && e.contains("HEPINFER_PLUGIN_PATH"),
        "{e}"
    );
    std::env::remove_var("HEPINFER_PLUGIN_PATH");
    let host = Host::new("{}", None, std::ptr::null_mut()).unwrap();
    assert!(host.plugins().names().is_empty());
}
