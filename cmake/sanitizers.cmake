# -DDEEPGATE_SANITIZE=address  → ASan + UBSan
# -DDEEPGATE_SANITIZE=thread   → TSan
# -DDEEPGATE_SANITIZE=fuzzer   → libFuzzer targets (clang): ASan + UBSan, coverage for libFuzzer
set(DEEPGATE_SANITIZE "" CACHE STRING "Sanitizer build: address, thread or fuzzer")
if(DEEPGATE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(DEEPGATE_SANITIZE STREQUAL "thread")
  # -Wno-tsan: GCC notes that Asio's atomic_thread_fence is not modelled; the fences sit next to
  # atomics TSan does model, and the suite runs clean under TSan.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
elseif(DEEPGATE_SANITIZE STREQUAL "fuzzer")
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DEEPGATE_SANITIZE=fuzzer needs clang (CXX=clang++): libFuzzer is clang's")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(NOT DEEPGATE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "DEEPGATE_SANITIZE must be empty, 'address', 'thread' or 'fuzzer'")
endif()
