# Ships a library as distributions do: its debug info moves to DIR/.debug/NAME.debug (compressed),
# the library is stripped and records that file in .gnu_debuglink, where gdb and perf look by
# themselves. Run at install time for libhepinfer.so and each plugin:
#   cmake -DOBJCOPY=objcopy -DFILE=/prefix/lib/libhepinfer.so.0.1.0 -P split-debug.cmake
foreach(v OBJCOPY FILE)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "split-debug.cmake: -D${v}= is required")
  endif()
endforeach()
get_filename_component(_dir "${FILE}" DIRECTORY)
get_filename_component(_name "${FILE}" NAME)
set(_debug "${_dir}/.debug/${_name}.debug")
file(MAKE_DIRECTORY "${_dir}/.debug")
foreach(_args
    "--only-keep-debug;--compress-debug-sections=zlib;${FILE};${_debug}"
    "--strip-debug;--strip-unneeded;--remove-section=.comment;${FILE}"
    "--add-gnu-debuglink=${_debug};${FILE}")
  execute_process(COMMAND "${OBJCOPY}" ${_args} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${OBJCOPY} ${_args} failed (${_rc})")
  endif()
endforeach()
file(SIZE "${FILE}" _size)
message(STATUS "stripped ${_name} (${_size} bytes), debug info in .debug/${_name}.debug")
