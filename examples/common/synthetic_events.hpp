// Synthetic events for the framework-style examples: each event has 1-4 "jets", each a sequence
// of 15 tracks x 8 features, generated deterministically from (run, event) so that any thread
// processing an event sees the same data.
#ifndef HEPINFER_EXAMPLES_SYNTHETIC_EVENTS_HPP
#define HEPINFER_EXAMPLES_SYNTHETIC_EVENTS_HPP

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace synthetic {

constexpr int kTracks = 15, kFeatures = 8;

/// splitmix64: a tiny counter-based generator (deterministic per event).
inline std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// The jets of one event: `n_jets` x 15 x 8 floats in [-1, 1), zero-padded tracks at the end.
struct Event {
  std::uint32_t run = 0;
  std::uint64_t number = 0;
  int n_jets = 0;
  std::vector<float> sequences;
};

inline void fill(Event& e, std::uint32_t run, std::uint64_t number) {
  std::uint64_t s = mix((static_cast<std::uint64_t>(run) << 40) ^ number);
  e.run = run;
  e.number = number;
  e.n_jets = 1 + static_cast<int>(s % 4);
  e.sequences.assign(static_cast<std::size_t>(e.n_jets) * kTracks * kFeatures, 0.0f);
  for (int j = 0; j < e.n_jets; ++j) {
    s = mix(s);
    const int tracks = 3 + static_cast<int>(s % (kTracks - 2));
    for (int t = 0; t < tracks; ++t) {
      for (int f = 0; f < kFeatures; ++f) {
        s = mix(s);
        e.sequences[(static_cast<std::size_t>(j) * kTracks + t) * kFeatures + f] =
            static_cast<float>(static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
      }
    }
  }
}

/// Order-independent checksum of results: a sum of per-event hashes of the output bits.
inline std::uint64_t hash_result(std::uint64_t event, const float* p, std::size_t n) {
  std::uint64_t h = mix(event);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    h = mix(h ^ bits);
  }
  return h;
}

/// `--key value` command-line options with defaults.
struct Options {
  std::map<std::string, std::string> values;
  Options(int argc, char** argv, std::map<std::string, std::string> defaults) : values(std::move(defaults)) {
    for (int i = 1; i + 1 < argc; i += 2) {
      std::string k = argv[i];
      if (k.rfind("--", 0) != 0 || !values.count(k.substr(2))) {
        std::fprintf(stderr, "unknown option %s\n", argv[i]);
        std::exit(2);
      }
      values[k.substr(2)] = argv[i + 1];
    }
  }
  const std::string& str(const std::string& k) const { return values.at(k); }
  long num(const std::string& k) const { return std::stol(values.at(k)); }
};

/// Host configuration JSON: the seq-classifier model as a file, plugins from `plugins` (empty:
/// the installed tree's own plugin directory).
inline std::string host_config(const std::string& model, const std::string& plugins) {
  std::string cfg = R"({"models": {"SeqClassifierRcd": ")" + model + R"("}, "log_level": "warn")";
  if (!plugins.empty()) cfg += R"(, "plugin_dirs": [")" + plugins + R"("])";
  return cfg + "}";
}

}  // namespace synthetic

#endif
