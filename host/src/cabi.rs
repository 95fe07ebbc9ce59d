//! A thin safe Rust wrapper over the C ABI of libhepinfer, so that tools measure and exercise
//! exactly what a C++ framework calls. Not part of the `hepinfer` library's API: it is compiled
//! into the `hepinfer` command (for `hepinfer bench`, `src/main.rs`), the overhead bench, and
//! `hepinfer-plugin-testing::cabi` (for the main job and the plugins' quality tests).

use hepinfer::abi::*;
use hepinfer_plugin_api::{DType, Tensor, TensorBuf};
use std::ffi::{CStr, CString};
use std::ptr;

/// An error from the C ABI: status name and message.
#[derive(Debug)]
pub struct CError {
    /// Status code.
    pub status: hepinfer_status,
    /// Message.
    pub message: String,
}

impl std::fmt::Display for CError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = unsafe { CStr::from_ptr(hepinfer_status_name(self.status as u32)) };
        write!(f, "{}: {}", name.to_string_lossy(), self.message)
    }
}

impl std::error::Error for CError {}

fn take(status: hepinfer_status, err: *mut hepinfer_error) -> Result<(), CError> {
    if status == hepinfer_status::HEPINFER_OK {
        return Ok(());
    }
    let message = unsafe {
        CStr::from_ptr(hepinfer_error_message(err))
            .to_string_lossy()
            .into_owned()
    };
    unsafe { hepinfer_error_free(err) };
    Err(CError { status, message })
}

/// `hepinfer_host*`.
pub struct CHost(*mut hepinfer_host);
// SAFETY: the C API documents a host as shareable by all threads once created.
unsafe impl Send for CHost {}
unsafe impl Sync for CHost {}

/// `hepinfer_instance*`.
pub struct CInstance(*mut hepinfer_instance);
// SAFETY: the C API documents hepinfer_process as safe to call concurrently on one instance.
unsafe impl Send for CInstance {}
unsafe impl Sync for CInstance {}

/// `hepinfer_outputs*`.
pub struct COutputs(*mut hepinfer_outputs);

fn cstring(s: &str) -> Result<CString, CError> {
    CString::new(s).map_err(|_| CError {
        status: hepinfer_status::HEPINFER_INVALID_ARGUMENT,
        message: "NUL in string".into(),
    })
}

impl CHost {
    /// `hepinfer_host_create` (logging to stderr).
    pub fn new(config_json: &str) -> Result<Self, CError> {
        let cfg = cstring(config_json)?;
        let mut host = ptr::null_mut();
        let mut err = ptr::null_mut();
        let st = unsafe {
            hepinfer_host_create(cfg.as_ptr(), None, ptr::null_mut(), &mut host, &mut err)
        };
        take(st, err).map(|()| CHost(host))
    }

    /// `hepinfer_instance_create`.
    pub fn instance(&self, plugin: &str, config_json: &str) -> Result<CInstance, CError> {
        let (p, c) = (cstring(plugin)?, cstring(config_json)?);
        let mut inst = ptr::null_mut();
        let mut err = ptr::null_mut();
        let st = unsafe {
            hepinfer_instance_create(self.0, p.as_ptr(), c.as_ptr(), &mut inst, &mut err)
        };
        take(st, err).map(|()| CInstance(inst))
    }
}

impl Drop for CHost {
    fn drop(&mut self) {
        unsafe { hepinfer_host_free(self.0) }
    }
}

impl CInstance {
    /// `hepinfer_process`.
    pub fn process(
        &self,
        key: hepinfer_event_key,
        inputs: &[hepinfer_tensor],
    ) -> Result<COutputs, CError> {
        let mut out = ptr::null_mut();
        let mut err = ptr::null_mut();
        let st = unsafe {
            hepinfer_process(
                self.0,
                key,
                inputs.as_ptr(),
                inputs.len(),
                &mut out,
                &mut err,
            )
        };
        take(st, err).map(|()| COutputs(out))
    }

