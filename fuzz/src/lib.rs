//! What the fuzz targets share: one host per fuzzing process with every shipped plugin and its
//! model given as a file, as a Rust [`Host`] (to read the plugins' declarations) and as a C
//! `hepinfer_host` (the path a framework's calls take).

use hepinfer::abi::{hepinfer_host, hepinfer_host_create};
use hepinfer::Host;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// LeakSanitizer's built-in suppressions for every target linking this crate (LSan calls this
/// weak symbol of its runtime at start; unused without a sanitizer). Suppressed, and only this:
/// abi_stable's `lib_header_from_path` keeps each plugin library loaded for the life of the
/// process by forgetting its `RawLibrary` (documented there: "This leaks the underlying dynamic
/// library"), whose path is then unreachable: one allocation per plugin, once per process, since
/// the host loads a plugin path once (`hepinfer::loader::load_plugin`).
#[no_mangle]
pub extern "C" fn __lsan_default_suppressions() -> *const std::ffi::c_char {
    c"leak:abi_stable::library::raw_library::RawLibrary\n".as_ptr()
}

/// Repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The plugin directory: `$HEPINFER_FUZZ_PLUGINS`, else `target/debug/hepinfer-plugins` of the
/// main workspace (`scripts/build.sh debug` fills it).
fn plugin_dir() -> PathBuf {
    std::env::var_os("HEPINFER_FUZZ_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/debug/hepinfer-plugins"))
}

/// The host configuration: every shipped model as a file, quiet logging.
pub fn host_config() -> String {
    let m = |p: &str| repo().join("plugins").join(p).display().to_string();
    serde_json::json!({
        "plugin_dirs": [plugin_dir()],
        "log_level": "error",
        "models": {
            "SeqClassifierRcd": m("seq-classifier/model/model.onnx"),
            "BTagRnnRcd": m("btag-rnn/model/model.onnx"),
            "JetCnnRcd": m("jet-cnn/model/model.onnx"),
            "TrackGnnRcd": m("track-gnn/model/track_gnn.onnx"),
            "CaloGanRcd": m("calo-gan/model/calo_gan.onnx"),
        },
    })
    .to_string()
}

/// The Rust host (plugin declarations).
pub fn rust_host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        Host::new(&host_config(), None, std::ptr::null_mut()).unwrap_or_else(|e| {
            panic!(
                "fuzz host: {e} (build the plugins first: scripts/build.sh debug, or set HEPINFER_FUZZ_PLUGINS)"
            )
        })
    })
}

/// Names of the plugins found, sorted.
pub fn plugin_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let n = rust_host().plugins().names();
        assert!(!n.is_empty(), "no plugins in {}", plugin_dir().display());
        n
    })
}

struct CHost(*mut hepinfer_host);
// SAFETY: a hepinfer_host may be used from any thread (documented in the C header).
unsafe impl Send for CHost {}
unsafe impl Sync for CHost {}

/// The C host, created once per process through `hepinfer_host_create`.
pub fn c_host() -> *mut hepinfer_host {
    static HOST: OnceLock<CHost> = OnceLock::new();
    HOST.get_or_init(|| {
        let cfg = CString::new(host_config()).unwrap();
        let mut host = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated config and out-pointers.
        let st = unsafe {
            hepinfer_host_create(
                cfg.as_ptr(),
                None,
                std::ptr::null_mut(),
                &mut host,
                &mut err,
            )
        };
        assert_eq!(st as u32, 0, "hepinfer_host_create failed");
        CHost(host)
    })
    .0
}

/// Reads bytes from the fuzzer's input, then zeros when it runs out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    /// The next byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next 8 bytes as an i64.
    pub fn i64(&mut self) -> i64 {
        let mut a = [0u8; 8];
        for x in &mut a {
            *x = self.u8();
        }
        i64::from_le_bytes(a)
    }
}
