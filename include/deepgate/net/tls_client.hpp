#pragma once
// Client-side TLS shared by the backend pool and the Redis client: one context per peer
// (TLS >= 1.2, verification against a CA file or the system store) and, per connection, SNI
// and host-name (or IP address) verification. Heavy header: .cpp files only.
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace deepgate::net {

// With `resume`, the context keeps the newest session its peer handed out (a TLS 1.3 ticket or a
// TLS 1.2 session) and offer_session() offers it to the next handshake: a reconnect to the same
// peer resumes instead of a full handshake (no certificate chain, one round trip less on 1.2).
// One context per peer, so a session is only ever offered to the host it was verified for.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(bool verify, const std::string& ca_file,
                                                                   bool resume = true);
void offer_session(SSL* ssl);
bool session_resumed(SSL* ssl);

// Before the handshake: SNI for names (never for IP literals, RFC 6066) and the name or address
// the peer's certificate must carry.
void expect_peer(SSL* ssl, const std::string& host);

}  // namespace deepgate::net
