//! Compiles `tests/c/test_async.c` against the checked-in header and runs it: the asynchronous
//! C API from two threads, inputs overwritten right after `hepinfer_submit`, every completion
//! bit-identical to `hepinfer_process`, refused submissions never calling back, shutdown with
//! requests in flight.

mod common;

use std::process::Command;

#[test]
fn c_program_submits_from_two_threads_and_gets_the_synchronous_answers() {
    let (_work, exe) = common::compile_c(&common::repo().join("tests/c/test_async.c"));
    let plugins = common::plugin_dir(&["btag_rnn"]);
    let out = Command::new(&exe)
        .arg(plugins.path())
        .arg(common::repo().join("plugins/btag-rnn/model/model.onnx"))
        .env_remove("HEPINFER_PLUGIN_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("FAIL"),
        "async C test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all bit-identical"), "{stdout}");
}
