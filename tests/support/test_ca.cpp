#include "test_ca.hpp"

#include "process.hpp"

#include <cstdlib>
#include <stdexcept>

namespace deepgate::test {
namespace {
void run(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}
}  // namespace

test_ca test_ca::create(const std::string& dir, const std::string& name) {
  test_ca ca{dir, dir + "/ca.pem"};
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=" + name + "' -keyout " + dir + "/ca.key -out " +
      ca.ca_cert + " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
  return ca;
}

std::pair<std::string, std::string> test_ca::issue(const std::string& stem, const std::vector<std::string>& dns_names,
                                                   bool include_loopback_ip) const {
  std::string san;
  for (auto& n : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + n;
  if (include_loopback_ip) san += (san.empty() ? "" : ",") + std::string("IP:127.0.0.1");
  auto key = dir + "/" + stem + ".key", csr = dir + "/" + stem + ".csr", cert = dir + "/" + stem + ".pem",
       ext = dir + "/" + stem + ".ext";
  write_file(ext, "subjectAltName=" + san + "\nextendedKeyUsage=serverAuth\n");
  run("openssl req -newkey rsa:2048 -nodes -subj '/CN=" + (dns_names.empty() ? std::string("127.0.0.1") : dns_names[0]) +
      "' -keyout " + key + " -out " + csr);
  run("openssl x509 -req -in " + csr + " -CA " + ca_cert + " -CAkey " + dir + "/ca.key -CAcreateserial -days 2 -out " +
      cert + " -extfile " + ext);
  return {cert, key};
}

}  // namespace deepgate::test
