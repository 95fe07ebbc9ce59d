// Exercises the C++ API (hepinfer.hpp): results against Python onnxruntime, typed accessors,
// provenance, moves and lifetimes, the log callback, C and C++ mixed in one process, and every
// error path as a hepinfer::Error with the right status and message.
//
// Usage: test_cxx_api PLUGIN_DIR MODEL GOLDEN_DIR
//   PLUGIN_DIR  holds the seq-classifier and faulty plugins; MODEL the seq-classifier ONNX model;
//   GOLDEN_DIR  golden_x.f32 / golden_p.f32 (256 sequences and Python's probabilities).
#include "check.hpp"

#include <hepinfer/hepinfer.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>

using hepinfer::Input;
using hepinfer::Status;

static_assert(!std::is_copy_constructible_v<hepinfer::Host> && std::is_nothrow_move_constructible_v<hepinfer::Host>);
static_assert(!std::is_copy_constructible_v<hepinfer::Instance> &&
              std::is_nothrow_move_constructible_v<hepinfer::Instance>);
static_assert(!std::is_copy_constructible_v<hepinfer::Outputs> &&
              std::is_nothrow_move_constructible_v<hepinfer::Outputs>);

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PLUGIN_DIR MODEL GOLDEN_DIR\n", argv[0]);
    return 2;
  }
  const std::string plugin_dir = argv[1], model = argv[2], golden = argv[3];
  const auto x = check::read<float>(golden + "/golden_x.f32");
  const auto p_py = check::read<float>(golden + "/golden_p.f32");
  CHECK(x.size() == 256 * 120 && p_py.size() == 256 * 3, "golden sizes");

  // ---- versions and names ----
  CHECK(hepinfer::version() == hepinfer_version(), std::string(hepinfer::version()));
  CHECK(std::strcmp(hepinfer::status_name(Status::InvalidInput), "HEPINFER_INVALID_INPUT") == 0, "status name");
  hepinfer::check_abi_version();
  {
    const hepinfer::Error e(Status::Model, "m");
    CHECK(e.status() == Status::Model && std::string(e.what()) == "m", "Error carries status and message");
  }

  // ---- host errors ----
  CHECK_THROWS(hepinfer::Host(R"({"plugin_dirs": [)"), Status::InvalidConfig, "host config");
  CHECK_THROWS(hepinfer::Host(R"({"intra_op_threads": 0})"), Status::InvalidConfig, "intra_op_threads");
  CHECK_THROWS(hepinfer::Host(R"({"colour": 1})"), Status::InvalidConfig, "colour");
  CHECK_THROWS(hepinfer::Host(R"({"plugin_dirs": ["/no/such/plugin/dir"]})"), Status::PluginLoad,
               "/no/such/plugin/dir");
  CHECK_THROWS(hepinfer::Host(std::string("{\"plugin_dirs\": []}\0", 20)), Status::InvalidArgument, "NUL");
  CHECK_THROWS(hepinfer::Host(R"({"onnxruntime": "/no/such/libonnxruntime.so.1.31.1"})"), Status::Runtime,
               "/no/such/libonnxruntime.so");

  // ---- a good host, logging into a C++ callback ----
  std::mutex log_mutex;
  std::vector<std::string> log;
  auto logger = [&](hepinfer::LogLevel, std::string_view m) {
    std::lock_guard<std::mutex> lock(log_mutex);
    log.emplace_back(m);
  };
  hepinfer::Host host(check::host_config(plugin_dir, model, "info"), logger);
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    CHECK(!log.empty(), "the host logged through the C++ callback");
  }
  const std::string plugins = host.plugins_json();
  CHECK(plugins.find("\"seq-classifier\"") != std::string::npos && plugins.find("\"faulty\"") != std::string::npos,
        plugins);

  // ---- instance errors ----
  CHECK_THROWS(host.instance("no-such-plugin"), Status::UnknownPlugin, "no-such-plugin");
  CHECK_THROWS(host.instance("seq-classifier", R"({"argmax": 3)"), Status::InvalidConfig, "instance config");
  CHECK_THROWS(host.instance("seq-classifier", R"({"colour": 1})"), Status::InvalidConfig, "colour");
  CHECK_THROWS(host.instance("faulty", R"({"panic":true})"), Status::Panic, "panicked in create");
  CHECK_THROWS(host.instance(std::string("seq\0classifier", 14)), Status::InvalidArgument, "NUL");
  hepinfer::Instance inst = host.instance("seq-classifier", R"({"argmax": true})");

  // ---- a correct call, compared with Python onnxruntime ----
  const hepinfer::EventKey key{1, 1, 1};
  {
    hepinfer::Outputs out = inst.process(key, {Input("sequences", x.data(), {256, 15, 8})});
    CHECK(out.size() == 2, "two outputs");
    const hepinfer::Tensor p = out.find("probabilities");
    CHECK(p.name() == "probabilities" && p.dtype() == hepinfer::DType::F32 && p.shape().size() == 2 &&
              p.shape()[0] == 256 && p.shape()[1] == 3 && p.size() == 768 && p.offsets().empty(),
          "probabilities shape");
    float maxdiff = 0;
    const hepinfer::Span<const float> pv = p.values<float>();
    for (std::size_t i = 0; i < pv.size(); ++i) maxdiff = std::max(maxdiff, std::fabs(pv[i] - p_py[i]));
    CHECK(pv.size() == 768 && maxdiff <= 1e-5f, "C++ API vs Python onnxruntime: max diff " + std::to_string(maxdiff));
    const hepinfer::Tensor cls = out.at(1);
    CHECK(cls.name() == "class" && cls.dtype() == hepinfer::DType::I64 && cls.values<std::int64_t>().size() == 256,
          "class output");
    bool argmax_ok = true;
    for (std::size_t i = 0; i < 256; ++i) {
      const float* row = pv.data() + 3 * i;
      const std::int64_t best = std::max_element(row, row + 3) - row;
      argmax_ok = argmax_ok && cls.values<std::int64_t>()[i] == best;
    }
    CHECK(argmax_ok, "class is the argmax of the probabilities");
    CHECK_THROWS(p.values<double>(), Status::InvalidArgument, "is f32, not f64");
    CHECK_THROWS(out.at(2), Status::NotFound, "index 2");
    CHECK_THROWS(out.find("nope"), Status::NotFound, "probabilities");
    CHECK_THROWS(out.find(std::string("pro\0b", 5)), Status::InvalidArgument, "NUL");
    const auto prov = out.provenance();
    CHECK(prov.size() == 1 && prov[0].model == "classifier" && prov[0].payload_hash.size() == 64, "provenance");

    // Moves transfer ownership; a moved-from Outputs is empty and safe to destroy.
    hepinfer::Outputs moved = std::move(out);
    CHECK(moved.size() == 2 && out.size() == 0 && out.native_handle() == nullptr, "moved outputs");
    hepinfer::Outputs other = inst.process(key, {Input("sequences", x.data(), {1, 15, 8})});
    other = std::move(moved);  // frees the other call's outputs
    CHECK(other.size() == 2 && other.find("probabilities").shape()[0] == 256, "move-assigned outputs");
  }

  // ---- inputs from containers, std::vector<Input>, untyped and jagged views ----
  {
    const std::int64_t shape[3] = {2, 15, 8};
    std::vector<Input> inputs{Input("sequences", hepinfer::DType::F32, x.data(), shape, 3)};
    hepinfer::Outputs out = inst.process(key, inputs);
    const auto p = out.find("probabilities").values<float>();
    float maxdiff = 0;
    for (std::size_t i = 0; i < p.size(); ++i) maxdiff = std::max(maxdiff, std::fabs(p[i] - p_py[i]));
    CHECK(p.size() == 6 && maxdiff <= 1e-5f, "vector of untyped inputs");
    CHECK_THROWS(Input("x", hepinfer::DType::F32, x.data(), shape, 17), Status::InvalidInput, "rank 17");
    // From a container: the element count is checked against the shape.
    const std::vector<float> one_seq(x.begin(), x.begin() + 120);
    hepinfer::Outputs o2 = inst.process(key, {Input("sequences", one_seq, {1, 15, 8})});
    CHECK(o2.find("probabilities").values<float>().size() == 3, "input from a std::vector");
    CHECK_THROWS(Input("sequences", one_seq, {2, 15, 8}), Status::InvalidInput, "has 240 elements but the data holds 120");
    const hepinfer::Span<const float> view(x.data(), 120);
    CHECK(inst.process(key, {Input("sequences", view, {1, 15, 8})}).size() == 2, "input from a Span");
  }

  // ---- bad inputs: each a clear exception, and the next call works ----
  const Input good("sequences", x.data(), {1, 15, 8});
  auto bad = [&](const char* what, std::initializer_list<Input> inputs, Status want, const char* needle) {
    CHECK_THROWS(inst.process(key, inputs), want, needle);
    bool next_ok = true;
    try {
      inst.process(key, {good});
    } catch (const hepinfer::Error& e) {
      next_ok = false;
    }
    CHECK(next_ok, std::string(what) + ": the next call works");
  };
  bad("no inputs", {}, Status::InvalidInput, "missing input 'sequences'");
  bad("unknown name", {Input("seqs", x.data(), {1, 15, 8})}, Status::InvalidInput, "unknown input 'seqs'");
  const std::vector<std::int32_t> ints(120, 1);
  bad("wrong dtype", {Input("sequences", ints.data(), {1, 15, 8})}, Status::InvalidInput,
      "expected dtype f32, got i32");
  bad("wrong rank", {Input("sequences", x.data(), {15, 8})}, Status::InvalidInput, "expected rank 3");
  bad("wrong shape", {Input("sequences", x.data(), {1, 14, 8})}, Status::InvalidInput, "dimension 1 must be 15");
  bad("negative dimension", {Input("sequences", x.data(), {-1, 15, 8})}, Status::InvalidInput, "negative");
  bad("oversized", {Input("sequences", x.data(), {std::numeric_limits<std::int64_t>::max() / 4, 15, 8})},
      Status::InvalidInput, "overflows");
  bad("null data", {Input("sequences", static_cast<const float*>(nullptr), {1, 15, 8})}, Status::InvalidInput,
      "data is NULL");
  bad("null name", {Input(nullptr, x.data(), {1, 15, 8})}, Status::InvalidInput, "inputs[0]: name is NULL");
  bad("misaligned", {Input("sequences", hepinfer::DType::F32, reinterpret_cast<const char*>(x.data()) + 1,
                           std::array<std::int64_t, 3>{1, 15, 8}.data(), 3)},
      Status::InvalidInput, "not aligned");
  std::vector<float> nan(x.begin(), x.begin() + 120);
  nan[7] = std::numeric_limits<float>::quiet_NaN();
  bad("NaN", {Input("sequences", nan.data(), {1, 15, 8})}, Status::InvalidInput, "element 7 is NaN");
  bad("duplicate", {good, good}, Status::InvalidInput, "given twice");
  const std::int64_t offs[2] = {0, 1};
  bad("offsets on dense", {Input::jagged("sequences", x.data(), {1, 15, 8}, offs, 2)}, Status::InvalidInput,
      "not a jagged collection");
  CHECK_THROWS(inst.process(key, nullptr, 1), Status::InvalidArgument, "inputs");

  const std::string stats = inst.stats_json();
  CHECK(stats.find("\"failures\":14") != std::string::npos && stats.find("\"p99_us\"") != std::string::npos, stats);

  // ---- the faulty plugin: panic, error and malformed output as exceptions; jagged views ----
  {
    hepinfer::Instance faulty = host.instance("faulty");
    const std::vector<float> v{1, 2, 3};
    const std::vector<std::int64_t> off{0, 1, 3};
    const Input jag = Input::jagged<float>("x", v, off);
    hepinfer::Outputs out = faulty.process({1, 1, 1}, {jag});
    const hepinfer::Tensor y = out.find("y");
    CHECK(y.offsets().size() == 3 && y.offsets()[2] == 3 && y.values<float>()[2] == 6.0f, "jagged output");
    CHECK_THROWS(faulty.process({1, 1, 13}, {jag}), Status::Panic, "deliberate panic");
    CHECK_THROWS(faulty.process({1, 1, 14}, {jag}), Status::InvalidInput, "deliberate error");
    CHECK_THROWS(faulty.process({1, 1, 15}, {jag}), Status::Internal, "produced output 'y'");
    CHECK_THROWS(faulty.process({1, 1, 16}, {jag}), Status::Model, "undeclared");
    const std::vector<std::int64_t> badoff{0, 1, 2}, decreasing{0, 2, 1};
    CHECK_THROWS(faulty.process({1, 1, 1}, {Input::jagged<float>("x", v, badoff)}), Status::InvalidInput,
                 "last offset is 2");
    CHECK_THROWS(faulty.process({1, 1, 1}, {Input::jagged<float>("x", v, decreasing)}), Status::InvalidInput,
                 "must not decrease");
    CHECK_THROWS(faulty.process({1, 1, 1}, {Input("x", v.data(), {3})}), Status::InvalidInput, "offsets");
    CHECK(faulty.process({1, 1, 1}, {jag}).size() == 1, "faulty plugin works after its failures");
  }

  // ---- C and C++ in one process: the same host, handles passed both ways ----
  {
    hepinfer_instance* c_inst = nullptr;
    hepinfer_error* err = nullptr;
    const hepinfer_status st = hepinfer_instance_create(host.native_handle(), "seq-classifier", nullptr, &c_inst, &err);
    CHECK(st == HEPINFER_OK, hepinfer_error_message(err));
    const std::int64_t shape[3] = {1, 15, 8};
    const hepinfer_tensor in = {"sequences", HEPINFER_F32, 3, shape, x.data(), nullptr, 0};
    hepinfer_outputs* c_out = nullptr;
    CHECK(hepinfer_process(c_inst, {1, 1, 1}, &in, 1, &c_out, nullptr) == HEPINFER_OK, "C call on the C++ host");
    hepinfer::Outputs wrapped(c_out);  // the C++ object now owns the C outputs
    hepinfer::Outputs cxx = inst.process(key, {good});
    CHECK(std::memcmp(wrapped.at(0).values<float>().data(), cxx.find("probabilities").values<float>().data(),
                      3 * sizeof(float)) == 0,
          "C and C++ give the same bits");
    CHECK(hepinfer_outputs_count(cxx.native_handle()) == 2, "C reads C++ outputs");
    hepinfer_instance_free(c_inst);
    hepinfer_error_free(err);
  }

  // ---- lifetimes: an instance outlives its host (and its log callback) ----
  {
    hepinfer::Host h2(check::host_config(plugin_dir, model, "trace"), logger);
    hepinfer::Instance survivor = h2.instance("seq-classifier");
    hepinfer::Host gone = std::move(h2);
    CHECK(h2.native_handle() == nullptr, "moved-from host is empty");
    CHECK_THROWS(h2.instance("seq-classifier"), Status::InvalidArgument, "host");
    { hepinfer::Host drop = std::move(gone); }
    CHECK(survivor.process(key, {good}).size() == 1, "instance works after its host is destroyed");
    hepinfer::Instance other = host.instance("seq-classifier");
    survivor = std::move(other);
    CHECK(survivor.process(key, {good}).size() == 1, "move-assigned instance");
  }

  return check::finish();
}
