#!/usr/bin/env bash
# Installs the system packages the build and tests need, when missing (Debian; root or sudo):
# a C compiler (C API tests, cc-built crates), PostgreSQL (the conditions-database tests start
# their own throw-away server on loopback), a TrueType font and Chromium (the demo's plots and
# report test). Idempotent and quiet when everything is there.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v python3 >/dev/null || need+=(python3 python3-pip)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v runuser >/dev/null || need+=(util-linux)
# The demo's plots draw their text with this font (examples/demo/src/plots.rs); the report test
# renders the demo's HTML page in headless Chromium.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""
  [ "$(id -u)" = 0 ] || sudo_=sudo
  echo "install-deps: installing ${need[*]}"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The Debian package starts a cluster of its own; the tests do not use it.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do
      $sudo_ pg_ctlcluster "${c%/*}" "${c#*/}" stop 2>/dev/null || true
    done
  fi
fi
echo "install-deps: ok"
