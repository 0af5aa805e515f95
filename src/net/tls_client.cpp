#include "deepgate/net/tls_client.hpp"

#include <boost/asio/ip/address.hpp>
#include <openssl/x509v3.h>

#include <mutex>

namespace deepgate::net {

namespace asio = boost::asio;

namespace {

// The newest session of one context (one peer), shared by the workers' connections.
struct session_slot {
  std::mutex mutex;
  SSL_SESSION* session = nullptr;
};

void free_slot(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  auto* slot = static_cast<session_slot*>(ptr);
  if (!slot) return;
  if (slot->session) SSL_SESSION_free(slot->session);
  delete slot;
}

int slot_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_slot);
  return index;
}

session_slot* slot_of(SSL* ssl) {
  return static_cast<session_slot*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), slot_index()));
}

// Each new session (1.3: every ticket, after the handshake) is kept as a copy: the original stays
// the connection's own, and OpenSSL marks it not resumable when that connection is freed without
// a close_notify (a backend closing an idle keep-alive, a reset), which would spoil it for the
// next connection.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = slot_of(ssl);
  if (!slot) return 0;
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (!copy) return 0;
  std::lock_guard lock(slot->mutex);
  if (slot->session) SSL_SESSION_free(slot->session);
  slot->session = copy;
  return 0;  // OpenSSL keeps (and frees) its own reference
}

// OpenSSL decodes a certificate's extensions (its key identifiers among them) the first time a
// verification needs them and keeps them in the certificate. The store's CA certificates are
// shared by every worker's handshakes, and ThreadSanitizer saw one handshake comparing a CA's
// key identifier while another was still filling it in (openssl/openssl#25202 and #32609 report
// the same). Filling them here, before any handshake, leaves the handshakes only reading. CA
// certificates a lookup directory adds later (the system store) are OpenSSL's to lock.
void cache_store_extensions(SSL_CTX* native) {
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  if (!store) return;
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i)
    if (X509* x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i))) X509_check_purpose(x, -1, 0);
}

}  // namespace

void offer_session(SSL* ssl) {
  auto* slot = slot_of(ssl);
  if (!slot) return;
  std::lock_guard lock(slot->mutex);
  if (slot->session && SSL_SESSION_is_resumable(slot->session)) SSL_set_session(ssl, slot->session);
}

bool session_resumed(SSL* ssl) { return SSL_session_reused(ssl) == 1; }

std::shared_ptr<asio::ssl::context> make_tls_client_context(bool verify, const std::string& ca_file, bool resume) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
  if (resume) {
    auto* native = ctx->native_handle();
    SSL_CTX_set_ex_data(native, slot_index(), new session_slot);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(native, on_new_session);
  }
  if (!verify) {
    ctx->set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  if (ca_file.empty()) ctx->set_default_verify_paths();
  else ctx->load_verify_file(ca_file);
  cache_store_extensions(ctx->native_handle());
  return ctx;
}

void expect_peer(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    return;
  }
  SSL_set_tlsext_host_name(ssl, host.c_str());
  SSL_set1_host(ssl, host.c_str());
}

}  // namespace deepgate::net
