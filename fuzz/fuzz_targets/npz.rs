//! The `.npz` reader of golden files: any bytes are arrays or an error, never a panic, and an
//! accepted array's bytes match its shape and dtype.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(arrays) = hepinfer_plugin_testing::parse_npz(data) {
        for a in arrays.values() {
            let item: usize = a.dtype[2..].parse().unwrap();
            let n: usize = a.shape.iter().product();
            assert_eq!(a.data.len(), n * item);
        }
    }
});
