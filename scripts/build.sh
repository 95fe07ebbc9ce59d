#!/usr/bin/env bash
# Builds the workspace (host, CLI, plugins) and gathers the plugin libraries into
# target/<profile>/hepinfer-plugins/, the directory the `hepinfer` command searches by default.
# Usage: scripts/build.sh [release|debug]   (default: release)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile="${1:-release}"
cd "$root"
bash scripts/fetch-onnxruntime.sh
if [ "$profile" = release ]; then
  cargo build --release --workspace --quiet
else
  cargo build --workspace --quiet
fi
target="${CARGO_TARGET_DIR:-$root/target}/$profile"
plugins="$target/hepinfer-plugins"
rm -rf "$plugins"
mkdir -p "$plugins"
# Every crate under plugins/ that builds a cdylib is a plugin (the API crate is an rlib).
for manifest in plugins/*/Cargo.toml; do
  grep -q 'cdylib' "$manifest" || continue
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n1)
  lib="$target/lib${name//-/_}.so"
  [ -f "$lib" ] || { echo "build.sh: $lib was not built" >&2; exit 1; }
  ln -sf "$lib" "$plugins/"
done
echo "build.sh: plugins in $plugins: $(ls "$plugins" | tr '\n' ' ')"
