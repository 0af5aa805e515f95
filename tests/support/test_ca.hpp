#pragma once
// A throw-away certificate authority made at test time with the openssl command line tool.
#include <string>
#include <vector>

namespace deepgate::test {

struct test_ca {
  std::string dir;
  std::string ca_cert;  // PEM file of the CA

  // Makes a new CA in `dir`.
  static test_ca create(const std::string& dir, const std::string& name = "deepgate test CA");
  // Issues a server certificate for `dns_names` / 127.0.0.1; returns {cert file, key file}.
  std::pair<std::string, std::string> issue(const std::string& file_stem, const std::vector<std::string>& dns_names,
                                            bool include_loopback_ip = true) const;
};

}  // namespace deepgate::test
