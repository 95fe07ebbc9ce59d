//! Helpers of the TorchScript tests (`torch_*.rs`): the model pairs shipped in `plugins/*/model/`,
//! signed TorchScript bytes, deterministic inputs and a small `.npz` reader for golden files.
#![allow(dead_code)]

use hepinfer::config::SessionMode;
use hepinfer::runtime::torch::{embed_signature, read_signature, Signature};
use hepinfer::runtime::{self, LoadOptions, Model, ModelPort};
use hepinfer_plugin_api::{DType, TensorBuf, TensorView};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// Load options as the host's defaults give them, with `threads` intra-op threads.
pub fn opts(threads: usize) -> LoadOptions {
    LoadOptions {
        intra_op_threads: threads,
        session_mode: SessionMode::Shared,
        pool_size: 1,
        cpu_arena: false,
        native_kernels: false,
    }
}

/// Creates the process's ONNX Runtime environment (the copy `scripts/fetch-onnxruntime.sh`
/// put in `.deps/`, or `ORT_DYLIB_PATH`).
pub fn ort() {
    hepinfer::runtime::onnx::environment(None)
        .expect("ONNX Runtime (scripts/fetch-onnxruntime.sh)");
}

/// One model shipped both as ONNX and as TorchScript.
pub struct Pair {
    /// `plugins/<name>`.
    pub plugin: String,
    pub onnx: PathBuf,
    pub pt: PathBuf,
}

/// Every `plugins/*/model/<stem>.pt` that has a `<stem>.onnx` beside it, sorted.
pub fn pairs() -> Vec<Pair> {
    let mut v = Vec::new();
    let plugins = repo().join("plugins");
    for d in std::fs::read_dir(&plugins).expect("plugins/") {
        let model_dir = d.expect("dir entry").path().join("model");
        let Ok(files) = std::fs::read_dir(&model_dir) else {
            continue;
        };
        for f in files {
            let pt = f.expect("dir entry").path();
            if pt.extension().and_then(|e| e.to_str()) != Some("pt") {
                continue;
            }
            let onnx = pt.with_extension("onnx");
            if onnx.is_file() {
                let plugin = model_dir
                    .parent()
                    .and_then(Path::file_name)
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                v.push(Pair { plugin, onnx, pt });
            }
        }
    }
    v.sort_by(|a, b| a.pt.cmp(&b.pt));
    v
}

/// The signature of an ONNX model: its ports as ONNX Runtime reports them.
pub fn signature_of(m: &dyn Model) -> Signature {
    Signature {
        inputs: m.inputs().to_vec(),
        outputs: m.outputs().to_vec(),
    }
}

/// The bytes of `pt`, carrying a signature: the file's own, which must then equal `expected`
/// (the ONNX twin's ports), or `expected` embedded when the file has none.
pub fn signed_pt(pt: &Path, expected: &Signature) -> Vec<u8> {
    let bytes = std::fs::read(pt).unwrap_or_else(|e| panic!("{}: {e}", pt.display()));
    match read_signature(&bytes).expect("readable TorchScript archive") {
        Some(sig) => {
            assert_eq!(
                &sig,
                expected,
                "{}: its hepinfer.json signature differs from the ONNX model's ports",
                pt.display()
            );
            bytes
        }
        None => {
            eprintln!(
                "note: {} has no hepinfer.json signature; testing it with the ONNX twin's embedded",
                pt.display()
            );
            embed_signature(&bytes, expected).expect("embed signature")
        }
    }
}

/// Loads `pair` through `runtime::load` as ONNX and as TorchScript.
pub fn load_pair(pair: &Pair, threads: usize) -> (Arc<dyn Model>, Arc<dyn Model>) {
    ort();
    let onnx_bytes = std::fs::read(&pair.onnx).expect("onnx file");
    let onnx = runtime::load("onnx", &onnx_bytes, &opts(threads)).expect("load ONNX");
    let pt = signed_pt(&pair.pt, &signature_of(onnx.as_ref()));
    let torch = runtime::load("torchscript", &pt, &opts(threads))
        .unwrap_or_else(|e| panic!("load {}: {e}", pair.pt.display()));
    assert_eq!(torch.backend(), "libtorch");
    (onnx, torch)
}

