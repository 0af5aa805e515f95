#pragma once
// SHA-256 as deepgate uses it everywhere: key digests, cache keys, owner digests, prompt digests.
// One implementation, on OpenSSL 3 with the algorithm fetched once and a context per thread.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace deepgate::core {

using digest = std::array<std::uint8_t, 32>;

digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);  // 64 lower-case hex digits
std::string to_hex(const digest& d);
std::optional<digest> from_hex(std::string_view hex);
bool constant_time_equal(const digest& a, const digest& b);  // in time independent of the contents

}  // namespace deepgate::core
