# Drives cargo for the CMake build: `scripts/build.sh release` (fetches ONNX Runtime, builds the
# workspace, gathers the plugins) runs on every build (cargo itself decides what is stale), and
# `hepinfer::hepinfer` is the libhepinfer.so it produced, as an imported target.
#
# Sets: HEPINFER_CARGO_TARGET_DIR, HEPINFER_CARGO_PROFILE_DIR, HEPINFER_LIBRARY (libhepinfer.so),
# HEPINFER_ONNXRUNTIME.

if(DEFINED ENV{CARGO_TARGET_DIR} AND NOT "$ENV{CARGO_TARGET_DIR}" STREQUAL "")
  set(_default_target "$ENV{CARGO_TARGET_DIR}")
else()
  set(_default_target "${CMAKE_CURRENT_SOURCE_DIR}/target")
endif()
set(HEPINFER_CARGO_TARGET_DIR "${_default_target}" CACHE PATH
    "cargo target directory (an existing release build there is reused)")
set(HEPINFER_CARGO_PROFILE_DIR "${HEPINFER_CARGO_TARGET_DIR}/release")
set(HEPINFER_LIBRARY "${HEPINFER_CARGO_PROFILE_DIR}/libhepinfer.so")
set(HEPINFER_ONNXRUNTIME "${CMAKE_CURRENT_SOURCE_DIR}/.deps/onnxruntime/lib/libonnxruntime.so.1.31.1")

# The CMake project version must be the crates' version (it names the SONAME and the package).
file(STRINGS "${CMAKE_CURRENT_SOURCE_DIR}/Cargo.toml" _cargo_version REGEX "^version = \"[0-9.]+\"")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" _cargo_version "${_cargo_version}")
if(NOT _cargo_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "CMake project version ${PROJECT_VERSION} differs from Cargo.toml's ${_cargo_version}")
endif()

find_program(HEPINFER_CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)
find_program(HEPINFER_BASH bash REQUIRED)
add_custom_target(hepinfer_cargo ALL
  # CXX: the C++ API inside libhepinfer.so is compiled with this project's C++ compiler.
  COMMAND ${CMAKE_COMMAND} -E env "CARGO_TARGET_DIR=${HEPINFER_CARGO_TARGET_DIR}" "CARGO=${HEPINFER_CARGO}"
          "CXX=${CMAKE_CXX_COMPILER}"
          "PATH=$ENV{PATH}:${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin"
          ${HEPINFER_BASH} "${CMAKE_CURRENT_SOURCE_DIR}/scripts/build.sh" release
  BYPRODUCTS "${HEPINFER_LIBRARY}"
  WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
  COMMENT "cargo build --release (scripts/build.sh)"
  USES_TERMINAL VERBATIM)

# Programs link libhepinfer.so through its SONAME, so the build tree needs that name too: a
# directory of links, which is also the build-tree RPATH of everything linking hepinfer::hepinfer.
set(_soname "libhepinfer.so.${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}")
set(HEPINFER_BUILD_LIBDIR "${CMAKE_CURRENT_BINARY_DIR}/hepinfer-lib")
file(MAKE_DIRECTORY "${HEPINFER_BUILD_LIBDIR}")
file(CREATE_LINK "${HEPINFER_LIBRARY}" "${HEPINFER_BUILD_LIBDIR}/${_soname}" SYMBOLIC)
file(CREATE_LINK "${HEPINFER_LIBRARY}" "${HEPINFER_BUILD_LIBDIR}/libhepinfer.so" SYMBOLIC)

add_library(hepinfer::hepinfer SHARED IMPORTED GLOBAL)
set_target_properties(hepinfer::hepinfer PROPERTIES
  IMPORTED_LOCATION "${HEPINFER_BUILD_LIBDIR}/${_soname}"
  IMPORTED_SONAME "${_soname}"
  INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_SOURCE_DIR}/include")
