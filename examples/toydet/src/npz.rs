//! Minimal `.npz` writer: a ZIP archive (stored, no compression) of `.npy` v1.0 arrays, readable
//! by `numpy.load`. Written by hand so the toy detector needs no large dependency.

use std::io::{self, Write};

/// Element types the writer knows, with their numpy `descr` strings (little endian).
pub trait NpyElement: Copy {
    /// numpy dtype descriptor, e.g. `<f4`.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! npy_element {
    ($t:ty, $d:expr) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
npy_element!(f32, "<f4");
npy_element!(f64, "<f8");
npy_element!(i32, "<i4");
npy_element!(i64, "<i8");
npy_element!(u8, "|u1");

/// Encodes one array as a `.npy` v1.0 file (C order).
pub fn encode_npy<T: NpyElement>(data: &[T], shape: &[usize]) -> Vec<u8> {
    let n: usize = shape.iter().product();
    assert_eq!(
        n,
        data.len(),
        "npy: shape {shape:?} does not match {} elements",
        data.len()
    );
    let shape_str = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        T::DESCR,
        shape_str
    );
    // Magic (6) + version (2) + header length (2) + header + '\n' is padded to 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + n * std::mem::size_of::<T>());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &x in data {
        x.put(&mut out);
    }
    out
}

/// Collects named arrays and writes them as one `.npz` archive.
#[derive(Default)]
pub struct NpzWriter {
    entries: Vec<(String, Vec<u8>)>,
}

impl NpzWriter {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds array `name` (read back in numpy as `npz[name]`).
    pub fn add<T: NpyElement>(&mut self, name: &str, data: &[T], shape: &[usize]) {
        self.entries
            .push((format!("{name}.npy"), encode_npy(data, shape)));
    }

    /// Writes the archive (ZIP, stored entries, 32-bit sizes: each array must be < 4 GiB).
    pub fn write<W: Write>(&self, mut w: W) -> io::Result<()> {
        let mut offset: u32 = 0;
        let mut central = Vec::new();
        for (name, bytes) in &self.entries {
            let crc = crc32fast::hash(bytes);
            let size = u32::try_from(bytes.len())
                .map_err(|_| io::Error::other(format!("npz entry {name} exceeds 4 GiB")))?;
            let mut local = Vec::with_capacity(30 + name.len());
            local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            // version, flags, method (stored), time, date
            local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            local.extend_from_slice(&crc.to_le_bytes());
            local.extend_from_slice(&size.to_le_bytes());
            local.extend_from_slice(&size.to_le_bytes());
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name.as_bytes());
            w.write_all(&local)?;
            w.write_all(bytes)?;

            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            offset = offset
                .checked_add(local.len() as u32 + size)
                .ok_or_else(|| io::Error::other("npz archive exceeds 4 GiB"))?;
        }
        w.write_all(&central)?;
        let n = self.entries.len() as u16;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&[0, 0, 0, 0]);
        end.extend_from_slice(&n.to_le_bytes());
        end.extend_from_slice(&n.to_le_bytes());
        end.extend_from_slice(&(central.len() as u32).to_le_bytes());
        end.extend_from_slice(&offset.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        w.write_all(&end)
    }

    /// Writes the archive to `path`.
    pub fn write_file(&self, path: &std::path::Path) -> io::Result<()> {
        let f = std::fs::File::create(path)?;
        let mut w = io::BufWriter::new(f);
        self.write(&mut w)?;
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_64_byte_aligned() {
        let b = encode_npy(&[1.0f32, 2.0, 3.0], &[3]);
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(b.len(), 10 + hlen + 12);
    }
}
