// A minimal check harness shared by the C++ tests: CHECK counts, prints each failure, and the
// program's exit status says whether any failed.
#ifndef HEPINFER_TESTS_CHECK_HPP
#define HEPINFER_TESTS_CHECK_HPP

#include <hepinfer/hepinfer.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace check {

inline std::atomic<int> passed{0}, failed{0};

inline void record(bool ok, const char* expr, const char* file, int line, const std::string& what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "FAIL %s:%d: %s: %s\n", file, line, expr, what.c_str());
  }
}

inline int finish() {
  std::printf("%d passed, %d failed\n", passed.load(), failed.load());
  return failed == 0 && passed > 0 ? 0 : 1;
}

/// Reads a raw little-endian file of T.
template <class T>
std::vector<T> read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<T> v(bytes.size() / sizeof(T));
  std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(v.size() * sizeof(T)),
            reinterpret_cast<char*>(v.data()));
  return v;
}

/// Host configuration with the plugin directory and the seq-classifier model.
inline std::string host_config(const std::string& plugin_dir, const std::string& model,
                               const std::string& log_level = "warn") {
  return R"({"plugin_dirs": [")" + plugin_dir + R"("], "models": {"SeqClassifierRcd": ")" + model +
         R"("}, "log_level": ")" + log_level + R"("})";
}

}  // namespace check

#define CHECK(cond, what) ::check::record(static_cast<bool>(cond), #cond, __FILE__, __LINE__, (what))

/// Checks that `stmt` throws hepinfer::Error with `status` and a message containing `needle`.
#define CHECK_THROWS(stmt, want_status, needle)                                                            \
  do {                                                                                                     \
    try {                                                                                                  \
      stmt;                                                                                                \
      ::check::record(false, #stmt, __FILE__, __LINE__, "did not throw");                                  \
    } catch (const hepinfer::Error& e_) {                                                                  \
      ::check::record(e_.status() == (want_status), #stmt, __FILE__, __LINE__,                             \
                      std::string("status ") + hepinfer::status_name(e_.status()) + ", expected " +         \
                          hepinfer::status_name(want_status) + " (" + e_.what() + ")");                    \
      ::check::record(std::string(e_.what()).find(needle) != std::string::npos, #stmt, __FILE__, __LINE__, \
                      std::string("message '") + e_.what() + "' lacks '" + (needle) + "'");                \
    } catch (const std::exception& e_) {                                                                   \
      ::check::record(false, #stmt, __FILE__, __LINE__, std::string("threw another exception: ") + e_.what()); \
    }                                                                                                      \
  } while (0)

#endif  // HEPINFER_TESTS_CHECK_HPP
