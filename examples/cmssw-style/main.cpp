// CMSSW-style use of hepinfer: a stream producer (edm::stream::EDProducer<GlobalCache<...>>
// pattern) whose one Host and one Instance live in a global cache shared by all streams, with
// per-stream state, beginRun/endRun transitions, and streams processing their events
// concurrently on oneTBB, one event at a time per stream.
//
//   cmssw_style --model MODEL.onnx [--plugins DIR] [--events N] [--threads T] [--runs R]
//
// N events are split over R runs. The job runs with T streams on T threads and again with one
// stream, and fails unless every run's result is bit-identical. It then runs a third time with
// an ExternalWork-style module (edm::stream::EDProducer<ExternalWork>: acquire() submits the call
// through hepinfer's asynchronous API and returns, freeing the thread; the completion callback
// hands the event back to the scheduler, which runs produce()), which must agree too.
#include <hepinfer/async.hpp>
#include <hepinfer/hepinfer.hpp>
#include <synthetic_events.hpp>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace edm {

/// The configuration of a module (a string-valued subset of edm::ParameterSet).
using ParameterSet = std::map<std::string, std::string>;

/// The run being processed (its number is part of every event key, so models may change by run).
struct Run {
  std::uint32_t number;
};

/// One event as a stream sees it.
struct Event {
  std::uint32_t run, lumi;
  std::uint64_t number;
};

/// The global cache: created once per job from the module's configuration, shared read-only by
/// all streams (hepinfer::Instance::process is safe to call concurrently).
struct TaggerCache {
  hepinfer::Host host;
  hepinfer::Instance tagger;
  explicit TaggerCache(const ParameterSet& pset)
      : host(pset.at("hostConfig")), tagger(host.instance(pset.at("plugin"), pset.at("pluginConfig"))) {}
};

/// What one stream found in one run.
struct RunSummary {
  std::uint64_t events = 0, jets = 0, failures = 0, checksum = 0;
  std::array<std::uint64_t, 3> classes{};
  void add(const RunSummary& o) {
    events += o.events;
    jets += o.jets;
    failures += o.failures;
    checksum += o.checksum;  // order-independent: a sum of per-event hashes
    for (std::size_t i = 0; i < 3; ++i) classes[i] += o.classes[i];
  }
  bool operator==(const RunSummary& o) const {
    return events == o.events && jets == o.jets && failures == o.failures && checksum == o.checksum &&
           classes == o.classes;
  }
};

/// The stream module: one per stream, each with its own state, all sharing the global cache.
class SeqTagProducer {
 public:
  static std::unique_ptr<TaggerCache> initializeGlobalCache(const ParameterSet& pset) {
    return std::make_unique<TaggerCache>(pset);
  }
  SeqTagProducer(const ParameterSet&, const TaggerCache* cache, int stream) : cache_(cache), stream_(stream) {}

  void beginRun(const Run& run) {
    run_ = run.number;
    summary_ = RunSummary{};
  }
  void produce(const Event& e) {
    if (e.run != run_) throw std::logic_error("event of run " + std::to_string(e.run) + " outside beginRun");
    // Per-stream scratch memory, reused event after event (no locking: one event at a time).
    synthetic::fill(scratch_, e.run, e.number);
    ++summary_.events;
    summary_.jets += static_cast<std::uint64_t>(scratch_.n_jets);
    try {
      const hepinfer::Outputs out = cache_->tagger.process(
          {e.run, e.lumi, e.number}, {hepinfer::Input("sequences", scratch_.sequences.data(),
                                                      {scratch_.n_jets, synthetic::kTracks, synthetic::kFeatures})});
      const auto p = out.find("probabilities").values<float>();
      for (std::int64_t c : out.find("class").values<std::int64_t>()) ++summary_.classes.at(static_cast<std::size_t>(c));
      summary_.checksum += synthetic::hash_result(e.number, p.data(), p.size());
    } catch (const hepinfer::Error& err) {
      // edm would turn this into a per-event exception category; the job carries on.
      ++summary_.failures;
      std::fprintf(stderr, "stream %d, event %llu: %s\n", stream_, static_cast<unsigned long long>(e.number),
                   err.what());
    }
  }
  RunSummary endRun() const { return summary_; }
  static void globalEndJob(const TaggerCache* cache) {
    std::printf("SeqTagProducer: %s\n", cache->tagger.stats_json().c_str());
  }

 private:
  const TaggerCache* cache_;
  int stream_;
  std::uint32_t run_ = 0;
  RunSummary summary_;
  synthetic::Event scratch_;
};

