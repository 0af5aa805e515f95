// A backend's event stream as the relay reads it: the SSE parser, then per data event the usage
// reader (with and without removing the usage chunk) and the answer assembler the prompt cache
// uses. Invariants: the same bytes split anywhere give the same events; a rewritten chunk is
// still JSON when the original was; an assembled answer is a JSON object.
#include "fuzz_check.hpp"

#include "deepgate/cache/answer.hpp"
#include "deepgate/http/sse_parser.hpp"
#include "deepgate/limits/usage.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string_view>
#include <tuple>
#include <vector>

using deepgate::fuzz::splitter;
using deepgate::http::sse_event;
using deepgate::http::sse_parser;

namespace {

struct parsed {
  std::vector<sse_event> events;
  sse_parser::status status = sse_parser::status::ok;
  bool operator==(const parsed& o) const {
    if (status != o.status || events.size() != o.events.size()) return false;
    for (std::size_t i = 0; i < events.size(); ++i)
      if (std::tie(events[i].type, events[i].event, events[i].data, events[i].id) !=
          std::tie(o.events[i].type, o.events[i].event, o.events[i].data, o.events[i].id))
        return false;
    return true;
  }
};

parsed run(std::string_view input, splitter* split) {
  parsed out;
  sse_parser p(4096);
  for (std::size_t pos = 0; pos < input.size();) {
    const std::size_t n = split ? split->next(input.size() - pos) : input.size() - pos;
    out.status = p.feed(input.substr(pos, n), out.events);
    pos += n;
    if (out.status != sse_parser::status::ok) break;  // the relay stops at the first oversized event
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto whole = run(input, nullptr);
  splitter split(data, size), small(data, size, 2);
  FUZZ_CHECK(run(input, &split) == whole);
  FUZZ_CHECK(run(input, &small) == whole);

  deepgate::cache::stream_assembler assemble(1 << 16);
  for (const auto& e : whole.events) {
    if (e.type != sse_event::kind::data || e.is_done()) continue;
    const bool was_json = nlohmann::json::parse(e.data, nullptr, false).is_object();
    for (bool strip : {false, true}) {
      auto u = deepgate::limits::take_chunk_usage(e.data, strip);
      if (u.found) FUZZ_CHECK(u.found->cache_miss >= 0);
      if (u.rewritten && was_json) FUZZ_CHECK(nlohmann::json::parse(*u.rewritten, nullptr, false).is_object());
      if (!strip) FUZZ_CHECK(!u.drop && !u.rewritten);
    }
    assemble.add(e.data);
    std::string line;
    deepgate::http::append_sse_event(line, e);
    FUZZ_CHECK(line.ends_with("\n\n"));
  }
  if (auto answer = assemble.finish()) FUZZ_CHECK(nlohmann::json::parse(*answer, nullptr, false).is_object());
  return 0;
}
