#include "deepgate/core/json_doc.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <unordered_set>

namespace deepgate::core {

// ---------------------------------------------------------------- reading

json_value::iterator json_value::find(std::string_view key) const {
  if (!is_object()) return end();
  const auto& n = node();
  // Most look-ups are for fields the client did not send: the object's key signature says so
  // without a walk.
  if (!(n.unsigned_integer & json_key_bit(key))) return end();
  auto at = i_ + 1;
  for (std::uint32_t k = 0; k < n.count; ++k) {
    const auto& key_node = doc_->node(at);
    if (key_node.text.size == key.size() && doc_->string_at(key_node) == key) return iterator(doc_, at, true);
    at = doc_->node(at + 1).next;  // past the value
  }
  return end();
}

bool json_value::contains(std::string_view key) const { return find(key) != end(); }

json_value json_value::operator[](std::string_view key) const {
  auto it = find(key);
  return it == end() ? json_value() : *it;
}

json_value json_value::operator[](std::size_t index) const {
  if (!is_array() || index >= node().count) return {};
  auto at = i_ + 1;
  for (; index > 0; --index) at = doc_->node(at).next;
  return json_value(doc_, at);
}

std::size_t json_value::size() const {
  switch (type()) {
    case json_type::null: return 0;
    case json_type::array:
    case json_type::object: return node().count;
    default: return 1;
  }
}

std::string_view json_value::value(std::string_view key, std::string_view fallback) const {
  auto v = (*this)[key];
  return v.is_string() ? v.str() : fallback;
}

// ---------------------------------------------------------------- parsing

// Recursive descent over the input; the depth bound keeps the recursion bounded.
class json_parser {
 public:
  json_parser(json_doc& doc, std::string_view text, std::size_t max_depth)
      : doc_(doc), s_(text.data()), n_(text.size()), max_depth_(max_depth) {}

  json_doc::status run() {
    // nlohmann skips a UTF-8 byte-order mark (and nothing else that starts like one).
    if (n_ >= 3 && static_cast<unsigned char>(s_[0]) == 0xEF && static_cast<unsigned char>(s_[1]) == 0xBB &&
        static_cast<unsigned char>(s_[2]) == 0xBF)
      i_ = 3;
    space();
    if (!value(0)) return json_doc::status::invalid;
    space();
    if (i_ != n_) return json_doc::status::invalid;
    return repeated_ ? json_doc::status::duplicate_key : json_doc::status::ok;
  }

 private:
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void space() {
    while (i_ < n_ && is_space(s_[i_])) ++i_;
  }
  static bool fail() { return false; }
  std::uint32_t add(json_type t) {
    doc_.nodes_.emplace_back();
    auto& n = doc_.nodes_.back();
    n.type = t;
    n.begin = static_cast<std::uint32_t>(i_);
    return static_cast<std::uint32_t>(doc_.nodes_.size() - 1);
  }
  void close(std::uint32_t at) {
    auto& n = doc_.nodes_[at];
    n.end = static_cast<std::uint32_t>(i_);
    n.next = static_cast<std::uint32_t>(doc_.nodes_.size());
  }

  bool value(std::size_t depth) {
    if (i_ >= n_) return fail();
    switch (s_[i_]) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return string();
      case 't': return literal("true", json_type::boolean, true);
      case 'f': return literal("false", json_type::boolean, false);
      case 'n': return literal("null", json_type::null, false);
      default: return number();
    }
  }

  bool literal(std::string_view word, json_type t, bool b) {
    if (std::string_view(s_ + i_, n_ - i_).substr(0, word.size()) != word) return fail();
    const auto at = add(t);
    doc_.nodes_[at].boolean = b;
    i_ += word.size();
    close(at);
    return true;
  }

