//! Compiles `tests/c/test_c_api.c` with the system C compiler against the checked-in header,
//! links it to the freshly built `libhepinfer.so` through its SONAME, and runs it.

mod common;

use std::process::Command;

#[test]
fn c_program_exercises_the_whole_api() {
    let repo = common::repo();
    let work = tempfile::tempdir().unwrap();
    // The library's SONAME is libhepinfer.so.MAJOR.MINOR: give the linker and the loader both names.
    let libdir = work.path().join("lib");
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
    let exe = work.path().join("test_c_api");
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
        .arg(repo.join("include"))
        .arg(repo.join("tests/c/test_c_api.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&libdir)
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .args(["-lhepinfer", "-lm"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(status.success(), "compiling the C test failed");

    let plugins = common::plugin_dir(&["seq_classifier", "hepinfer_test_faulty"]);
    let broken = tempfile::tempdir().unwrap();
    // A real ELF shared object that is not a plugin: the C library's math library, compiled here.
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
        .env_remove("HEPINFER_PLUGIN_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failures: Vec<&str> = stderr.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        out.status.success() && failures.is_empty(),
        "C API test failed:\n{stdout}\n{}",
        failures.join("\n")
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
