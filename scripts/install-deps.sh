#!/usr/bin/env bash
# Installs the system packages the tests need, when missing (Debian; needs root or sudo).
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3 python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""
  [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
echo "install-deps: ok"
