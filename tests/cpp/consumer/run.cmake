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
