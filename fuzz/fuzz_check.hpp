#pragma once
// An invariant of a fuzz target: when it does not hold, the input is a finding. abort() so that
// libFuzzer saves the input and the replay test fails, in every build type (assert() would vanish
// under NDEBUG).
#include <cstdio>
#include <cstddef>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);      \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace deepgate::fuzz {
// Split points chosen by the input itself: a small generator seeded from its bytes, so the same
// input is split the same way every run.
// `cap` bounds the pieces (a small cap: many tiny reads, as a slow client sends).
struct splitter {
  unsigned long long state;
  std::size_t cap;
  splitter(const unsigned char* data, std::size_t size, std::size_t max_piece = ~std::size_t{0})
      : state(1469598103934665603ULL), cap(max_piece) {
    for (std::size_t i = 0; i < size; ++i) state = (state ^ data[i]) * 1099511628211ULL;
  }
  std::size_t next(std::size_t max) {  // 1..min(max, cap)
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::size_t bound = max < cap ? max : cap;
    return bound == 0 ? 0 : 1 + (state >> 33) % bound;
  }
};
}  // namespace deepgate::fuzz
