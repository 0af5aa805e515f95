# Every dependency is a Debian 12 package (scripts/install-deps.sh); nothing is downloaded.
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(prometheus-cpp REQUIRED)

add_library(deepgate_deps_core INTERFACE)
target_link_libraries(deepgate_deps_core INTERFACE
  nlohmann_json::nlohmann_json spdlog::spdlog yaml-cpp OpenSSL::Crypto Threads::Threads)

# Asio and Beast are header-only by default; we compile them once in dg_net instead.
add_library(deepgate_deps_net INTERFACE)
target_link_libraries(deepgate_deps_net INTERFACE Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
target_compile_definitions(deepgate_deps_net INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW
  # Coroutine frames and handler memory are recycled per thread; a request nests about ten
  # frames, more than Asio's default cache of 2 blocks, and the rest went to malloc.
  BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16)
