// Gaudi-style use of hepinfer: algorithms with initialize/execute/finalize and string
// properties, a service that owns the one Host of the job, and a minimal Hive-like scheduler that
// runs events on N concurrent event slots over a oneTBB arena.
//
//   gaudi_style --model MODEL.onnx [--plugins DIR] [--events N] [--threads T] [--slots S]
//
// The job runs twice, with T threads and S slots and then with 1 thread and 1 slot, and fails
// unless both give bit-identical results (what a Gaudi job promises for reproducibility).
#include <hepinfer/hepinfer.hpp>
#include <synthetic_events.hpp>

#include <oneapi/tbb/concurrent_queue.h>
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
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gaudi {

/// What an algorithm sees of its event: the event number and the slot holding its data.
struct EventContext {
  std::uint64_t event;
  std::size_t slot;
};

/// One slot of the whiteboard (the per-event transient store of Gaudi Hive).
struct Slot {
  synthetic::Event event;
  std::vector<float> probabilities;  // n_jets x 3
  std::vector<std::int64_t> classes;
  std::string error;  // a failed event is recorded, not fatal
};

/// Base of all algorithms: named string properties, set from the job options before initialize.
class Algorithm {
 public:
  explicit Algorithm(std::string name) : name_(std::move(name)) {}
  virtual ~Algorithm() = default;
  /// Sets a declared property; unknown names are a configuration error, as in Gaudi.
  void setProperty(const std::string& key, const std::string& value) {
    auto it = props_.find(key);
    if (it == props_.end()) throw std::invalid_argument(name_ + ": no property '" + key + "'");
    *it->second = value;
  }
  const std::string& name() const { return name_; }
  virtual void initialize() {}
  /// Called concurrently for different events (a re-entrant algorithm): const, no mutable state.
  virtual void execute(const EventContext& ctx, std::vector<Slot>& slots) const = 0;
  virtual void finalize() {}

 protected:
  void declareProperty(const std::string& key, std::string& storage) { props_[key] = &storage; }

 private:
  std::string name_;
  std::map<std::string, std::string*> props_;
};

/// The service that owns the job's one hepinfer Host (shared by every algorithm and thread).
class HepinferSvc {
 public:
  std::string HostConfig;  // property: the host's JSON configuration
  void initialize() {
    host_ = std::make_unique<hepinfer::Host>(HostConfig, [](hepinfer::LogLevel level, std::string_view msg) {
      // The framework's MessageSvc would take this; the host calls it from any thread.
      static std::mutex m;
      std::lock_guard<std::mutex> lock(m);
      std::fprintf(stderr, "HepinferSvc %u: %.*s\n", static_cast<unsigned>(level), static_cast<int>(msg.size()),
                   msg.data());
    });
  }
  const hepinfer::Host& host() const { return *host_; }
  void finalize() { host_.reset(); }

 private:
  std::unique_ptr<hepinfer::Host> host_;
};

/// Produces the synthetic detector data of the event into its slot.
class SequenceMaker : public Algorithm {
 public:
  explicit SequenceMaker(std::string name) : Algorithm(std::move(name)) { declareProperty("Run", run_); }
  void execute(const EventContext& ctx, std::vector<Slot>& slots) const override {
    synthetic::fill(slots[ctx.slot].event, static_cast<std::uint32_t>(std::stoul(run_)), ctx.event);
  }

 private:
  std::string run_ = "1";
};

/// Runs a hepinfer plugin on the event's jets; plugin and configuration are string properties.
class HepinferTagger : public Algorithm {
 public:
  HepinferTagger(std::string name, HepinferSvc& svc) : Algorithm(std::move(name)), svc_(svc) {
    declareProperty("Plugin", plugin_);
    declareProperty("PluginConfig", config_);
  }
  void initialize() override { instance_.emplace(svc_.host().instance(plugin_, config_)); }
  void execute(const EventContext& ctx, std::vector<Slot>& slots) const override {
    Slot& s = slots[ctx.slot];
    const synthetic::Event& e = s.event;
    try {
      const hepinfer::Outputs out = instance_->process(
          {e.run, 1, e.number},
          {hepinfer::Input("sequences", e.sequences.data(), {e.n_jets, synthetic::kTracks, synthetic::kFeatures})});
      const auto p = out.find("probabilities").values<float>();
      s.probabilities.assign(p.begin(), p.end());
      const auto c = out.find("class").values<std::int64_t>();
      s.classes.assign(c.begin(), c.end());
      s.error.clear();
    } catch (const hepinfer::Error& err) {
      // A bad event fails this event only: record it and let the job carry on.
      s.error = std::string(hepinfer::status_name(err.status())) + ": " + err.what();
    }
  }
  void finalize() override {
    std::printf("%s: %s\n", name().c_str(), instance_->stats_json().c_str());
    instance_.reset();
  }

 private:
  HepinferSvc& svc_;
  std::string plugin_ = "seq-classifier";
  std::string config_ = "{}";
  std::optional<hepinfer::Instance> instance_;
};

/// Summary of a job: events, failures, class counts and an order-independent checksum.
struct Summary {
  std::uint64_t events = 0, jets = 0, failures = 0, checksum = 0;
  std::array<std::uint64_t, 3> classes{};
  bool operator==(const Summary& o) const {
    return events == o.events && jets == o.jets && failures == o.failures && checksum == o.checksum &&
           classes == o.classes;
  }
};

/// A minimal Hive-like scheduler: `slots` events in flight, each event's algorithms run in
/// sequence as one task of a `threads`-wide oneTBB arena; a slot is reused when its event is done.
Summary run_job(const synthetic::Options& opt, int threads, int n_slots) {
  HepinferSvc svc;
  svc.HostConfig = synthetic::host_config(opt.str("model"), opt.str("plugins"));
  svc.initialize();
  std::vector<std::unique_ptr<Algorithm>> algs;
  algs.push_back(std::make_unique<SequenceMaker>("SequenceMaker"));
  auto tagger = std::make_unique<HepinferTagger>("JetTagger", svc);
  tagger->setProperty("Plugin", "seq-classifier");
  tagger->setProperty("PluginConfig", R"({"argmax": true})");
  algs.push_back(std::move(tagger));
  for (auto& a : algs) a->initialize();

  std::vector<Slot> slots(static_cast<std::size_t>(n_slots));
  oneapi::tbb::concurrent_bounded_queue<std::size_t> free_slots;
  for (std::size_t i = 0; i < slots.size(); ++i) free_slots.push(i);
  Summary summary;
  std::mutex summary_mutex;
  const auto events = static_cast<std::uint64_t>(opt.num("events"));

  // No slot reserved for the main thread: it only feeds events, the `threads` workers run them.
  oneapi::tbb::task_arena arena(threads, 0);
  oneapi::tbb::task_group group;
  for (std::uint64_t evt = 0; evt < events; ++evt) {
    std::size_t slot;
    free_slots.pop(slot);  // blocks while all slots are in flight
    arena.execute([&, evt, slot] {
      group.run([&, evt, slot] {
        const EventContext ctx{evt, slot};
        for (const auto& a : algs) a->execute(ctx, slots);
        const Slot& s = slots[slot];
        {
          std::lock_guard<std::mutex> lock(summary_mutex);
          ++summary.events;
          summary.jets += static_cast<std::uint64_t>(s.event.n_jets);
          if (!s.error.empty()) {
            ++summary.failures;
            std::fprintf(stderr, "event %llu failed: %s\n", static_cast<unsigned long long>(evt), s.error.c_str());
          } else {
            for (std::int64_t c : s.classes) ++summary.classes.at(static_cast<std::size_t>(c));
            summary.checksum += synthetic::hash_result(evt, s.probabilities.data(), s.probabilities.size());
          }
        }
        free_slots.push(slot);
      });
    });
  }
  arena.execute([&] { group.wait(); });
  for (auto& a : algs) a->finalize();
  svc.finalize();
  return summary;
}

}  // namespace gaudi

