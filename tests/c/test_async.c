/* The asynchronous C API against the real header and library: two framework threads submit
 * per-jet btag-rnn calls with many in flight, overwrite their input buffers as soon as
 * hepinfer_submit returns, and every completion is compared bit for bit with hepinfer_process.
 * Also: refused submissions never call back, freeing an instance completes what is queued.
 * ONNX Runtime serves the model (native_kernels off): calls on the native LSTM kernel are run
 * at once, never merged, and this test is about merging.
 *
 * usage: test_async PLUGIN_DIR BTAG_MODEL_ONNX
 */
#include <hepinfer/hepinfer.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_JETS 2000
#define MAX_TRK 12

static int failures = 0;
#define CHECK(cond, ...)                                     \
  do {                                                       \
    if (!(cond)) {                                           \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
      fprintf(stderr, __VA_ARGS__);                          \
      fprintf(stderr, "\n");                                 \
      failures++;                                            \
    }                                                        \
  } while (0)

/* One jet with its tracks, generated from the jet index (deterministic). */
typedef struct {
  float jet[3];
  float tracks[MAX_TRK * 7];
  int64_t n_tracks;
} jet_t;

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static float unit(uint64_t *s) { /* in [0, 1) */
  *s = mix(*s);
  return (float)((*s >> 40) / (double)(1ull << 24));
}

static void make_jet(int i, jet_t *j) {
  uint64_t s = (uint64_t)i * 7919u + 1;
  j->jet[0] = 20.0f + 200.0f * unit(&s);
  j->jet[1] = -2.5f + 5.0f * unit(&s);
  j->jet[2] = -3.1f + 6.2f * unit(&s);
  j->n_tracks = (int64_t)(unit(&s) * (MAX_TRK + 1));
  for (int64_t t = 0; t < j->n_tracks; t++) {
    float *k = &j->tracks[t * 7];
    k[0] = 1.0f + 20.0f * unit(&s);
    k[1] = j->jet[1] + 0.4f * (unit(&s) - 0.5f);
    k[2] = j->jet[2] + 0.4f * (unit(&s) - 0.5f);
    k[3] = 0.5f * (unit(&s) - 0.5f);
    k[4] = 0.5f * (unit(&s) - 0.5f);
    k[5] = 0.01f + 0.05f * unit(&s);
    k[6] = 0.01f + 0.05f * unit(&s);
  }
}

/* Inputs of a one-jet call, pointing into `j`. */
static void views(jet_t *j, int64_t shapes[4], int64_t offsets[2], hepinfer_tensor in[2]) {
  shapes[0] = 1;
  shapes[1] = 3;
  shapes[2] = j->n_tracks;
  shapes[3] = 7;
  offsets[0] = 0;
  offsets[1] = j->n_tracks;
  hepinfer_tensor jets = {"jets", HEPINFER_F32, 2, &shapes[0], j->jet, NULL, 0};
  hepinfer_tensor tracks = {"tracks", HEPINFER_F32, 2, &shapes[2], j->tracks, offsets, 2};
  in[0] = jets;
  in[1] = tracks;
}

static float want[N_JETS][3];
static float got[N_JETS][3];
static atomic_int completed;
static atomic_int completed_ok;
static atomic_int called_back_for_refused;

typedef struct {
  int index;
} slot_t;
static slot_t slots[N_JETS + 16];

static void on_done(hepinfer_status status, hepinfer_outputs *out, hepinfer_error *err,
                    void *user_data) {
  slot_t *slot = user_data;
  if (slot->index < 0) {
    atomic_fetch_add(&called_back_for_refused, 1);
  } else if (status == HEPINFER_OK && out != NULL && err == NULL) {
    hepinfer_tensor p;
    if (hepinfer_outputs_find(out, "probabilities", &p, NULL) == HEPINFER_OK && p.rank == 2 &&
        p.shape[0] == 1 && p.shape[1] == 3) {
      memcpy(got[slot->index], p.data, sizeof(got[0]));
      atomic_fetch_add(&completed_ok, 1);
    }
  } else {
    fprintf(stderr, "jet %d failed: %s\n", slot->index, hepinfer_error_message(err));
  }
  hepinfer_outputs_free(out);
  hepinfer_error_free(err);
  atomic_fetch_add(&completed, 1);
}

typedef struct {
  hepinfer_instance *inst;
  int first;
} worker_t;

