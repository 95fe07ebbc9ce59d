//! Builds what `libhepinfer.so` needs besides Rust:
//!
//! 1. The C++ API inside the library: the cxx bridge's generated shims (`src/cxx_bridge.rs`) and
//!    the C++ wrapper (`cpp-bridge/src/hepinfer.cpp`), compiled with hidden visibility and linked
//!    whole (nothing in Rust references them). Compiled with `$CXX` (CMake passes its compiler),
//!    so the C++ API has the ABI of the experiment's toolchain.
//! 2. A linker version script that exports only the C API (`hepinfer_*`) and the C++ API
//!    (`hepinfer::`, its typeinfo and vtables). rustc's own version script for a cdylib exports
//!    every `#[no_mangle]`/`#[export_name]` symbol of the crate graph by exact name, which
//!    includes cxx's `cxxbridge1$*` runtime and the bridge's `hepinfer$ffi$*` functions; GNU ld
//!    lets an exact name beat a wildcard, so those are listed by exact name as local. They are
//!    exactly the Rust symbols the C++ side references: the undefined `$`-names of our C++
//!    objects and of cxx's `cxx.cc` (compiled here only to read them, never linked).
//! 3. A SONAME (cargo gives cdylibs none) with its symlink beside the library, and `-z nodelete` so that a framework which
//!    `dlclose`s the library does not unmap code that thread-local destructors of Rust (ours and
//!    the plugins') still point into.
//!
//! With the `torch` feature, also the arguments `tch`'s own build script gives its binaries
//! (cargo does not pass a dependency's `rustc-link-arg`s on): an rpath to the libtorch directory
//! so the library and the test programs find libtorch without `LD_LIBRARY_PATH`, and
//! `--no-as-needed -ltorch` so the linker keeps `libtorch.so` — which, in a CUDA build of
//! libtorch, pulls in `libtorch_cuda.so` and registers its operators — although no symbol of it
//! is referenced directly.
//!
//! With the `kserve` feature, also compiles the KServe v2 protocol definitions (`proto/`) into
//! Rust with the protoc binary of `protoc-bin-vendored` (no protoc needs to be installed).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `$`-named symbols an archive references but does not define (`nm -u`).
fn rust_symbols_referenced(archive: &Path) -> BTreeSet<String> {
    let nm = std::env::var("NM").unwrap_or_else(|_| "nm".into());
    let out = Command::new(&nm)
        .args(["-u", "-P"])
        .arg(archive)
        .output()
        .unwrap_or_else(|e| panic!("running {nm} (binutils) on {}: {e}", archive.display()));
    assert!(out.status.success(), "{nm} -u {} failed", archive.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| s.contains('$'))
        .map(str::to_string)
        .collect()
}

fn main() {
    #[cfg(feature = "kserve")]
    kserve_proto();

    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let repo = manifest.join("..");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));

    // 1. The C++ API.
    let cpp = repo.join("cpp-bridge");
    cxx_build::bridge("src/cxx_bridge.rs")
        .file(cpp.join("src/hepinfer.cpp"))
        .include(repo.join("include"))
        .include(cpp.join("include"))
        .include(cpp.join("src"))
        .std("c++17")
        .flag("-fvisibility=hidden")
        .flag("-fvisibility-inlines-hidden")
        .cargo_metadata(false)
        .compile("hepinfer_cxx");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static:+whole-archive=hepinfer_cxx");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    for f in [
        "src/cxx_bridge.rs",
        "../cpp-bridge/src/hepinfer.cpp",
        "../cpp-bridge/src/hepinfer_bridge.h",
        "../cpp-bridge/include/hepinfer/hepinfer.hpp",
        "../include/hepinfer/hepinfer.h",
        "build.rs",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }

    // 2. The exports.
    // cxx exports the path of cxx.h (older versions: of its include directory), with cxx.cc in
    // ../src beside that directory.
    let header = PathBuf::from(
        std::env::var_os("DEP_CXXBRIDGE1_HEADER").expect("DEP_CXXBRIDGE1_HEADER from cxx"),
    );
    let cxx_include = if header.is_dir() {
        header
    } else {
        header.parent().expect("cxx include dir").to_path_buf()
    };
    let cxx_cc = cxx_include.join("../src/cxx.cc");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .include(&cxx_include)
        .file(&cxx_cc)
        .cargo_metadata(false)
        .warnings(false)
        .compile("cxx_symbol_probe");
    let mut local = rust_symbols_referenced(&out.join("libhepinfer_cxx.a"));
    local.extend(rust_symbols_referenced(&out.join("libcxx_symbol_probe.a")));
    // The C++ API by its mangled names: the public classes and free functions of namespace
    // hepinfer, their typeinfo and vtables. Not `_ZN8hepinfer*`: Rust's legacy mangling names
    // this crate's own functions that way (`_ZN8hepinfer4host4Host3new17h...E`).
    let mut script = String::from(
        "/* Generated by host/build.rs: libhepinfer.so exports the C and C++ APIs only. */\n{\n  global:\n    hepinfer_*;\n",
    );
    for class in [
        "4Host",
        "8Instance",
        "7Outputs",
        "6Tensor",
        "5Input",
        "5Error",
    ] {
        script.push_str(&format!(
            "    _ZN8hepinfer{class}*; _ZNK8hepinfer{class}*;\n"
        ));
    }
    for function in ["11status_name", "7version", "10dtype_name"] {
        script.push_str(&format!("    _ZN8hepinfer{function}*;\n"));
    }
    script.push_str("    _ZTIN8hepinfer*; _ZTSN8hepinfer*; _ZTVN8hepinfer*;\n  local:\n");
    for s in &local {
        script.push_str(&format!("    {s};\n"));
    }
    script.push_str("    *;\n};\n");
    let map = out.join("hepinfer.map");
    std::fs::write(&map, script).expect("writing the version script");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        map.display()
    );

    // 3. SONAME and nodelete.
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
    // Before 1.0 every minor release may break the ABI, so the SONAME carries both.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhepinfer.so.{major}.{minor}");
    // A program linked with -lhepinfer records the SONAME, so the loader needs that name beside
    // the library in the target directory too (OUT_DIR is <target>/<profile>/build/<pkg>/out).
    if let Some(profile) = out.ancestors().nth(3) {
        let link = profile.join(format!("libhepinfer.so.{major}.{minor}"));
        if std::fs::read_link(&link).ok().as_deref() != Some(Path::new("libhepinfer.so")) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink("libhepinfer.so", &link)
                .unwrap_or_else(|e| panic!("creating {}: {e}", link.display()));
        }
    }
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        // Set by torch-sys (`links = "tch"`, `cargo:libtorch_lib=...`).
        if let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.to_string_lossy());
        }
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}

#[cfg(feature = "kserve")]
fn kserve_proto() {
    let proto = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let file = proto.join("kserve_v2.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("protoc from protoc-bin-vendored");
    // tonic-prost-build runs the protoc named by PROTOC; build scripts are single-threaded.
    std::env::set_var("PROTOC", protoc);
    tonic_prost_build::configure()
        .build_server(false)
        // Tensor contents as reference-counted buffers: a retried request is not copied again.
        .bytes(".inference.ModelInferRequest.raw_input_contents")
        .bytes(".inference.ModelInferResponse.raw_output_contents")
        .compile_protos(&[&file], &[&proto])
        .expect("compiling proto/kserve_v2.proto");
}
