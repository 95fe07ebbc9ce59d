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

    /// The elements as i32.
    pub fn i32(&self) -> Vec<i32> {
        assert_eq!(self.dtype, "<i4", "dtype");
        self.data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
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
    let fortran = header.contains("'fortran_order': True");
    let field = |key: &str| {
        let i = header.find(key).unwrap() + key.len();
        header[i..].trim_start_matches([':', ' ']).to_string()
    };
    let descr = field("'descr'");
    let dtype = descr.split('\'').nth(1).unwrap().to_string();
    let shape_s = field("'shape'");
    let inner = &shape_s[1..shape_s.find(')').unwrap()];
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let mut data = b[start + hlen..].to_vec();
    if fortran {
        data = fortran_to_c(&data, &shape, dtype[2..].parse().expect("item size"));
    }
    Array { dtype, shape, data }
}

/// Reorders column-major (Fortran) elements of `shape` into row-major (C) order; numpy writes
/// transposed or fancy-indexed arrays that way.
fn fortran_to_c(data: &[u8], shape: &[usize], item: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = vec![0u8; data.len()];
    let mut idx = vec![0usize; shape.len()];
    for c in 0..n {
        // idx is the multi-index of C-order element c; its Fortran offset:
        let mut f = 0;
        for d in (0..shape.len()).rev() {
            f = f * shape[d] + idx[d];
        }
        out[c * item..(c + 1) * item].copy_from_slice(&data[f * item..(f + 1) * item]);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
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

/// A host and one instance of this crate's plugin driven through the C ABI
/// (`hepinfer_host_create`, `hepinfer_instance_create`, `hepinfer_process`,
/// `hepinfer_outputs_find`), as a C++ framework calls it.
pub mod cabi {
    use hepinfer::abi::*;
    use std::ffi::{CStr, CString};
    use std::ptr;

    /// An owned output tensor read back through `hepinfer_outputs_find`.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Data {
        /// f32 elements.
        F32(Vec<f32>),
        /// i64 elements.
        I64(Vec<i64>),
    }

    /// An output copied out of a `hepinfer_outputs`.
    #[derive(Debug, Clone)]
    pub struct Output {
        /// Shape.
        pub shape: Vec<i64>,
        /// Elements.
        pub data: Data,
        /// Offsets (empty when not jagged).
        pub offsets: Vec<i64>,
    }

    impl Output {
        /// The f32 elements (panics otherwise: a test failure).
        pub fn f32(&self) -> &[f32] {
            match &self.data {
                Data::F32(v) => v,
                d => panic!("not f32: {d:?}"),
            }
        }
        /// The i64 elements.
        pub fn i64(&self) -> &[i64] {
            match &self.data {
                Data::I64(v) => v,
                d => panic!("not i64: {d:?}"),
            }
        }
    }

    /// A host with one plugin instance.
    pub struct CPlugin {
        host: *mut hepinfer_host,
        inst: *mut hepinfer_instance,
    }

    // SAFETY: the C API documents hosts and instances as shareable by all threads.
    unsafe impl Send for CPlugin {}
    unsafe impl Sync for CPlugin {}

    fn message(err: *mut hepinfer_error) -> String {
        let m = unsafe { CStr::from_ptr(hepinfer_error_message(err)) }
            .to_string_lossy()
            .into_owned();
        unsafe { hepinfer_error_free(err) };
        m
    }

    impl CPlugin {
        /// `hepinfer_host_create(config)` + `hepinfer_instance_create(plugin, instance_config)`.
        pub fn new(config: &str, plugin: &str, instance_config: &str) -> Result<Self, String> {
            let (c, p, ic) = (
                CString::new(config).unwrap(),
                CString::new(plugin).unwrap(),
                CString::new(instance_config).unwrap(),
            );
            let (mut host, mut inst, mut err) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            unsafe {
                if hepinfer_host_create(c.as_ptr(), None, ptr::null_mut(), &mut host, &mut err)
                    != hepinfer_status::HEPINFER_OK
                {
                    return Err(message(err));
                }
                if hepinfer_instance_create(host, p.as_ptr(), ic.as_ptr(), &mut inst, &mut err)
                    != hepinfer_status::HEPINFER_OK
                {
                    hepinfer_host_free(host);
                    return Err(message(err));
                }
            }
            Ok(CPlugin { host, inst })
        }

        /// `hepinfer_process`, then every named output copied out (`Err`: status + message).
        pub fn process(
            &self,
            key: hepinfer_event_key,
            inputs: &[hepinfer_tensor],
            outputs: &[&str],
        ) -> Result<Vec<Output>, (hepinfer_status, String)> {
            let (mut out, mut err) = (ptr::null_mut(), ptr::null_mut());
            let st = unsafe {
                hepinfer_process(self.inst, key, inputs.as_ptr(), inputs.len(), &mut out, &mut err)
            };
            if st != hepinfer_status::HEPINFER_OK {
                return Err((st, message(err)));
            }
            let res = outputs
                .iter()
                .map(|name| {
                    let n = CString::new(*name).unwrap();
                    let mut t = std::mem::MaybeUninit::<hepinfer_tensor>::uninit();
                    let mut err = ptr::null_mut();
                    let st = unsafe { hepinfer_outputs_find(out, n.as_ptr(), t.as_mut_ptr(), &mut err) };
                    assert_eq!(st, hepinfer_status::HEPINFER_OK, "output {name}: {}", message(err));
                    let t = unsafe { t.assume_init() };
                    let shape = unsafe { std::slice::from_raw_parts(t.shape, t.rank) }.to_vec();
                    let len = shape.iter().product::<i64>() as usize;
                    let data = if t.dtype == hepinfer_dtype::HEPINFER_F32 as u32 {
                        Data::F32(unsafe { std::slice::from_raw_parts(t.data as *const f32, len) }.to_vec())
                    } else if t.dtype == hepinfer_dtype::HEPINFER_I64 as u32 {
                        Data::I64(unsafe { std::slice::from_raw_parts(t.data as *const i64, len) }.to_vec())
                    } else {
                        panic!("output {name}: dtype {}", t.dtype)
                    };
                    let offsets = if t.offsets.is_null() {
                        Vec::new()
                    } else {
                        unsafe { std::slice::from_raw_parts(t.offsets, t.n_offsets) }.to_vec()
                    };
                    Output { shape, data, offsets }
                })
                .collect();
            unsafe { hepinfer_outputs_free(out) };
            Ok(res)
        }
    }

    impl Drop for CPlugin {
        fn drop(&mut self) {
            unsafe {
                hepinfer_instance_free(self.inst);
                hepinfer_host_free(self.host);
            }
        }
    }

    /// A C input view.
    pub fn input(name: &CStr, dtype: hepinfer_dtype, shape: &[i64], data: *const std::ffi::c_void) -> hepinfer_tensor {
        hepinfer_tensor {
            name: name.as_ptr(),
            dtype: dtype as u32,
            rank: shape.len(),
            shape: shape.as_ptr(),
            data,
            offsets: ptr::null(),
            n_offsets: 0,
        }
    }
}
