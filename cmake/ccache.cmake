# Use ccache when present: rebuilding the Asio/Beast units costs minutes without it. Paths are
# hashed relative to the source tree (and the build directory's path not at all), so another
# checkout or build directory of the same code on this machine hits the same cache entries.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} CCACHE_NOHASHDIR=1 ${CCACHE_PROGRAM})
endif()
