//! Runs the real demo job (`hepinfer-demo`) against a demo conditions database made by
//! `scripts/make-demo-db.sh`, with the plugins `scripts/build.sh` gathered.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The profile directory (`target/debug`) of this test executable.
pub fn profile_dir() -> PathBuf {
    hepinfer_plugin_testing::setup::profile_dir()
}

/// A demo conditions database, made once per test binary with `scripts/make-demo-db.sh` and the
/// `hepinfer` command of this build.
pub fn conddb() -> String {
    static DB: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    DB.get_or_init(|| {
        let hepinfer = profile_dir().join("hepinfer");
        assert!(
            hepinfer.exists(),
            "{} is missing: build the workspace with `bash scripts/build.sh debug` first",
            hepinfer.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("conditions.db");
        let st = Command::new("bash")
            .arg(root().join("scripts/make-demo-db.sh"))
            .arg(&hepinfer)
            .arg(&file)
            .status()
            .expect("run make-demo-db.sh");
        assert!(st.success(), "make-demo-db.sh failed: {st}");
        let url = format!("sqlite://{}", file.display());
        (dir, url)
    })
    .1
    .clone()
}

/// The plugin directory `scripts/build.sh` filled.
pub fn plugin_dir() -> PathBuf {
    let d = profile_dir().join("hepinfer-plugins");
    assert!(
        d.join("libcalo_gan.so").exists(),
        "{} has no plugins: run `bash scripts/build.sh debug` first",
        d.display()
    );
    d
}

/// Runs the demo with `args` (plus the database, the plugin directory and a short track-gnn
/// cadence), writing plots into a fresh directory; returns it and the demo's stdout. Pass
/// `--events-per-run 50` to cross runs (and seq-classifier's IOV boundary at run 3) in 200 events.
pub fn run_demo(args: &[&str]) -> (tempfile::TempDir, String) {
    let out = tempfile::tempdir().expect("tempdir");
    let o = Command::new(env!("CARGO_BIN_EXE_hepinfer-demo"))
        .args(["--conddb", &conddb()])
        .arg("--plugin-dir")
        .arg(plugin_dir())
        .args(["--gnn-every", "25"])
        .arg("--plots")
        .arg(out.path())
        .args(args)
        .output()
        .expect("run hepinfer-demo");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "hepinfer-demo {args:?} failed ({}):\n{stdout}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    (out, stdout)
}

/// A JSON file written by the demo.
pub fn json(dir: &Path, name: &str) -> serde_json::Value {
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Pixel statistics of a PNG: (width, height, distinct colours, fraction of non-white pixels).
pub fn png_stats(path: &Path) -> (u32, u32, usize, f64) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ch = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0usize;
    for p in px.chunks_exact(ch) {
        let rgb = if ch >= 3 {
            [p[0], p[1], p[2]]
        } else {
            [p[0]; 3]
        };
        colours.insert(rgb);
        if rgb.iter().any(|&c| c < 245) {
            ink += 1;
        }
    }
    let n = (info.width * info.height) as f64;
    (info.width, info.height, colours.len(), ink as f64 / n)
}

/// The five plugins of the demo.
pub const PLUGINS: [&str; 5] = [
    "seq-classifier",
    "btag-rnn",
    "jet-cnn",
    "track-gnn",
    "calo-gan",
];
