//! Local payload cache: one file per payload, keyed by hash, shared by the jobs of one node.
//!
//! File layout: `DIR/ab/abcdef...` holding a one-line header `hepinfer-payload 1 OBJECT_TYPE`
//! followed by the payload bytes. Files are written to a unique temporary name and renamed into
//! place, so a reader sees either no file or a complete one, whatever other jobs do at the time.

use crate::{payload_hash, CondError, Payload};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &str = "hepinfer-payload 1 ";

pub(crate) struct PayloadCache {
    dir: PathBuf,
}

fn valid_hash(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl PayloadCache {
    pub fn new(dir: &Path) -> Result<Self, CondError> {
        fs::create_dir_all(dir).map_err(|e| CondError::io(dir, e))?;
        Ok(PayloadCache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(&hash[..2]).join(hash)
    }

    /// The cached payload, verified; `Ok(None)` when it is not cached.
    pub fn get(&self, hash: &str) -> Result<Option<Payload>, CondError> {
        if !valid_hash(hash) {
            return Err(CondError::Invalid(format!(
                "`{hash}` is not a lowercase hex SHA-256"
            )));
        }
        let path = self.path(hash);
        let raw = match fs::read(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CondError::io(path, e)),
        };
        let integrity = |detail: &str| CondError::Integrity {
            hash: hash.to_string(),
            source_name: format!("cache file {}", path.display()),
            detail: detail.to_string(),
        };
        let nl = raw
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| integrity("no header"))?;
        let header = std::str::from_utf8(&raw[..nl]).map_err(|_| integrity("bad header"))?;
        let object_type = header
            .strip_prefix(MAGIC)
            .ok_or_else(|| integrity("bad header"))?
            .to_string();
        let data = raw[nl + 1..].to_vec();
        let actual = payload_hash(&data);
        if actual != hash {
            return Err(integrity(&format!("bytes hash to {actual}")));
        }
        Ok(Some(Payload {
            hash: hash.to_string(),
            object_type,
            data,
        }))
    }

    /// Stores a verified payload atomically (temporary file + rename).
    pub fn put(&self, p: &Payload) -> Result<(), CondError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = self.path(&p.hash);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| CondError::io(&dir, e))?;
        // Unique per process and per call, so concurrent writers never share a temporary file.
        let tmp = dir.join(format!(
            ".{}.tmp.{}.{}",
            p.hash,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(MAGIC.as_bytes())?;
            f.write_all(p.object_type.as_bytes())?;
            f.write_all(b"\n")?;
            f.write_all(&p.data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            CondError::io(&path, e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(n: usize) -> Payload {
        let data: Vec<u8> = (0..n).map(|i| (i * 31 % 256) as u8).collect();
        Payload {
            hash: payload_hash(&data),
            object_type: "onnx".into(),
            data,
        }
    }

    #[test]
    fn readers_never_see_a_partial_file_while_writers_race() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PayloadCache::new(dir.path()).unwrap();
        let p = payload(1 << 20);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..15 {
                        cache.put(&p).unwrap();
                    }
                });
            }
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..40 {
                        // Either absent or complete and valid: never an integrity error.
                        if let Some(got) = cache.get(&p.hash).unwrap() {
                            assert_eq!(got, p);
                        }
                    }
                });
            }
        });
        assert_eq!(cache.get(&p.hash).unwrap(), Some(p.clone()));
        let leftovers = fs::read_dir(dir.path().join(&p.hash[..2])).unwrap().count();
        assert_eq!(leftovers, 1, "temporary files left behind");
    }

    #[test]
    fn refuses_names_that_are_not_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PayloadCache::new(dir.path()).unwrap();
        for bad in ["../../etc/passwd", "ABCDEF", &"G".repeat(64)] {
            assert!(
                matches!(cache.get(bad), Err(CondError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(cache.get(&"0".repeat(64)).unwrap().is_none());
    }

    #[test]
    fn truncated_or_headerless_files_are_integrity_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PayloadCache::new(dir.path()).unwrap();
        let p = payload(1000);
        cache.put(&p).unwrap();
        let path = cache.path(&p.hash);
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 10]).unwrap();
        assert!(matches!(
            cache.get(&p.hash),
            Err(CondError::Integrity { .. })
        ));
        fs::write(&path, b"no header at all").unwrap();
        assert!(matches!(
            cache.get(&p.hash),
            Err(CondError::Integrity { .. })
        ));
    }
}
