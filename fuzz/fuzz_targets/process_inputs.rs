//! Tensor validation through `hepinfer_process`: inputs built from a plugin's declaration and
//! then bent by the fuzzer (names dropped, duplicated or unknown; dtype codes; ranks; dimensions
//! negative, zero, huge or overflowing; jagged offsets; NaN, infinities and extreme values).
//! Every call must return OK or an error status with a message, never crash, read out of
//! bounds (ASan) or report a caught panic.
#![no_main]

use hepinfer::abi::{
    hepinfer_error_free, hepinfer_event_key, hepinfer_instance, hepinfer_instance_create,
    hepinfer_outputs_count, hepinfer_outputs_free, hepinfer_process, hepinfer_tensor,
};
use hepinfer::error::hepinfer_status;
use hepinfer_fuzz::{c_host, plugin_names, rust_host, Bytes};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Mutex, OnceLock};

/// Elements a test buffer may have: larger shapes are skipped (the C caller promises a buffer of
/// the shape's size; the fuzzer cannot allocate terabytes).
const MAX_ELEMENTS: u64 = 1 << 16;

struct Inst(*mut hepinfer_instance);
// SAFETY: instances may be used from any thread.
unsafe impl Send for Inst {}

fn instance(name: &str) -> *mut hepinfer_instance {
    static INSTANCES: OnceLock<Mutex<HashMap<String, Inst>>> = OnceLock::new();
    let mut map = INSTANCES.get_or_init(Default::default).lock().unwrap();
    map.entry(name.to_string())
        .or_insert_with(|| {
            let n = CString::new(name).unwrap();
            let mut inst = std::ptr::null_mut();
            let mut err = std::ptr::null_mut();
            // SAFETY: valid host, strings and out-pointers.
            let st = unsafe {
                hepinfer_instance_create(c_host(), n.as_ptr(), c"{}".as_ptr(), &mut inst, &mut err)
            };
            assert_eq!(st, hepinfer_status::HEPINFER_OK, "instance of {name}");
            Inst(inst)
        })
        .0
}

const FLOATS: [f64; 12] = [
    0.0,
    1.0,
    -1.0,
    0.5,
    3.0e4,
    -7.25,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e300,
    f64::MIN_POSITIVE,
    -0.0,
];

/// One input's owned storage.
struct Owned {
    name: CString,
    shape: Vec<i64>,
    data: Vec<u64>, // 8-byte aligned storage for any dtype
    offsets: Vec<i64>,
    dtype: u32,
}

