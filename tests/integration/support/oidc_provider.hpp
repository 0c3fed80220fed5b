// The real OpenID provider peer (peers/oidc_provider.mjs, npm oidc-provider) as a child process on
// 127.0.0.1 and a free port, for tests that need a configured account with real tokens.
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

// The client secret of the provider's confidential clients (also in peers/oidc_provider.mjs).
inline constexpr const char* test_client_secret = "oauthmail-test-client-secret-7c1f";

}  // namespace oauthmail::testing
