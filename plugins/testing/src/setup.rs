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
