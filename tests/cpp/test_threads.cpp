// Multi-threaded results of the C++ API are bit-identical to single-threaded ones: one host and
// one instance shared by all threads (std::thread, and oneTBB when built with it), with failing
// calls (a plugin panic, bad inputs) mixed in on the same instances.
//
// Usage: test_threads PLUGIN_DIR MODEL GOLDEN_DIR [EVENTS]
#include "check.hpp"

#include <hepinfer/hepinfer.hpp>

#include <cstring>
#include <thread>

#ifdef HEPINFER_TEST_TBB
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#endif

namespace {

constexpr int kThreads = 4;

struct Job {
  const hepinfer::Instance& seq;
  const hepinfer::Instance& faulty;
  const std::vector<float>& x;
  const std::vector<float>& reference;  // events x 3

  // Processes event `i`; returns the number of problems (mismatches, unexpected errors).
  int run(std::size_t i) const {
    int problems = 0;
    const hepinfer::EventKey key{1, 1, i};
    try {
      hepinfer::Outputs out = seq.process(key, {hepinfer::Input("sequences", x.data() + (i % 256) * 120, {1, 15, 8})});
      if (std::memcmp(out.find("probabilities").values<float>().data(), reference.data() + 3 * i,
                      3 * sizeof(float)) != 0) {
        ++problems;
      }
    } catch (const hepinfer::Error&) {
      ++problems;
    }
    // Every 50th event also makes the faulty plugin panic, and a bad input fails, on other threads'
    // shared instances: each must fail alone, with its own status.
    if (i % 50 == 0) {
      const float v[2] = {1, 2};
      const std::int64_t off[2] = {0, 2};
      try {
        faulty.process({1, 1, 13}, {hepinfer::Input::jagged("x", v, {2}, off, 2)});
        ++problems;
      } catch (const hepinfer::Error& e) {
        if (e.status() != hepinfer::Status::Panic) ++problems;
      }
      try {
        seq.process(key, {hepinfer::Input("sequences", x.data(), {1, 14, 8})});
        ++problems;
      } catch (const hepinfer::Error& e) {
        if (e.status() != hepinfer::Status::InvalidInput) ++problems;
      }
    }
    return problems;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PLUGIN_DIR MODEL GOLDEN_DIR [EVENTS]\n", argv[0]);
    return 2;
  }
  const std::size_t events = argc > 4 ? std::stoul(argv[4]) : 4000;
  const auto x = check::read<float>(std::string(argv[3]) + "/golden_x.f32");
  // "error" level: the faulty plugin's deliberate panics would otherwise fill the log.
  hepinfer::Host host(check::host_config(argv[1], argv[2], "error"));
  const hepinfer::Instance seq = host.instance("seq-classifier");
  const hepinfer::Instance faulty = host.instance("faulty");

  // The single-threaded reference.
  std::vector<float> reference(3 * events);
  for (std::size_t i = 0; i < events; ++i) {
    hepinfer::Outputs out = seq.process({1, 1, i}, {hepinfer::Input("sequences", x.data() + (i % 256) * 120, {1, 15, 8})});
    std::memcpy(reference.data() + 3 * i, out.find("probabilities").values<float>().data(), 3 * sizeof(float));
  }
  const Job job{seq, faulty, x, reference};

  // std::thread: every thread processes every event, each in its own order.
  {
    std::vector<int> problems(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t k = 0; k < events; ++k) problems[t] += job.run((k * 31 + t * 977) % events);
      });
    }
    for (auto& th : threads) th.join();
    int total = 0;
    for (int p : problems) total += p;
    CHECK(total == 0, "std::thread: " + std::to_string(total) + " problems in " +
                          std::to_string(kThreads * events) + " events");
  }

#ifdef HEPINFER_TEST_TBB
  // oneTBB: the events as tasks of an arena of kThreads workers, as a framework schedules them.
  {
    oneapi::tbb::global_control limit(oneapi::tbb::global_control::max_allowed_parallelism, kThreads);
    oneapi::tbb::task_arena arena(kThreads);
    std::atomic<int> problems{0};
    std::atomic<int> max_concurrency{0}, running{0};
    arena.execute([&] {
      oneapi::tbb::parallel_for(std::size_t(0), 2 * events, [&](std::size_t k) {
        const int now = ++running;
        int seen = max_concurrency.load();
        while (now > seen && !max_concurrency.compare_exchange_weak(seen, now)) {
        }
        problems += job.run(k % events);
        --running;
      });
    });
    CHECK(problems == 0, "oneTBB: " + std::to_string(problems.load()) + " problems");
    std::printf("oneTBB: up to %d concurrent calls\n", max_concurrency.load());
    CHECK(max_concurrency > 1, "oneTBB ran calls concurrently");
  }
#endif

  const std::string stats = seq.stats_json();
  std::printf("%s\n", stats.c_str());
  return check::finish();
}