  bool object(std::size_t depth) {
    if (depth > max_depth_) return fail();
    const auto at = add(json_type::object);
    ++i_;
    const auto keys_from = keys_.size();  // this object's keys, for the duplicate check
    std::optional<std::unordered_set<std::string_view>> many;  // past 16 keys, a set
    std::uint32_t count = 0;
    space();
    if (i_ < n_ && s_[i_] == '}') {
      ++i_;
    } else {
      for (;;) {
        if (i_ >= n_ || s_[i_] != '"') return fail();
        if (!string()) return false;
        const auto key_node = static_cast<std::uint32_t>(doc_.nodes_.size() - 1);
        const auto key = doc_.string_at(doc_.nodes_[key_node]);
        if (many) {
          if (!many->insert(key).second) duplicate(key);
        } else {
          bool repeated = false;
          for (auto k = keys_from; k < keys_.size() && !repeated; ++k)
            repeated = doc_.string_at(doc_.nodes_[keys_[k]]) == key;
          if (repeated) duplicate(key);
          else keys_.push_back(key_node);
          if (keys_.size() - keys_from > 16) {
            many.emplace();
            for (auto k = keys_from; k < keys_.size(); ++k) many->insert(doc_.string_at(doc_.nodes_[keys_[k]]));
          }
        }
        doc_.nodes_[at].unsigned_integer |= json_key_bit(key);
        space();
        if (i_ >= n_ || s_[i_] != ':') return fail();
        ++i_;
        space();
        if (!value(depth)) return false;
        ++count;
        const auto next = after_item('}');
        if (next == item_end::more) continue;
        if (next == item_end::closed) break;
        return fail();
      }
    }
    keys_.resize(keys_from);
    doc_.nodes_[at].count = count;
    close(at);
    return true;
  }

  // After an object's member or an array's element: a comma (another follows), the closing
  // bracket, or anything else (invalid).
  enum class item_end : std::uint8_t { more, closed, invalid };
  item_end after_item(char closing) {
    space();
    if (i_ < n_ && s_[i_] == ',') {
      ++i_;
      space();
      return item_end::more;
    }
    if (i_ < n_ && s_[i_] == closing) {
      ++i_;
      return item_end::closed;
    }
    return item_end::invalid;
  }

  // The first key written twice is kept, and the parse goes on: invalid JSON later is still
  // invalid JSON, as nlohmann reports it.
  void duplicate(std::string_view key) {
    if (!repeated_) doc_.duplicate_ = key;
    repeated_ = true;
  }

