//! `hepinfer conddb upload` checks a payload by loading it in its backend before storing it, and
//! `hepinfer conddb --help` shows only what means something there.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn hepinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hepinfer"))
        .args(args)
        .env_remove("HEPINFER_CONDDB")
        .env_remove("HEPINFER_PLUGIN_PATH")
        .output()
        .expect("run hepinfer")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn upload(db: &str, file: &Path, extra: &[&str]) -> Output {
    let f = file.to_str().unwrap();
    let mut args = vec![
        "conddb",
        "--db",
        db,
        "--retries",
        "0",
        "upload",
        f,
        "--tag",
        "T",
        "--since",
        "1",
        "--create",
    ];
    args.extend_from_slice(extra);
    hepinfer(&args)
}

fn init(dir: &Path) -> String {
    let db = format!("sqlite://{}", dir.join("cond.db").display());
    let o = hepinfer(&["conddb", "--db", &db, "init"]);
    assert!(o.status.success(), "{}", text(&o));
    db
}

fn iov_count(db: &str) -> usize {
    let o = hepinfer(&["conddb", "--db", db, "--json", "list", "tags"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array().map_or(0, Vec::len)
}

#[test]
fn a_file_that_is_not_a_model_is_refused_unless_no_validate() {
    let d = tempfile::tempdir().unwrap();
    let db = init(d.path());
    let readme = d.path().join("README.onnx");
    std::fs::copy(common::repo().join("README.md"), &readme).unwrap();
    let empty = d.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();

    for (file, why) in [(&readme, "ONNX Runtime"), (&empty, "empty")] {
        let o = upload(&db, file, &[]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{}: {t}", file.display());
        assert!(
            t.contains("refused as a `onnx` payload") && t.contains(why),
            "{t}"
        );
    }
    assert_eq!(iov_count(&db), 0, "a refused upload must store nothing");

    // The real model loads and its signature is reported.
    let o = upload(&db, &common::seq_model(), &["--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let checked = v["validation"].as_str().unwrap();
    assert!(
        checked.contains("loads in onnxruntime") && checked.contains("sequences"),
        "{checked}"
    );

    // The expert escape hatch stores anything non-empty... and says it did not check.
    let o = upload(&db, &readme, &["--no-validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("not validated (--no-validate)"),
        "{}",
        text(&o)
    );
}

#[test]
fn json_payloads_must_parse() {
    let d = tempfile::tempdir().unwrap();
    let db = init(d.path());
    let bad = d.path().join("cuts.json");
    std::fs::write(&bad, b"{\"pt_min\": ").unwrap();
    let o = upload(&db, &bad, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not valid JSON"), "{}", text(&o));
}

#[cfg(not(feature = "torch"))]
#[test]
fn torchscript_without_the_torch_feature_says_so() {
    let d = tempfile::tempdir().unwrap();
    let db = init(d.path());
    let pt = common::repo().join("plugins/btag-rnn/model/model.pt");
    let o = upload(&db, &pt, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("without the `torch` feature"),
        "{}",
        text(&o)
    );
}

#[cfg(feature = "torch")]
#[test]
fn torchscript_is_loaded_and_its_signature_checked() {
    let d = tempfile::tempdir().unwrap();
    let db = init(d.path());
    let pt = common::repo().join("plugins/btag-rnn/model/model.pt");
    let o = upload(&db, &pt, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("loads in libtorch"), "{}", text(&o));
    // An ONNX file renamed .pt is refused by libtorch.
    let fake = d.path().join("fake.pt");
    std::fs::copy(common::seq_model(), &fake).unwrap();
    let o = upload(&db, &fake, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn conddb_help_lists_no_host_options() {
    let o = hepinfer(&["conddb", "--help"]);
    assert!(o.status.success(), "{}", text(&o));
    let help = String::from_utf8_lossy(&o.stdout);
    for host_only in ["--config", "--plugin-dir", "--conddb", "--global-tag"] {
        assert!(!help.contains(host_only), "{host_only} in:\n{help}");
    }
    assert!(help.contains("--db"), "{help}");
    // ... and giving one anyway is a usage error, not silently ignored.
    let o = hepinfer(&[
        "--plugin-dir",
        "/tmp",
        "conddb",
        "--db",
        "sqlite:///x",
        "list",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("host options"), "{}", text(&o));
}
