#pragma once
// deepgate-mock's HTTP side: DeepSeek's routes on the shared deepgate HTTP server, plus
// /mock/stats (request counters), /mock/reset and /mock/last_request for tests.
#include "deepgate/http/server.hpp"
#include "mock_model.hpp"

#include <memory>

namespace deepgate::mock {

struct mock_state;

class mock_service {
 public:
  explicit mock_service(options opts);
  ~mock_service();
  http::handler handler();

 private:
  std::shared_ptr<mock_state> state_;
};

}  // namespace deepgate::mock
