// hepinfer — C++ API (C++17 or later).
//
// RAII types compiled into libhepinfer.so itself (link hepinfer::cxx, i.e. -lhepinfer): each call
// goes through a cxx bridge straight into the Rust functions the C API runs, so C and C++ code
// share one process-wide state (one ONNX Runtime environment, one plugin registry, one model
// cache) and a C++ object can hand its C handle (`native_handle()`) to C code.
//
//   hepinfer::Host host(R"({"models": {"SeqClassifierRcd": "/path/model.onnx"}})");
//   hepinfer::Instance tagger = host.instance("seq-classifier");
//   // per event, from any thread; the inputs are views of the caller's memory, never copied
//   hepinfer::Outputs out = tagger.process({run, lumi, event},
//                                          {hepinfer::Input("sequences", x.data(), {n, 15, 8})});
//   hepinfer::Span<const float> p = out.find("probabilities").values<float>();
//
// Errors: every failure throws hepinfer::Error, whose status() is the C API's status and what()
// its message. A bad event fails that call only; the objects stay usable.
//
// Thread-safety (the same as the C API's):
//   Host      const member functions may be called concurrently from any thread.
//   Instance  process() and stats_json() may be called concurrently from any thread.
//   Outputs   belongs to the caller that received it: one thread at a time, like any value.
//   Input, Tensor, Span: plain views; sharing them between threads is as safe as the memory
//             they point to.
// Moving or destroying an object while another thread uses it is a data race, as for any C++
// object. Objects may be destroyed in any order: an Instance may outlive the Host it came from,
// and Outputs the Instance; the log callback lives as long as any of them needs it.
//
// Versions: Host's constructor checks (check_abi_version) that the library serves the ABI this
// header was built for: a program built for 2.x runs with any libhepinfer 2.y, y >= x.
#ifndef HEPINFER_HPP
#define HEPINFER_HPP

#include <hepinfer/hepinfer.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if __has_include(<span>) && __cplusplus >= 202002L
#include <span>
#endif

#if defined(_WIN32)
#define HEPINFER_CXX_API
#else
// libhepinfer.so compiles this API with hidden visibility (cxx's runtime stays private to it);
// this exports the API, including the typeinfo that `catch (const hepinfer::Error&)` needs.
#define HEPINFER_CXX_API __attribute__((visibility("default")))
#endif

