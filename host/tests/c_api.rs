//! Compiles C programs with the system C compiler, links them to the freshly built
//! `libhepinfer.so` through its SONAME, and runs them:
//! - `tests/c/test_c_api.c` against the checked-in header: every function and error path;
//! - `tests/c/test_abi_compat.c` against the frozen ABI 2.0 header (`tests/c/abi-2.0/`): a
//!   program built for an older minor version keeps working.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Compiles `source` with `include` first on the include path into `work/name`, linked to
/// libhepinfer.so through its SONAME.
fn compile(work: &Path, source: &Path, include: &Path, name: &str) -> PathBuf {
    // The library's SONAME is libhepinfer.so.MAJOR.MINOR: give the linker and the loader both names.
    let libdir = work.join("lib");
    if !libdir.exists() {
        std::fs::create_dir(&libdir).unwrap();
        let so = common::profile_dir().join("libhepinfer.so");
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
    }
    let exe = work.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
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
        .arg(include)
        .arg(source)
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&libdir)
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .args(["-lhepinfer", "-lm"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(status.success(), "compiling {} failed", source.display());
    exe
}

/// Asserts that a C test program passed, and that nothing was printed by a panic hook.
fn assert_passed(name: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failures: Vec<&str> = stderr.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        out.status.success() && failures.is_empty(),
        "{name} failed:\n{stdout}\n{}\n{stderr}",
        failures.join("\n")
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // Panics (the plugin's and the host's) reach the caller and the log callback, not stderr.
    assert!(
        !stderr.contains("panicked"),
        "{name}: a panic was printed to stderr:\n{stderr}"
    );
}

#[test]
fn c_program_exercises_the_whole_api() {
    let repo = common::repo();
    let work = tempfile::tempdir().unwrap();
    let exe = compile(
        work.path(),
        &repo.join("tests/c/test_c_api.c"),
        &repo.join("include"),
        "test_c_api",
    );
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());

    let plugins = common::plugin_dir(&["seq_classifier", "hepinfer_test_faulty"]);
    let broken = tempfile::tempdir().unwrap();
    // A real ELF shared object that is not a plugin, compiled here.
    let notaplugin = broken.path().join("libnotaplugin.so");
    let src = broken.path().join("x.c");
    std::fs::write(&src, "int not_a_plugin(void) { return 42; }\n").unwrap();
    let ok = Command::new(&cc)
        .arg("-shared")
        .arg("-fPIC")
        .arg(&src)
        .arg("-o")
        .arg(&notaplugin)
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::remove_file(&src).unwrap();

    let out = Command::new(&exe)
        .env("HEPINFER_TEST_PLUGIN_DIR", plugins.path())
        .env("HEPINFER_TEST_MODEL", common::seq_model())
        .env(
            "HEPINFER_TEST_GOLDEN",
            repo.join("plugins/seq-classifier/model"),
        )
        .env("HEPINFER_TEST_BROKEN_DIR", broken.path())
        // This test and the library it links are built with the same profile.
        .env(
            "HEPINFER_TEST_DEBUG_HOST",
            if cfg!(debug_assertions) { "1" } else { "0" },
        )
        .env("RUST_BACKTRACE", "1")
        .env_remove("HEPINFER_PLUGIN_PATH")
        .output()
        .unwrap();
    assert_passed("test_c_api", &out);
}

#[test]
fn a_client_built_for_abi_2_0_works_with_this_library() {
    let repo = common::repo();
    let work = tempfile::tempdir().unwrap();
    let exe = compile(
        work.path(),
        &repo.join("tests/c/test_abi_compat.c"),
        &repo.join("tests/c/abi-2.0"),
        "test_abi_compat",
    );
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let out = Command::new(&exe)
        .env("HEPINFER_TEST_PLUGIN_DIR", plugins.path())
        .env("HEPINFER_TEST_MODEL", common::seq_model())
        .env_remove("HEPINFER_PLUGIN_PATH")
        .output()
        .unwrap();
    assert_passed("test_abi_compat", &out);
}

