function(deepgate_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
    -Wnon-virtual-dtor -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")  # the fuzz build: -Wshadow=local is GCC's spelling
    target_compile_options(${target} PRIVATE -Wno-unknown-warning-option)
  endif()
endfunction()