namespace hepinfer {

/// Status of a call; the values of the C API's `hepinfer_status`.
enum class Status : std::uint32_t {
  Ok = HEPINFER_OK,
  InvalidArgument = HEPINFER_INVALID_ARGUMENT,
  InvalidConfig = HEPINFER_INVALID_CONFIG,
  InvalidInput = HEPINFER_INVALID_INPUT,
  UnknownPlugin = HEPINFER_UNKNOWN_PLUGIN,
  PluginLoad = HEPINFER_PLUGIN_LOAD,
  Runtime = HEPINFER_RUNTIME,
  Model = HEPINFER_MODEL,
  Conditions = HEPINFER_CONDITIONS,
  Panic = HEPINFER_PANIC,
  NotFound = HEPINFER_NOT_FOUND,
  Internal = HEPINFER_INTERNAL,
  AbiMismatch = HEPINFER_ABI_MISMATCH,
};

/// The name of a status ("HEPINFER_INVALID_INPUT", ...).
HEPINFER_CXX_API const char* status_name(Status status) noexcept;

/// The library's version ("0.1.0").
HEPINFER_CXX_API std::string_view version() noexcept;

/// A failed call: the status and the library's message (which names the input, plugin or
/// configuration key at fault).
class HEPINFER_CXX_API Error : public std::runtime_error {
 public:
  /// An error with this status and message.
  Error(Status status, const std::string& message);
  /// The status of the failed call.
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

/// Throws Error(AbiMismatch) unless the loaded library serves the ABI this header was built for
/// (the same major version, a minor version at least this header's). Host's constructor calls
/// it. Inline on purpose: the header's version must be compiled into the program, and
/// hepinfer_abi_check is the one implementation of the rule.
inline void check_abi_version() {
  hepinfer_error* err = nullptr;
  if (hepinfer_abi_check(HEPINFER_ABI_VERSION_MAJOR, HEPINFER_ABI_VERSION_MINOR, &err) != HEPINFER_OK) {
    const std::string message = hepinfer_error_message(err);
    const auto status = static_cast<Status>(hepinfer_error_status(err));
    hepinfer_error_free(err);
    throw Error(status, message);
  }
}

/// Element types; the values of the C API's `hepinfer_dtype`.
enum class DType : std::uint32_t {
  F32 = HEPINFER_F32,
  F64 = HEPINFER_F64,
  I32 = HEPINFER_I32,
  I64 = HEPINFER_I64,
  U8 = HEPINFER_U8,
};

/// The name of a dtype ("f32", ...).
HEPINFER_CXX_API const char* dtype_name(DType dtype) noexcept;

/// The DType of a C++ element type: `dtype_of<float>::value == DType::F32`.
template <class T>
struct dtype_of;
/// float is f32.
template <> struct dtype_of<float> : std::integral_constant<DType, DType::F32> {};
/// double is f64.
template <> struct dtype_of<double> : std::integral_constant<DType, DType::F64> {};
/// int32_t is i32.
template <> struct dtype_of<std::int32_t> : std::integral_constant<DType, DType::I32> {};
/// int64_t is i64.
template <> struct dtype_of<std::int64_t> : std::integral_constant<DType, DType::I64> {};
/// uint8_t is u8.
template <> struct dtype_of<std::uint8_t> : std::integral_constant<DType, DType::U8> {};

/// A non-owning view of contiguous elements (std::span's subset, for C++17; converts to
/// std::span under C++20).
template <class T>
class Span {
 public:
  /// An empty span.
  constexpr Span() noexcept = default;
  /// A view of `size` elements at `data`.
  constexpr Span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  /// A view of a container with data() and size() (std::vector, std::array, ...).
  template <class C, class = decltype(std::declval<C&>().data()), class = decltype(std::declval<C&>().size())>
  constexpr Span(C& c) noexcept : data_(c.data()), size_(c.size()) {}  // NOLINT: implicit like std::span
  /// The first element.
  constexpr T* data() const noexcept { return data_; }
  /// Number of elements.
  constexpr std::size_t size() const noexcept { return size_; }
  /// True when there are no elements.
  constexpr bool empty() const noexcept { return size_ == 0; }
  /// Element type (as std::span's).
  using value_type = std::remove_cv_t<T>;
  /// Element `i` (unchecked).
  constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
  /// Iteration.
  constexpr T* begin() const noexcept { return data_; }
  /// Iteration.
  constexpr T* end() const noexcept { return data_ + size_; }
#if defined(__cpp_lib_span)
  /// As a std::span.
  constexpr operator std::span<T>() const noexcept { return {data_, size_}; }  // NOLINT
#endif

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Key of an event: `{run, lumi, event}` (the C API's struct).
using EventKey = ::hepinfer_event_key;

/// One input of a call: a name and a non-owning view of an n-d array in the caller's memory,
/// optionally with the offsets of a variable-length collection. The shape is copied into the
/// Input (so `{n, 15, 8}` may be a temporary); `name`, the data and the offsets must stay valid
/// until the call returns. Nothing is copied or checked here: the library checks everything in
/// process() and throws Error(InvalidInput) with a precise message.
class HEPINFER_CXX_API Input {
 public:
  /// A dense array of `T` (float, double, int32_t, int64_t, uint8_t) with this shape.
  template <class T>
  Input(const char* name, const T* data, std::initializer_list<std::int64_t> shape)
      : Input(name, dtype_of<T>::value, data, shape.begin(), shape.size()) {}
  /// A dense array with `rank` dimensions at `shape`.
  template <class T>
  Input(const char* name, const T* data, const std::int64_t* shape, std::size_t rank)
      : Input(name, dtype_of<T>::value, data, shape, rank) {}
  /// A dense array over a contiguous container or view (std::vector, std::array, std::span,
  /// hepinfer::Span): throws Error(InvalidInput) unless it holds exactly the shape's elements.
  template <class C, class T = std::remove_cv_t<typename C::value_type>,
            class = decltype(std::declval<const C&>().data())>
  Input(const char* name, const C& values, std::initializer_list<std::int64_t> shape)
      : Input(name, dtype_of<T>::value, values.data(), shape.begin(), shape.size()) {
    check_size(static_cast<std::size_t>(values.size()));
  }
  /// An untyped dense array (dtype given at run time).
  Input(const char* name, DType dtype, const void* data, const std::int64_t* shape, std::size_t rank);

  /// A variable-length collection: `data` holds `shape[0]` elements in all, split into groups
  /// by `n_offsets` offsets (one more than the number of groups, from 0 to shape[0]).
  template <class T>
  static Input jagged(const char* name, const T* data, std::initializer_list<std::int64_t> shape,
                      const std::int64_t* offsets, std::size_t n_offsets) {
    Input in(name, data, shape);
    in.offsets_ = offsets;
    in.n_offsets_ = n_offsets;
    return in;
  }
  /// A one-dimensional variable-length collection over `values`, grouped by `offsets`.
  template <class T>
  static Input jagged(const char* name, Span<const T> values, Span<const std::int64_t> offsets) {
    return jagged(name, values.data(), {static_cast<std::int64_t>(values.size())}, offsets.data(),
                  offsets.size());
  }

  /// The C view of this input, valid while this Input lives and is not moved.
  hepinfer_tensor to_c() const noexcept {
    return hepinfer_tensor{name_, static_cast<std::uint32_t>(dtype_), rank_, shape_.data(), data_, offsets_,
                           n_offsets_};
  }

 private:
  void check_size(std::size_t n) const;
  const char* name_;
  DType dtype_;
  std::size_t rank_;
  std::array<std::int64_t, HEPINFER_MAX_RANK> shape_{};
  const void* data_;
  const std::int64_t* offsets_ = nullptr;
  std::size_t n_offsets_ = 0;
};

/// A view of one output array, valid as long as the Outputs it came from.
class HEPINFER_CXX_API Tensor {
 public:
  /// Wraps a C view.
  explicit Tensor(const hepinfer_tensor& t) noexcept : t_(t) {}
  /// The output's name.
  std::string_view name() const noexcept { return t_.name; }
  /// Its element type.
  DType dtype() const noexcept { return static_cast<DType>(t_.dtype); }
  /// Its dimensions, outermost first.
  Span<const std::int64_t> shape() const noexcept { return {t_.shape, t_.rank}; }
  /// Number of elements (product of the shape).
  std::size_t size() const noexcept;
  /// The elements as `T`; throws Error(InvalidArgument) when `T` is not the output's dtype.
  template <class T>
  Span<const T> values() const {
    check_dtype(dtype_of<T>::value);
    return {static_cast<const T*>(t_.data), size()};
  }
  /// Group boundaries of a variable-length output (empty for a dense one).
  Span<const std::int64_t> offsets() const noexcept { return {t_.offsets, t_.n_offsets}; }
  /// The C view.
  const hepinfer_tensor& c_view() const noexcept { return t_; }

 private:
  void check_dtype(DType want) const;
  hepinfer_tensor t_;
};

/// Where an output came from: the model and the SHA-256 of the exact payload that ran.
struct Provenance {
  /// The model's name in the plugin.
  std::string model;
  /// SHA-256 (hex) of the payload.
  std::string payload_hash;
};

/// The outputs of one call (move-only; frees them on destruction).
class HEPINFER_CXX_API Outputs {
 public:
  /// Takes ownership of C outputs (from hepinfer_process).
  explicit Outputs(hepinfer_outputs* outputs) noexcept : p_(outputs) {}
  Outputs(Outputs&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Outputs& operator=(Outputs&& o) noexcept;
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;
  ~Outputs();

  /// Number of output arrays.
  std::size_t size() const noexcept;
  /// Output `index`; throws Error(NotFound) when out of range.
  Tensor at(std::size_t index) const;
  /// The output named `name`; throws Error(NotFound), listing the outputs there are.
  Tensor find(std::string_view name) const;
  /// The models that produced these outputs.
  std::vector<Provenance> provenance() const;
  /// The C handle (still owned by this object).
  hepinfer_outputs* native_handle() const noexcept { return p_; }
  /// Gives up ownership of the C handle (free it with hepinfer_outputs_free).
  hepinfer_outputs* release() noexcept { return std::exchange(p_, nullptr); }

 private:
  hepinfer_outputs* p_;
};

/// Log levels of the log callback.
enum class LogLevel : std::uint32_t {
  Trace = HEPINFER_LOG_TRACE,
  Debug = HEPINFER_LOG_DEBUG,
  Info = HEPINFER_LOG_INFO,
  Warn = HEPINFER_LOG_WARN,
  Error = HEPINFER_LOG_ERROR,
};

/// The framework's log sink: called from any thread, possibly concurrently, for every message of
/// the host and its plugins at or above the configured `log_level`. It must not throw (an
/// exception is dropped: it cannot cross the library).
using LogCallback = std::function<void(LogLevel, std::string_view)>;

/// A configured plugin instance (move-only). process() may be called from many threads at once.
class HEPINFER_CXX_API Instance {
 public:
  Instance(Instance&& o) noexcept = default;
  Instance& operator=(Instance&& o) noexcept = default;
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  ~Instance();

  /// Runs the plugin on one event. The inputs are borrowed for the duration of the call.
  /// Throws Error (InvalidInput for bad inputs, Panic for a plugin panic, ...).
  Outputs process(const EventKey& key, const Input* inputs, std::size_t n_inputs) const;
  /// Runs the plugin on one event with a list of inputs.
  Outputs process(const EventKey& key, std::initializer_list<Input> inputs) const {
    return process(key, inputs.begin(), inputs.size());
  }
  /// Runs the plugin on one event with the inputs of a container (std::vector<Input>, ...).
  Outputs process(const EventKey& key, Span<const Input> inputs) const {
    return process(key, inputs.data(), inputs.size());
  }
  /// Call statistics as JSON: plugin, calls, failures, mean_us, p50_us, p90_us, p99_us, max_us.
  std::string stats_json() const;
  /// The C handle (still owned by this object).
  hepinfer_instance* native_handle() const noexcept { return p_.get(); }

 private:
  friend class Host;
  struct Free {
    void operator()(hepinfer_instance* p) const noexcept;
  };
  explicit Instance(hepinfer_instance* p) noexcept : p_(p) {}
  std::unique_ptr<hepinfer_instance, Free> p_;
};

/// An inference host (move-only): plugins, models and the inference runtime. One per job,
/// shared by all threads.
class HEPINFER_CXX_API Host {
 public:
  /// Creates a host from a JSON configuration ("" for defaults; keys as for
  /// hepinfer_host_create). Without a callback, messages go to stderr. Throws Error.
  explicit Host(std::string_view config_json = {}, LogCallback log = {}) {
    check_abi_version();
    create(config_json, std::move(log));
  }
  Host(Host&& o) noexcept = default;
  Host& operator=(Host&& o) noexcept = default;
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;
  ~Host();

  /// Creates an instance of `plugin` with a JSON configuration ("" for `{}`). Throws Error.
  Instance instance(std::string_view plugin, std::string_view config_json = {}) const;
  /// The plugins found, as JSON (name, version, path, inputs, outputs, models).
  std::string plugins_json() const;
  /// The C handle (still owned by this object).
  hepinfer_host* native_handle() const noexcept { return p_.get(); }

 private:
  struct Free {
    void operator()(hepinfer_host* p) const noexcept;
  };
  void create(std::string_view config_json, LogCallback log);
  std::unique_ptr<hepinfer_host, Free> p_;
};

}  // namespace hepinfer

#endif  // HEPINFER_HPP
