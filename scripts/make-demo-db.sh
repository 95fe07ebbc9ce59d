#!/usr/bin/env bash
# Creates the demo conditions database (SQLite) with the `hepinfer conddb` command, the way an
# experiment's conditions team would: every plugin's model uploaded into a tag, tags mapped in a
# global tag. seq-classifier has two IOVs (v1 from run 1, v2 from run 3), so the demo job, whose
# run number advances every 5,000 events, crosses an IOV boundary. HEPINFER_DEMO_V2 is a candidate
# with new seq-classifier and btag-rnn models (for `hepinfer-demo --compare`).
# Usage: scripts/make-demo-db.sh HEPINFER_BINARY DB_FILE
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
hepinfer="$1"
db_file="$2"
rm -f "$db_file"
mkdir -p "$(dirname "$db_file")"
db="sqlite://$(cd "$(dirname "$db_file")" && pwd)/$(basename "$db_file")"
c() { "$hepinfer" conddb --db "$db" "$@" >/dev/null; }
c init
m="$root/plugins/seq-classifier/model"
c upload "$m/model.onnx" --tag SeqClassifier_v1_offline --since 1 --create --sync offline \
  --description "seq-classifier LSTM, trained seed 20261123"
c upload "$m/model_v2.onnx" --tag SeqClassifier_v1_offline --since 3 \
  --description "seq-classifier LSTM retrained (seed 7) for runs from 3"
m="$root/plugins/btag-rnn/model"
c upload "$m/model.onnx" --tag BTagRnn_v1_offline --since 1 --create --sync offline \
  --description "btag-rnn LSTM over track impact parameters (toydet flavour, seed 1)"
m="$root/plugins/jet-cnn/model"
c upload "$m/model.onnx" --tag JetCnn_v1_offline --since 1 --create --sync offline \
  --description "jet-cnn W tagger over 25x25 jet images (toydet jetimage, seed 1)"
m="$root/plugins/track-gnn/model"
c upload "$m/track_gnn.onnx" --tag TrackGnn_v1_offline --since 1 --create --sync offline \
  --description "track-gnn interaction network edge classifier (toydet tracker, seed 1001)"
m="$root/plugins/calo-gan/model"
c upload "$m/calo_gan.onnx" --tag CaloGan_v1_offline --since 1 --create --sync offline \
  --description "calo-gan conditional WGAN shower generator (toydet calo, seed 2001)"
c gt create HEPINFER_DEMO_V1 --description "hepinfer demo: every plugin's model" --release 0.1
c gt map HEPINFER_DEMO_V1 SeqClassifierRcd "" SeqClassifier_v1_offline
c gt map HEPINFER_DEMO_V1 BTagRnnRcd "" BTagRnn_v1_offline
c gt map HEPINFER_DEMO_V1 JetCnnRcd "" JetCnn_v1_offline
c gt map HEPINFER_DEMO_V1 TrackGnnRcd "" TrackGnn_v1_offline
c gt map HEPINFER_DEMO_V1 CaloGanRcd "" CaloGan_v1_offline
c gt lock HEPINFER_DEMO_V1
# A candidate global tag, as a physicist proposing new models would make it: HEPINFER_DEMO_V1
# with two records changed: seq-classifier's retrained model (v2) valid from run 1, and a new
# b-tagging model (btag-rnn v2: another seed, LSTM(48), plugins/btag-rnn/model/MODEL.md) for all
# runs. Comparing it with HEPINFER_DEMO_V1 (`hepinfer-demo --compare`) shows seq-classifier
# changed in runs 1-2 only, btag-rnn changed in every run (its ROC curves of both models
# overlaid), and jet-cnn, track-gnn and calo-gan identical.
c upload "$root/plugins/seq-classifier/model/model_v2.onnx" --tag SeqClassifier_v2_offline --since 1 \
  --create --sync offline --description "seq-classifier LSTM retrained (seed 7), all runs"
c upload "$root/plugins/btag-rnn/model/model_v2.onnx" --tag BTagRnn_v2_offline --since 1 \
  --create --sync offline --description "btag-rnn v2 candidate: LSTM(48) retrained (torch seed 7, 4 epochs), all runs"
c gt create HEPINFER_DEMO_V2 --description "candidate: HEPINFER_DEMO_V1 with seq-classifier v2 and btag-rnn v2 for all runs" --release 0.1
for rec in SeqClassifierRcd:SeqClassifier_v2_offline BTagRnnRcd:BTagRnn_v2_offline JetCnnRcd:JetCnn_v1_offline \
  TrackGnnRcd:TrackGnn_v1_offline CaloGanRcd:CaloGan_v1_offline; do
  c gt map HEPINFER_DEMO_V2 "${rec%%:*}" "" "${rec#*:}"