static void *submitter(void *arg) {
  worker_t *w = arg;
  jet_t j; /* reused for every jet: the host must not read it after hepinfer_submit returns */
  for (int i = w->first; i < N_JETS; i += 2) {
    make_jet(i, &j);
    int64_t shapes[4], offsets[2];
    hepinfer_tensor in[2];
    views(&j, shapes, offsets, in);
    hepinfer_event_key key = {1, 1, (uint64_t)i};
    hepinfer_error *err = NULL;
    slots[i].index = i;
    hepinfer_status s = hepinfer_submit(w->inst, key, in, 2, on_done, &slots[i], &err);
    CHECK(s == HEPINFER_OK, "submit %d: %s", i, hepinfer_error_message(err));
    hepinfer_error_free(err);
    memset(&j, 0xff, sizeof j); /* garbage (NaN) where the inputs were */
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PLUGIN_DIR BTAG_MODEL_ONNX\n", argv[0]);
    return 2;
  }
  char config[4096];
  snprintf(config, sizeof config,
           "{\"plugin_dirs\": [\"%s\"], \"models\": {\"BTagRnnRcd\": \"%s\"}, \"log_level\": "
           "\"warn\", \"native_kernels\": false, "
           "\"batching\": {\"max_items\": 32, \"max_delay_us\": 200}}",
           argv[1], argv[2]);
  hepinfer_host *host = NULL;
  hepinfer_error *err = NULL;
  if (hepinfer_host_create(config, NULL, NULL, &host, &err) != HEPINFER_OK) {
    fprintf(stderr, "host: %s\n", hepinfer_error_message(err));
    return 1;
  }
  hepinfer_instance *inst = NULL;
  if (hepinfer_instance_create(host, "btag-rnn", NULL, &inst, &err) != HEPINFER_OK) {
    fprintf(stderr, "instance: %s\n", hepinfer_error_message(err));
    return 1;
  }

  /* The synchronous reference, one jet per call. */
  for (int i = 0; i < N_JETS; i++) {
    jet_t j;
    make_jet(i, &j);
    int64_t shapes[4], offsets[2];
    hepinfer_tensor in[2];
    views(&j, shapes, offsets, in);
    hepinfer_event_key key = {1, 1, (uint64_t)i};
    hepinfer_outputs *out = NULL;
    if (hepinfer_process(inst, key, in, 2, &out, &err) != HEPINFER_OK) {
      fprintf(stderr, "process %d: %s\n", i, hepinfer_error_message(err));
      return 1;
    }
    hepinfer_tensor p;
    CHECK(hepinfer_outputs_find(out, "probabilities", &p, NULL) == HEPINFER_OK, "find");
    memcpy(want[i], p.data, sizeof(want[0]));
    hepinfer_outputs_free(out);
  }

  /* Refused submissions: status and error, never a callback. */
  {
    jet_t j;
    make_jet(3, &j);
    j.jet[0] = -1.0f; /* refused by the plugin's first stage */
    int64_t shapes[4], offsets[2];
    hepinfer_tensor in[2];
    views(&j, shapes, offsets, in);
    hepinfer_event_key key = {1, 1, 99};
    slots[N_JETS].index = -1;
    hepinfer_status s = hepinfer_submit(inst, key, in, 2, on_done, &slots[N_JETS], &err);
    CHECK(s == HEPINFER_INVALID_INPUT, "bad jet: %s", hepinfer_status_name(s));
    CHECK(err && strstr(hepinfer_error_message(err), "pT"), "message: %s",
          hepinfer_error_message(err));
    hepinfer_error_free(err);
    s = hepinfer_submit(inst, key, in, 2, NULL, NULL, &err);
    CHECK(s == HEPINFER_INVALID_ARGUMENT, "NULL callback: %s", hepinfer_status_name(s));
    hepinfer_error_free(err);
    s = hepinfer_submit(NULL, key, in, 2, on_done, &slots[N_JETS], NULL);
    CHECK(s == HEPINFER_INVALID_ARGUMENT, "NULL instance: %s", hepinfer_status_name(s));
  }

  /* Two framework threads, everything in flight. */
  pthread_t threads[2];
  worker_t workers[2] = {{inst, 0}, {inst, 1}};
  for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, submitter, &workers[t]);
  for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
  CHECK(hepinfer_instance_flush(inst, NULL) == HEPINFER_OK, "flush");
  char *json = NULL;
  CHECK(hepinfer_instance_batching_json(inst, &json, NULL) == HEPINFER_OK, "batching json");
  printf("batching: %s\n", json ? json : "(none)");
  CHECK(json && strstr(json, "\"batched\":true"), "not batched: %s", json);
  double per_call = 0;
  const char *ipc = json ? strstr(json, "\"items_per_call\":") : NULL;
  if (ipc) per_call = atof(ipc + strlen("\"items_per_call\":"));
  CHECK(per_call > 2.0, "items per model call %.2f", per_call);
  hepinfer_string_free(json);

  /* Freeing the instance completes whatever is still queued. */
  hepinfer_instance_free(inst);
  CHECK(atomic_load(&completed) == N_JETS, "completed %d of %d", atomic_load(&completed),
        N_JETS);
  CHECK(atomic_load(&completed_ok) == N_JETS, "succeeded %d of %d",
        atomic_load(&completed_ok), N_JETS);
  CHECK(atomic_load(&called_back_for_refused) == 0, "a refused submission called back");
  int differ = 0;
  for (int i = 0; i < N_JETS; i++) differ += memcmp(want[i], got[i], sizeof(want[0])) != 0;
  CHECK(differ == 0, "%d of %d jets differ from hepinfer_process", differ, N_JETS);
  hepinfer_host_free(host);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("async C API: %d jets, all bit-identical to hepinfer_process\n", N_JETS);
  return 0;
}
