//! A minimal reader of the uncompressed `.npz` files (`numpy.savez`) in which the training code
//! exports golden tensors. [`parse_npz`] refuses malformed bytes with an error; [`read_npz`]
//! panics on them (a broken golden file is a test failure).

use std::collections::HashMap;
use std::path::Path;

/// One array of an `.npz` file: dtype string (`<f4`, `<i8`), shape and raw little-endian bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Why bytes are not an `.npz` this reader understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpzError(pub String);

impl std::fmt::Display for NpzError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NpzError {}

fn fail<T>(msg: impl Into<String>) -> Result<T, NpzError> {
    Err(NpzError(msg.into()))
}

/// `b[i..i + n]`, or an error naming `what` when the input is too short.
fn bytes_at<'a>(b: &'a [u8], i: usize, n: usize, what: &str) -> Result<&'a [u8], NpzError> {
    i.checked_add(n)
        .and_then(|end| b.get(i..end))
        .ok_or_else(|| NpzError(format!("truncated: {what} at byte {i} needs {n} bytes")))
}

fn u16_at(b: &[u8], i: usize, what: &str) -> Result<usize, NpzError> {
    let s = bytes_at(b, i, 2, what)?;
    Ok(u16::from_le_bytes([s[0], s[1]]) as usize)
}

fn u32_at(b: &[u8], i: usize, what: &str) -> Result<u64, NpzError> {
    let s = bytes_at(b, i, 4, what)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}

fn u64_at(b: &[u8], i: usize, what: &str) -> Result<u64, NpzError> {
    let s = bytes_at(b, i, 8, what)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

/// Parses one `.npy` file (format 1.0–3.0, C or Fortran order, little-endian or byte dtypes).
fn parse_npy(b: &[u8]) -> Result<Array, NpzError> {
    if bytes_at(b, 0, 6, "npy magic")? != b"\x93NUMPY" {
        return fail("not an .npy array (bad magic)");
    }
    let major = bytes_at(b, 6, 1, "npy version")?[0];
    let (hlen, start) = match major {
        1 => (u16_at(b, 8, "npy header length")?, 10),
        2 | 3 => (u32_at(b, 8, "npy header length")? as usize, 12),
        v => return fail(format!("unsupported .npy version {v}")),
    };
    let header = std::str::from_utf8(bytes_at(b, start, hlen, "npy header")?)
        .map_err(|_| NpzError("npy header is not UTF-8".into()))?;
    let fortran = header.contains("'fortran_order': True");
    let field = |key: &str| -> Result<&str, NpzError> {
        let i = header
            .find(key)
            .ok_or_else(|| NpzError(format!("npy header has no {key}")))?;
        Ok(header[i + key.len()..].trim_start_matches([':', ' ']))
    };
    let dtype = field("'descr'")?
        .split('\'')
        .nth(1)
        .ok_or_else(|| NpzError("npy header: bad 'descr'".into()))?
        .to_string();
    // Byte order '<' or '|' (no order: one-byte types), then a kind letter, then the item size.
    let item: usize = match dtype.as_bytes() {
        [b'<' | b'|', _kind, ..] => dtype[2..]
            .parse()
            .ok()
            .filter(|&n| (1..=16).contains(&n))
            .ok_or_else(|| NpzError(format!("npy dtype `{dtype}`: bad item size")))?,
        _ => return fail(format!("npy dtype `{dtype}` is not little-endian")),
    };
    let shape_s = field("'shape'")?;
    let close = shape_s
        .find(')')
        .filter(|_| shape_s.starts_with('('))
        .ok_or_else(|| NpzError("npy header: bad 'shape'".into()))?;
    let shape = shape_s[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| NpzError(format!("npy shape: bad dimension `{s}`")))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(item))
        .ok_or_else(|| NpzError(format!("npy shape {shape:?} overflows")))?;
    let body = &b[start + hlen..];
    if body.len() != n {
        return fail(format!(
            "npy array of shape {shape:?} and dtype `{dtype}` needs {n} bytes, has {}",
            body.len()
        ));
    }
    let mut data = body.to_vec();
    if fortran {
        data = fortran_to_c(&data, &shape, item);
    }
    Ok(Array { dtype, shape, data })
}

/// Reorders column-major (Fortran) elements of `shape` into row-major (C) order; numpy writes
/// transposed or fancy-indexed arrays that way. `data` holds exactly the shape's elements.
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