done
c gt lock HEPINFER_DEMO_V2
# Second global tag: the same records served as TorchScript (issue #7), each model's `.pt`
# export in a tag of its own; seq-classifier ships ONNX only and keeps its ONNX tag. A job picks
# the backend by picking the global tag; plugins do not know which runtime serves them.
c gt create HEPINFER_DEMO_TORCH_V1 --description "hepinfer demo: every model as TorchScript (libtorch)" --release 0.1
c gt map HEPINFER_DEMO_TORCH_V1 SeqClassifierRcd "" SeqClassifier_v1_offline
torch_tag() { # record, model file, tag, description
  python3 -c 'import sys, zipfile; sys.exit(not any(n.endswith("/extra/hepinfer.json") for n in zipfile.ZipFile(sys.argv[1]).namelist()))' "$2" ||
    echo "make-demo-db: warning: $2 has no hepinfer.json signature; the host will refuse it (see host/src/runtime/torch.rs)" >&2
  # --no-validate: the demo's hepinfer is built without libtorch and cannot load the module to
  # check it; the signature was checked just above, and the torch tests load these files.
  c upload "$2" --type torchscript --no-validate --tag "$3" --since 1 --create --sync offline --description "$4"
  c gt map HEPINFER_DEMO_TORCH_V1 "$1" "" "$3"
}
torch_tag BTagRnnRcd "$root/plugins/btag-rnn/model/model.pt" BTagRnn_v1_torchscript \
  "btag-rnn LSTM, TorchScript export of the weights in BTagRnn_v1_offline"
torch_tag JetCnnRcd "$root/plugins/jet-cnn/model/model.pt" JetCnn_v1_torchscript \
  "jet-cnn W tagger, TorchScript export of the weights in JetCnn_v1_offline"
# track-gnn and calo-gan are served as ONNX in this tag too (their .pt files carry no
# hepinfer.json signature yet), like seq-classifier.
torch_tag TrackGnnRcd "$root/plugins/track-gnn/model/track_gnn.pt" TrackGnn_v1_torchscript \
  "track-gnn interaction network, TorchScript export of the weights in TrackGnn_v1_offline"
torch_tag CaloGanRcd "$root/plugins/calo-gan/model/calo_gan.pt" CaloGan_v1_torchscript \
  "calo-gan generator, TorchScript export of the weights in CaloGan_v1_offline"
c gt lock HEPINFER_DEMO_TORCH_V1
echo "make-demo-db: $db (global tags HEPINFER_DEMO_V1, HEPINFER_DEMO_V2, HEPINFER_DEMO_TORCH_V1)"
# Third global tag (issue #13), only when HEPINFER_DEMO_KSERVE_SERVERS names KServe v2 gRPC
# endpoints (comma-separated; scripts/demo-remote.sh starts a Triton and sets it): btag-rnn and
# jet-cnn served by those servers, each payload naming the SHA-256 the server must declare and
# its local ONNX payload as fallback; every other record as in HEPINFER_DEMO_V1. Moving a record
# from local to remote is a global tag choice: the job and the plugins do not change.
if [ -n "${HEPINFER_DEMO_KSERVE_SERVERS:-}" ]; then
  kdir="$(mktemp -d)"
  trap 'rm -rf "$kdir"' EXIT
  kserve_tag() { # record, server model name, onnx file, tag, description
    python3 - "$HEPINFER_DEMO_KSERVE_SERVERS" "$2" "$3" > "$kdir/$2.kserve" <<'PY'
import hashlib, json, sys
servers, model, onnx = sys.argv[1:4]
sha = hashlib.sha256(open(onnx, "rb").read()).hexdigest()
print(json.dumps({"servers": servers.split(","), "model": model, "version": "1",
                  "timeout_ms": 5000, "retries": 2, "sha256": sha, "fallback": sha}))
PY
    c upload "$kdir/$2.kserve" --tag "$4" --since 1 --create --sync offline --description "$5"
    c gt map HEPINFER_DEMO_REMOTE_V1 "$1" "" "$4"
  }
  c gt create HEPINFER_DEMO_REMOTE_V1 --description "hepinfer demo: b-tagging and W-tagging on a Triton server" --release 0.1
  c gt map HEPINFER_DEMO_REMOTE_V1 SeqClassifierRcd "" SeqClassifier_v1_offline
  c gt map HEPINFER_DEMO_REMOTE_V1 TrackGnnRcd "" TrackGnn_v1_offline
  c gt map HEPINFER_DEMO_REMOTE_V1 CaloGanRcd "" CaloGan_v1_offline
  kserve_tag BTagRnnRcd btag-rnn "$root/plugins/btag-rnn/model/model.onnx" BTagRnn_v1_triton \
    "btag-rnn served by Triton (KServe v2 gRPC); fallback: the payload of BTagRnn_v1_offline"
  kserve_tag JetCnnRcd jet-cnn "$root/plugins/jet-cnn/model/model.onnx" JetCnn_v1_triton \
    "jet-cnn served by Triton (KServe v2 gRPC); fallback: the payload of JetCnn_v1_offline"
  c gt lock HEPINFER_DEMO_REMOTE_V1
  echo "make-demo-db: global tag HEPINFER_DEMO_REMOTE_V1 serves BTagRnnRcd, JetCnnRcd from $HEPINFER_DEMO_KSERVE_SERVERS"
fi