/// A minimal edm::EventProcessor: for each run, the global beginRun, then every stream's
/// beginRun, the run's events spread over the streams (each stream takes the next event when it
/// is free), then the streams' endRun summaries merged.
std::vector<RunSummary> process(const ParameterSet& pset, int n_streams, std::uint32_t runs, std::uint64_t events) {
  const std::unique_ptr<TaggerCache> cache = SeqTagProducer::initializeGlobalCache(pset);
  std::vector<SeqTagProducer> streams;
  for (int s = 0; s < n_streams; ++s) streams.emplace_back(pset, cache.get(), s);
  oneapi::tbb::task_arena arena(n_streams);
  std::vector<RunSummary> result;
  const std::uint64_t per_run = events / runs;
  for (std::uint32_t r = 1; r <= runs; ++r) {
    const Run run{100000 + r};
    for (auto& s : streams) s.beginRun(run);
    std::atomic<std::uint64_t> next{0};
    arena.execute([&] {
      oneapi::tbb::task_group group;
      for (auto& s : streams) {
        group.run([&] {
          for (std::uint64_t i; (i = next++) < per_run;) {
            const std::uint64_t number = r * 1000000ull + i;
            s.produce({run.number, static_cast<std::uint32_t>(1 + i / 100), number});
          }
        });
      }
      group.wait();
    });
    RunSummary merged;
    for (const auto& s : streams) merged.add(s.endRun());
    result.push_back(merged);
  }
  SeqTagProducer::globalEndJob(cache.get());
  return result;
}

/// edm::WaitingTaskWithArenaHolder's role: when the external work is done (on whatever thread
/// completed it), schedule the continuation in the framework's arena.
struct WaitingTaskHolder {
  oneapi::tbb::task_arena* arena;
  std::function<void(std::exception_ptr)> then;
  void doneWaiting(std::exception_ptr error) const {
    auto next = then;
    arena->enqueue([next, error] { next(error); });
  }
};

/// The same tagger as an ExternalWork module: acquire() prepares the inputs in per-stream memory
/// and submits; the inputs may be reused at once (hepinfer reads them before submit returns); the
/// outputs come back to produce() through the callback.
class SeqTagAcquirer {
 public:
  SeqTagAcquirer(const TaggerCache* cache, int stream) : cache_(cache), stream_(stream) {}
  void beginRun(const Run& run) {
    run_ = run.number;
    summary_ = RunSummary{};
  }
  void acquire(const Event& e, WaitingTaskHolder holder) {
    synthetic::fill(scratch_, e.run, e.number);
    jets_ = static_cast<std::uint64_t>(scratch_.n_jets);
    hepinfer::submit(cache_->tagger, {e.run, e.lumi, e.number},
                     {hepinfer::Input("sequences", scratch_.sequences.data(),
                                      {scratch_.n_jets, synthetic::kTracks, synthetic::kFeatures})},
                     [this, holder](hepinfer::Outputs out, std::exception_ptr error) {
                       result_ = std::move(out);  // one event in flight per stream
                       holder.doneWaiting(error);
                     });
  }
  void produce(const Event& e, std::exception_ptr error) {
    if (e.run != run_) throw std::logic_error("event outside beginRun");
    ++summary_.events;
    summary_.jets += jets_;
    try {
      if (error) std::rethrow_exception(error);
      const auto p = result_.find("probabilities").values<float>();
      for (std::int64_t c : result_.find("class").values<std::int64_t>()) ++summary_.classes.at(static_cast<std::size_t>(c));
      summary_.checksum += synthetic::hash_result(e.number, p.data(), p.size());
    } catch (const hepinfer::Error& err) {
      ++summary_.failures;
      std::fprintf(stderr, "stream %d, event %llu: %s\n", stream_, static_cast<unsigned long long>(e.number),
                   err.what());
    }
    result_ = hepinfer::Outputs(nullptr);
  }
  RunSummary endRun() const { return summary_; }

 private:
  const TaggerCache* cache_;
  int stream_;
  std::uint32_t run_ = 0;
  std::uint64_t jets_ = 0;
  RunSummary summary_;
  synthetic::Event scratch_;
  hepinfer::Outputs result_{nullptr};
};

