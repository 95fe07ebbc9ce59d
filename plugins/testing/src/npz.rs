//! A minimal reader of the uncompressed `.npz` files (`numpy.savez`) in which the training code
//! exports golden tensors. Panics on anything unexpected: a broken golden file is a test failure.

use std::collections::HashMap;
use std::path::Path;

/// One array of an `.npz` file: dtype string (`<f4`, `<i8`), shape and raw little-endian bytes.
pub struct Array {
    /// numpy dtype descriptor (`<f4`, `<i8`, ...).
    pub dtype: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Raw little-endian element bytes, C order (Fortran-order files are transposed on read).
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