    /// `hepinfer_submit`: `done` receives the outputs (or the error) exactly once, on the thread
    /// that completes the call; an error returned here means `done` is never called.
    pub fn submit(
        &self,
        key: hepinfer_event_key,
        inputs: &[hepinfer_tensor],
        done: Box<dyn FnOnce(Result<COutputs, CError>) + Send>,
    ) -> Result<(), CError> {
        type Done = Box<dyn FnOnce(Result<COutputs, CError>) + Send>;
        unsafe extern "C" fn trampoline(
            status: hepinfer_status,
            out: *mut hepinfer_outputs,
            err: *mut hepinfer_error,
            user_data: *mut std::ffi::c_void,
        ) {
            // SAFETY: `user_data` is the `Box<Done>` leaked below, given back exactly once.
            let done = unsafe { Box::from_raw(user_data.cast::<Done>()) };
            let result = take(status, err).map(|()| COutputs(out));
            // A panic must not unwind into the library.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || done(result)));
        }
        let user_data = Box::into_raw(Box::new(done));
        let mut err = ptr::null_mut();
        let st = unsafe {
            hepinfer::abi::hepinfer_submit(
                self.0,
                key,
                inputs.as_ptr(),
                inputs.len(),
                Some(trampoline),
                user_data.cast(),
                &mut err,
            )
        };
        if st != hepinfer_status::HEPINFER_OK {
            // Refused: the callback will not run, the closure is ours to drop.
            drop(unsafe { Box::from_raw(user_data) });
        }
        take(st, err)
    }

    /// `hepinfer_instance_batching_json`, parsed.
    pub fn batching(&self) -> Result<serde_json::Value, CError> {
        let mut s = ptr::null_mut();
        let mut err = ptr::null_mut();
        let st =
            unsafe { hepinfer::abi::hepinfer_instance_batching_json(self.0, &mut s, &mut err) };
        take(st, err)?;
        let text = unsafe { CStr::from_ptr(s).to_string_lossy().into_owned() };
        unsafe { hepinfer_string_free(s) };
        serde_json::from_str(&text).map_err(|e| CError {
            status: hepinfer_status::HEPINFER_INTERNAL,
            message: e.to_string(),
        })
    }

    /// `hepinfer_instance_stats_json`, parsed.
    pub fn stats(&self) -> Result<serde_json::Value, CError> {
        let mut s = ptr::null_mut();
        let mut err = ptr::null_mut();
        let st = unsafe { hepinfer_instance_stats_json(self.0, &mut s, &mut err) };
        take(st, err)?;
        let text = unsafe { CStr::from_ptr(s).to_string_lossy().into_owned() };
        unsafe { hepinfer_string_free(s) };
        serde_json::from_str(&text).map_err(|e| CError {
            status: hepinfer_status::HEPINFER_INTERNAL,
            message: e.to_string(),
        })
    }
}

impl Drop for CInstance {
    fn drop(&mut self) {
        unsafe { hepinfer_instance_free(self.0) }
    }
}

impl COutputs {
    /// A view of the output `name` (`hepinfer_outputs_find`), valid while `self` lives; no copy.
    pub fn find(&self, name: &CStr) -> Result<hepinfer_tensor, CError> {
        let mut t = std::mem::MaybeUninit::<hepinfer_tensor>::uninit();
        let mut err = ptr::null_mut();
        let st = unsafe { hepinfer_outputs_find(self.0, name.as_ptr(), t.as_mut_ptr(), &mut err) };
        take(st, err)?;
        // SAFETY: on success the library filled the view.
        Ok(unsafe { t.assume_init() })
    }

    /// The elements of the `f32` output `name`, borrowed (no copy).
    pub fn f32_view(&self, name: &CStr) -> Result<&[f32], CError> {
        let t = self.find(name)?;
        if t.dtype != hepinfer_dtype::HEPINFER_F32 as u32 {
            return Err(CError {
                status: hepinfer_status::HEPINFER_INTERNAL,
                message: format!("output {name:?} is not f32"),
            });
        }
        let len: i64 = unsafe { std::slice::from_raw_parts(t.shape, t.rank) }
            .iter()
            .product();
        // SAFETY: the view's data holds `len` f32s and lives as long as `self`.
        Ok(unsafe { std::slice::from_raw_parts(t.data as *const f32, len as usize) })
    }

