// The asynchronous C++ API (hepinfer/async.hpp) with cross-event batching: two std::threads
// submit per-jet btag-rnn calls, half as futures and half with callbacks, inputs destroyed right
// after submit; every result is bit-identical to process(); a refused call throws from submit().
//
// Usage: test_async PLUGIN_DIR BTAG_MODEL
#include "check.hpp"

#include <hepinfer/async.hpp>
#include <hepinfer/hepinfer.hpp>

#include <array>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

namespace {

constexpr int kJets = 1000;

/// One jet (pT, eta, phi) with `n` tracks of 7 fields, from the jet index.
struct Jet {
  std::array<float, 3> jet;
  std::vector<float> tracks;
  std::array<std::int64_t, 2> offsets;
  explicit Jet(int i) {
    const float u = static_cast<float>((i * 7919) % 1000) / 1000.0f;
    jet = {25.0f + 100.0f * u, -2.0f + 4.0f * u, -3.0f + 6.0f * u};
    const int n = i % 9;
    for (int t = 0; t < n; ++t) {
      const float v = static_cast<float>((i * 31 + t * 17) % 97) / 97.0f;
      tracks.insert(tracks.end(), {1.0f + 10.0f * v, jet[1] + 0.1f * (v - 0.5f), jet[2] - 0.1f * (v - 0.5f),
                                   0.2f * (v - 0.5f), 0.3f * (0.5f - v), 0.01f + 0.02f * v, 0.02f + 0.01f * v});
    }
    offsets = {0, n};
  }
  std::array<hepinfer::Input, 2> inputs() const {
    const auto n = static_cast<std::int64_t>(tracks.size() / 7);
    return {hepinfer::Input("jets", jet.data(), {1, 3}),
            hepinfer::Input::jagged("tracks", tracks.data(), {n, 7}, offsets.data(), offsets.size())};
  }
};

std::array<float, 3> probabilities(const hepinfer::Outputs& out) {
  const auto p = out.find("probabilities").values<float>();
  std::array<float, 3> a{};
  std::memcpy(a.data(), p.data(), sizeof a);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PLUGIN_DIR BTAG_MODEL\n", argv[0]);
    return 2;
  }
  const std::string config = std::string(R"({"plugin_dirs": [")") + argv[1] +
                             R"("], "models": {"BTagRnnRcd": ")" + argv[2] +
                             R"("}, "log_level": "warn", "batching": {"max_items": 16, "max_delay_us": 300}})";
  hepinfer::Host host(config);
  hepinfer::Instance tagger = host.instance("btag-rnn");

  std::vector<std::array<float, 3>> want(kJets);
  for (int i = 0; i < kJets; ++i) {
    const Jet j(i);
    const auto in = j.inputs();
    want[i] = probabilities(tagger.process({1, 1, static_cast<std::uint64_t>(i)}, in.data(), in.size()));
  }

  std::vector<std::array<float, 3>> got(kJets);
  std::mutex m;
  int callbacks = 0;
  std::vector<std::future<hepinfer::Outputs>> futures(kJets);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kJets; i += 2) {
        const hepinfer::EventKey key{1, 1, static_cast<std::uint64_t>(i)};
        const auto j = std::make_unique<Jet>(i);
        const auto in = j->inputs();
        if (i % 4 < 2) {
          futures[i] = hepinfer::submit(tagger, key, in.data(), in.size());
        } else {
          hepinfer::submit(tagger, key, in.data(), in.size(), [&, i](hepinfer::Outputs out, std::exception_ptr e) {
            std::lock_guard<std::mutex> lock(m);
            ++callbacks;
            if (!e) got[i] = probabilities(out);
          });
        }
        // `j` is destroyed here: the library must not read it any more.
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kJets; ++i) {
    if (i % 4 < 2) got[i] = probabilities(futures[i].get());
  }
  hepinfer::flush(tagger);
  {
    std::lock_guard<std::mutex> lock(m);
    CHECK(callbacks == kJets / 2, std::to_string(callbacks) + " callbacks");
  }
  int differ = 0;
  for (int i = 0; i < kJets; ++i) differ += want[i] != got[i];
  CHECK(differ == 0, std::to_string(differ) + " jets differ from process()");
  const std::string json = hepinfer::batching_json(tagger);
  CHECK(json.find("\"batched\":true") != std::string::npos, json);
  std::printf("batching: %s\n", json.c_str());

  // Refused at once: submit() throws, the completion never runs.
  Jet bad(3);
  bad.jet[0] = -5.0f;
  const auto in = bad.inputs();
  bool threw = false, called = false;
  try {
    hepinfer::submit(tagger, {1, 1, 3}, in.data(), in.size(), [&](hepinfer::Outputs, std::exception_ptr) { called = true; });
  } catch (const hepinfer::Error& e) {
    threw = e.status() == hepinfer::Status::InvalidInput;
  }
  CHECK(threw && !called, "a bad jet is refused by submit()");
  return check::finish();
}
