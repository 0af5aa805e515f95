// Redis replies as the client reads them (hiredis's reader behind redis::reply_reader): the same
// bytes split anywhere give the same replies and the same protocol error, and nesting or size
// never crash it.
#include "fuzz_check.hpp"

#include "deepgate/redis/resp.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using deepgate::fuzz::splitter;
using deepgate::redis::reply;

namespace {

std::string describe(const reply& r) {
  std::string s = std::to_string(static_cast<int>(r.type)) + ":" + std::to_string(r.integer) + ":" + r.str;
  if (!r.elements.empty()) {
    s += "[";
    for (const auto& e : r.elements) s += describe(e) + ",";
    s += "]";
  }
  return s;
}

std::vector<std::string> run(std::string_view input, splitter* split) {
  std::vector<std::string> out;
  deepgate::redis::reply_reader reader;
  for (std::size_t pos = 0; pos < input.size();) {
    const std::size_t n = split ? split->next(input.size() - pos) : input.size() - pos;
    if (!reader.feed(input.substr(pos, n))) return out.push_back("feed error"), out;
    pos += n;
    for (;;) {
      bool protocol_error = false;
      auto r = reader.next(protocol_error);
      if (protocol_error) return out.push_back("protocol error"), out;
      if (!r) break;
      out.push_back(describe(*r));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65536) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto whole = run(input, nullptr);
  splitter split(data, size), small(data, size, 3);
  FUZZ_CHECK(run(input, &split) == whole);
  FUZZ_CHECK(run(input, &small) == whole);
  return 0;
}
