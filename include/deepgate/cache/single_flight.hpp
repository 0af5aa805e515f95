#pragma once
// Single-flight for prompt-cache misses: concurrent identical misses in one process make one
// upstream call. The first request for a key leads (calls upstream, then publishes the answer);
// the others follow and wait for it, on their own workers. Leading is an RAII handle: a leader
// that ends without publishing (error, truncated stream, client gone) releases its followers
// with nothing, and they go upstream themselves.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace deepgate::cache {

class single_flight {
 public:
  struct flight;

  class lead {
   public:
    lead(single_flight& owner, std::string key, std::shared_ptr<flight> f);
    lead(lead&&) noexcept;
    lead& operator=(lead&&) = delete;
    ~lead();  // unpublished: the followers get nullopt
    void publish(std::string answer);

   private:
    single_flight* owner_;
    std::string key_;
    std::shared_ptr<flight> f_;
  };

  struct joined {
    std::optional<lead> leader;      // set: this caller leads
    std::shared_ptr<flight> follow;  // set: this caller waits
  };
  joined join(const std::string& key);

  // The leader's answer, or nullopt when it published none or `timeout` passed first. Runs on
  // the caller's executor; the leader may be on another thread.
  static boost::asio::awaitable<std::optional<std::string>> wait(std::shared_ptr<flight> f,
                                                                 std::chrono::milliseconds timeout);

  std::size_t in_flight() const;

 private:
  void finish(const std::string& key, const std::shared_ptr<flight>& f, std::optional<std::string> answer);
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
};

}  // namespace deepgate::cache
