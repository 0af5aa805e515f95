#pragma once
// The models backends list (GET /models), and the config they make. Sans-io: the refresh loop
// (app/model_discovery) reads the lists; this parses them and builds the config a snapshot is
// made from, so every rule is unit tested.
//
// - A configured model whose upstream_model its primary backend lists gets that listing's
//   metadata (created, owned_by, context length, output limit, modalities, effort levels: whatever
//   the backend says beyond id and object), shown by /v1/models.
// - With serve_discovered, every listed id that is not already a configured name or alias is
//   served under its own name by the first backend that lists it.
#include "deepgate/config/config.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::api {

struct listed_model {
  std::string id;
  std::string owned_by;
  std::int64_t created = 0;
  std::string metadata;  // a JSON object: the listing's fields but id and object ("{}" when none)

  bool operator==(const listed_model&) const = default;
};

// OpenAI's {"object":"list","data":[{"id":...},...]} (DeepSeek, vLLM, llama.cpp, TGI), or
// Ollama's /api/tags-like {"models":[{"name"|"model":...}]}. nullopt when it is neither.
std::optional<std::vector<listed_model>> parse_model_list(std::string_view body);

// What the backends (by name) last listed.
using model_listings = std::map<std::string, std::vector<listed_model>, std::less<>>;

// `base` (as loaded from the file) with the listings applied; `base` itself when nothing changes.
std::shared_ptr<const config::gateway_config> with_listings(std::shared_ptr<const config::gateway_config> base,
                                                           const model_listings& listings);

}  // namespace deepgate::api
