// Private to libhepinfer.so: the C++ types the cxx bridge (host/src/cxx_bridge.rs) names on the
// C++ side. Included by the generated bridge header before its own declarations.
#ifndef HEPINFER_BRIDGE_H
#define HEPINFER_BRIDGE_H

#include <hepinfer/hepinfer.hpp>

#include <cstdint>
#include <utility>

#include "rust/cxx.h"

namespace hepinfer {
namespace ffi {

// The C++ log callback as the Rust logger holds it (through a std::shared_ptr, so it lives as
// long as the host or any of its instances may log).
class LogSink {
 public:
  explicit LogSink(LogCallback callback) : callback_(std::move(callback)) {}
  // Delivers one message; an exception from the callback is dropped (it cannot cross Rust).
  void log(std::uint32_t level, rust::Str message) const noexcept;

 private:
  LogCallback callback_;
};

}  // namespace ffi
}  // namespace hepinfer

#endif  // HEPINFER_BRIDGE_H
