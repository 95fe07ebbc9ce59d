//! Finding ONNX Runtime: a missing file, a library that is not ONNX Runtime and one of the wrong
//! version are refused with a message that says how to fix it, and none of them becomes the
//! process's ONNX Runtime. Its own test binary: ONNX Runtime is loaded once per process.

mod common;

use hepinfer::Host;
use std::path::Path;
use std::process::Command;

fn cc_shared(dir: &Path, name: &str, source: &str) -> std::path::PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let lib = dir.join(format!("lib{name}.so"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let ok = Command::new(cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success(), "cc failed");
    lib
}

fn create(ort: &Path) -> Result<Host, String> {
    let cfg = format!(r#"{{"onnxruntime": {:?}}}"#, ort.display().to_string());
    Host::new(&cfg, None, std::ptr::null_mut()).map_err(|e| e.to_string())
}

#[test]
fn wrong_libraries_are_refused_with_a_fix_and_the_right_one_then_loads() {
    let dir = tempfile::tempdir().unwrap();

    let e = create(&dir.path().join("libonnxruntime.so.1.31.1"))
        .err()
        .unwrap();
    assert!(
        e.contains("libonnxruntime.so.1.31.1") && e.contains("scripts/fetch-onnxruntime.sh"),
        "{e}"
    );

    let not_ort = cc_shared(dir.path(), "notort", "int answer(void) { return 42; }\n");
    let e = create(&not_ort).err().unwrap();
    assert!(
        e.contains("is not ONNX Runtime") && e.contains("fetch-onnxruntime"),
        "{e}"
    );

    // A stand-in for another ONNX Runtime release: only another version string, which is all
    // the check reads (no other real ONNX Runtime build can be fetched here).
    let old = cc_shared(
        dir.path(),
        "oldort",
        r#"
typedef struct { const void *(*GetApi)(unsigned); const char *(*GetVersionString)(void); } OrtApiBase;
static const void *get_api(unsigned v) { (void)v; return 0; }
static const char *version(void) { return "1.20.0"; }
static const OrtApiBase base = { get_api, version };
const OrtApiBase *OrtGetApiBase(void) { return &base; }
"#,
    );
    let e = create(&old).err().unwrap();
    assert!(
        e.contains("version 1.20.0") && e.contains("1.31.") && e.contains("fetch-onnxruntime"),
        "{e}"
    );

    // After all that, the real library loads (none of the wrong ones was kept).
    let real = common::repo().join(".deps/onnxruntime/lib/libonnxruntime.so.1.31.1");
    let host = create(&real).expect("the real ONNX Runtime loads");
    assert!(host.onnxruntime().version.starts_with("1.31."));
    assert_eq!(
        std::env::var("ORT_DISABLE_TELEMETRY").as_deref(),
        Ok("1"),
        "telemetry is switched off"
    );
}
