//! A real Triton Inference Server for the KServe backend's tests: the `tritonserver` binary of the
//! `nvidia-pytriton` wheel (`scripts/setup-triton.sh`), started directly on a model repository
//! generated from the project's own ONNX models (`scripts/triton/make-repository.py`), on free
//! loopback ports, waited for, and stopped by process group when dropped.
//!
//! Without the set-up these tests fail, saying how to run it: they never pass quietly.
#![allow(dead_code)]

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a server may take to become ready (Python-backend models load onnxruntime).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// The environment `scripts/setup-triton.sh` prints: taken from the process environment when
/// the caller ran `eval "$(scripts/setup-triton.sh)"`, else from running the script when the
/// venv exists already (it then installs nothing). Panics with the fix otherwise.
pub fn triton_env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        const KEYS: [&str; 4] = [
            "HEPINFER_TRITONSERVER",
            "HEPINFER_TRITON_BACKENDS",
            "HEPINFER_TRITON_PYTHON",
            "HEPINFER_TRITON_LD_LIBRARY_PATH",
        ];
        let from_env: HashMap<String, String> = KEYS
            .iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect();
        if from_env.len() == KEYS.len() {
            return from_env;
        }
        let venv = std::env::var_os("HEPINFER_TRITON_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".triton-venv"));
        assert!(
            venv.join("bin/python").is_file(),
            "\n\nTRITON IS NOT SET UP: these tests need a real Triton server. Run\n    \
             eval \"$(scripts/setup-triton.sh)\"\n(a venv with nvidia-pytriton==0.7.0 and \
             onnxruntime==1.31.1, ~370 MB; scripts/test.sh does it) and run the tests again.\n"
        );
        let out = Command::new("bash")
            .arg(repo().join("scripts/setup-triton.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/setup-triton.sh");
        assert!(out.status.success(), "scripts/setup-triton.sh failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (k, v) = l.strip_prefix("export ")?.split_once('=')?;
                Some((k.to_string(), v.trim_matches('\'').to_string()))
            })
            .collect()
    })
}

/// SHA-256 (hex) of a file.
pub fn sha256_file(p: &Path) -> String {
    hepinfer::models::payload_hash(&std::fs::read(p).expect("model file"))
}

/// The ONNX file of a plugin's model.
pub fn onnx(plugin: &str) -> PathBuf {
    repo().join("plugins").join(plugin).join("model/model.onnx")
}

