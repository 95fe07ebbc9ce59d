//! Link arguments for `libhepinfer.so`: a SONAME (cargo gives cdylibs none), and `-z nodelete`
//! so that a framework which `dlclose`s the library does not unmap code that thread-local
//! destructors of Rust (ours and the plugins') still point into.
//!
//! With the `torch` feature, also the arguments `tch`'s own build script gives its binaries
//! (cargo does not pass a dependency's `rustc-link-arg`s on): an rpath to the libtorch directory
//! so the library and the test programs find libtorch without `LD_LIBRARY_PATH`, and
//! `--no-as-needed -ltorch` so the linker keeps `libtorch.so` — which pulls in `libtorch_cuda.so`
//! and registers its operators — although no symbol of it is referenced directly.
//!
//! With the `kserve` feature, also compiles the KServe v2 protocol definitions (`proto/`) into
//! Rust with the protoc binary of `protoc-bin-vendored` (no protoc needs to be installed).
fn main() {
    #[cfg(feature = "kserve")]
    kserve_proto();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
    // Before 1.0 every minor release may break the ABI, so the SONAME carries both.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhepinfer.so.{major}.{minor}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
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