int main(int argc, char** argv) {
  const synthetic::Options opt(argc, argv,
                               {{"model", ""}, {"plugins", ""}, {"events", "2000"}, {"threads", "4"}, {"slots", "8"}});
  if (opt.str("model").empty()) {
    std::fprintf(stderr, "usage: %s --model MODEL.onnx [--plugins DIR] [--events N] [--threads T] [--slots S]\n",
                 argv[0]);
    return 2;
  }
  const int threads = static_cast<int>(opt.num("threads"));
  // The workers plus the main thread, which feeds the scheduler.
  oneapi::tbb::global_control limit(oneapi::tbb::global_control::max_allowed_parallelism,
                                    static_cast<std::size_t>(std::max(threads, 1) + 1));
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const gaudi::Summary mt = gaudi::run_job(opt, threads, static_cast<int>(opt.num("slots")));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("gaudi-style: %llu events (%llu jets) on %d threads, %ld slots in %.2f s: classes %llu/%llu/%llu, "
                "%llu failures, checksum %016llx\n",
                static_cast<unsigned long long>(mt.events), static_cast<unsigned long long>(mt.jets), threads,
                opt.num("slots"), secs, static_cast<unsigned long long>(mt.classes[0]),
                static_cast<unsigned long long>(mt.classes[1]), static_cast<unsigned long long>(mt.classes[2]),
                static_cast<unsigned long long>(mt.failures), static_cast<unsigned long long>(mt.checksum));
    const gaudi::Summary st = gaudi::run_job(opt, 1, 1);
    const bool same = mt == st && mt.failures == 0 && mt.events == static_cast<std::uint64_t>(opt.num("events"));
    std::printf("gaudi-style: sequential rerun %s\n", same ? "identical" : "DIFFERS");
    return same ? 0 : 1;
  } catch (const hepinfer::Error& e) {
    std::fprintf(stderr, "gaudi-style: %s: %s\n", hepinfer::status_name(e.status()), e.what());
    return 1;
  }
}