/// Writes a model repository serving `models` (name, ONNX file) into `dir`, with a dynamic
/// batcher that waits up to `max_queue_delay_us` to merge requests.
pub fn model_repository(dir: &Path, models: &[(&str, &Path)], max_queue_delay_us: u32) {
    let env = triton_env();
    let mut c = Command::new(&env["HEPINFER_TRITON_PYTHON"]);
    c.arg(repo().join("scripts/triton/make-repository.py"))
        .arg(dir)
        .arg(format!("--max-queue-delay-us={max_queue_delay_us}"));
    for (name, path) in models {
        c.arg(format!("{name}={}", path.display()));
    }
    let out = c.output().expect("make-repository.py");
    assert!(
        out.status.success(),
        "make-repository.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free TCP port on 127.0.0.1 (bound and released: another process could take it before the
/// server does, which start() reports as a failed start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A running `tritonserver`, stopped when dropped.
pub struct Triton {
    child: Option<Child>,
    repository: PathBuf,
    /// gRPC port (KServe v2).
    pub grpc_port: u16,
    /// HTTP port.
    pub http_port: u16,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Triton {
    /// Starts a server on `repository` on free ports and waits until it is ready.
    pub fn start(repository: &Path) -> Triton {
        let logdir = tempfile::tempdir().expect("tempdir");
        let mut t = Triton {
            child: None,
            repository: repository.to_path_buf(),
            grpc_port: free_port(),
            http_port: free_port(),
            log: logdir.path().join("tritonserver.log"),
            _logdir: logdir,
        };
        t.spawn();
        t
    }

    /// `http://127.0.0.1:PORT`, the gRPC endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let env = triton_env();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut c = Command::new("bash");
        c.arg(repo().join("scripts/triton/serve.sh"))
            .arg(&self.repository)
            .arg(self.grpc_port.to_string())
            .arg(self.http_port.to_string())
            .envs(env)
            // Its own process group: the server and its Python stubs are stopped together.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = c.spawn().expect("starting scripts/triton/serve.sh");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if hepinfer::runtime::kserve::server_ready(&self.url(), Duration::from_secs(1)) {
                eprintln!(
                    "tritonserver ready on {} after {:.1} s",
                    self.url(),
                    start.elapsed().as_secs_f64()
                );
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "tritonserver exited ({status}) before it was ready; its log:\n{}",
                    tail(&self.log())
                );
            }
            if start.elapsed() > START_TIMEOUT {
                self.kill_hard();
                panic!(
                    "tritonserver not ready after {START_TIMEOUT:?}; its log:\n{}",
                    tail(&self.log())
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn signal(&mut self, sig: i32) {
        if let Some(c) = &self.child {
            // The negative PID names the process group the server was started in.
            unsafe { libc::kill(-(c.id() as i32), sig) };
        }
    }

    fn reap(&mut self, within: Duration) -> bool {
        let Some(c) = self.child.as_mut() else {
            return true;
        };
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(_)) = c.try_wait() {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills the server at once (SIGKILL to its process group), as a crashed node would.
    pub fn kill_hard(&mut self) {
        self.signal(libc::SIGKILL);
        self.reap(Duration::from_secs(10));
    }

    /// Starts the server again on the same ports (after [`kill_hard`](Self::kill_hard)).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running server");
        // The ports were the dead server's; the kernel frees them when its sockets close.
        self.spawn();
    }
}

impl Drop for Triton {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        if !self.reap(Duration::from_secs(15)) {
            self.signal(libc::SIGKILL);
            self.reap(Duration::from_secs(5));
        }
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A `kserve` payload document.
pub fn payload(
    servers: &[String],
    model: &str,
    sha256: &str,
    timeout_ms: u64,
    retries: u32,
    fallback: Option<&str>,
) -> String {
    let mut v = serde_json::json!({
        "servers": servers,
        "model": model,
        "version": "1",
        "timeout_ms": timeout_ms,
        "retries": retries,
        "sha256": sha256,
    });
    if let Some(f) = fallback {
        v["fallback"] = f.into();
    }
    v.to_string()
}

/// The built plugin library `lib<crate_name>.so`.
pub fn plugin_lib(crate_name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    let p = profile.join(format!("lib{crate_name}.so"));
    assert!(
        p.is_file(),
        "{} is missing: build the plugins first with `cargo build --workspace`",
        p.display()
    );
    p
}

/// A temporary plugin directory with the btag-rnn and jet-cnn plugins.
pub fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for c in ["btag_rnn", "jet_cnn"] {
        let lib = plugin_lib(c);
        std::os::unix::fs::symlink(&lib, dir.path().join(lib.file_name().unwrap()))
            .expect("symlink");
    }
    dir
}

/// A Triton shared by the tests of one test binary: started by the first test that asks, stopped
/// when the last test holding it is done (a test started later starts a new one).
pub fn shared(models: &[(&str, &Path)]) -> std::sync::Arc<(tempfile::TempDir, Triton)> {
    use std::sync::{Arc, Mutex, Weak};
    static SHARED: Mutex<Weak<(tempfile::TempDir, Triton)>> = Mutex::new(Weak::new());
    let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = g.upgrade() {
        return t;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    model_repository(dir.path(), models, 2000);
    let t = Triton::start(dir.path());
    let t = Arc::new((dir, t));
    *g = Arc::downgrade(&t);
    t
}

#[path = "../../../plugins/testing/src/npz.rs"]
mod npz;
pub use npz::{read_npz, Array};

/// The golden events of `plugin` (`plugins/<plugin>/model/golden.npz`).
pub fn golden(plugin: &str) -> HashMap<String, Array> {
    read_npz(&repo().join("plugins").join(plugin).join("model/golden.npz"))
}

/// btag-rnn's golden raw inputs as the plugin takes them: `jets` [n, 3], `tracks` [m, 7], offsets.
pub fn btag_inputs() -> (Vec<f32>, Vec<f32>, Vec<i64>, Vec<f32>) {
    let g = golden("btag-rnn");
    let (pt, eta, phi) = (g["jet_pt"].f32(), g["jet_eta"].f32(), g["jet_phi"].f32());
    let jets = (0..pt.len())
        .flat_map(|i| [pt[i], eta[i], phi[i]])
        .collect();
    let cols: Vec<Vec<f32>> = [
        "trk_pt",
        "trk_eta",
        "trk_phi",
        "trk_d0",
        "trk_z0",
        "trk_sigma_d0",
        "trk_sigma_z0",
    ]
    .iter()
    .map(|k| g[*k].f32())
    .collect();
    let tracks = (0..cols[0].len())
        .flat_map(|i| cols.iter().map(move |c| c[i]))
        .collect();
    (jets, tracks, g["offsets"].i64(), g["probs"].f32())
}

/// jet-cnn's golden raw inputs: constituents [m, 3] (η, φ, pT), offsets, and Python's p_w.
pub fn jet_inputs() -> (Vec<f32>, Vec<i64>, Vec<f32>) {
    let g = golden("jet-cnn");
    let (eta, phi, pt) = (g["c_eta"].f32(), g["c_phi"].f32(), g["c_pt"].f32());
    let c = (0..pt.len())
        .flat_map(|i| [eta[i], phi[i], pt[i]])
        .collect();
    (c, g["offsets"].i64(), g["p_w"].f32())
}

/// One b-tagging call's raw inputs: jets [n, 3], tracks [m, 7], offsets.
pub type BtagEvent = (Vec<f32>, Vec<f32>, Vec<i64>);

/// Jets `range` of the golden btag-rnn sample: (jets, tracks, offsets rebased to 0).
pub fn btag_subset(
    all: &(Vec<f32>, Vec<f32>, Vec<i64>, Vec<f32>),
    range: std::ops::Range<usize>,
) -> BtagEvent {
    let (jets, tracks, offsets, _) = all;
    let (a, b) = (offsets[range.start] as usize, offsets[range.end] as usize);
    (
        jets[3 * range.start..3 * range.end].to_vec(),
        tracks[7 * a..7 * b].to_vec(),
        offsets[range.start..=range.end]
            .iter()
            .map(|o| o - a as i64)
            .collect(),
    )
}

/// Runs btag-rnn on (jets, tracks, offsets); returns the probabilities [n, 3] and provenance.
pub fn run_btag(
    inst: &hepinfer::Instance,
    event: u64,
    (jets, tracks, offsets): (&[f32], &[f32], &[i64]),
) -> hepinfer::Result<(Vec<f32>, Vec<std::sync::Arc<hepinfer::Provenance>>)> {
    use hepinfer_plugin_api::{EventKey, TensorView};
    let js = [(jets.len() / 3) as i64, 3];
    let ts = [(tracks.len() / 7) as i64, 7];
    let mut tv = TensorView::f32("tracks", &ts, tracks);
    tv.offsets = offsets.into();
    let out = inst.process(
        EventKey {
            run: 1,
            lumi: 1,
            event,
        },
        &[TensorView::f32("jets", &js, jets), tv],
    )?;
    Ok((probabilities(&out), out.provenance))
}

/// btag-rnn's `probabilities` output [n, 3] of one call.
pub fn probabilities(out: &hepinfer::CallOutputs) -> Vec<f32> {
    out.tensors
        .iter()
        .find(|t| t.name.as_str() == "probabilities")
        .and_then(|t| t.as_f32())
        .expect("probabilities")
        .to_vec()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A host over the btag-rnn and jet-cnn plugins serving `models` ("Record[/label]" -> file).
pub fn host(plugins: &Path, models: serde_json::Value) -> hepinfer::Host {
    let cfg = serde_json::json!({"plugin_dirs": [plugins], "models": models, "log_level": "warn"});
    hepinfer::Host::new(&cfg.to_string(), None, std::ptr::null_mut()).expect("host")
}
