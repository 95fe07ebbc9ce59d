// hepinfer — asynchronous calls from C++ (C++17 or later), header-only over the C API's
// hepinfer_submit.
//
//   // callback form (CMSSW ExternalWork: acquire() submits, the callback resumes the task)
//   hepinfer::submit(tagger, {run, lumi, event}, {jets, tracks},
//                    [task](hepinfer::Outputs out, std::exception_ptr error) { ... });
//   // future form
//   std::future<hepinfer::Outputs> f = hepinfer::submit(tagger, key, {jets, tracks});
//   hepinfer::Outputs out = f.get();   // throws hepinfer::Error if the call failed
//
// The inputs are read before submit() returns: they may be destroyed at once. A call the library
// refuses at once (bad input, ...) throws hepinfer::Error from submit() and never calls back.
// Otherwise the completion runs exactly once, on the thread that completes the call: this one
// (plugins that do not batch, batching off, or this call filled a batch), another framework
// thread inside its own submit(), or the library's `hepinfer-batch` thread when a batch's delay
// expired (see hepinfer_completion_callback in hepinfer.h). It must not free the Instance; an
// exception it throws is swallowed (it cannot cross the library).
#ifndef HEPINFER_ASYNC_HPP
#define HEPINFER_ASYNC_HPP

#include <hepinfer/hepinfer.hpp>

#include <atomic>
#include <exception>
#include <functional>
#include <future>
#include <memory>

namespace hepinfer {

/// Receives the result of one submit(): the outputs, or (outputs empty) the error.
using Completion = std::function<void(Outputs outputs, std::exception_ptr error)>;

namespace detail {

/// A submitted call's completion on the heap. The library hands it to the completing thread
/// through its own (Rust) locks, which tools such as ThreadSanitizer cannot see; the
/// release/acquire pair on `published` states that hand-off in C++ terms (one atomic per call).
struct Pending {
  explicit Pending(Completion d) : done(std::move(d)) {}
  std::atomic<bool> published{false};
  Completion done;
};

inline void complete(hepinfer_status status, hepinfer_outputs* outputs, hepinfer_error* error,
                     void* user_data) noexcept {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(user_data));
  (void)pending->published.load(std::memory_order_acquire);
  Completion& done = pending->done;
  std::exception_ptr failure;
  if (status != HEPINFER_OK) {
    try {
      failure = std::make_exception_ptr(
          Error(static_cast<Status>(status), hepinfer_error_message(error)));
    } catch (...) {
      failure = std::current_exception();
    }
  }
  hepinfer_error_free(error);
  try {
    done(Outputs(outputs), failure);
  } catch (...) {
    // Nothing may unwind into the library.
  }
}

}  // namespace detail

/// Submits one call of `instance`'s plugin on one event; `done` receives its result later.
/// Throws hepinfer::Error when the call is refused at once (then `done` is never called).
inline void submit(const Instance& instance, const EventKey& key, const Input* inputs,
                   std::size_t n_inputs, Completion done) {
  constexpr std::size_t kStack = 8;
  hepinfer_tensor stack[kStack];
  std::unique_ptr<hepinfer_tensor[]> heap;
  hepinfer_tensor* c = stack;
  if (n_inputs > kStack) {
    heap.reset(new hepinfer_tensor[n_inputs]);
    c = heap.get();
  }
  for (std::size_t i = 0; i < n_inputs; ++i) c[i] = inputs[i].to_c();
  auto user_data = std::make_unique<detail::Pending>(std::move(done));
  user_data->published.store(true, std::memory_order_release);
  hepinfer_error* error = nullptr;
  const hepinfer_status status =
      hepinfer_submit(instance.native_handle(), hepinfer_event_key{key.run, key.lumi, key.event},
                      c, n_inputs, &detail::complete, user_data.get(), &error);
  if (status != HEPINFER_OK) {
    std::string message = hepinfer_error_message(error);
    hepinfer_error_free(error);
    throw Error(static_cast<Status>(status), message);
  }
  user_data.release();  // owned by the pending call now
}

/// submit() with a list of inputs and a callback.
inline void submit(const Instance& instance, const EventKey& key,
                   std::initializer_list<Input> inputs, Completion done) {
  submit(instance, key, inputs.begin(), inputs.size(), std::move(done));
}

/// submit() returning a future: get() returns the outputs or throws the call's hepinfer::Error.
inline std::future<Outputs> submit(const Instance& instance, const EventKey& key,
                                   const Input* inputs, std::size_t n_inputs) {
  auto promise = std::make_shared<std::promise<Outputs>>();
  std::future<Outputs> future = promise->get_future();
  submit(instance, key, inputs, n_inputs, [promise](Outputs out, std::exception_ptr error) {
    if (error) {
      promise->set_exception(error);
    } else {
      promise->set_value(std::move(out));
    }
  });
  return future;
}

/// submit() with a list of inputs, returning a future.
inline std::future<Outputs> submit(const Instance& instance, const EventKey& key,
                                   std::initializer_list<Input> inputs) {
  return submit(instance, key, inputs.begin(), inputs.size());
}

/// Executes every call of `instance` still waiting for a batch now (their completions run on
/// this thread). Throws hepinfer::Error.
inline void flush(const Instance& instance) {
  hepinfer_error* error = nullptr;
  if (hepinfer_instance_flush(instance.native_handle(), &error) != HEPINFER_OK) {
    std::string message = hepinfer_error_message(error);
    const Status status = static_cast<Status>(hepinfer_error_status(error));
    hepinfer_error_free(error);
    throw Error(status, message);
  }
}

/// The instance's batching settings and achieved items per model call, as JSON (see
/// hepinfer_instance_batching_json).
inline std::string batching_json(const Instance& instance) {
  char* json = nullptr;
  hepinfer_error* error = nullptr;
  if (hepinfer_instance_batching_json(instance.native_handle(), &json, &error) != HEPINFER_OK) {
    std::string message = hepinfer_error_message(error);
    const Status status = static_cast<Status>(hepinfer_error_status(error));
    hepinfer_error_free(error);
    throw Error(status, message);
  }
  std::string out(json);
  hepinfer_string_free(json);
  return out;
}

}  // namespace hepinfer

#endif  // HEPINFER_ASYNC_HPP
