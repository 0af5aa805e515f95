#pragma once
// A request body parsed once into a flat array of nodes (a "tape"), for reading only: what the
// gateway needs to validate and route a request without nlohmann's tree of std::map nodes and
// strings. One allocation for the nodes (sized from the input), strings read in place in the
// input unless they hold escapes (those are decoded into one side buffer), each value's span in
// the input kept (so a member can be forwarded, hashed or measured as the client wrote it).
//
// The parser is exactly as strict as nlohmann::json::parse (RFC 8259 with well-formed UTF-8, a
// leading byte-order mark skipped; the fuzzer compares the two on every input) and, unlike it,
// refuses a key written twice in one object, and a NUL byte anywhere (nlohmann stops reading at
// one and ignores the rest, which a backend given the same bytes would not).
//
// Numbers are typed as nlohmann types them: a negative integer is number_integer, a
// non-negative one number_unsigned, an integer out of 64-bit range or any number with a fraction
// or exponent number_float; a number beyond double's range is refused.
//
// The reading interface mirrors the part of nlohmann's that validation uses (find/end, is_*,
// get<T>, iteration over an array's elements or an object's values), so checks read the same.
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace deepgate::core {

enum class json_type : std::uint8_t { null, boolean, number_integer, number_unsigned, number_float, string, array, object };

// One bit of 64 for a key (from its length and its first and last bytes). An object's node ORs
// its keys' bits together: a key whose bit is clear is not among its members.
constexpr std::uint64_t json_key_bit(std::string_view key) {
  if (key.empty()) return 1;
  const auto h = key.size() * 31 + static_cast<unsigned char>(key.front()) + static_cast<unsigned char>(key.back()) * 7;
  return std::uint64_t{1} << (h & 63);
}

struct json_node {
  json_type type = json_type::null;
  bool escaped = false;     // a string whose decoded text is in the document's side buffer
  std::uint32_t count = 0;  // array: elements; object: members
  std::uint32_t next = 0;   // the node after this value (and everything inside it)
  std::uint32_t begin = 0, end = 0;  // the value's bytes in the input
  union {
    bool boolean;
    std::int64_t integer;
    std::uint64_t unsigned_integer;  // (an object's: its keys' json_key_bit, ORed)
    double floating;
    struct {
      std::uint32_t at, size;
    } text;  // in the input (or the side buffer, when escaped)
  };
  json_node() : integer(0) {}
};

class json_doc;
class json_iterator;

class json_value {
 public:
  using value_t = json_type;
  json_value() = default;
  json_value(const json_doc* doc, std::uint32_t index) : doc_(doc), i_(index) {}

  json_type type() const { return doc_ ? node().type : json_type::null; }
  bool is_null() const { return type() == json_type::null; }
  bool is_boolean() const { return type() == json_type::boolean; }
  bool is_number() const { return type() >= json_type::number_integer && type() <= json_type::number_float; }
  bool is_number_integer() const { return type() == json_type::number_integer || type() == json_type::number_unsigned; }
  bool is_number_unsigned() const { return type() == json_type::number_unsigned; }
  bool is_number_float() const { return type() == json_type::number_float; }
  bool is_string() const { return type() == json_type::string; }
  bool is_array() const { return type() == json_type::array; }
  bool is_object() const { return type() == json_type::object; }
  bool is_structured() const { return is_array() || is_object(); }

  std::string_view str() const;  // a string's text (empty for anything else)
  // bool, an arithmetic type (converted as nlohmann converts: floats truncated, integers cast),
  // or std::string; a type that does not hold one gives false, 0 or "".
  template <class T>
  T get() const {
    if constexpr (std::is_same_v<T, bool>) return is_boolean() && node().boolean;
    else if constexpr (std::is_same_v<T, std::string>) return std::string(str());
    else {
      switch (type()) {
        case json_type::number_integer: return static_cast<T>(node().integer);
        case json_type::number_unsigned: return static_cast<T>(node().unsigned_integer);
        case json_type::number_float: return static_cast<T>(node().floating);
        default: return T{};
      }
    }
  }
  std::string_view raw() const;  // the value as the client wrote it

  using iterator = json_iterator;
  // An array's elements or an object's values, in the order written; nothing for a scalar.
  iterator begin() const;
  iterator end() const;
  iterator find(std::string_view key) const;  // an object's member, else end()
  bool contains(std::string_view key) const;
  json_value operator[](std::string_view key) const;  // a member, or null
  json_value at(std::string_view key) const { return (*this)[key]; }
  json_value operator[](std::size_t index) const;     // an element (walks the array), or null
  json_value front() const { return (*this)[std::size_t{0}]; }
  json_value back() const { return size() ? (*this)[size() - 1] : json_value(); }
  // As nlohmann: elements or members; null 0; any other scalar 1.
  std::size_t size() const;
  bool empty() const { return size() == 0; }
  // A member's string, or `fallback` when it is absent or not a string.
  std::string_view value(std::string_view key, std::string_view fallback) const;

  friend bool operator==(const json_value& v, std::string_view s) { return v.is_string() && v.str() == s; }
  friend bool operator==(const json_value& v, const char* s) { return v == std::string_view(s); }
  friend bool operator==(const json_value& v, bool b) { return v.is_boolean() && v.get<bool>() == b; }

  const json_node& node() const;
  const json_doc* doc() const { return doc_; }
  std::uint32_t index() const { return i_; }

 private:
  const json_doc* doc_ = nullptr;
  std::uint32_t i_ = 0;
};

class json_iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = json_value;
  using difference_type = std::ptrdiff_t;
  using pointer = const json_value*;
  using reference = const json_value&;
  json_iterator() = default;
  json_iterator(const json_doc* doc, std::uint32_t at, bool members) : doc_(doc), at_(at), members_(members) { load(); }
  const json_value& operator*() const { return current_; }
  const json_value* operator->() const { return &current_; }
  json_iterator& operator++();
  json_iterator operator++(int) {
    auto old = *this;
    ++*this;
    return old;
  }
  bool operator==(const json_iterator& o) const { return at_ == o.at_; }
  std::string_view key() const;  // an object's member: its key (decoded)
  const json_node& key_node() const;  // an object's member: its key's node (begin: the quote)

 private:
  void load();
  const json_doc* doc_ = nullptr;
  std::uint32_t at_ = 0;  // the element, or the member's key
  bool members_ = false;
  json_value current_;
};

