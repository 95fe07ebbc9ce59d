//! End-to-end tests of the `hepinfer-conddb` binary: exit codes and `--json` output.

mod common;

use common::{Fixture, Kind};
use serde_json::Value;
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

fn conddb(db: &str, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_hepinfer-conddb"))
        .arg("--db")
        .arg(db)
        .args(["--retries", "0"])
        .args(args)
        .env_remove("HEPINFER_CONDDB")
        .output()
        .expect("run hepinfer-conddb");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command that must succeed with `--json` and returns its parsed output.
fn ok_json(db: &str, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = conddb(db, &a);
    assert_eq!(o.code, 0, "{args:?} failed: {}{}", o.stdout, o.stderr);
    o.json()
}

/// Runs a command that must fail with `code`, checks the JSON error kind, returns the message.
fn fails(db: &str, args: &[&str], code: i32, kind: &str) -> String {
    let mut a = args.to_vec();
    a.push("--json");
    let o = conddb(db, &a);
    assert_eq!(o.code, code, "{args:?}: {}{}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["error"]["kind"], kind, "{j}");
    assert_eq!(j["exit_code"], code);
    assert!(o.stderr.contains("error"), "{}", o.stderr);
    j["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn write(fx: &Fixture, name: &str, bytes: &[u8]) -> String {
    let p = fx.dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

/// The whole workflow on one backend.
fn workflow(fx: &Fixture) {
    let db = fx.url.as_str();
    assert_eq!(
        ok_json(db, &["init"])["schema_version"],
        hepinfer_conddb::SCHEMA_VERSION
    );
    let m1 = write(fx, "m1.onnx", b"first model");
    let m2 = write(fx, "m2.onnx", b"second model");
    let j = write(fx, "cfg.json", b"{\"a\": 1}");

    // Upload without --create to a missing tag: not found.
    fails(
        db,
        &["upload", &m1, "--tag", "BTag_v1", "--since", "1"],
        2,
        "not_found",
    );
    let up = ok_json(
        db,
        &[
            "upload", &m1, "--tag", "BTag_v1", "--since", "1", "--create", "--sync", "offline",
        ],
    );
    let h1 = up["hash"].as_str().unwrap().to_string();
    assert_eq!(h1, hepinfer_conddb::payload_hash(b"first model"));
    assert_eq!(up["object_type"], "onnx");
    let h2 = ok_json(db, &["upload", &m2, "--tag", "BTag_v1", "--since", "100"])["hash"]
        .as_str()
        .unwrap()
        .to_string();
    // Append-only tag refuses an earlier since; a json file does not fit an onnx tag.
    fails(
        db,
        &["upload", &m2, "--tag", "BTag_v1", "--since", "50"],
        4,
        "policy",
    );
    fails(
        db,
        &["upload", &j, "--tag", "BTag_v1", "--since", "200"],
        4,
        "policy",
    );
    // A run tag refuses RUN:LUMI; a malformed key is a usage error.
    fails(
        db,
        &["upload", &m2, "--tag", "BTag_v1", "--since", "300:2"],
        1,
        "invalid",
    );
    fails(
        db,
        &["upload", &m2, "--tag", "BTag_v1", "--since", "abc"],
        1,
        "invalid",
    );

    ok_json(
        db,
        &[
            "tag",
            "create",
            "Lumi_v1",
            "--type",
            "onnx",
            "--time-type",
            "lumi",
        ],
    );
    fails(
        db,
        &["tag", "create", "Lumi_v1", "--type", "onnx"],
        4,
        "exists",
    );
    ok_json(db, &["upload", &m1, "--tag", "Lumi_v1", "--since", "7:3"]);

    ok_json(db, &["gt", "create", "GT_A", "--release", "rel_1"]);
    ok_json(db, &["gt", "map", "GT_A", "BTagRcd", "", "BTag_v1"]);
    ok_json(db, &["gt", "map", "GT_A", "LumiRcd", "x", "Lumi_v1"]);
    ok_json(db, &["gt", "create", "GT_B", "--snapshot", "2000-01-01"]);
    ok_json(db, &["gt", "map", "GT_B", "BTagRcd", "", "BTag_v1"]);

    let r = ok_json(db, &["resolve", "GT_A", "BTagRcd", "", "150"]);
    assert_eq!(r["payload_hash"], h2.as_str());
    assert_eq!(
        (r["since"].as_u64(), r["till"].as_u64()),
        (Some(100), Some(u64::MAX))
    );
    assert_eq!(r["till_text"], "inf");
    let r = ok_json(db, &["resolve", "GT_A", "BTagRcd", "", "99"]);
    assert_eq!(
        (r["payload_hash"].as_str(), r["till"].as_u64()),
        (Some(h1.as_str()), Some(100))
    );
    let r = ok_json(db, &["resolve", "GT_A", "LumiRcd", "x", "7:5"]);
    assert_eq!(
        (r["since_text"].as_str(), r["time_type"].as_str()),
        (Some("7:3"), Some("lumi"))
    );
    let r = ok_json(
        db,
        &["resolve", "GT_A", "BTagRcd", "", "8", "--tag", "Lumi_v1"],
    );
    assert_eq!(
        (r["tag"].as_str(), r["payload_hash"].as_str()),
        (Some("Lumi_v1"), Some(h1.as_str()))
    );
    fails(
        db,
        &["resolve", "GT_B", "BTagRcd", "", "8", "--tag", "Lumi_v1"],
        2,
        "not_found",
    );
    // Snapshot in 2000: nothing visible.
    let msg = fails(
        db,
        &["resolve", "GT_B", "BTagRcd", "", "150"],
        2,
        "not_found",
    );
    assert!(
        msg.contains("GT_B") && msg.contains("BTagRcd") && msg.contains("150"),
        "{msg}"
    );
    fails(db, &["resolve", "GT_A", "NoRcd", "", "150"], 2, "not_found");
    fails(db, &["resolve", "GT_A", "BTagRcd", "", "0"], 2, "not_found");

    let l = ok_json(db, &["list"]);
    assert_eq!(l["global_tags"].as_array().unwrap().len(), 2);
    assert_eq!(l["tags"].as_array().unwrap().len(), 2);
    let l = ok_json(db, &["list", "iovs", "BTag_v1"]);
    let sinces: Vec<u64> = l["iovs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["since"].as_u64().unwrap())
        .collect();
    assert_eq!(sinces, [1, 100]);
    let l = ok_json(db, &["list", "map", "GT_A"]);
    assert_eq!(l.as_array().unwrap().len(), 2);
    let l = ok_json(db, &["list", "log", "BTag_v1"]);
    let actions: Vec<&str> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "append_iov", "append_iov", "gt_map", "gt_map"]
    );
    fails(db, &["list", "iovs", "Nope"], 2, "not_found");

    let d = ok_json(db, &["diff", "GT_A", "GT_B"]);
    let entries = d["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{d}");
    assert!(ok_json(db, &["diff", "GT_A", "GT_A"])["entries"]
        .as_array()
        .unwrap()
        .is_empty());

    let out = fx.dir.path().join("dumped.onnx");
    let o = ok_json(db, &["dump", &h2, "-o", out.to_str().unwrap()]);
    assert_eq!(o["size"], 12);
    assert_eq!(std::fs::read(&out).unwrap(), b"second model");
    fails(
        db,
        &["dump", &"f".repeat(64), "-o", out.to_str().unwrap()],
        2,
        "not_found",
    );

    // Locks.
    ok_json(db, &["tag", "lock", "BTag_v1"]);
    fails(
        db,
        &["upload", &m2, "--tag", "BTag_v1", "--since", "500"],
        4,
        "locked",
    );
    ok_json(db, &["gt", "lock", "GT_A"]);
    fails(
        db,
        &["gt", "map", "GT_A", "BTagRcd", "", "Lumi_v1"],
        4,
        "locked",
    );

    // Human-readable output is a table.
    let o = conddb(db, &["list", "tags"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.lines().next().unwrap().starts_with("tag"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("BTag_v1") && o.stdout.contains("yes"),
        "{}",
        o.stdout
    );

    // Integrity: corrupt the bytes behind the library's back.
    fx.raw(&format!(
        "UPDATE payload SET data = (SELECT data FROM payload WHERE hash = '{h1}') WHERE hash = '{h2}'"
    ));
    let msg = fails(
        db,
        &["dump", &h2, "-o", out.to_str().unwrap()],
        3,
        "integrity",
    );
    assert!(msg.contains(&h2), "{msg}");
}

#[test]
fn workflow_on_sqlite() {
    workflow(&Fixture::new(Kind::Sqlite));
}

#[test]
fn workflow_on_postgres() {
    workflow(&Fixture::new(Kind::Postgres));
}

#[test]
fn usage_errors_exit_1() {
    let fx = Fixture::sqlite();
    assert_eq!(conddb(&fx.url, &["frobnicate"]).code, 1);
    assert_eq!(conddb(&fx.url, &["resolve", "GT"]).code, 1);
    assert_eq!(conddb("mysql://x", &["list"]).code, 1);
    let o = Command::new(env!("CARGO_BIN_EXE_hepinfer-conddb"))
        .args(["list"])
        .env_remove("HEPINFER_CONDDB")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "missing --db");
    let o = Command::new(env!("CARGO_BIN_EXE_hepinfer-conddb"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    // The database URL can come from the environment.
    let o = Command::new(env!("CARGO_BIN_EXE_hepinfer-conddb"))
        .args(["init", "--json"])
        .env("HEPINFER_CONDDB", &fx.url)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn unreachable_database_exits_5_without_password() {
    let fx = Fixture::postgres();
    let url = fx.unreachable_url();
    let o = conddb(&url, &["list", "--json"]);
    assert_eq!(o.code, 5, "{}{}", o.stdout, o.stderr);
    assert_eq!(o.json()["error"]["kind"], "unreachable");
    assert!(!o.stdout.contains("Sup3rS3cretPw") && !o.stderr.contains("Sup3rS3cretPw"));
    // Missing SQLite file: unreachable too, and not created.
    let missing = Fixture::sqlite();
    assert_eq!(conddb(&missing.url, &["list"]).code, 5);
    assert!(!std::path::Path::new(missing.url.trim_start_matches("sqlite://")).exists());
    // Existing database without schema.
    assert_eq!(conddb(&fx.url, &["list"]).code, 6);
}

#[test]
fn copy_sqlite_postgres_sqlite_with_the_cli() {
    let a = Fixture::sqlite();
    let p = Fixture::postgres();
    let b = Fixture::sqlite();
    common::populate(&a.init());
    let st = ok_json(&a.url, &["copy", "--to", &p.url]);
    assert_eq!(st["payloads"], 5);
    let st = ok_json(
        &p.url,
        &["copy", "--from", &p.url, "--to", &b.url, "--gt", "GT1"],
    );
    assert_eq!(st["global_tags"], 1);
    let d = ok_json(&a.url, &["diff", "GT1", "GT1", "--other-db", &b.url]);
    assert!(d["entries"].as_array().unwrap().is_empty(), "{d}");
    let d = ok_json(&a.url, &["diff", "GT2", "GT2", "--other-db", &p.url]);
    assert!(d["entries"].as_array().unwrap().is_empty(), "{d}");
    // GT2 was not copied to b.
    fails(
        &a.url,
        &["diff", "GT2", "GT2", "--other-db", &b.url],
        2,
        "not_found",
    );
}