  bool array(std::size_t depth) {
    if (depth > max_depth_) return fail();
    const auto at = add(json_type::array);
    ++i_;
    std::uint32_t count = 0;
    space();
    if (i_ < n_ && s_[i_] == ']') {
      ++i_;
    } else {
      for (;;) {
        if (!value(depth)) return false;
        ++count;
        const auto next = after_item(']');
        if (next == item_end::more) continue;
        if (next == item_end::closed) break;
        return fail();
      }
    }
    doc_.nodes_[at].count = count;
    close(at);
    return true;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  int code_unit() {  // the four hex digits after \u
    if (n_ - i_ < 4) return -1;
    int v = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex(s_[i_ + k]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    i_ += 4;
    return v;
  }
  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // The length of the well-formed UTF-8 sequence at i_ (RFC 3629: no overlong forms, no
  // surrogates, nothing past U+10FFFF), or 0.
  std::size_t utf8_sequence() const {
    const auto b = [&](std::size_t k) { return i_ + k < n_ ? static_cast<unsigned char>(s_[i_ + k]) : 0u; };
    const auto in = [](unsigned v, unsigned lo, unsigned hi) { return v >= lo && v <= hi; };
    const unsigned c = b(0);
    if (in(c, 0xC2, 0xDF)) return in(b(1), 0x80, 0xBF) ? 2 : 0;
    if (c == 0xE0) return in(b(1), 0xA0, 0xBF) && in(b(2), 0x80, 0xBF) ? 3 : 0;
    if (in(c, 0xE1, 0xEC) || in(c, 0xEE, 0xEF)) return in(b(1), 0x80, 0xBF) && in(b(2), 0x80, 0xBF) ? 3 : 0;
    if (c == 0xED) return in(b(1), 0x80, 0x9F) && in(b(2), 0x80, 0xBF) ? 3 : 0;
    if (c == 0xF0) return in(b(1), 0x90, 0xBF) && in(b(2), 0x80, 0xBF) && in(b(3), 0x80, 0xBF) ? 4 : 0;
    if (in(c, 0xF1, 0xF3)) return in(b(1), 0x80, 0xBF) && in(b(2), 0x80, 0xBF) && in(b(3), 0x80, 0xBF) ? 4 : 0;
    if (c == 0xF4) return in(b(1), 0x80, 0x8F) && in(b(2), 0x80, 0xBF) && in(b(3), 0x80, 0xBF) ? 4 : 0;
    return 0;
  }

  bool string() {
    const auto at = add(json_type::string);
    ++i_;
    const auto start = i_;
    // Plain text first: most strings have no escape and are read where they are.
    while (i_ < n_) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"' || c == '\\' || c < 0x20) break;
      if (c < 0x80) {
        ++i_;
      } else if (const auto len = utf8_sequence()) {
        i_ += len;
      } else {
        return fail();
      }
    }
    if (i_ >= n_ || static_cast<unsigned char>(s_[i_]) < 0x20) return fail();
    auto& node = doc_.nodes_[at];
    if (s_[i_] == '"') {
      node.text = {static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(i_ - start)};
      ++i_;
      close(at);
      return true;
    }
    // An escape: the text from here on is decoded into the side buffer.
    auto& out = doc_.decoded_;
    // Decoded text is never longer than its input, so with this reserve the side buffer never
    // moves, and the keys read from it (string_views) stay valid.
    if (out.capacity() < n_) out.reserve(n_);
    const auto from = out.size();
    out.append(s_ + start, i_ - start);
    while (i_ < n_) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') break;
      if (c < 0x20) return fail();
      if (c >= 0x80) {
        const auto len = utf8_sequence();
        if (!len) return fail();
        out.append(s_ + i_, len);
        i_ += len;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++i_;
        continue;
      }
      if (++i_ >= n_) return fail();
      switch (s_[i_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          int cp = code_unit();
          if (cp < 0) return fail();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate: its low half must follow
            if (n_ - i_ < 2 || s_[i_] != '\\' || s_[i_ + 1] != 'u') return fail();
            i_ += 2;
            const int low = code_unit();
            if (low < 0xDC00 || low > 0xDFFF) return fail();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail();
          }
          put_utf8(out, static_cast<std::uint32_t>(cp));
          break;
        }
        default: return fail();
      }
    }
    if (i_ >= n_) return fail();
    ++i_;
    node.escaped = true;  // (no node is added while a string is read: `node` is still valid)
    node.text = {static_cast<std::uint32_t>(from), static_cast<std::uint32_t>(out.size() - from)};
    close(at);
    return true;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }
  bool number() {
    const auto start = i_;
    bool integral = true;
    if (i_ < n_ && s_[i_] == '-') ++i_;
    if (i_ >= n_ || !digit(s_[i_])) return fail();
    if (s_[i_] == '0') ++i_;
    else
      while (i_ < n_ && digit(s_[i_])) ++i_;
    if (i_ < n_ && s_[i_] == '.') {
      integral = false;
      if (++i_ >= n_ || !digit(s_[i_])) return fail();
      while (i_ < n_ && digit(s_[i_])) ++i_;
    }
    if (i_ < n_ && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false;
      if (++i_ < n_ && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= n_ || !digit(s_[i_])) return fail();
      while (i_ < n_ && digit(s_[i_])) ++i_;
    }
    const char* first = s_ + start;
    const char* last = s_ + i_;
    const auto at = static_cast<std::uint32_t>(doc_.nodes_.size());
    doc_.nodes_.emplace_back();
    auto& n = doc_.nodes_.back();
    n.begin = static_cast<std::uint32_t>(start);
    if (integral) {  // as nlohmann: negative integers signed, the others unsigned, overflow a float
      if (*first == '-') {
        if (auto r = std::from_chars(first, last, n.integer); r.ec == std::errc() && r.ptr == last) {
          n.type = json_type::number_integer;
          close(at);
          return true;
        }
      } else if (auto r = std::from_chars(first, last, n.unsigned_integer); r.ec == std::errc() && r.ptr == last) {
        n.type = json_type::number_unsigned;
        close(at);
        return true;
      }
    }
    n.type = json_type::number_float;
    if (auto r = std::from_chars(first, last, n.floating); r.ec != std::errc() || r.ptr != last) {
      // Out of double's range: strtod's answer (±inf, or the nearest denormal or zero), as nlohmann has.
      const std::string copy(first, last);
      n.floating = std::strtod(copy.c_str(), nullptr);
    }
    if (!std::isfinite(n.floating)) return fail();  // nlohmann: number overflow
    close(at);
    return true;
  }

  json_doc& doc_;
  const char* s_;
  std::size_t n_, i_ = 0, max_depth_;
  std::vector<std::uint32_t> keys_;  // the key nodes of the objects being read
  bool repeated_ = false;
};

json_doc::status json_doc::parse(std::string_view text, std::size_t max_depth, std::size_t expected_values) {
  text_ = text;
  nodes_.clear();
  decoded_.clear();
  duplicate_.clear();
  if (text.size() >= std::numeric_limits<std::uint32_t>::max()) return status::invalid;
  nodes_.reserve(expected_values ? expected_values : 8);
  const auto s = json_parser(*this, text, max_depth).run();
  if (s != status::ok) nodes_.clear();
  return s;
}

}  // namespace deepgate::core
