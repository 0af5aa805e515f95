#include "deepgate/auth/keys_file.hpp"
#include "deepgate/core/strings.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace deepgate::auth {

using json = nlohmann::json;

namespace {
json to_json(const client_key& k) {
  json j = {{"id", k.id},          {"owner", k.owner},     {"sha256", core::to_hex(k.sha256)},
            {"enabled", k.enabled}, {"created", k.created}, {"models", k.models},
            {"metadata", k.metadata}};
  j["expires"] = k.expires ? json(*k.expires) : json(nullptr);
  if (!k.limits.empty()) j["limits"] = k.limits;
  return j;
}
}  // namespace

std::string serialize_keys(const std::vector<client_key>& keys) {
  json list = json::array();
  for (auto& k : keys) list.push_back(to_json(k));
  return json{{"version", 1}, {"keys", list}}.dump(2) + "\n";
}

std::string record_json(const client_key& k, const std::string& value) {
  auto j = to_json(k);
  if (!value.empty()) j["key"] = value;
  return j.dump();
}

std::optional<client_key> parse_record(std::string_view json_text) {
  auto r = parse_keys("{\"keys\":[" + std::string(json_text) + "]}");
  if (!r.error.empty() || r.keys.size() != 1) return std::nullopt;
  return std::move(r.keys[0]);
}

keys_file_result parse_keys(std::string_view text) {
  keys_file_result r;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("keys") || !j["keys"].is_array()) {
    r.error = "not a deepgate keys file (expected {\"version\":1,\"keys\":[...]})";
    return r;
  }
  for (std::size_t i = 0; i < j["keys"].size(); ++i) {
    const auto& e = j["keys"][i];
    auto where = "keys[" + std::to_string(i) + "]";
    if (!e.is_object()) {
      r.error = where + ": not an object";
      return r;
    }
    client_key k;
    auto str = [&](const char* name) {
      auto it = e.find(name);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    k.id = str("id");
    k.owner = str("owner");
    k.limits = str("limits");
    auto d = core::from_hex(str("sha256"));
    if (k.id.empty() || k.owner.empty() || !d) {
      r.error = where + ": needs id, owner and a 64-hex-digit sha256";
      return r;
    }
    k.sha256 = *d;
    if (auto it = e.find("enabled"); it != e.end() && it->is_boolean()) k.enabled = it->get<bool>();
    if (auto it = e.find("created"); it != e.end() && it->is_number_integer()) k.created = it->get<std::int64_t>();
    if (auto it = e.find("expires"); it != e.end() && it->is_number_integer()) k.expires = it->get<std::int64_t>();
    if (auto it = e.find("models"); it != e.end() && it->is_array())
      for (auto& m : *it)
        if (m.is_string()) k.models.push_back(m.get<std::string>());
    if (auto it = e.find("metadata"); it != e.end() && it->is_object())
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) k.metadata[m.key()] = m->get<std::string>();
    r.keys.push_back(std::move(k));
  }
  return r;
}

keys_file_result read_keys_file(const std::string& path) {
  auto text = core::read_file(path);
  if (!text) {
    keys_file_result r;
    if (errno != ENOENT) r.error = path + ": " + std::strerror(errno);
    return r;
  }
  auto r = parse_keys(*text);
  if (!r.error.empty()) r.error = path + ": " + r.error;
  return r;
}

std::string write_keys_file(const std::string& path, const std::vector<client_key>& keys) {
  const auto text = serialize_keys(keys);
  const auto tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return tmp + ": " + std::strerror(errno);
  std::size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      auto err = std::string(std::strerror(errno));
      ::close(fd);
      ::unlink(tmp.c_str());
      return tmp + ": " + err;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return tmp + ": " + std::strerror(errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = std::string(std::strerror(errno));
    ::unlink(tmp.c_str());
    return path + ": " + err;
  }
  return {};
}

}  // namespace deepgate::auth
