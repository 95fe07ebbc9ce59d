//! What `libhepinfer.so` exports: the C API (`hepinfer_*`) and what the C++ API's `cxx` bridge
//! needs (`hepinfer$ffi$cxxbridge1$*` for its functions, `cxxbridge1$*` for cxx's own string,
//! slice and vector support, which `libhepinfer_cxx` links against) — nothing else.

mod common;

use std::process::Command;

#[test]
fn only_the_c_api_and_the_cxx_bridge_are_exported() {
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
    let stray: Vec<&&str> = symbols
        .iter()
        .filter(|s| {
            !(s.starts_with("hepinfer_")
                || s.starts_with("hepinfer$ffi$cxxbridge1$")
                || s.starts_with("cxxbridge1$"))
        })
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
