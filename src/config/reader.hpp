#pragma once
// Internal to src/config: walks the YAML tree, expanding ${ENV} in scalars, checking types and
// ranges, and remembering the first error with its path ("limits.profiles.gold.tokens_per_minute").
#include "deepgate/config/config.hpp"
#include "deepgate/config/duration.hpp"
#include "deepgate/core/strings.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace deepgate::config {

// Walks the YAML tree, expanding ${ENV} in scalars and remembering the first error with its path.
class reader {
 public:
  explicit reader(const env_lookup& env) : env_(env) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  bool fail(const std::string& path, const std::string& what) {
    if (error_.empty()) error_ = (path.empty() ? std::string("(root)") : path) + ": " + what;
    return false;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  // Reads a scalar child if present; returns false only on error.
  bool scalar(const YAML::Node& parent, std::string_view key, const std::string& path, std::optional<std::string>& out) {
    if (!parent || !parent.IsMap()) return true;
    auto n = parent[std::string(key)];
    if (!n || n.IsNull()) return true;
    auto p = join(path, key);
    if (!n.IsScalar()) return fail(p, "must be a single value");
    auto r = expand_env(n.Scalar(), env_);
    if (!r.error.empty()) return fail(p, r.error);
    out = std::move(r.value);
    return true;
  }

  bool string(const YAML::Node& parent, std::string_view key, const std::string& path, std::string& out) {
    std::optional<std::string> v;
    if (!scalar(parent, key, path, v)) return false;
    if (v) out = *v;
    return true;
  }

  template <class Int>
  bool integer(const YAML::Node& parent, std::string_view key, const std::string& path, Int& out, Int lo, Int hi) {
    std::optional<std::string> v;
    if (!scalar(parent, key, path, v)) return false;
    if (!v) return true;
    unsigned long long x = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
    if (ec != std::errc{} || end != v->data() + v->size() || x < static_cast<unsigned long long>(lo) ||
        x > static_cast<unsigned long long>(hi))
      return fail(join(path, key), "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                                       ", got '" + *v + "'");
    out = static_cast<Int>(x);
    return true;
  }

  bool boolean(const YAML::Node& parent, std::string_view key, const std::string& path, bool& out) {
    std::optional<std::string> v;
    if (!scalar(parent, key, path, v)) return false;
    if (!v) return true;
    if (*v == "true" || *v == "yes" || *v == "on") out = true;
    else if (*v == "false" || *v == "no" || *v == "off") out = false;
    else return fail(join(path, key), "must be true or false, got '" + *v + "'");
    return true;
  }

  bool number(const YAML::Node& parent, std::string_view key, const std::string& path, double& out, double lo, double hi) {
    std::optional<std::string> v;
    if (!scalar(parent, key, path, v)) return false;
    if (!v) return true;
    double x = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
    if (ec != std::errc{} || end != v->data() + v->size() || !(x >= lo && x <= hi))
      return fail(join(path, key), "must be a number from " + fmt(lo) + " to " + fmt(hi) + ", got '" + *v + "'");
    out = x;
    return true;
  }

  static std::string fmt(double x) {
    std::ostringstream o;
    o << x;
    return o.str();
  }

  bool duration(const YAML::Node& parent, std::string_view key, const std::string& path, milliseconds& out) {
    std::optional<std::string> v;
    if (!scalar(parent, key, path, v)) return false;
    if (!v) return true;
    auto d = parse_duration(*v);
    if (!d) return fail(join(path, key), "must be a duration such as 500ms, 30s or 5m, got '" + *v + "'");
    out = *d;
    return true;
  }

  // `key` inline or `key_file` (a mounted secret); both at once is an error.
  bool secret(const YAML::Node& parent, std::string_view key, const std::string& path, std::string& out) {
    std::optional<std::string> inline_value, file;
    std::string file_key = std::string(key) + "_file";
    if (!scalar(parent, key, path, inline_value) || !scalar(parent, file_key, path, file)) return false;
    if (inline_value && !inline_value->empty() && file && !file->empty())
      return fail(join(path, key), "give either " + std::string(key) + " or " + file_key + ", not both");
    if (file && !file->empty()) {
      auto text = core::read_file(*file);
      if (!text) return fail(join(path, file_key), "cannot read " + *file);
      out = std::move(*text);
      while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
      return true;
    }
    if (inline_value) out = *inline_value;
    return true;
  }

 private:
  const env_lookup& env_;
  std::string error_;
};

// One mapping of the config, each of its keys named once, where it is read: when the section
// ends (on every path out of its reader), a key nobody read is refused with its path
// ("server.hots: unknown key"). A missing or null node is an empty section; anything but a
// mapping is refused at once. The reader keeps the first error.
class section {
 public:
  // (YAML::Node's operator= assigns into the node it refers to, so n_ is only ever copy-made.)
  section(reader& r, const YAML::Node& n, std::string path)
      : r_(r), n_(n && n.IsMap() ? n : YAML::Node()), path_(std::move(path)) {
    if (n && !n.IsNull() && !n.IsMap()) r_.fail(path_, "must be a mapping");
  }
  ~section() {
    if (!n_ || !n_.IsMap() || !r_.ok()) return;
    for (const auto& kv : n_)
      if (std::find(read_.begin(), read_.end(), kv.first.Scalar()) == read_.end()) {
        r_.fail(at(kv.first.Scalar()), "unknown key");
        return;
      }
  }
  section(const section&) = delete;
  section& operator=(const section&) = delete;

  const std::string& path() const { return path_; }
  std::string at(std::string_view key) const { return reader::join(path_, key); }
  bool present(std::string_view key) const { return n_ && n_.IsMap() && n_[std::string(key)] && !n_[std::string(key)].IsNull(); }
  // A nested mapping or list; null when absent (or when this section is not a mapping).
  YAML::Node child(std::string_view key) {
    known(key);
    return n_ && n_.IsMap() ? std::as_const(n_)[std::string(key)] : YAML::Node();
  }

  bool string(std::string_view key, std::string& out) { return known(key), r_.string(n_, key, path_, out); }
  template <class Int>
  bool integer(std::string_view key, Int& out, Int lo, Int hi) {
    return known(key), r_.integer<Int>(n_, key, path_, out, lo, hi);
  }
  bool boolean(std::string_view key, bool& out) { return known(key), r_.boolean(n_, key, path_, out); }
  bool number(std::string_view key, double& out, double lo, double hi) { return known(key), r_.number(n_, key, path_, out, lo, hi); }
  bool duration(std::string_view key, milliseconds& out) { return known(key), r_.duration(n_, key, path_, out); }
  // `key` or `key_file`.
  bool secret(std::string_view key, std::string& out) {
    known(key);
    known(std::string(key) + "_file");
    return r_.secret(n_, key, path_, out);
  }

 private:
  void known(std::string_view key) { read_.emplace_back(key); }
  reader& r_;
  YAML::Node n_;
  std::string path_;
  std::vector<std::string> read_;
};

inline bool readable(const std::string& file) { return std::ifstream(file).good(); }

}  // namespace deepgate::config

namespace deepgate::config {
// Sections read in their own files.
bool read_limits(reader& r, const YAML::Node& n, limits_config& out);
bool read_prices(reader& r, const YAML::Node& n, price_table& out);
bool read_cache(reader& r, const YAML::Node& n, cache_config& out);
}  // namespace deepgate::config