class json_doc {
 public:
  enum class status : std::uint8_t { ok, invalid, duplicate_key };
  // Parses `text`, which must outlive the document (strings and spans point into it). Nesting is
  // bounded by `max_depth` (deeper input is invalid); `expected_values` sizes the node array.
  status parse(std::string_view text, std::size_t max_depth = 1024, std::size_t expected_values = 0);
  const std::string& duplicate() const { return duplicate_; }  // the key written twice
  json_value root() const { return nodes_.empty() ? json_value() : json_value(this, 0); }
  std::string_view text() const { return text_; }

  const json_node& node(std::uint32_t i) const { return nodes_[i]; }
  std::string_view string_at(const json_node& n) const {
    return std::string_view((n.escaped ? decoded_.data() : text_.data()) + n.text.at, n.text.size);
  }

 private:
  friend class json_parser;
  std::string_view text_;
  std::vector<json_node> nodes_;
  std::string decoded_;  // escaped strings, decoded
  std::string duplicate_;
};

inline const json_node& json_value::node() const { return doc_->node(i_); }
inline const json_node& json_iterator::key_node() const { return doc_->node(at_); }
inline std::string_view json_value::str() const { return is_string() ? doc_->string_at(node()) : std::string_view(); }
inline std::string_view json_value::raw() const {
  return doc_ ? doc_->text().substr(node().begin, node().end - node().begin) : std::string_view("null");
}

// Inline: validation walks members and elements in loops, and looks fields up by the dozen.
inline json_iterator& json_iterator::operator++() {
  const auto& n = doc_->node(members_ ? at_ + 1 : at_);  // a member: past its key to the value
  at_ = n.next;
  load();
  return *this;
}
inline void json_iterator::load() {
  if (doc_) current_ = json_value(doc_, members_ ? at_ + 1 : at_);
}
inline std::string_view json_iterator::key() const { return doc_->string_at(doc_->node(at_)); }
inline json_value::iterator json_value::begin() const {
  if (!is_structured()) return {};
  return iterator(doc_, i_ + 1, is_object());
}
inline json_value::iterator json_value::end() const {
  if (!is_structured()) return {};
  return iterator(doc_, node().next, is_object());
}

}  // namespace deepgate::core
