//! Checks a payload before `upload` stores it: a file that cannot serve as its object type
//! (an empty file, a README uploaded as `.onnx`) is refused at upload, not found inside a job.
//!
//! The conditions database knows no inference runtime, so model checks are registered by the
//! program embedding the command line (`hepinfer conddb` registers ONNX Runtime and libtorch
//! loads) through [`Validators::with`]; one function per object type.

use std::collections::BTreeMap;

/// Checks a payload's bytes; `Ok` carries a one-line summary (e.g. the model's signature) for
/// the command's output, `Err` why the payload is refused.
pub type ValidateFn = Box<dyn Fn(&[u8]) -> Result<String, String> + Send + Sync>;

/// The payload checks of `upload`, by object type.
pub struct Validators {
    by_type: BTreeMap<String, ValidateFn>,
}

/// What [`Validators::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The payload passed the check of its object type; the summary says what was seen.
    Valid(String),
    /// No check is registered for the object type: only non-emptiness was checked.
    Unchecked,
}

impl Default for Validators {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Validators {
    /// The checks that need no runtime: `json` payloads must parse as JSON.
    pub fn builtin() -> Self {
        let v = Validators {
            by_type: BTreeMap::new(),
        };
        v.with("json", |data| {
            let value: serde_json::Value =
                serde_json::from_slice(data).map_err(|e| format!("not valid JSON: {e}"))?;
            Ok(format!("JSON {}", json_kind(&value)))
        })
    }

    /// Adds (or replaces) the check of `object_type`.
    pub fn with(
        mut self,
        object_type: &str,
        check: impl Fn(&[u8]) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.by_type
            .insert(object_type.to_string(), Box::new(check));
        self
    }

    /// The object types with a registered check.
    pub fn types(&self) -> Vec<&str> {
        self.by_type.keys().map(String::as_str).collect()
    }

    /// Checks `data` as `object_type`. An empty payload is never valid.
    pub fn check(&self, object_type: &str, data: &[u8]) -> Result<Checked, String> {
        if data.is_empty() {
            return Err("the file is empty".into());
        }
        match self.by_type.get(object_type) {
            Some(f) => f(data).map(Checked::Valid),
            None => Ok(Checked::Unchecked),
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Array(_) => "array",
        _ => "value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_refused_and_checks_dispatch_on_type() {
        let v = Validators::builtin().with("onnx", |d| {
            if d.starts_with(b"ok") {
                Ok("fine".into())
            } else {
                Err("not a model".into())
            }
        });
        assert!(v.check("onnx", b"").is_err());
        assert!(v.check("anything", b"").is_err());
        assert_eq!(v.check("onnx", b"ok!"), Ok(Checked::Valid("fine".into())));
        assert_eq!(v.check("onnx", b"# README"), Err("not a model".into()));
        assert_eq!(v.check("raw", b"x"), Ok(Checked::Unchecked));
        assert!(v.check("json", b"{\"a\": 1}").is_ok());
        assert!(v.check("json", b"{\"a\": ").is_err());
        assert_eq!(v.types(), ["json", "onnx"]);
    }
}
