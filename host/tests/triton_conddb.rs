//! Remote models as conditions: `hepinfer conddb upload` checks a `kserve` payload, and a global
//! tag moves the b-tagging record from the local model to a Triton server with nothing else
//! changed: same job configuration but the global tag, same physics, provenance naming what
//! served it. Needs `scripts/setup-triton.sh`.

mod triton_common;

use std::process::Command;
use triton_common::*;

/// Runs `hepinfer conddb --db URL ARGS`; returns (exit code, stdout + stderr).
fn conddb(db: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hepinfer"))
        .args(["conddb", "--db", db])
        .args(args)
        .output()
        .expect("hepinfer conddb");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn ok(db: &str, args: &[&str]) -> String {
    let (code, text) = conddb(db, args);
    assert_eq!(code, 0, "hepinfer conddb {args:?}: {text}");
    text
}

#[test]
fn upload_refuses_broken_kserve_payloads_and_a_global_tag_moves_a_record_to_triton() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    ok(&db, &["init"]);
    let btag = onnx("btag-rnn");
    let sha = sha256_file(&btag);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };

    // Refused at upload, each with its reason, and nothing stored.
    let cases = [
        (write("a.kserve", "{not json"), "not a valid document"),
        (
            write("b.kserve", &payload(&[], "btag-rnn", &sha, 1000, 1, None)),
            "'servers' is empty",
        ),
        (
            write(
                "c.kserve",
                &payload(&["127.0.0.1:1".into()], "btag-rnn", "abc", 1000, 1, None),
            ),
            "64 lower-case hex",
        ),
        (
            write(
                "d.kserve",
                &payload(
                    &["127.0.0.1:1".into()],
                    "btag-rnn",
                    &sha,
                    1000,
                    1,
                    Some(&sha),
                ),
            ),
            "upload the local model first",
        ),
    ];
    for (file, want) in &cases {
        let (code, text) = conddb(
            &db,
            &[
                "upload",
                file,
                "--tag",
                "BTagRnn_remote",
                "--since",
                "1",
                "--create",
            ],
        );
        assert_eq!(code, 1, "{file}: {text}");
        assert!(text.contains(want), "{file}: expected '{want}' in: {text}");
    }
    let listed = ok(&db, &["--json", "list", "tags"]);
    assert!(!listed.contains("BTagRnn_remote"), "{listed}");

    // The real thing: local model first, then the remote payload whose fallback it is.
    let repo_dir = tempfile::tempdir().unwrap();
    model_repository(repo_dir.path(), &[("btag-rnn", &btag)], 1000);
    let triton = Triton::start(repo_dir.path());
    ok(
        &db,
        &[
            "upload",
            &btag.display().to_string(),
            "--tag",
            "BTagRnn_local",
            "--since",
            "1",
            "--create",
        ],
    );
    let remote = write(
        "btag.kserve",
        &payload(&[triton.url()], "btag-rnn", &sha, 5000, 2, Some(&sha)),
    );
    ok(
        &db,
        &[
            "upload",
            &remote,
            "--tag",
            "BTagRnn_remote",
            "--since",
            "1",
            "--create",
        ],
    );
    for (gt, tag) in [
        ("LOCAL_V1", "BTagRnn_local"),
        ("REMOTE_V1", "BTagRnn_remote"),
    ] {
        ok(&db, &["gt", "create", gt]);
        ok(&db, &["gt", "map", gt, "BTagRnnRcd", "", tag]);
    }

    let plugins = plugin_dir();
    let all = btag_inputs();
    let ev = btag_subset(&all, 0..50);
    let run = |gt: &str| {
        let cfg = serde_json::json!({
            "plugin_dirs": [plugins.path()], "conddb": db, "global_tag": gt, "log_level": "warn"});
        let h = hepinfer::Host::new(&cfg.to_string(), None, std::ptr::null_mut()).expect("host");
        let inst = h.instance("btag-rnn", "{}").unwrap();
        run_btag(&inst, 1, (&ev.0, &ev.1, &ev.2)).unwrap()
    };
    let (pl, prov_l) = run("LOCAL_V1");
    let (pr, prov_r) = run("REMOTE_V1");
    let d = max_abs_diff(&pl, &pr);
    assert!(d <= 1e-5, "local vs remote global tag: max |diff| {d}");
    assert_eq!(prov_l[0].hash, sha, "local: the model file's own hash");
    // The local model is run by the native LSTM kernel, and its provenance says so.
    let local = prov_l[0].served_by.as_deref().unwrap_or_default();
    assert!(local.contains("native LSTM kernel"), "{local}");
    let served = prov_r[0].served_by.as_deref().expect("remote provenance");
    assert!(
        served.contains(&triton.url()) && served.contains(&sha),
        "{served}"
    );
    assert_ne!(prov_r[0].hash, sha, "remote: the kserve payload's hash");
}
