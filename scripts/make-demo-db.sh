#!/usr/bin/env bash
# Creates the demo conditions database (SQLite) with the `hepinfer conddb` command, the way an
# experiment's conditions team would: every plugin's model uploaded into a tag, tags mapped in a
# global tag. seq-classifier has two IOVs (v1 from run 1, v2 from run 3), so the demo job, whose
# run number advances every 5,000 events, crosses an IOV boundary.
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
c gt create HEPINFER_DEMO_V1 --description "hepinfer demo: every plugin's model" --release 0.1
c gt map HEPINFER_DEMO_V1 SeqClassifierRcd "" SeqClassifier_v1_offline
c gt lock HEPINFER_DEMO_V1
echo "make-demo-db: $db (global tag HEPINFER_DEMO_V1)"
