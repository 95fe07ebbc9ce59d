//! Checks of a call's inputs against what the plugin declares, before the plugin sees them.

use crate::error::{Error, Result};
use hepinfer_plugin_api::{TensorData, TensorSpec, TensorView};
use smallvec::SmallVec;

/// Checks `inputs` against `specs`: names (unknown, missing, duplicate), dtypes, ranks, fixed and
/// named dimensions, jagged offsets, element counts and finiteness. The message names the input
/// and says what was expected and what came.
pub fn check(plugin: &str, specs: &[TensorSpec], inputs: &[TensorView<'_>]) -> Result<()> {
    let bad = |msg: String| Error::InvalidInput(format!("{plugin}: {msg}"));
    // Sizes of named dimensions seen so far: (name, size, input that fixed it). A few entries:
    // a linear scan beats hashing, and up to eight live on the stack (no allocation per call).
    let mut dims: Dims<'_> = SmallVec::new();
    for (i, t) in inputs.iter().enumerate() {
        let name = t.name.as_str();
        if inputs[..i].iter().any(|o| o.name.as_str() == name) {
            return Err(bad(format!("input '{name}' given twice")));
        }
        if !specs.iter().any(|s| s.name.as_str() == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(bad(format!(
                "unknown input '{name}' (this plugin takes {known:?})"
            )));
        }
    }
    for spec in specs {
        let name = spec.name.as_str();
        let t = inputs
            .iter()
            .find(|t| t.name.as_str() == name)
            .ok_or_else(|| {
                bad(format!(
                    "missing input '{name}' ({} {})",
                    spec.dtype,
                    spec.shape_string()
                ))
            })?;
        if t.data.dtype() != spec.dtype {
            return Err(bad(format!(
                "input '{name}': expected dtype {}, got {}",
                spec.dtype,
                t.data.dtype()
            )));
        }
        let shape = t.shape.as_slice();
        if shape.len() != spec.shape.len() {
            return Err(bad(format!(
                "input '{name}': expected rank {} {}, got rank {} {:?}",
                spec.shape.len(),
                spec.shape_string(),
                shape.len(),
                shape
            )));
        }
        for (axis, (&got, want)) in shape.iter().zip(spec.shape.iter()).enumerate() {
            if want.size >= 0 && got != want.size {
                return Err(bad(format!(
                    "input '{name}': dimension {axis} must be {}, got {got} (shape {:?}, expected {})",
                    want.size,
                    shape,
                    spec.shape_string()
                )));
            }
            bind(plugin, &mut dims, want.name.as_str(), got, name)?;
        }
        let n: i64 = shape.iter().product();
        if n as usize != t.data.len() {
            return Err(bad(format!(
                "input '{name}': shape {shape:?} holds {n} elements but {} were given",
                t.data.len()
            )));
        }
        let offsets = t.offsets.as_slice();
        if spec.jagged {
            let first = shape.first().copied().unwrap_or(0);
            let len = usize::try_from(first).map_err(|_| {
                bad(format!(
                    "input '{name}': dimension 0 is {first}, must be >= 0"
                ))
            })?;
            hepinfer_plugin_api::check_offsets(name, offsets, len).map_err(bad)?;
            bind(
                plugin,
                &mut dims,
                spec.groups.as_str(),
                offsets.len() as i64 - 1,
                name,
            )?;
        } else if !offsets.is_empty() {
            return Err(bad(format!(
                "input '{name}' is not a jagged collection but offsets were given"
            )));
        }
        if spec.finite {
            let bad_at = match t.data {
                TensorData::F32(s) => s
                    .iter()
                    .position(|x| !x.is_finite())
                    .map(|i| (i, s[i] as f64)),
                TensorData::F64(s) => s.iter().position(|x| !x.is_finite()).map(|i| (i, s[i])),
                _ => None,
            };
            if let Some((i, v)) = bad_at {
                return Err(bad(format!(
                    "input '{name}': element {i} is {v} (inputs must be finite)"
                )));
            }
        }
    }
    Ok(())
}

/// Named dimensions bound so far: (name, size, input that fixed it).
type Dims<'s> = SmallVec<[(&'s str, i64, &'s str); 8]>;

fn bind<'s>(
    plugin: &str,
    dims: &mut Dims<'s>,
    dim: &'s str,
    size: i64,
    input: &'s str,
) -> Result<()> {
    if dim.is_empty() {
        return Ok(());
    }
    match dims.iter().find(|(d, _, _)| *d == dim) {
        Some(&(_, s, first)) if s != size => Err(Error::InvalidInput(format!(
            "{plugin}: dimension '{dim}' is {s} in input '{first}' but {size} in input '{input}'"
        ))),
        Some(_) => Ok(()),
        None => {
            dims.push((dim, size, input));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hepinfer_plugin_api::{DType, Dim};

    fn specs() -> Vec<TensorSpec> {
        vec![
            TensorSpec::new("jet_pt", DType::F32, vec![Dim::named("n_jets")], ""),
            TensorSpec::new(
                "trk",
                DType::F32,
                vec![Dim::named("n_trk"), Dim::fixed(2)],
                "",
            )
            .jagged("n_jets"),
        ]
    }

    #[test]
    fn accepts_consistent_inputs_and_names_the_problem_otherwise() {
        let pt = [10.0f32, 20.0];
        let trk = [0.0f32; 6];
        let off = [0i64, 1, 3];
        let ok = |o: &[i64], p: &[f32]| {
            let mut v = TensorView::f32("trk", &[3, 2], &trk);
            v.offsets = o.into();
            let s = [p.len() as i64];
            let inputs = [TensorView::f32("jet_pt", &s, p), v];
            check("t", &specs(), &inputs).map_err(|e| e.to_string())
        };
        ok(&off, &pt).unwrap();
        assert!(ok(&[0, 1, 2], &pt)
            .unwrap_err()
            .contains("last offset is 2"));
        assert!(ok(&[0, 2, 1, 3], &[1.0, 2.0, 3.0])
            .unwrap_err()
            .contains("must not decrease"));
        assert!(ok(&off, &[1.0]).unwrap_err().contains("dimension 'n_jets'"));
        assert!(ok(&off, &[1.0, f32::NAN])
            .unwrap_err()
            .contains("element 1 is NaN"));
        assert!(ok(&[], &pt).unwrap_err().contains("offsets"));
    }

    #[test]
    fn unknown_missing_dtype_rank() {
        let x = [1.0f32];
        let e = check("t", &specs(), &[TensorView::f32("nope", &[1], &x)]).unwrap_err();
        assert!(e.to_string().contains("unknown input 'nope'"), "{e}");
        let e = check("t", &specs(), &[TensorView::f32("jet_pt", &[1], &x)]).unwrap_err();
        assert!(e.to_string().contains("missing input 'trk'"), "{e}");
        let i = [1i64];
        let e = check("t", &specs()[..1], &[TensorView::i64("jet_pt", &[1], &i)]).unwrap_err();
        assert!(e.to_string().contains("expected dtype f32, got i64"), "{e}");
        let e = check(
            "t",
            &specs()[..1],
            &[TensorView::f32("jet_pt", &[1, 1], &x)],
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected rank 1"), "{e}");
        let e = check("t", &specs()[..1], &[TensorView::f32("jet_pt", &[2], &x)]).unwrap_err();
        assert!(e.to_string().contains("holds 2 elements but 1"), "{e}");
    }
}
