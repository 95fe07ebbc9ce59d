// Downstream C++ program against the installed package (hepinfer::cxx). Usage:
// consumer_cxx MODEL PREFIX. Like consumer_c, through the C++ API and with an exception for a
// bad input.
#include <hepinfer/hepinfer.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

namespace {
bool mapped(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find(path) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const std::string prefix = argv[2];
  try {
    hepinfer::Host host(std::string(R"({"models": {"SeqClassifierRcd": ")") + argv[1] + R"("}, "log_level": "warn"})");
    const hepinfer::Instance tagger = host.instance("seq-classifier");
    if (host.plugins_json().find(prefix + "/lib/hepinfer/plugins/") == std::string::npos) {
      std::cerr << "consumer_cxx: plugins not from the installed tree: " << host.plugins_json() << "\n";
      return 1;
    }
    float x[120];
    for (int i = 0; i < 120; ++i) x[i] = static_cast<float>(i % 7) * 0.1f;
    const hepinfer::Outputs out = tagger.process({1, 1, 1}, {hepinfer::Input("sequences", x, {1, 15, 8})});
    const auto p = out.find("probabilities").values<float>();
    std::printf("consumer_cxx: p = %.4f %.4f %.4f (model %s)\n", p[0], p[1], p[2],
                out.provenance().at(0).payload_hash.substr(0, 12).c_str());
    try {
      tagger.process({1, 1, 2}, {hepinfer::Input("sequences", x, {1, 14, 8})});
      std::cerr << "consumer_cxx: a bad input did not throw\n";
      return 1;
    } catch (const hepinfer::Error& e) {
      if (e.status() != hepinfer::Status::InvalidInput) return 1;
    }
    for (const char* f : {"/lib/libhepinfer.so.0.1.0",
                          "/lib/hepinfer/onnxruntime/libonnxruntime.so.1.31.1"}) {
      if (!mapped(prefix + f)) {
        std::cerr << "consumer_cxx: " << prefix + f << " is not loaded\n";
        return 1;
      }
    }
    const float sum = p[0] + p[1] + p[2];
    return sum > 0.999f && sum < 1.001f ? 0 : 1;
  } catch (const hepinfer::Error& e) {
    std::cerr << "consumer_cxx: " << hepinfer::status_name(e.status()) << ": " << e.what() << "\n";
    return 1;
  }
}