#[test]
fn c_example_with_a_conditions_database() {
    use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, Synchronization, TimeType};
    let repo = common::repo();
    let work = tempfile::tempdir().unwrap();
    // The database: record SeqClassifierRcd gets model.onnx from run 1 and model_v2.onnx from
    // run 100 in global tag EXAMPLE_GT.
    let url = format!("sqlite://{}", work.path().join("conditions.db").display());
    let db = ConditionsDb::init(&url, &ConnectOptions::default()).unwrap();
    let model_dir = repo.join("plugins/seq-classifier/model");
    let v1 = std::fs::read(model_dir.join("model.onnx")).unwrap();
    let v2 = std::fs::read(model_dir.join("model_v2.onnx")).unwrap();
    let h1 = db.insert_payload("onnx", &v1, None).unwrap();
    let h2 = db.insert_payload("onnx", &v2, None).unwrap();
    db.create_tag(
        "Seq",
        "onnx",
        TimeType::Run,
        Synchronization::Offline,
        "example",
        None,
    )
    .unwrap();
    db.append_iov("Seq", IovKey::new(1, 0), &h1, None).unwrap();
    db.append_iov("Seq", IovKey::new(100, 0), &h2, None)
        .unwrap();
    db.create_global_tag("EXAMPLE_GT", "example", "0.1", None, None)
        .unwrap();
    db.map("EXAMPLE_GT", "SeqClassifierRcd", "", "Seq", None)
        .unwrap();
    drop(db);

    let exe = compile(
        work.path(),
        &repo.join("examples/c/conddb_job.c"),
        &repo.join("include"),
        "conddb_job",
    );
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let out = Command::new(&exe)
        .arg(plugins.path())
        .arg(&url)
        .args(["EXAMPLE_GT", "1", "99", "100", "250"])
        .env_remove("HEPINFER_PLUGIN_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (line, (run, hash)) in lines
        .iter()
        .zip([(1, &h1), (99, &h1), (100, &h2), (250, &h2)])
    {
        assert!(
            line.starts_with(&format!("run {run}: model classifier payload {hash}, p = ")),
            "run {run} should use payload {hash}: {line}"
        );
    }
}

#[test]
fn a_program_linked_as_the_readme_shows_starts() {
    // README: `cc app.c -I include -L target/release -Wl,-rpath,$PWD/target/release -lhepinfer`.
    // The program records the SONAME (libhepinfer.so.MAJOR.MINOR), which must exist beside
    // libhepinfer.so in the target directory.
    let repo = common::repo();
    let profile = common::profile_dir();
    let work = tempfile::tempdir().unwrap();
    // A minimal client of the current header: the ABI check, a host with the seq-classifier
    // plugin, one instance.
    let src = work.path().join("app.c");
    std::fs::write(
        &src,
        r#"#include <hepinfer/hepinfer.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  hepinfer_error* err = NULL;
  if (hepinfer_abi_check(HEPINFER_ABI_VERSION_MAJOR, HEPINFER_ABI_VERSION_MINOR, &err) != HEPINFER_OK) {
    fprintf(stderr, "FAIL abi: %s\n", hepinfer_error_message(err));
    return 1;
  }
  char config[4096];
  snprintf(config, sizeof config, "{\"plugin_dirs\": [\"%s\"], \"models\": {\"SeqClassifierRcd/\": \"%s\"}}",
           getenv("HEPINFER_TEST_PLUGIN_DIR"), getenv("HEPINFER_TEST_MODEL"));
  hepinfer_host* host = NULL;
  hepinfer_instance* inst = NULL;
  if (hepinfer_host_create(config, NULL, NULL, &host, &err) != HEPINFER_OK ||
      hepinfer_instance_create(host, "seq-classifier", "{}", &inst, &err) != HEPINFER_OK) {
    fprintf(stderr, "FAIL host: %s\n", hepinfer_error_message(err));
    return 1;
  }
  hepinfer_instance_free(inst);
  hepinfer_host_free(host);
  printf("1 passed, 0 failed\n");
  return 0;
}
"#,
    )
    .unwrap();
    let exe = work.path().join("app");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .arg(&src)
        .arg("-I")
        .arg(repo.join("include"))
        .arg("-L")
        .arg(&profile)
        .arg(format!("-Wl,-rpath,{}", profile.display()))
        .arg("-lhepinfer")
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success());
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let out = Command::new(&exe)
        .env("HEPINFER_TEST_PLUGIN_DIR", plugins.path())
        .env("HEPINFER_TEST_MODEL", common::seq_model())
        .env_remove("HEPINFER_PLUGIN_PATH")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert_passed("a program linked against the build tree", &out);
}
