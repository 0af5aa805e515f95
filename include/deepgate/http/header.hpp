#pragma once
// A header as handlers see it: lower-case name, raw value. Light on purpose (no Asio, no Beast),
// so sans-io code such as authentication can take headers too.
#include <string>
#include <vector>

namespace deepgate::http {

struct header {
  std::string name;  // lower case
  std::string value;
};

using header_list = std::vector<header>;

}  // namespace deepgate::http
