//! Helpers shared by the host's integration tests: where the built plugins and models are, and
//! plugin directories holding exactly the plugins a test wants.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The cargo profile directory the tests were built into (`target/debug`), from the test
/// executable's own path (`target/debug/deps/NAME-HASH`), so `CARGO_TARGET_DIR` is honoured.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// Path of the built plugin library `lib<crate_name>.so`; fails with the command that builds it.
pub fn plugin_lib(crate_name: &str) -> PathBuf {
    let p = profile_dir().join(format!("lib{crate_name}.so"));
    assert!(
        p.is_file(),
        "{} is missing: build the plugins first with `cargo build --workspace`",
        p.display()
    );
    p
}

/// A temporary plugin directory with symlinks to the named plugin crates' libraries.
pub fn plugin_dir(crates: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for c in crates {
        let lib = plugin_lib(c);
        std::os::unix::fs::symlink(&lib, dir.path().join(lib.file_name().unwrap()))
            .expect("symlink");
    }
    dir
}

/// The seq-classifier model shipped in the repository.
pub fn seq_model() -> PathBuf {
    repo().join("plugins/seq-classifier/model/model.onnx")
}

/// Host configuration JSON for `dir` with the seq-classifier model configured as a file.
pub fn host_config(dir: &Path, extra: &str) -> String {
    format!(
        r#"{{"plugin_dirs": [{:?}], "models": {{"SeqClassifierRcd": {:?}}}, "log_level": "warn"{}}}"#,
        dir.display().to_string(),
        seq_model().display().to_string(),
        extra
    )
}

/// Reads a raw little-endian f32 file.
pub fn read_f32(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Reads a raw little-endian i64 file.
pub fn read_i64(path: &Path) -> Vec<i64> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The golden sequences, labels and Python-onnxruntime probabilities of seq-classifier.
pub fn golden() -> (Vec<f32>, Vec<i64>, Vec<f32>) {
    let d = repo().join("plugins/seq-classifier/model");
    (
        read_f32(&d.join("golden_x.f32")),
        read_i64(&d.join("golden_y.i64")),
        read_f32(&d.join("golden_p.f32")),
    )
}

/// Compiles the C program `src` (C11, warnings as errors, pthreads) against the checked-in
/// header and links it to the freshly built `libhepinfer.so` through its SONAME; returns the
/// temporary directory holding the executable `prog`.
pub fn compile_c(src: &Path) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let libdir = work.path().join("lib");
    std::fs::create_dir(&libdir).unwrap();
    let so = profile_dir().join("libhepinfer.so");
    assert!(
        so.is_file(),
        "{} missing: run `cargo build -p hepinfer`",
        so.display()
    );
    let soname = format!(
        "libhepinfer.so.{}.{}",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    std::os::unix::fs::symlink(&so, libdir.join("libhepinfer.so")).unwrap();
    std::os::unix::fs::symlink(&so, libdir.join(&soname)).unwrap();
    let exe = work.path().join("prog");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(&cc)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O1",
            "-pthread",
        ])
        .arg("-I")
        .arg(repo().join("include"))
        .arg(src)
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&libdir)
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .args(["-lhepinfer", "-lm"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(status.success(), "compiling {} failed", src.display());
    (work, exe)
}
