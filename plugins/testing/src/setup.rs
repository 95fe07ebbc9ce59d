//! A test host's plugin directory and configuration, as the host's own tests set them up.

use std::path::{Path, PathBuf};

/// The cargo profile directory holding the built plugin (`target/debug`), from this test
/// executable's path (`target/debug/deps/NAME-HASH`), so `CARGO_TARGET_DIR` is honoured.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// A temporary plugin directory with a symlink to the freshly built library of plugin crate
/// `package` (call it with `env!("CARGO_PKG_NAME")` from the plugin's own tests).
pub fn plugin_dir(package: &str) -> tempfile::TempDir {
    let name = format!("lib{}.so", package.replace('-', "_"));
    // `cargo test` rebuilds the library in deps/ without copying it up to the profile directory
    // (`cargo build` does both): take the newer of the two.
    let lib = [
        profile_dir().join(&name),
        profile_dir().join("deps").join(&name),
    ]
    .into_iter()
    .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
    .max()
    .map(|(_, p)| p)
    .unwrap_or_else(|| {
        panic!(
            "{name} is missing: build it first with `cargo build -p {}`",
            package
        )
    });
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(&lib, dir.path().join(&name)).expect("symlink");
    dir
}

/// Host configuration JSON: plugins from `dir`, `record` served from `model` as a file.
pub fn host_config(dir: &Path, record: &str, model: &Path) -> String {
    serde_json::json!({
        "plugin_dirs": [dir],
        "models": { record: model },
        "log_level": "warn",
    })
    .to_string()
}

/// A host serving `record` from the model file `model`, with plugin crate `package` in a
/// temporary plugin directory (kept alive beside the host): the set-up of the plugin benchmarks.
pub fn file_host(package: &str, record: &str, model: &Path) -> (tempfile::TempDir, hepinfer::Host) {
    let dir = plugin_dir(package);
    let host = hepinfer::Host::new(
        &host_config(dir.path(), record, model),
        None,
        std::ptr::null_mut(),
    )
    .expect("host");
    (dir, host)
}

/// Runs `call(thread, i)` for `i` in `0..iters` on each of `threads` threads at once and
/// returns the wall time: one benchmark iteration is one call per thread (for criterion's
/// `iter_custom` throughput measurements on one shared instance).
pub fn run_on_threads(
    threads: usize,
    iters: u64,
    call: impl Fn(usize, u64) + Sync,
) -> std::time::Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let call = &call;
            s.spawn(move || (0..iters).for_each(|i| call(t, i)));
        }
    });
    start.elapsed()
}
