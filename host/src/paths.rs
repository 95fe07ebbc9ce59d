//! Where this library lives, so an installed tree finds its plugins and ONNX Runtime without
//! environment variables.

use std::path::PathBuf;

/// Directory containing the loaded `libhepinfer.so` (or the executable that links this crate
/// statically), found with `dladdr` on one of our own functions.
pub fn library_dir() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = library_dir as *const libc::c_void;
    // SAFETY: dladdr only reads the address and fills `info`; dli_fname points to a string owned
    // by the dynamic loader that stays valid while the object is loaded (we are never unloaded).
    let ok = unsafe { libc::dladdr(addr, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(name.to_str().ok()?);
    let path = path.canonicalize().unwrap_or(path);
    path.parent().map(|p| p.to_path_buf())
}
