/*
 * A C job whose model comes from a conditions database: the host resolves, for each event, the
 * payload the global tag maps to the plugin's record at that run, loads it once, and reports in
 * each call's provenance the SHA-256 of the exact model bytes that ran.
 *
 *   conddb_job PLUGIN_DIR CONDDB_URL GLOBAL_TAG RUN...
 *
 * e.g. conddb_job /opt/hepinfer/lib/hepinfer/plugins sqlite:///data/conditions.db MY_GT_V1 1 100
 * runs seq-classifier on one event of each run given and prints "run R: payload HASH, p = ...".
 * Built and run by host/tests/c_api.rs against a database it fills (the record
 * SeqClassifierRcd changes payload at run 100).
 */
#include <hepinfer/hepinfer.h>

#include <stdio.h>
#include <stdlib.h>

/* The framework's message service: here, stderr with a prefix. */
static void on_log(uint32_t level, const char *message, void *user_data) {
  (void)user_data;
  if (level >= HEPINFER_LOG_WARN) fprintf(stderr, "hepinfer: %s\n", message);
}

static int fail(const char *what, hepinfer_error *err) {
  fprintf(stderr, "%s: %s (%s)\n", what, hepinfer_error_message(err),
          hepinfer_status_name(hepinfer_error_status(err)));
  hepinfer_error_free(err);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s PLUGIN_DIR CONDDB_URL GLOBAL_TAG RUN...\n", argv[0]);
    return 2;
  }
  hepinfer_error *err = NULL;
  if (hepinfer_abi_check(HEPINFER_ABI_VERSION_MAJOR, HEPINFER_ABI_VERSION_MINOR, &err) != HEPINFER_OK)
    return fail("libhepinfer", err);

  /* conddb + global_tag replace "models"; db_retries/db_backoff_ms and payload_cache are optional. */
  char config[8192];
  snprintf(config, sizeof config,
           "{\"plugin_dirs\": [\"%s\"], \"conddb\": \"%s\", \"global_tag\": \"%s\", \"log_level\": \"warn\"}",
           argv[1], argv[2], argv[3]);
  hepinfer_host *host = NULL;
  if (hepinfer_host_create(config, on_log, NULL, &host, &err) != HEPINFER_OK) return fail("host", err);
  hepinfer_instance *tagger = NULL;
  if (hepinfer_instance_create(host, "seq-classifier", NULL, &tagger, &err) != HEPINFER_OK) {
    hepinfer_host_free(host);
    return fail("instance", err);
  }
  hepinfer_host_free(host); /* the instance keeps what it needs */

  float x[15 * 8];
  for (int i = 0; i < 15 * 8; i++) x[i] = (float)(i % 9) * 0.1f - 0.4f;
  int64_t shape[3] = {1, 15, 8};
  hepinfer_tensor in = {"sequences", HEPINFER_F32, 3, shape, x, NULL, 0};
  int status = 0;
  for (int a = 4; a < argc; a++) {
    hepinfer_event_key key = {(uint32_t)strtoul(argv[a], NULL, 10), 1, 1};
    hepinfer_outputs *out = NULL;
    if (hepinfer_process(tagger, key, &in, 1, &out, &err) != HEPINFER_OK) {
      status = fail("process", err); /* a bad event fails that call only */
      continue;
    }
    hepinfer_tensor p;
    const char *model = NULL, *sha256 = NULL;
    if (hepinfer_outputs_find(out, "probabilities", &p, &err) != HEPINFER_OK ||
        hepinfer_outputs_provenance(out, 0, &model, &sha256, &err) != HEPINFER_OK) {
      status = fail("outputs", err);
    } else {
      const float *v = p.data;
      printf("run %u: model %s payload %s, p = %.4f %.4f %.4f\n", key.run, model, sha256, (double)v[0],
             (double)v[1], (double)v[2]);
    }
    hepinfer_outputs_free(out);
  }
  hepinfer_instance_free(tagger);
  return status;
}
