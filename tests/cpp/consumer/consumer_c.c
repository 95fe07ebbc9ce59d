/* Downstream C program against the installed package (hepinfer::hepinfer). Usage:
 * consumer_c MODEL PREFIX. Creates a host with no plugin directory and no ONNX Runtime path, runs
 * seq-classifier on one event, and checks that libhepinfer, the plugin and ONNX Runtime were all
 * loaded from PREFIX. */
#include <hepinfer/hepinfer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exits non-zero unless /proc/self/maps maps PREFIX/suffix. */
static void expect_mapped(const char *prefix, const char *suffix) {
  char want[4096], line[8192];
  snprintf(want, sizeof want, "%s/%s", prefix, suffix);
  FILE *f = fopen("/proc/self/maps", "r");
  int found = 0;
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, want)) found = 1;
  if (f) fclose(f);
  if (!found) {
    fprintf(stderr, "consumer_c: %s is not loaded\n", want);
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  hepinfer_error *err = NULL;
  if (hepinfer_abi_check(HEPINFER_ABI_VERSION_MAJOR, HEPINFER_ABI_VERSION_MINOR, &err) != HEPINFER_OK) {
    fprintf(stderr, "consumer_c: %s\n", hepinfer_error_message(err));
    return 1;
  }
  char cfg[4096];
  snprintf(cfg, sizeof cfg, "{\"models\": {\"SeqClassifierRcd\": \"%s\"}, \"log_level\": \"warn\"}", argv[1]);
  hepinfer_host *host;
  hepinfer_instance *inst;
  if (hepinfer_host_create(cfg, NULL, NULL, &host, &err) != HEPINFER_OK ||
      hepinfer_instance_create(host, "seq-classifier", NULL, &inst, &err) != HEPINFER_OK) {
    fprintf(stderr, "consumer_c: %s\n", hepinfer_error_message(err));
    return 1;
  }
  float x[120];
  for (int i = 0; i < 120; i++) x[i] = (float)(i % 7) * 0.1f;
  int64_t shape[3] = {1, 15, 8};
  hepinfer_tensor in = {"sequences", HEPINFER_F32, 3, shape, x, NULL, 0};
  hepinfer_event_key key = {1, 1, 1};
  hepinfer_outputs *out;
  if (hepinfer_process(inst, key, &in, 1, &out, &err) != HEPINFER_OK) {
    fprintf(stderr, "consumer_c: %s\n", hepinfer_error_message(err));
    return 1;
  }
  hepinfer_tensor p;
  hepinfer_outputs_find(out, "probabilities", &p, NULL);
  const float *v = p.data;
  float sum = v[0] + v[1] + v[2];
  printf("consumer_c: p = %.4f %.4f %.4f\n", v[0], v[1], v[2]);
  hepinfer_outputs_free(out);
  expect_mapped(argv[2], "lib/libhepinfer.so.0.1.0");
  expect_mapped(argv[2], "lib/hepinfer/plugins/libseq_classifier.so");
  expect_mapped(argv[2], "lib/hepinfer/onnxruntime/libonnxruntime.so.1.31.1");
  hepinfer_instance_free(inst);
  hepinfer_host_free(host);
  return sum > 0.999f && sum < 1.001f ? 0 : 1;
}
