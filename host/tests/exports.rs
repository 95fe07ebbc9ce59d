//! What `libhepinfer.so` exports: the C API (`hepinfer_*`) and the C++ API compiled into it
//! (the public classes and functions of namespace `hepinfer`, with `hepinfer::Error`'s typeinfo
//! and vtable, which `catch (const hepinfer::Error&)` needs) — nothing else: no cxx runtime
//! (`cxxbridge1$*`, `rust::`), no bridge functions (`hepinfer$ffi$*`, `hepinfer::ffi::`), no Rust
//! symbols, no C++ standard library instantiations, which would interpose in a process that
//! loads another library built with cxx.

mod common;

use std::process::Command;

/// Mangled prefixes of the public C++ API (see host/build.rs).
const CXX_API: &[&str] = &[
    "_ZN8hepinfer4Host",
    "_ZNK8hepinfer4Host",
    "_ZN8hepinfer8Instance",
    "_ZNK8hepinfer8Instance",
    "_ZN8hepinfer7Outputs",
    "_ZNK8hepinfer7Outputs",
    "_ZN8hepinfer6Tensor",
    "_ZNK8hepinfer6Tensor",
    "_ZN8hepinfer5Input",
    "_ZNK8hepinfer5Input",
    "_ZN8hepinfer5Error",
    "_ZN8hepinfer11status_name",
    "_ZN8hepinfer7version",
    "_ZN8hepinfer10dtype_name",
    "_ZTIN8hepinfer5Error",
    "_ZTSN8hepinfer5Error",
    "_ZTVN8hepinfer5Error",
];

#[test]
fn only_the_c_and_cxx_apis_are_exported() {
    let so = common::profile_dir().join("libhepinfer.so");
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("nm (binutils)");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let symbols: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let c_api: Vec<&&str> = symbols
        .iter()
        .filter(|s| s.starts_with("hepinfer_"))
        .collect();
    assert!(c_api.len() >= 20, "the C API is exported: {c_api:?}");
    let cxx_api: Vec<&&str> = symbols
        .iter()
        .filter(|s| CXX_API.iter().any(|p| s.starts_with(p)))
        .collect();
    for needed in [
        "_ZN8hepinfer4Host6create",
        "_ZNK8hepinfer8Instance7process",
        "_ZNK8hepinfer7Outputs4find",
        "_ZTIN8hepinfer5ErrorE",
    ] {
        assert!(
            cxx_api.iter().any(|s| s.starts_with(needed)),
            "the C++ API lacks {needed}: {cxx_api:?}"
        );
    }
    // Rust's legacy mangling also starts with _ZN8hepinfer: no Rust function may leak.
    let rust: Vec<&str> = cxx_api
        .iter()
        .map(|s| **s)
        .filter(|s| s.len() > 20 && s.ends_with('E'))
        .filter(|s| {
            let tail = &s[s.len() - 19..s.len() - 1];
            tail.starts_with("17h") && tail[3..].chars().all(|c| c.is_ascii_hexdigit())
        })
        .collect();
    assert!(rust.is_empty(), "Rust symbols exported: {rust:?}");
    let stray: Vec<&&str> = symbols
        .iter()
        .filter(|s| !s.starts_with("hepinfer_") && !CXX_API.iter().any(|p| s.starts_with(p)))
        .collect();
    assert!(stray.is_empty(), "unexpected exported symbols: {stray:?}");
    let header =
        std::fs::read_to_string(common::repo().join("include/hepinfer/hepinfer.h")).unwrap();
    for s in &c_api {
        assert!(
            header.contains(&format!("{s}(")),
            "{s} is exported but not declared in the header"
        );
    }
}

#[test]
fn hepinfer_functions_are_declared_only_in_the_abi_module() {
    // One declaration of the C API: abi.rs (and the header generated from it). The C++ API and
    // the bridge call the same Rust functions, never `extern "C"` re-declarations.
    let repo = common::repo();
    let header = std::fs::read_to_string(repo.join("include/hepinfer/hepinfer.h")).unwrap();
    let names: std::collections::BTreeSet<&str> = header
        .match_indices("hepinfer_")
        .filter_map(|(i, _)| {
            let rest = &header[i..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            rest[end..].starts_with('(').then(|| &rest[..end])
        })
        .collect();
    assert!(names.len() >= 20, "{names:?}");
    let mut offenders = Vec::new();
    let mut stack = vec![
        repo.join("host"),
        repo.join("cpp-bridge"),
        repo.join("plugins"),
        repo.join("examples"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs")
                || path.starts_with(repo.join("host/src/abi"))
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for n in &names {
                if text.contains(&format!("fn {n}(")) {
                    offenders.push(format!("{}: {n}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "C API functions declared outside host/src/abi/: {offenders:?}"
    );
}
