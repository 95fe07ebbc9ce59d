//! Link arguments for `libhepinfer.so`: a SONAME (cargo gives cdylibs none), and `-z nodelete`
//! so that a framework which `dlclose`s the library does not unmap code that thread-local
//! destructors of Rust (ours and the plugins') still point into.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
    // Before 1.0 every minor release may break the ABI, so the SONAME carries both.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhepinfer.so.{major}.{minor}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
