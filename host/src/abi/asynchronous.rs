//! The asynchronous part of the C ABI: submit an event's call, receive its outputs later through
//! a completion callback (the shape of CMSSW's ExternalWork `acquire`/`produce`, TBB tasks and
//! JANA2 arrows). Calls of plugins that opt in to cross-event batching are merged with other
//! events' calls into one model call (see `batch.rs`); the synchronous `hepinfer_process` is
//! unchanged and never waits for other events.
#![allow(non_camel_case_types)]

use super::{
    guard, hepinfer_error, hepinfer_event_key, hepinfer_instance, hepinfer_outputs,
    hepinfer_tensor, input_view, make_error, null_arg,
};
use crate::error::{hepinfer_status, Error};
use crate::instance::{CallOutputs, Instance};
use hepinfer_plugin_api::TensorView;
use std::ffi::{c_char, c_void, CString};
use std::ptr;

/// Receives the result of one `hepinfer_submit`, exactly once: `(status, outputs, error,
/// user_data)`. On success `status` is `HEPINFER_OK`, `outputs` is non-NULL and `error` NULL; on
/// failure `outputs` is NULL and `error` non-NULL. The callee owns both: free them with
/// `hepinfer_outputs_free` / `hepinfer_error_free` (from any thread, at any later time).
///
/// It runs on the thread that completes the call: the submitting thread (inside
/// `hepinfer_submit`, for plugins that do not batch, with batching off, or when this request
/// filled a batch), another thread inside its own `hepinfer_submit` or
/// `hepinfer_instance_flush` (its request filled the batch this one was waiting in), the host's
/// `hepinfer-batch` thread (the batch's `max_delay_us` expired), or the thread inside
/// `hepinfer_instance_free`. It must be quick (it delays the other events of its batch: hand the
/// result to the framework's scheduler), must not unwind, and must not free the instance.
pub type hepinfer_completion_callback = Option<
    unsafe extern "C" fn(
        status: hepinfer_status,
        outputs: *mut hepinfer_outputs,
        error: *mut hepinfer_error,
        user_data: *mut c_void,
    ),
>;

/// Pointers moved to the completing thread. The framework promises, by submitting, that the
/// callback may run on another thread with its user_data; the instance outlives every
/// completion (`hepinfer_instance_free` waits for them).
struct Target {
    callback: unsafe extern "C" fn(
        hepinfer_status,
        *mut hepinfer_outputs,
        *mut hepinfer_error,
        *mut c_void,
    ),
    user_data: usize,
    instance: *const hepinfer_instance,
}

// SAFETY: see `Target`: both pointers are only used as the contract above allows.
unsafe impl Send for Target {}

impl Target {
    fn complete(self, result: Result<CallOutputs, Error>) {
        let user_data = self.user_data as *mut c_void;
        // SAFETY: `instance` is alive until every completion ran (Instance::drop drains).
        unsafe {
            match result {
                Ok(out) => {
                    let outputs = Box::into_raw((*self.instance).outputs(out));
                    (self.callback)(
                        hepinfer_status::HEPINFER_OK,
                        outputs,
                        ptr::null_mut(),
                        user_data,
                    )
                }
                Err(e) => (self.callback)(e.status(), ptr::null_mut(), make_error(&e), user_data),
            }
        }
    }
}

