//! Generates the C++ half of the bridge with cxx-build, without compiling it: CMake compiles it
//! into `libhepinfer_cxx`, because C++ symbols compiled into the Rust cdylib would stay hidden
//! there. The generated files and cxx's own `cxx.cc` (the C++ side of `rust::String` and
//! `rust::Str`) are copied as plain files to `<target>/<profile>/hepinfer-cxx-bridge/`:
//!
//! ```text
//! include/cxx.h                       cxx's header (cxx.cc includes it as ../include/cxx.h)
//! include/rust/cxx.h                  the same, under the name generated code uses
//! include/hepinfer-cxx/src/lib.rs.h   the bridge's declarations
//! src/lib.rs.cc                       the bridge's C++ shims
//! src/cxx.cc                          cxx's C++ runtime
//! ```
use std::path::{Path, PathBuf};

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("parent")).expect("create export directory");
    // Remove first: a previous build may have left a read-only file or a symlink there.
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

fn main() {
    // The returned cc::Build is dropped on purpose: nothing is compiled here.
    let _ = cxx_build::bridge("src/lib.rs");
    println!("cargo:rerun-if-changed=src/lib.rs");
    println!("cargo:rerun-if-changed=build.rs");

    // OUT_DIR is <target>/<profile>/build/hepinfer-cxx-HASH/out.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let profile = out
        .ancestors()
        .nth(3)
        .expect("OUT_DIR has the layout <target>/<profile>/build/<pkg>/out");
    let export = profile.join("hepinfer-cxx-bridge");
    let generated = out.join("cxxbridge");
    copy(
        &generated.join("sources/hepinfer-cxx/src/lib.rs.cc"),
        &export.join("src/lib.rs.cc"),
    );
    copy(
        &generated.join("include/hepinfer-cxx/src/lib.rs.h"),
        &export.join("include/hepinfer-cxx/src/lib.rs.h"),
    );

    // The cxx crate exports the path of its include directory (`links = "cxxbridge1"`), and
    // keeps cxx.cc in src/ beside it.
    let include = PathBuf::from(
        std::env::var_os("DEP_CXXBRIDGE1_HEADER").expect("DEP_CXXBRIDGE1_HEADER from cxx"),
    );
    let header = if include.is_dir() {
        include.join("cxx.h")
    } else {
        include.clone()
    };
    let source = header
        .parent()
        .expect("cxx include dir")
        .join("../src/cxx.cc");
    copy(&header, &export.join("include/cxx.h"));
    copy(&header, &export.join("include/rust/cxx.h"));
    copy(&source, &export.join("src/cxx.cc"));
}
