# ctest's consumer_installed: a clean `cmake --install` into PREFIX, then the downstream project
# in CONSUMER_SOURCE configured against it with find_package, built, and its programs run without
# HEPINFER_PLUGIN_PATH or ORT_DYLIB_PATH (the installed tree must find everything itself).
foreach(v BUILD_DIR PREFIX CONSUMER_SOURCE CONSUMER_BUILD MODEL GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}= is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BUILD}")
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}")
foreach(f lib/libhepinfer.so lib/libhepinfer.so.0.1 lib/libhepinfer.so.0.1.0
          lib/hepinfer/onnxruntime/libonnxruntime.so.1.31.1 lib/hepinfer/plugins/libseq_classifier.so
          include/hepinfer/hepinfer.h include/hepinfer/hepinfer.hpp lib/cmake/hepinfer/hepinferConfig.cmake
          lib/cmake/hepinfer/hepinferConfigVersion.cmake lib/pkgconfig/hepinfer.pc lib/pkgconfig/hepinfer-cxx.pc)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "the installed tree lacks ${f}")
  endif()
endforeach()
# Only the host's own plugins are installed, not the test plugins.
if(EXISTS "${PREFIX}/lib/hepinfer/plugins/libhepinfer_test_faulty.so")
  message(FATAL_ERROR "a test plugin was installed")
endif()
# Lean binaries: stripped, each with its debug info in .debug/, linked by .gnu_debuglink, and
# found by gdb (it prints the source line of a C API function only with the debug info).
file(GLOB _installed_plugins "${PREFIX}/lib/hepinfer/plugins/*.so")
foreach(lib "${PREFIX}/lib/libhepinfer.so.0.1.0" ${_installed_plugins})
  get_filename_component(name "${lib}" NAME)
  get_filename_component(dir "${lib}" DIRECTORY)
  file(SIZE "${lib}" size)
  if(name MATCHES "^libhepinfer")
    set(limit 6291456)
  else()
    set(limit 1048576)
  endif()
  if(size GREATER limit)
    message(FATAL_ERROR "${name} is ${size} bytes, above ${limit}")
  endif()
  if(NOT EXISTS "${dir}/.debug/${name}.debug")
    message(FATAL_ERROR "no debug info file for ${name}")
  endif()
  execute_process(COMMAND readelf --string-dump=.gnu_debuglink "${lib}" OUTPUT_VARIABLE link)
  if(NOT link MATCHES "${name}.debug")
    message(FATAL_ERROR "${name} has no .gnu_debuglink to ${name}.debug: ${link}")
  endif()
  message(STATUS "${name}: ${size} bytes stripped")
endforeach()
find_program(GDB gdb)
if(GDB)
  execute_process(COMMAND ${GDB} -batch -nx -ex "info line hepinfer_process" "${PREFIX}/lib/libhepinfer.so.0.1.0"
                  OUTPUT_VARIABLE where ERROR_VARIABLE gdb_err)
  if(NOT where MATCHES "abi/mod.rs")
    message(FATAL_ERROR "gdb did not find the split debug info of libhepinfer.so: ${where} ${gdb_err}")
  endif()
  message(STATUS "gdb finds the split debug info: ${where}")
else()
  message(WARNING "gdb not found: the debug-link check by gdb is skipped (readelf checked the link)")
endif()
# One library for both APIs (the C++ API is compiled into libhepinfer.so).
if(EXISTS "${PREFIX}/lib/libhepinfer_cxx.so")
  message(FATAL_ERROR "a separate libhepinfer_cxx.so was installed")
endif()

run(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE}" -B "${CONSUMER_BUILD}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${PREFIX}" -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build "${CONSUMER_BUILD}")
file(REAL_PATH "${PREFIX}" real_prefix)
foreach(prog consumer_c consumer_cxx)
  run(${CMAKE_COMMAND} -E env --unset=HEPINFER_PLUGIN_PATH --unset=ORT_DYLIB_PATH --unset=LD_LIBRARY_PATH
      "${CONSUMER_BUILD}/${prog}" "${MODEL}" "${real_prefix}")
endforeach()
# pkg-config gives a working compile line too.
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${PREFIX}/lib/pkgconfig")
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs hepinfer-cxx OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config hepinfer-cxx failed")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(c++ -std=c++17 "${CONSUMER_SOURCE}/consumer_cxx.cpp" -o "${CONSUMER_BUILD}/consumer_cxx_pkgconfig" ${flags})
  run(${CMAKE_COMMAND} -E env --unset=HEPINFER_PLUGIN_PATH --unset=ORT_DYLIB_PATH
      "${CONSUMER_BUILD}/consumer_cxx_pkgconfig" "${MODEL}" "${real_prefix}")
endif()
message(STATUS "consumer_installed: ok")