/// Submits one call of the instance's plugin on one event; its result arrives through
/// `callback` (see `hepinfer_completion_callback` for the thread it runs on).
///
/// Inputs: read only before this function returns (validated, and for a plugin that batches
/// turned into its model's inputs, which are owned by the host), so the caller may free or reuse
/// them as soon as it returns.
///
/// Returns `HEPINFER_OK` when the call was accepted: `callback` is then called exactly once,
/// possibly before this function returns. Any other status (a NULL argument, a bad input found by
/// the host or by the plugin's first stage) comes with `*out_error` as for `hepinfer_process`,
/// and `callback` is never called. A call that fails later (the model, the plugin's last stage)
/// is reported through `callback`; one event's failure never fails the other events of its batch.
///
/// Safe to call from many threads at once on the same instance, concurrently with
/// `hepinfer_process`.
///
/// # Safety
/// `instance` is a valid instance; `inputs` points to `n_inputs` valid `hepinfer_tensor`s (may be
/// NULL when `n_inputs` is 0); `callback` is a function callable from any thread; `out_error` is
/// NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_submit(
    instance: *const hepinfer_instance,
    key: hepinfer_event_key,
    inputs: *const hepinfer_tensor,
    n_inputs: usize,
    callback: hepinfer_completion_callback,
    user_data: *mut c_void,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let instance = instance.as_ref().ok_or_else(|| null_arg("instance"))?;
        let callback = callback.ok_or_else(|| null_arg("callback"))?;
        let raw: &[hepinfer_tensor] = if n_inputs == 0 {
            &[]
        } else if inputs.is_null() {
            return Err(null_arg("inputs"));
        } else {
            std::slice::from_raw_parts(inputs, n_inputs)
        };
        let views = match raw
            .iter()
            .enumerate()
            .map(|(i, t)| input_view(t, i))
            .collect::<Result<smallvec::SmallVec<[TensorView<'_>; 8]>, _>>()
        {
            Ok(v) => v,
            // Refused before reaching the plugin: still a failed call of this instance.
            Err(e) => return instance.refuse(e).map(|_| ()),
        };
        let target = Target {
            callback,
            user_data: user_data as usize,
            instance,
        };
        instance
            .inner
            .submit(key.into(), &views, Box::new(move |r| target.complete(r)))
    })
}

/// Executes every request of this instance still waiting for a batch now, on this thread (their
/// callbacks run here). For the end of a run or of the job, and for a thread that would
/// otherwise sleep until its results arrive (the batches run on it instead of all on the host's
/// one `hepinfer-batch` thread). Never needed for correctness: a waiting request is executed at
/// the latest `max_delay_us` after it was queued.
///
/// # Safety
/// `instance` is a valid instance; `out_error` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_instance_flush(
    instance: *const hepinfer_instance,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let instance = instance.as_ref().ok_or_else(|| null_arg("instance"))?;
        instance.inner.flush();
        Ok(())
    })
}

/// Writes the instance's batching settings and what its batcher did as JSON to `*out_json` (free
/// with `hepinfer_string_free`): `{"enabled", "max_items", "max_delay_us", "batched"}` and, when
/// `batched` (the plugin opts in and batching is on), `"model_calls"`, `"items"`, `"requests"`,
/// `"items_per_call"`, `"deadline_flushes"`, `"split_retries"`.
///
/// # Safety
/// `instance` is valid; `out_json` a valid pointer; `out_error` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn hepinfer_instance_batching_json(
    instance: *const hepinfer_instance,
    out_json: *mut *mut c_char,
    out_error: *mut *mut hepinfer_error,
) -> hepinfer_status {
    guard(out_error, || {
        let instance = instance.as_ref().ok_or_else(|| null_arg("instance"))?;
        if out_json.is_null() {
            return Err(null_arg("out_json"));
        }
        let v = batching_json(&instance.inner);
        *out_json = CString::new(v.to_string())
            .map_err(|e| Error::Internal(e.to_string()))?
            .into_raw();
        Ok(())
    })
}

/// The JSON of `hepinfer_instance_batching_json`.
pub fn batching_json(instance: &Instance) -> serde_json::Value {
    let (settings, counters) = instance.batching();
    let mut v = serde_json::json!({
        "enabled": settings.enabled,
        "max_items": settings.max_items,
        "max_delay_us": settings.max_delay_us,
        "batched": counters.is_some(),
    });
    if let Some(c) = counters {
        v["model_calls"] = c.model_calls.into();
        v["items"] = c.items.into();
        v["requests"] = c.requests.into();
        v["items_per_call"] = if c.model_calls == 0 {
            0.0.into()
        } else {
            (c.items as f64 / c.model_calls as f64).into()
        };
        v["deadline_flushes"] = c.deadline_flushes.into();
        v["split_retries"] = c.split_retries.into();
    }
    v
}