    /// The output `name`, copied with its shape, elements and offsets, whatever its dtype.
    pub fn tensor(&self, name: &str) -> Result<Tensor, CError> {
        let t = self.find(&cstring(name)?)?;
        let shape = unsafe { std::slice::from_raw_parts(t.shape, t.rank) }.to_vec();
        let len = shape.iter().product::<i64>() as usize;
        macro_rules! copy {
            ($ty:ty) => {
                unsafe { std::slice::from_raw_parts(t.data as *const $ty, len) }
                    .to_vec()
                    .into()
            };
        }
        let data = match DType::from_raw(t.dtype) {
            Some(DType::F32) => TensorBuf::F32(copy!(f32)),
            Some(DType::F64) => TensorBuf::F64(copy!(f64)),
            Some(DType::I32) => TensorBuf::I32(copy!(i32)),
            Some(DType::I64) => TensorBuf::I64(copy!(i64)),
            Some(DType::U8) => TensorBuf::U8(copy!(u8)),
            None => {
                return Err(CError {
                    status: hepinfer_status::HEPINFER_INTERNAL,
                    message: format!("output {name} has unknown dtype {}", t.dtype),
                })
            }
        };
        let offsets = if t.offsets.is_null() {
            Vec::new()
        } else {
            unsafe { std::slice::from_raw_parts(t.offsets, t.n_offsets) }.to_vec()
        };
        Ok(Tensor::jagged(name, shape, data, offsets))
    }

    /// The `i64` output `name` (copied).
    pub fn i64(&self, name: &str) -> Result<Vec<i64>, CError> {
        match self.tensor(name)?.data {
            TensorBuf::I64(v) => Ok(v.into_vec()),
            other => Err(CError {
                status: hepinfer_status::HEPINFER_INTERNAL,
                message: format!("output {name} is {}, not i64", other.dtype()),
            }),
        }
    }

    /// The `f32` output `name` (copied).
    pub fn f32(&self, name: &str) -> Result<Vec<f32>, CError> {
        match self.tensor(name)?.data {
            TensorBuf::F32(v) => Ok(v.into_vec()),
            other => Err(CError {
                status: hepinfer_status::HEPINFER_INTERNAL,
                message: format!("output {name} is {}, not f32", other.dtype()),
            }),
        }
    }

    /// Provenance entries (model, payload hash).
    pub fn provenance(&self) -> Vec<(String, String)> {
        let n = unsafe { hepinfer_outputs_provenance_count(self.0) };
        (0..n)
            .filter_map(|i| {
                let (mut m, mut h) = (ptr::null(), ptr::null());
                let st = unsafe {
                    hepinfer_outputs_provenance(self.0, i, &mut m, &mut h, ptr::null_mut())
                };
                (st == hepinfer_status::HEPINFER_OK).then(|| unsafe {
                    (
                        CStr::from_ptr(m).to_string_lossy().into_owned(),
                        CStr::from_ptr(h).to_string_lossy().into_owned(),
                    )
                })
            })
            .collect()
    }
}

impl Drop for COutputs {
    fn drop(&mut self) {
        unsafe { hepinfer_outputs_free(self.0) }
    }
}

/// A C input view of a dense array of any dtype (`data` points to its elements).
pub fn input(
    name: &CStr,
    dtype: hepinfer_dtype,
    shape: &[i64],
    data: *const std::ffi::c_void,
) -> hepinfer_tensor {
    hepinfer_tensor {
        name: name.as_ptr(),
        dtype: dtype as u32,
        rank: shape.len(),
        shape: shape.as_ptr(),
        data,
        offsets: ptr::null(),
        n_offsets: 0,
    }
}

/// A C input view of an `f32` array.
pub fn f32_input(name: &CStr, shape: &[i64], data: &[f32]) -> hepinfer_tensor {
    input(
        name,
        hepinfer_dtype::HEPINFER_F32,
        shape,
        data.as_ptr().cast(),
    )
}
