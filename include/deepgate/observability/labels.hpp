#pragma once
// Small stable numbers for the model and backend names, shared by the metrics and the access log
// (a request record carries the numbers, not the names). A name keeps its number for the life
// of the process, across reloads; names a reload adds take the next free number. The capacity is
// fixed at startup (the configured names plus `spare`), so the metrics can size their arrays
// once and the label sets stay bounded: a name beyond the capacity has no number (nullopt) and is
// counted under "other" (a model) or "none" (a backend).
//
// Numbers are handed out on one thread (the control thread, before the snapshot that uses them
// is published); a published number's name is read from any thread.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepgate::observability {

class label_table {
 public:
  static constexpr std::size_t spare = 16;

  label_table(std::size_t models, std::size_t backends) : models_(models + spare), backends_(backends + spare) {}

  std::optional<std::size_t> model(std::string_view name) { return number(models_, model_count_, name); }
  std::optional<std::size_t> backend(std::string_view name) { return number(backends_, backend_count_, name); }
  std::string_view model_name(std::size_t n) const { return models_[n]; }
  std::string_view backend_name(std::size_t n) const { return backends_[n]; }
  std::size_t model_capacity() const { return models_.size(); }
  std::size_t backend_capacity() const { return backends_.size(); }

 private:
  static std::optional<std::size_t> number(std::vector<std::string>& names, std::size_t& count, std::string_view name) {
    for (std::size_t i = 0; i < count; ++i)
      if (names[i] == name) return i;
    if (count == names.size()) return std::nullopt;
    names[count] = std::string(name);
    return count++;
  }
  std::vector<std::string> models_, backends_;  // never resized: readers index them while names are added
  std::size_t model_count_ = 0, backend_count_ = 0;
};

}  // namespace deepgate::observability
