// Overhead of the C++ API over the C API on the same call (seq-classifier, one sequence per
// call, one thread): rounds of C calls and C++ calls interleaved, medians compared. Not a ctest
// test (timings on a shared machine are not pass/fail material).
//
// Usage: bench_cxx_overhead PLUGIN_DIR MODEL GOLDEN_DIR [ROUNDS] [CALLS_PER_ROUND]
#include <hepinfer/hepinfer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PLUGIN_DIR MODEL GOLDEN_DIR [ROUNDS] [CALLS]\n", argv[0]);
    return 2;
  }
  const int rounds = argc > 4 ? std::stoi(argv[4]) : 21;
  const int calls = argc > 5 ? std::stoi(argv[5]) : 2000;
  std::ifstream f(std::string(argv[3]) + "/golden_x.f32", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> x(bytes.size() / sizeof(float));
  std::memcpy(x.data(), bytes.data(), x.size() * sizeof(float));

  hepinfer::Host host(std::string(R"({"plugin_dirs": [")") + argv[1] + R"("], "models": {"SeqClassifierRcd": ")" +
                      argv[2] + R"("}, "log_level": "warn"})");
  const hepinfer::Instance inst = host.instance("seq-classifier");
  hepinfer_instance* c_inst = inst.native_handle();  // the very same instance through the C API
  const std::int64_t shape[3] = {1, 15, 8};
  float sink = 0;

  auto c_round = [&] {
    const auto t0 = Clock::now();
    for (int i = 0; i < calls; ++i) {
      const hepinfer_tensor in = {"sequences", HEPINFER_F32, 3, shape, x.data() + (i % 256) * 120, nullptr, 0};
      hepinfer_outputs* out = nullptr;
      hepinfer_error* err = nullptr;
      if (hepinfer_process(c_inst, {1, 1, static_cast<std::uint64_t>(i)}, &in, 1, &out, &err) != HEPINFER_OK) {
        std::fprintf(stderr, "%s\n", hepinfer_error_message(err));
        std::exit(1);
      }
      hepinfer_tensor p;
      hepinfer_outputs_find(out, "probabilities", &p, nullptr);
      sink += static_cast<const float*>(p.data)[0];
      hepinfer_outputs_free(out);
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / calls;
  };
  auto cxx_round = [&] {
    const auto t0 = Clock::now();
    for (int i = 0; i < calls; ++i) {
      const hepinfer::Outputs out = inst.process(
          {1, 1, static_cast<std::uint64_t>(i)}, {hepinfer::Input("sequences", x.data() + (i % 256) * 120, {1, 15, 8})});
      sink += out.find("probabilities").values<float>()[0];
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / calls;
  };

  // Interleaved rounds of two callables, alternating which goes first so that drifts of the
  // machine hit both alike; prints medians and the median per-round ratio.
  auto compare = [&](const char* what, auto&& c_fn, auto&& cxx_fn) {
    c_fn();  // warm-up: model load, caches
    cxx_fn();
    std::vector<double> c_us, cxx_us, ratio;
    for (int r = 0; r < rounds; ++r) {
      double c, cxx;
      if (r % 2 == 0) {
        c = c_fn();
        cxx = cxx_fn();
      } else {
        cxx = cxx_fn();
        c = c_fn();
      }
      c_us.push_back(c);
      cxx_us.push_back(cxx);
      ratio.push_back(cxx / c);
    }
    const double mc = median(c_us), mcxx = median(cxx_us);
    std::printf("%s: %d rounds x %d calls, interleaved\n", what, rounds, calls);
    std::printf("  C API   median %8.3f us/call (min %.3f)\n", mc, *std::min_element(c_us.begin(), c_us.end()));
    std::printf("  C++ API median %8.3f us/call (min %.3f)\n", mcxx,
                *std::min_element(cxx_us.begin(), cxx_us.end()));
    std::printf("  C++/C median per-round ratio %.4f (%+.2f %%), difference of medians %+.3f us\n", median(ratio),
                (median(ratio) - 1) * 100, mcxx - mc);
  };
  compare("seq-classifier (ONNX Runtime LSTM), batch 1, 1 thread", c_round, cxx_round);

  // The same comparison on a plugin that runs no model (faulty: y = 2x on 3 floats), so that the
  // call is a few microseconds and the wrapper's own cost is not hidden by inference time.
  if (host.plugins_json().find("\"faulty\"") != std::string::npos) {
    const hepinfer::Instance faulty = host.instance("faulty");
    hepinfer_instance* c_faulty = faulty.native_handle();
    const float v[3] = {1, 2, 3};
    const std::int64_t vshape[1] = {3}, off[3] = {0, 1, 3};
    auto c_tiny = [&] {
      const auto t0 = Clock::now();
      for (int i = 0; i < calls; ++i) {
        const hepinfer_tensor in = {"x", HEPINFER_F32, 1, vshape, v, off, 3};
        hepinfer_outputs* out = nullptr;
        if (hepinfer_process(c_faulty, {1, 1, 1}, &in, 1, &out, nullptr) != HEPINFER_OK) std::exit(1);
        hepinfer_tensor y;
        hepinfer_outputs_find(out, "y", &y, nullptr);
        sink += static_cast<const float*>(y.data)[0];
        hepinfer_outputs_free(out);
      }
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / calls;
    };
    auto cxx_tiny = [&] {
      const auto t0 = Clock::now();
      for (int i = 0; i < calls; ++i) {
        const hepinfer::Outputs out = faulty.process({1, 1, 1}, {hepinfer::Input::jagged("x", v, {3}, off, 3)});
        sink += out.find("y").values<float>()[0];
      }
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / calls;
    };
    compare("faulty (no model: the host's and wrapper's own cost), 1 thread", c_tiny, cxx_tiny);
  }
  return sink == 12345.0f ? 1 : 0;  // keeps the results alive
}
