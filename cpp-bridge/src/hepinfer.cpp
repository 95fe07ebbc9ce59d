// The C++ API of hepinfer (include/hepinfer/hepinfer.hpp) on top of the cxx bridge
// (host/src/cxx_bridge.rs, whose generated declarations are "hepinfer/src/cxx_bridge.rs.h").
// Compiled into libhepinfer.so by host/build.rs with hidden visibility: only what
// HEPINFER_CXX_API marks is exported. Every call goes through the bridge into the same Rust
// functions the C API runs; nothing here calls the C API.
#include <hepinfer/hepinfer.hpp>

#include "hepinfer/src/cxx_bridge.rs.h"

#include <cstring>

namespace hepinfer {
namespace {

// Throws the bridge's failed status as hepinfer::Error.
[[noreturn]] void raise(const ffi::Status& st) {
  throw Error(static_cast<Status>(st.code), std::string(st.message));
}

rust::Str str(std::string_view s) { return rust::Str(s.data(), s.size()); }

}  // namespace

void ffi::LogSink::log(std::uint32_t level, rust::Str message) const noexcept {
  try {
    callback_(static_cast<LogLevel>(level), std::string_view(message.data(), message.size()));
  } catch (...) {
    // Documented: a throwing log callback loses that message, nothing else.
  }
}

const char* status_name(Status status) noexcept {
  // The names are static NUL-terminated strings (the bridge returns them without the NUL).
  return ffi::status_name(static_cast<std::uint32_t>(status)).data();
}

std::string_view version() noexcept {
  rust::Str v = ffi::version();
  return {v.data(), v.size()};
}

Error::Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}

const char* dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "unknown";
}

Input::Input(const char* name, DType dtype, const void* data, const std::int64_t* shape, std::size_t rank)
    : name_(name), dtype_(dtype), rank_(rank), data_(data) {
  if (rank > HEPINFER_MAX_RANK) {
    throw Error(Status::InvalidInput, std::string("input '") + (name ? name : "(null)") + "': rank " +
                                          std::to_string(rank) + " exceeds " + std::to_string(HEPINFER_MAX_RANK));
  }
  if (rank > 0 && shape != nullptr) std::memcpy(shape_.data(), shape, rank * sizeof(std::int64_t));
}

void Input::check_size(std::size_t n) const {
  std::size_t want = 1;
  std::string dims;
  for (std::size_t i = 0; i < rank_; ++i) {
    want *= static_cast<std::size_t>(shape_[i] < 0 ? 0 : shape_[i]);
    dims += (i ? ", " : "") + std::to_string(shape_[i]);
  }
  if (want != n) {
    throw Error(Status::InvalidInput, std::string("input '") + (name_ ? name_ : "(null)") + "': shape [" + dims +
                                          "] has " + std::to_string(want) + " elements but the data holds " +
                                          std::to_string(n));
  }
}

std::size_t Tensor::size() const noexcept {
  std::size_t n = 1;
  for (std::size_t i = 0; i < t_.rank; ++i) n *= static_cast<std::size_t>(t_.shape[i]);
  return n;
}

void Tensor::check_dtype(DType want) const {
  if (dtype() != want) {
    throw Error(Status::InvalidArgument, "output '" + std::string(name()) + "' is " + dtype_name(dtype()) +
                                             ", not " + dtype_name(want));
  }
}

Outputs& Outputs::operator=(Outputs&& o) noexcept {
  if (this != &o) {
    ffi::outputs_free(p_);
    p_ = std::exchange(o.p_, nullptr);
  }
  return *this;
}

Outputs::~Outputs() { ffi::outputs_free(p_); }

std::size_t Outputs::size() const noexcept { return ffi::outputs_count(p_); }

Tensor Outputs::at(std::size_t index) const {
  ffi::Status st;
  hepinfer_tensor t = ffi::outputs_get(p_, index, st);
  if (st.code != HEPINFER_OK) raise(st);
  return Tensor(t);
}

Tensor Outputs::find(std::string_view name) const {
  ffi::Status st;
  hepinfer_tensor t = ffi::outputs_find(p_, str(name), st);
  if (st.code != HEPINFER_OK) raise(st);
  return Tensor(t);
}

std::vector<Provenance> Outputs::provenance() const {
  std::vector<Provenance> v;
  const std::size_t n = ffi::outputs_provenance_count(p_);
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    ffi::Status st;
    ffi::Provenance p = ffi::outputs_provenance(p_, i, st);
    if (st.code != HEPINFER_OK) raise(st);
    v.push_back({std::string(p.model), std::string(p.payload_hash)});
  }
  return v;
}

void Instance::Free::operator()(hepinfer_instance* p) const noexcept { ffi::instance_free(p); }

Instance::~Instance() = default;

Outputs Instance::process(const EventKey& key, const Input* inputs, std::size_t n_inputs) const {
  // The C views live on the stack for the usual few inputs.
  constexpr std::size_t kStack = 8;
  std::array<hepinfer_tensor, kStack> stack;
  std::vector<hepinfer_tensor> heap;
  hepinfer_tensor* views = stack.data();
  if (n_inputs > kStack) {
    heap.resize(n_inputs);
    views = heap.data();
  }
  // A null `inputs` goes to the library as it is, which refuses it with a clear error.
  if (inputs != nullptr) {
    for (std::size_t i = 0; i < n_inputs; ++i) views[i] = inputs[i].to_c();
  }
  ffi::Status st;
  hepinfer_outputs* out = ffi::process(p_.get(), key, inputs ? views : nullptr, n_inputs, st);
  if (out == nullptr) raise(st);
  return Outputs(out);
}

std::string Instance::stats_json() const {
  ffi::Status st;
  rust::String json = ffi::instance_stats_json(p_.get(), st);
  if (st.code != HEPINFER_OK) raise(st);
  return std::string(json);
}

void Host::Free::operator()(hepinfer_host* p) const noexcept { ffi::host_free(p); }

void Host::create(std::string_view config_json, LogCallback log) {
  std::shared_ptr<ffi::LogSink> sink;
  if (log) sink = std::make_shared<ffi::LogSink>(std::move(log));
  ffi::Status st;
  hepinfer_host* h = ffi::host_create(str(config_json), std::move(sink), st);
  if (h == nullptr) raise(st);
  p_.reset(h);
}

Host::~Host() = default;

Instance Host::instance(std::string_view plugin, std::string_view config_json) const {
  ffi::Status st;
  hepinfer_instance* i = ffi::instance_create(p_.get(), str(plugin), str(config_json), st);
  if (i == nullptr) raise(st);
  return Instance(i);
}

std::string Host::plugins_json() const {
  ffi::Status st;
  rust::String json = ffi::host_plugins_json(p_.get(), st);
  if (st.code != HEPINFER_OK) raise(st);
  return std::string(json);
}

}  // namespace hepinfer
