/*
 * A client built against the frozen ABI 2.0 header (tests/c/abi-2.0/hepinfer/hepinfer.h), run
 * against the current libhepinfer.so: the compatibility rule says a program built for 2.x works
 * with every library 2.y, y >= x. Run by host/tests/c_api.rs with
 *   HEPINFER_TEST_PLUGIN_DIR  a directory with the seq-classifier plugin
 *   HEPINFER_TEST_MODEL       the seq-classifier ONNX model
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include <hepinfer/hepinfer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if HEPINFER_ABI_VERSION_MAJOR != 2 || HEPINFER_ABI_VERSION_MINOR != 0
#error "this test must be compiled against the frozen ABI 2.0 header"
#endif

static int passed, failed;
#define CHECK(cond, ...)                                              \
  do {                                                                \
    if (cond) {                                                       \
      passed++;                                                       \
    } else {                                                          \
      failed++;                                                       \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fprintf(stderr, "\n");                                          \
    }                                                                 \
  } while (0)

int main(void) {
  const char *plugin_dir = getenv("HEPINFER_TEST_PLUGIN_DIR");
  const char *model = getenv("HEPINFER_TEST_MODEL");
  if (!plugin_dir || !model) {
    fprintf(stderr, "HEPINFER_TEST_PLUGIN_DIR and HEPINFER_TEST_MODEL must be set\n");
    return 2;
  }
  hepinfer_error *err = NULL;
  hepinfer_status st = hepinfer_abi_check(HEPINFER_ABI_VERSION_MAJOR, HEPINFER_ABI_VERSION_MINOR, &err);
  CHECK(st == HEPINFER_OK, "library %x refuses a 2.0 client: %s", hepinfer_abi_version(), hepinfer_error_message(err));
  if (st != HEPINFER_OK) return 1;
  printf("client ABI %d.%d, library ABI %u.%u (%s)\n", HEPINFER_ABI_VERSION_MAJOR, HEPINFER_ABI_VERSION_MINOR,
         hepinfer_abi_version() >> 16, hepinfer_abi_version() & 0xffff, hepinfer_version());

  char cfg[8192];
  snprintf(cfg, sizeof cfg, "{\"plugin_dirs\": [\"%s\"], \"models\": {\"SeqClassifierRcd\": \"%s\"}, \"log_level\": \"warn\"}",
           plugin_dir, model);
  hepinfer_host *host = NULL;
  st = hepinfer_host_create(cfg, NULL, NULL, &host, &err);
  CHECK(st == HEPINFER_OK, "host: %s", hepinfer_error_message(err));
  if (!host) return 1;
  hepinfer_instance *inst = NULL;
  st = hepinfer_instance_create(host, "seq-classifier", NULL, &inst, &err);
  CHECK(st == HEPINFER_OK, "instance: %s", hepinfer_error_message(err));
  if (!inst) return 1;

  float x[2 * 15 * 8];
  for (int i = 0; i < 2 * 15 * 8; i++) x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
  int64_t shape[3] = {2, 15, 8};
  hepinfer_tensor in = {"sequences", HEPINFER_F32, 3, shape, x, NULL, 0};
  hepinfer_event_key key = {1, 1, 1};
  hepinfer_outputs *out = NULL;
  st = hepinfer_process(inst, key, &in, 1, &out, &err);
  CHECK(st == HEPINFER_OK, "process: %s", hepinfer_error_message(err));
  if (out) {
    hepinfer_tensor p;
    st = hepinfer_outputs_get(out, 0, &p, &err);
    CHECK(st == HEPINFER_OK && p.dtype == HEPINFER_F32 && p.rank == 2 && p.shape[0] == 2 && p.shape[1] == 3,
          "outputs_get: %s", hepinfer_error_message(err));
    if (st == HEPINFER_OK) {
      const float *v = p.data;
      for (int j = 0; j < 2; j++) {
        float sum = v[3 * j] + v[3 * j + 1] + v[3 * j + 2];
        CHECK(sum > 0.999f && sum < 1.001f, "probabilities of row %d sum to %g", j, (double)sum);
      }
    }
    const char *m = NULL, *h = NULL;
    st = hepinfer_outputs_provenance(out, 0, &m, &h, &err);
    CHECK(st == HEPINFER_OK && strcmp(m, "classifier") == 0 && strlen(h) == 64, "provenance: %s",
          hepinfer_error_message(err));
    hepinfer_outputs_free(out);
  }
  int64_t bad[3] = {2, 14, 8};
  in.shape = bad;
  st = hepinfer_process(inst, key, &in, 1, &out, &err);
  CHECK(st == HEPINFER_INVALID_INPUT && strstr(hepinfer_error_message(err), "sequences") != NULL,
        "a bad input is refused by name: %s", hepinfer_error_message(err));
  hepinfer_error_free(err);
  hepinfer_instance_free(inst);
  hepinfer_host_free(host);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
