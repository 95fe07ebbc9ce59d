//! The `hepinfer` command: `plugins list`, `plugins inspect`, and `conddb` embedded with its exit codes.

mod common;

use std::process::Command;

fn hepinfer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hepinfer"));
    c.env_remove("HEPINFER_PLUGIN_PATH");
    c
}

#[test]
fn plugins_list_and_inspect() {
    let dir = common::plugin_dir(&["seq_classifier", "hepinfer_test_faulty"]);
    let out = hepinfer()
        .arg("--plugin-dir")
        .arg(dir.path())
        .args(["plugins", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["faulty", "seq-classifier"]);

    let out = hepinfer()
        .arg("--plugin-dir")
        .arg(dir.path())
        .args(["plugins", "inspect", "seq-classifier"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("sequences")
            && text.contains("f32 [n, 15, 8]")
            && text.contains("SeqClassifierRcd"),
        "{text}"
    );

    let out = hepinfer()
        .arg("--plugin-dir")
        .arg(dir.path())
        .args(["plugins", "inspect", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown plugin 'nope'"));
}

#[test]
fn conddb_subcommand_keeps_its_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", d.path().join("c.db").display());
    let ok = hepinfer()
        .args(["conddb", "--db", &db, "init"])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = hepinfer()
        .args([
            "conddb", "--db", &db, "--json", "resolve", "NOPE", "Rcd", "", "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "not found is exit code 2");
    let usage = hepinfer()
        .args(["conddb", "--db", &db, "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(1), "usage errors are exit code 1");
}