/// SplitMix64: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// An owned input tensor.
pub struct Input {
    pub name: String,
    pub shape: Vec<i64>,
    pub data: TensorBuf,
}

/// Borrows inputs as views.
pub fn views(inputs: &[Input]) -> Vec<TensorView<'_>> {
    inputs
        .iter()
        .map(|i| TensorView::new(&i.name, &i.shape, i.data.view()))
        .collect()
}

/// Deterministic inputs for `ports` with every batch dimension `n`, drawn from each model's
/// input domain as its MODEL.md states it (counts, indices and one-hot vectors valid; features
/// in realistic ranges); unknown names get uniform values in [-1, 1].
pub fn make_inputs(ports: &[ModelPort], n: i64, rng: &mut Rng) -> Vec<Input> {
    ports
        .iter()
        .map(|p| {
            // The first dynamic axis is the batch (n); a later one is a length (the b-tag
            // model's time steps), given the 15 that the count inputs below stay within.
            let first = p.shape.iter().position(|&d| d < 0);
            let shape: Vec<i64> = p
                .shape
                .iter()
                .enumerate()
                .map(|(i, &d)| match d {
                    d if d >= 0 => d,
                    _ if Some(i) == first => n,
                    _ => 15,
                })
                .collect();
            let len = shape.iter().product::<i64>() as usize;
            let data = match (p.name.as_str(), p.dtype) {
                // b-tag: number of real tracks, 0–15.
                ("n_tracks", DType::I64) => TensorBuf::I64(
                    (0..len)
                        .map(|_| rng.below(16) as i64)
                        .collect::<Vec<_>>()
                        .into(),
                ),
                // GNN: edges (source, destination) between the n nodes, source on the inner hit.
                ("edge_index", DType::I64) => {
                    let e = len / 2;
                    let mut src = Vec::with_capacity(e);
                    let mut dst = Vec::with_capacity(e);
                    for _ in 0..e {
                        let a = rng.below(n as u64 - 1) as i64;
                        src.push(a);
                        dst.push(a + 1 + rng.below((n - 1 - a) as u64) as i64);
                    }
                    src.extend(dst);
                    TensorBuf::I64(src.into())
                }
                // GNN node features: r/1000 growing with the index, φ/π, z/1000 (metres).
                ("node_features", DType::F32) => {
                    let rows = len / 3;
                    let mut v = Vec::with_capacity(len);
                    for i in 0..rows {
                        v.push(0.032 + 0.99 * i as f32 / rows as f32);
                        v.push(rng.uniform() * 2.0 - 1.0);
                        v.push((rng.uniform() * 2.0 - 1.0) * 1.2);
                    }
                    TensorBuf::F32(v.into())
                }
                // Jet image: non-negative, normalised to 1 per jet.
                ("image", DType::F32) => {
                    let per = (len / n.max(1) as usize).max(1);
                    let mut v: Vec<f32> = (0..len)
                        .map(|_| {
                            if rng.uniform() < 0.1 {
                                rng.uniform()
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    for jet in v.chunks_mut(per) {
                        let s: f32 = jet.iter().sum();
                        if s > 0.0 {
                            jet.iter_mut().for_each(|x| *x /= s);
                        }
                    }
                    TensorBuf::F32(v.into())
                }
                // GAN: energy 1–100 GeV (log-uniform), one-hot particle type, N(0,1) noise.
                ("energy", DType::F32) => TensorBuf::F32(
                    (0..len)
                        .map(|_| 100f32.powf(rng.uniform()))
                        .collect::<Vec<_>>()
                        .into(),
                ),
                ("particle", DType::F32) => {
                    let per = (len / n.max(1) as usize).max(1);
                    let mut v = vec![0f32; len];
                    for row in v.chunks_mut(per) {
                        row[rng.below(per as u64) as usize] = 1.0;
                    }
                    TensorBuf::F32(v.into())
                }
                ("noise", DType::F32) => {
                    TensorBuf::F32((0..len).map(|_| rng.normal()).collect::<Vec<_>>().into())
                }
                // b-tag track features span roughly ±10; use ±3 and let padding be non-zero
                // too: the model masks it.
                (_, DType::F32) => TensorBuf::F32(
                    (0..len)
                        .map(|_| (rng.uniform() * 2.0 - 1.0) * 3.0)
                        .collect::<Vec<_>>()
                        .into(),
                ),
                (_, DType::F64) => TensorBuf::F64(
                    (0..len)
                        .map(|_| f64::from(rng.uniform() * 2.0 - 1.0))
                        .collect::<Vec<_>>()
                        .into(),
                ),
                (_, DType::I64) => TensorBuf::I64(vec![0; len].into()),
                (_, DType::I32) => TensorBuf::I32(vec![0; len].into()),
                (_, DType::U8) => TensorBuf::U8(vec![0; len].into()),
            };
            Input {
                name: p.name.clone(),
                shape,
                data,
            }
        })
        .collect()
}

/// Largest absolute deviation of `got` from `want` in units of the tolerance, 1e-4 absolute (so
/// values ≤ 1 pass), and the deviation itself. Outputs must be finite.
pub fn deviation(got: &[f32], want: &[f32]) -> (f64, f64) {
    assert_eq!(got.len(), want.len(), "different element counts");
    let mut abs = 0f64;
    for (&g, &w) in got.iter().zip(want) {
        assert!(
            g.is_finite() && w.is_finite(),
            "non-finite output {g} vs {w}"
        );
        abs = abs.max(f64::from((g - w).abs()));
    }
    (abs / 1e-4, abs)
}

/// An array of a `.npz` file, for the dtypes the golden files use.
pub enum Npy {
    F32(Vec<i64>, Vec<f32>),
    I64(Vec<i64>, Vec<i64>),
    I32(Vec<i64>, Vec<i32>),
    /// Another dtype (not needed here).
    Other,
}

/// Reorders the elements of an array stored in Fortran order (first index fastest) into C order.
fn fortran_to_c(shape: &[i64], v: Vec<u64>) -> Vec<u64> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..v.len() {
        // Fortran offset of the C-order index `idx`.
        let mut off = 0;
        for (k, &i) in idx.iter().enumerate().rev() {
            off = off * dims[k] + i;
        }
        out.push(v[off]);
        // Next C-order index: the last dimension fastest.
        for k in (0..dims.len()).rev() {
            idx[k] += 1;
            if idx[k] < dims[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Reads the arrays of a `.npz` file (numpy's zip of `.npy` files, little-endian; C or Fortran
/// order).
pub fn read_npz(path: &Path) -> Vec<(String, Npy)> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut z = zip::ZipArchive::new(f).expect("npz is a zip archive");
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).expect("npz entry");
        let name = e.name().trim_end_matches(".npy").to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b).expect("read npz entry");
        assert_eq!(&b[..6], b"\x93NUMPY", "{name}: not an .npy entry");
        let (hlen, start) = if b[6] == 1 {
            (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
        } else {
            (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
        };
        let header = String::from_utf8_lossy(&b[start..start + hlen]).to_string();
        let data = &b[start + hlen..];
        let descr = header
            .split("'descr':")
            .nth(1)
            .and_then(|s| s.split('\'').nth(1))
            .unwrap_or_default()
            .to_string();
        let fortran = header.contains("'fortran_order': True");
        let shape: Vec<i64> = header
            .split("'shape':")
            .nth(1)
            .and_then(|s| s.split('(').nth(1))
            .and_then(|s| s.split(')').next())
            .unwrap_or_default()
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        let order = |v| if fortran { fortran_to_c(&shape, v) } else { v };
        let arr = match descr.as_str() {
            "<f4" => Npy::F32(
                shape.clone(),
                order(
                    data.chunks_exact(4)
                        .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect(),
                )
                .into_iter()
                .map(|b| f32::from_bits(b as u32))
                .collect(),
            ),
            "<i8" => Npy::I64(
                shape.clone(),
                order(
                    data.chunks_exact(8)
                        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                        .collect(),
                )
                .into_iter()
                .map(|b| b as i64)
                .collect(),
            ),
            "<i4" => Npy::I32(
                shape.clone(),
                order(
                    data.chunks_exact(4)
                        .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect(),
                )
                .into_iter()
                .map(|b| b as u32 as i32)
                .collect(),
            ),
            _ => Npy::Other,
        };
        out.push((name, arr));
    }
    out
}