/// The event loop for ExternalWork modules: each stream takes the next event of the run, calls
/// acquire() and gives its thread back; produce() and the stream's next event run as the
/// continuation. The run ends when every stream has run out of events.
std::vector<RunSummary> process_external(const ParameterSet& pset, int n_streams, std::uint32_t runs,
                                         std::uint64_t events) {
  const std::unique_ptr<TaggerCache> cache = SeqTagProducer::initializeGlobalCache(pset);
  std::vector<std::unique_ptr<SeqTagAcquirer>> streams;
  for (int s = 0; s < n_streams; ++s) streams.push_back(std::make_unique<SeqTagAcquirer>(cache.get(), s));
  oneapi::tbb::task_arena arena(n_streams);
  std::vector<RunSummary> result;
  const std::uint64_t per_run = events / runs;
  for (std::uint32_t r = 1; r <= runs; ++r) {
    const Run run{100000 + r};
    for (auto& s : streams) s->beginRun(run);
    std::atomic<std::uint64_t> next{0};
    std::mutex m;
    std::condition_variable cv;
    int active = n_streams;
    std::function<void(SeqTagAcquirer*)> next_event = [&](SeqTagAcquirer* s) {
      const std::uint64_t i = next++;
      if (i >= per_run) {
        std::lock_guard<std::mutex> lock(m);
        if (--active == 0) cv.notify_all();
        return;
      }
      const Event e{run.number, static_cast<std::uint32_t>(1 + i / 100), r * 1000000ull + i};
      try {
        s->acquire(e, WaitingTaskHolder{&arena, [&, s, e](std::exception_ptr error) {
                                          s->produce(e, error);
                                          next_event(s);
                                        }});
      } catch (const hepinfer::Error&) {
        // Refused at once (a bad event): produce() sees the exception, as in CMSSW.
        s->produce(e, std::current_exception());
        arena.enqueue([&, s] { next_event(s); });
      }
    };
    for (auto& s : streams) {
      SeqTagAcquirer* sp = s.get();
      arena.enqueue([&, sp] { next_event(sp); });
    }
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return active == 0; });
    }
    RunSummary merged;
    for (const auto& s : streams) merged.add(s->endRun());
    result.push_back(merged);
  }
  hepinfer::flush(cache->tagger);
  std::printf("SeqTagAcquirer: batching %s\n", hepinfer::batching_json(cache->tagger).c_str());
  return result;
}

}  // namespace edm

int main(int argc, char** argv) {
  const synthetic::Options opt(argc, argv,
                               {{"model", ""}, {"plugins", ""}, {"events", "2000"}, {"threads", "4"}, {"runs", "3"}});
  if (opt.str("model").empty()) {
    std::fprintf(stderr, "usage: %s --model MODEL.onnx [--plugins DIR] [--events N] [--threads T] [--runs R]\n",
                 argv[0]);
    return 2;
  }
  const int threads = static_cast<int>(std::max(1L, opt.num("threads")));
  oneapi::tbb::global_control limit(oneapi::tbb::global_control::max_allowed_parallelism,
                                    static_cast<std::size_t>(threads));
  const edm::ParameterSet pset{{"hostConfig", synthetic::host_config(opt.str("model"), opt.str("plugins"))},
                               {"plugin", "seq-classifier"},
                               {"pluginConfig", R"({"argmax": true})"}};
  const auto runs = static_cast<std::uint32_t>(std::max(1L, opt.num("runs")));
  const auto events = static_cast<std::uint64_t>(opt.num("events"));
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const auto mt = edm::process(pset, threads, runs, events);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bool ok = true;
    for (std::size_t r = 0; r < mt.size(); ++r) {
      std::printf("cmssw-style: run %zu: %llu events, %llu jets, classes %llu/%llu/%llu, %llu failures, "
                  "checksum %016llx\n",
                  100001 + r, static_cast<unsigned long long>(mt[r].events),
                  static_cast<unsigned long long>(mt[r].jets), static_cast<unsigned long long>(mt[r].classes[0]),
                  static_cast<unsigned long long>(mt[r].classes[1]),
                  static_cast<unsigned long long>(mt[r].classes[2]),
                  static_cast<unsigned long long>(mt[r].failures), static_cast<unsigned long long>(mt[r].checksum));
      ok = ok && mt[r].failures == 0 && mt[r].events == events / runs;
    }
    std::printf("cmssw-style: %d streams on %d threads, %.2f s\n", threads, threads, secs);
    const auto st = edm::process(pset, 1, runs, events);
    ok = ok && st == mt;
    std::printf("cmssw-style: single-stream rerun %s\n", st == mt ? "identical" : "DIFFERS");
    const auto ew = edm::process_external(pset, threads, runs, events);
    ok = ok && ew == mt;
    std::printf("cmssw-style: ExternalWork (asynchronous) run %s\n", ew == mt ? "identical" : "DIFFERS");
    return ok ? 0 : 1;
  } catch (const hepinfer::Error& e) {
    std::fprintf(stderr, "cmssw-style: %s: %s\n", hepinfer::status_name(e.status()), e.what());
    return 1;
  }
}
