// The real OpenID provider peer (peers/oidc_provider.mjs, npm oidc-provider) as a child process on
// 127.0.0.1 and a free port, for tests that need a configured account with real tokens; and
// test_account, a configured client-credentials account of that provider whose SMTP server is any
// test peer (the configuration is rewritten to point at the peer once it listens).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {

class oidc_provider {
 public:
  // `access_ttl`: lifetime of the access tokens it issues, in seconds. `client_jwks`: the public
  // keys of the private_key_jwt client (oauthmail-cc-jwt).
  oidc_provider(const temp_dir& dir, int access_ttl, std::optional<fs::path> client_jwks = std::nullopt);
  std::string log() const { return child_ ? child_->log() : std::string(); }
  // Stops the provider (by PID) and starts it again on the same port ("goes away, comes back").
  void stop() { child_.reset(); }
  void restart();
  std::string issuer() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }

  // GET /test/counters with curl.
  boost::json::object counters() const;
  std::int64_t token_requests() const;
  std::int64_t issued(const std::string& grant) const;

 private:
  bool start_on_port();

  const temp_dir& dir_;
  int access_ttl_;
  std::optional<fs::path> client_jwks_;
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::optional<child_process> child_;
};

// A client-credentials account ("app" by default) of the provider, in its own config.toml with a
// private token cache. Its access token is obtained at construction (`oauthmail token show`), so
// that an SMTP peer can be started that accepts exactly that token; then point_at() aims the
// account at the peer.
class test_account {
 public:
  struct options {
    std::string name = "app";
    std::string user = "alerts@example.com";
    std::vector<std::string> allowed_senders;
    std::string extra_toml;  // appended at the top level (e.g. default_account = "...")
  };
  test_account(const temp_dir& dir, const oidc_provider& op, options opts);
  test_account(const temp_dir& dir, const oidc_provider& op) : test_account(dir, op, options{}) {}

  const fs::path& config() const noexcept { return config_; }
  const std::string& token() const noexcept { return token_; }
  const std::string& user() const noexcept { return opts_.user; }
  // Rewrites [account.smtp]: 127.0.0.1:port with STARTTLS and the test CA (tls = "starttls"), or
  // without TLS (tls = "none", allow_plaintext_auth).
  void point_at(std::uint16_t port, const std::string& tls = "starttls");

 private:
  std::string text(const std::string& smtp_section) const;

  const temp_dir& dir_;
  const oidc_provider& op_;
  options opts_;
  fs::path config_;
  std::string token_;
};

// The client secret of the provider's confidential clients (also in peers/oidc_provider.mjs).
inline constexpr const char* test_client_secret = "oauthmail-test-client-secret-7c1f";

}  // namespace oauthmail::testing
