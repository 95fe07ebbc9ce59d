//! Helpers of the integration tests: a minimal `.npz` reader for the golden tensors, and a host
//! with this plugin and its shipped model, set up as the host's own tests do (a temporary plugin
//! directory holding a symlink to the built library).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One array of an `.npz` file: dtype string (`<f4`, `<i8`), shape and raw little-endian bytes.
pub struct Array {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Array {
    /// The elements as f32 (panics on another dtype: a broken golden file is a test failure).
    pub fn f32(&self) -> Vec<f32> {
        assert_eq!(self.dtype, "<f4", "dtype");
        self.data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// The elements as i64.
    pub fn i64(&self) -> Vec<i64> {
        assert_eq!(self.dtype, "<i8", "dtype");
        self.data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
}

fn u16_at(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}

fn u32_at(b: &[u8], i: usize) -> u64 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// Parses one `.npy` file (format 1.0–3.0, C order).
fn parse_npy(b: &[u8]) -> Array {
    assert_eq!(&b[..6], b"\x93NUMPY", "npy magic");
    let (hlen, start) = if b[6] == 1 {
        (u16_at(b, 8), 10)
    } else {
        (u32_at(b, 8) as usize, 12)
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).unwrap();
    assert!(header.contains("'fortran_order': False"), "{header}");
    let field = |key: &str| {
        let i = header.find(key).unwrap() + key.len();
        header[i..].trim_start_matches([':', ' ']).to_string()
    };
    let descr = field("'descr'");
    let dtype = descr.split('\'').nth(1).unwrap().to_string();
    let shape_s = field("'shape'");
    let inner = &shape_s[1..shape_s.find(')').unwrap()];
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    Array {
        dtype,
        shape,
        data: b[start + hlen..].to_vec(),
    }
}

/// Reads the arrays of an uncompressed `.npz` (numpy's `savez`: stored zip entries, ZIP64
/// sizes in the extra field) by walking the local file headers.
pub fn read_npz(path: &Path) -> HashMap<String, Array> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = HashMap::new();
    let mut i = 0;
    while i + 30 <= b.len() && b[i..i + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let flags = u16_at(&b, i + 6);
        let method = u16_at(&b, i + 8);
        assert_eq!(method, 0, "only stored (np.savez) archives are supported");
        assert_eq!(flags & 8, 0, "data descriptors are not supported");
        let mut size = u32_at(&b, i + 18);
        let name_len = u16_at(&b, i + 26);
        let extra_len = u16_at(&b, i + 28);
        let name = std::str::from_utf8(&b[i + 30..i + 30 + name_len]).unwrap();
        let extra = &b[i + 30 + name_len..i + 30 + name_len + extra_len];
        if size == 0xffff_ffff {
            // ZIP64 extended information: uncompressed size, then compressed size.
            let mut e = 0;
            while e + 4 <= extra.len() {
                let (id, len) = (u16_at(extra, e), u16_at(extra, e + 2));
                if id == 1 {
                    size = u64_at(extra, e + 4 + 8);
                }
                e += 4 + len;
            }
        }
        let data = i + 30 + name_len + extra_len;
        let end = data + size as usize;
        let key = name.trim_end_matches(".npy").to_string();
        out.insert(key, parse_npy(&b[data..end]));
        i = end;
    }
    assert!(!out.is_empty(), "{}: no arrays", path.display());
    out
}

/// The model directory of this plugin.
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model")
}

/// The golden tensors exported by `model/make_golden.py`.
pub fn golden() -> HashMap<String, Array> {
    read_npz(&model_dir().join("golden.npz"))
}

/// The cargo profile directory holding the built plugin (`target/debug`), from this test
/// executable's path (`target/debug/deps/NAME-HASH`), so `CARGO_TARGET_DIR` is honoured.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// A temporary plugin directory with a symlink to this crate's freshly built plugin library.
pub fn plugin_dir() -> tempfile::TempDir {
    let name = format!("lib{}.so", env!("CARGO_PKG_NAME").replace('-', "_"));
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
            env!("CARGO_PKG_NAME")
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

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Area under the ROC curve of `signal` vs `background` scores (ties count one half).
pub fn auc(signal: &[f32], background: &[f32]) -> f64 {
    let mut all: Vec<(f32, bool)> = signal
        .iter()
        .map(|&s| (s, true))
        .chain(background.iter().map(|&b| (b, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += avg_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (ns, nb) = (signal.len() as f64, background.len() as f64);
    (rank_sum - ns * (ns + 1.0) / 2.0) / (ns * nb)
}
