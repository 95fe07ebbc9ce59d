//! Instance configurations: the host's split (`model_labels`) and each plugin's own parser,
//! through `hepinfer_instance_create` on a host with every shipped plugin. Any text gives an
//! instance or an error status, never a crash. The first byte picks the plugin.
#![no_main]

use hepinfer_fuzz::{c_host, plugin_names};
use libfuzzer_sys::fuzz_target;
use std::ffi::CString;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(config) = CString::new(text) else {
        return;
    };
    // Host-side part first (pure function).
    let _ = hepinfer::config::InstanceConfig::from_json(text);
    let names = plugin_names();
    let name = CString::new(names[pick as usize % names.len()].as_str()).unwrap();
    let host = c_host();
    let mut inst = std::ptr::null_mut();
    let mut err = std::ptr::null_mut();
    // SAFETY: valid host, NUL-terminated strings, valid out-pointers.
    let st = unsafe {
        hepinfer::abi::hepinfer_instance_create(
            host,
            name.as_ptr(),
            config.as_ptr(),
            &mut inst,
            &mut err,
        )
    };
    // SAFETY: each is NULL or was returned by the call above.
    unsafe {
        if st as u32 == 0 {
            assert!(!inst.is_null());
            hepinfer::abi::hepinfer_instance_free(inst);
        } else {
            assert!(
                inst.is_null() && !err.is_null(),
                "error status without an error object"
            );
            hepinfer::abi::hepinfer_error_free(err);
        }
    }
});