/// Parses the arrays of an uncompressed `.npz` (numpy's `savez`: stored zip entries, ZIP64
/// sizes in the extra field) by walking the local file headers. Any malformed input is an
/// error, never a panic (fuzzed: `fuzz/fuzz_targets/npz.rs`).
pub fn parse_npz(b: &[u8]) -> Result<HashMap<String, Array>, NpzError> {
    let mut out = HashMap::new();
    let mut i = 0;
    while b.len() >= 30 && i <= b.len() - 30 && b[i..i + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let flags = u16_at(b, i + 6, "zip flags")?;
        let method = u16_at(b, i + 8, "zip method")?;
        if method != 0 {
            return fail("only stored (np.savez) archives are supported");
        }
        if flags & 8 != 0 {
            return fail("data descriptors are not supported");
        }
        let mut size = u32_at(b, i + 18, "zip size")?;
        let name_len = u16_at(b, i + 26, "zip name length")?;
        let extra_len = u16_at(b, i + 28, "zip extra length")?;
        let name = std::str::from_utf8(bytes_at(b, i + 30, name_len, "zip entry name")?)
            .map_err(|_| NpzError("zip entry name is not UTF-8".into()))?;
        let extra = bytes_at(b, i + 30 + name_len, extra_len, "zip extra field")?;
        if size == 0xffff_ffff {
            // ZIP64 extended information: uncompressed size, then compressed size.
            let mut e = 0;
            while e + 4 <= extra.len() {
                let (id, len) = (u16_at(extra, e, "zip64")?, u16_at(extra, e + 2, "zip64")?);
                if id == 1 {
                    size = u64_at(extra, e + 4 + 8, "zip64 compressed size")?;
                }
                e += 4 + len;
            }
        }
        let data = i + 30 + name_len + extra_len;
        let size = usize::try_from(size).map_err(|_| NpzError("zip entry too large".into()))?;
        let entry = bytes_at(b, data, size, "zip entry data")?;
        let key = name.trim_end_matches(".npy").to_string();
        let array = parse_npy(entry).map_err(|e| NpzError(format!("array `{key}`: {e}")))?;
        out.insert(key, array);
        i = data + size;
    }
    if out.is_empty() {
        return fail("no arrays (not an uncompressed .npz)");
    }
    // The entries are followed by the central directory: without it the file was cut short.
    let rest = &b[i..];
    if !(rest.starts_with(b"PK\x01\x02") || rest.starts_with(b"PK\x05\x06")) {
        return fail(format!("truncated: no zip central directory at byte {i}"));
    }
    Ok(out)
}

/// Reads the arrays of an uncompressed `.npz` file; panics on a malformed one (golden files
/// are test inputs: a broken one is a test failure).
pub fn read_npz(path: &Path) -> HashMap<String, Array> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_npz(&b).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    // Full paths, no `use`: host's Triton tests and bench include this file by path, and a bench
    // build keeps this module but drops its #[test] functions.
    const SMALL: &[u8] = include_bytes!("../../../fuzz/seeds/npz/seed-small.npz");
    const FORTRAN: &[u8] = include_bytes!("../../../fuzz/seeds/npz/seed-fortran.npz");

    #[test]
    fn reads_c_and_fortran_arrays() {
        let a = super::parse_npz(SMALL).unwrap();
        assert_eq!(a["x"].shape, [2, 3]);
        assert_eq!(a["x"].f32(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(a["y"].i64(), [1, 2, 3]);
        let f = super::parse_npz(FORTRAN).unwrap();
        // Column-major 0..12 of shape (3, 4), read back in row-major order.
        assert_eq!(f["f"].i32(), [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
        assert!(f["s"].shape.is_empty());
        assert_eq!(f["u"].shape, [0, 3]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        // Every prefix of a valid file cut before its central directory (the arrays are complete
        // once it starts): the old reader indexed past the end of short input.
        let cd = SMALL.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        for n in 0..cd + 4 {
            assert!(
                super::parse_npz(&SMALL[..n]).is_err(),
                "prefix of {n} bytes accepted"
            );
        }
        // A shape that promises more bytes than the entry holds.
        let mut b = SMALL.to_vec();
        let at = b.windows(7).position(|w| w == b"(2, 3,)").unwrap();
        b[at + 1] = b'9';
        let e = super::parse_npz(&b).unwrap_err().to_string();
        assert!(e.contains("needs"), "{e}");
    }
}