fn dim(b: &mut Bytes<'_>, declared: i64) -> i64 {
    match b.u8() % 16 {
        0 => -1 - i64::from(b.u8()),
        1 => b.i64(),
        2 => 0,
        3..=6 => i64::from(b.u8() % 8),
        _ if declared >= 0 => declared,
        _ => 1 + i64::from(b.u8() % 6),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let names = plugin_names();
    let plugin = &names[b.u8() as usize % names.len()];
    let info = &rust_host().plugins().get(plugin).unwrap().info;
    let specs: Vec<_> = info.inputs.iter().collect();
    let mut owned: Vec<Owned> = Vec::new();
    for spec in &specs {
        let action = b.u8();
        if action % 23 == 0 {
            continue; // input missing
        }
        let name = match action % 19 {
            0 => "no_such_input".to_string(),
            1 => String::new(),
            _ => spec.name.to_string(),
        };
        let dtype = if action % 13 == 0 {
            u32::from(b.u8() % 8)
        } else {
            spec.dtype as u32
        };
        let mut rank = spec.shape.len();
        if action % 11 == 0 {
            rank = (b.u8() % 5) as usize;
        }
        let shape: Vec<i64> = (0..rank)
            .map(|i| dim(&mut b, spec.shape.get(i).map_or(-1, |d| d.size)))
            .collect();
        let n = shape.iter().try_fold(1u64, |acc, &d| {
            u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        });
        let elements = match n {
            Some(n) if n > MAX_ELEMENTS => return,
            Some(n) => n as usize,
            None => 1, // negative or overflowing: the host must refuse before reading
        };
        let size = match dtype {
            1 | 3 => 8,
            4 => 1,
            _ => 4,
        };
        let mut bytes = vec![0u64; (elements * size).div_ceil(8).max(1)];
        let raw: &mut [u8] = unsafe {
            // SAFETY: the Vec<u64>'s storage viewed as bytes, same length in bytes.
            std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), bytes.len() * 8)
        };
        let style = b.u8();
        for e in 0..elements {
            let v = FLOATS[(style as usize + e * (1 + b.u8() as usize % 3)) % FLOATS.len()];
            let at = e * size;
            match (dtype, size) {
                (0, _) => raw[at..at + 4].copy_from_slice(&(v as f32).to_le_bytes()),
                (1, _) => raw[at..at + 8].copy_from_slice(&v.to_le_bytes()),
                (_, 1) => raw[at] = b.u8(),
                (_, 4) => raw[at..at + 4].copy_from_slice(&(b.u8() as i32 - 3).to_le_bytes()),
                _ => raw[at..at + 8].copy_from_slice(&(i64::from(b.u8()) - 3).to_le_bytes()),
            }
        }
        let offsets = if spec.jagged || action % 7 == 0 {
            let groups = (b.u8() % 6) as usize;
            let total = shape.first().copied().unwrap_or(0);
            let mut o = vec![0i64];
            for g in 0..groups {
                let step = match b.u8() % 8 {
                    0 => -1,
                    1 => b.i64(),
                    _ => total / groups.max(1) as i64,
                };
                let next = if g + 1 == groups && b.u8() % 4 != 0 {
                    total
                } else {
                    o[g].wrapping_add(step)
                };
                o.push(next);
            }
            if b.u8() % 9 == 0 {
                o[0] = 1;
            }
            o
        } else {
            Vec::new()
        };
        owned.push(Owned {
            name: CString::new(name).unwrap(),
            shape,
            data: bytes,
            offsets,
            dtype,
        });
    }
    if b.u8() % 17 == 0 && !owned.is_empty() {
        // The same input twice.
        let first = &owned[0];
        let dup = Owned {
            name: first.name.clone(),
            shape: first.shape.clone(),
            data: first.data.clone(),
            offsets: first.offsets.clone(),
            dtype: first.dtype,
        };
        owned.push(dup);
    }
    let tensors: Vec<hepinfer_tensor> = owned
        .iter()
        .map(|o| hepinfer_tensor {
            name: o.name.as_ptr(),
            dtype: o.dtype,
            rank: o.shape.len(),
            shape: if o.shape.is_empty() {
                std::ptr::null()
            } else {
                o.shape.as_ptr()
            },
            data: o.data.as_ptr().cast(),
            offsets: if o.offsets.is_empty() {
                std::ptr::null()
            } else {
                o.offsets.as_ptr()
            },
            n_offsets: o.offsets.len(),
        })
        .collect();
    let key = hepinfer_event_key {
        run: 1 + u32::from(b.u8()),
        lumi: u32::from(b.u8()),
        event: b.i64() as u64,
    };
    let inst = instance(plugin);
    let mut out = std::ptr::null_mut();
    let mut err = std::ptr::null_mut();
    // SAFETY: every tensor's arrays match its shape (or the shape is refused before reading).
    let st = unsafe {
        hepinfer_process(
            inst,
            key,
            tensors.as_ptr(),
            tensors.len(),
            &mut out,
            &mut err,
        )
    };
    // SAFETY: out and err are NULL or were returned by the call.
    unsafe {
        if st == hepinfer_status::HEPINFER_OK {
            assert!(err.is_null());
            let _ = hepinfer_outputs_count(out);
            hepinfer_outputs_free(out);
        } else {
            assert!(out.is_null() && !err.is_null());
            let msg = std::ffi::CStr::from_ptr(hepinfer::abi::hepinfer_error_message(err))
                .to_string_lossy()
                .into_owned();
            hepinfer_error_free(err);
            assert_ne!(
                st,
                hepinfer_status::HEPINFER_PANIC,
                "{plugin}: caught panic: {msg}"
            );
            assert_ne!(
                st,
                hepinfer_status::HEPINFER_INTERNAL,
                "{plugin}: internal error: {msg}"
            );
            assert!(!msg.is_empty());
        }
    }
});
