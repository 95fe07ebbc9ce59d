#!/usr/bin/env bash
# The CMake side of hepinfer's tests: builds the package with CMake (which drives the cargo
# release build, reusing it when present), runs ctest (C++ API, threads, framework-style
# examples, an out-of-tree consumer of the installed package), then builds the C++ harness again
# with ThreadSanitizer and with AddressSanitizer+UBSan and runs it clean.
#
#   scripts/cmake-test.sh              everything
#   scripts/cmake-test.sh --no-sanitizers
#
# Build trees: build/cmake, build/cmake-tsan, build/cmake-asan (override with HEPINFER_CMAKE_BUILD).
# The cargo target directory is $CARGO_TARGET_DIR or target/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
sanitizers=1
[ "${1:-}" = "--no-sanitizers" ] && sanitizers=0
build="${HEPINFER_CMAKE_BUILD:-$root/build/cmake}"
jobs="${HEPINFER_JOBS:-$(nproc)}"

step() { printf '\n== %s ==\n' "$*"; }

step "system packages (cmake, g++, oneTBB, pkg-config, gdb)"
need=()
command -v c++ >/dev/null || need+=(g++)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -f /usr/include/oneapi/tbb.h ] || need+=(libtbb-dev)
command -v gdb >/dev/null || need+=(gdb)   # checks that the installed libraries' split debug info resolves
cmake_ok() {
  command -v cmake >/dev/null || return 1
  # 3.19 or later (file(REAL_PATH), add_dependencies on imported targets' users).
  local v; v=$(cmake --version | sed -n 's/^cmake version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  set -- $v
  [ "$1" -gt 3 ] || { [ "$1" -eq 3 ] && [ "$2" -ge 19 ]; }
}
cmake_ok || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""
  [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! cmake_ok; then
  # Debian's is too old: take CMake from PyPI.
  python3 -m pip install --quiet --user "cmake>=3.19"
  export PATH="$HOME/.local/bin:$PATH"
fi
cmake --version | head -n1

run_ctest() {  # build dir, extra cmake args...
  local dir="$1"; shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" --parallel "$jobs"
  ctest --test-dir "$dir" --output-on-failure --timeout 600
}

step "CMake build (drives cargo --release) and ctest"
t0=$SECONDS
run_ctest "$build"
echo "cmake-test: build and ctest in $((SECONDS - t0)) s"

if [ "$sanitizers" = 1 ]; then
  step "C++ harness under ThreadSanitizer"
  run_ctest "$build-tsan" -DHEPINFER_SANITIZE=thread -DHEPINFER_BUILD_EXAMPLES=OFF
  step "C++ harness under AddressSanitizer + UBSan"
  run_ctest "$build-asan" -DHEPINFER_SANITIZE=address -DHEPINFER_BUILD_EXAMPLES=OFF
fi
echo "cmake-test: ok in $SECONDS s"
