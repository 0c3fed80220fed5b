// The sandbox identity provider, sans-I/O: an HTTP request and `now` in, an HTTP response out.
// It answers like Microsoft's identity platform (profile microsoft: AADSTS error JSON with
// error_codes, trace_id, correlation_id, timestamp; authorization_declined in the device flow;
// no verification_uri_complete) or like Google (profile google: {"error","error_description"},
// verification_url, jwt-bearer grant for service accounts), or a plain RFC 6749 server (generic).
//
// Endpoints (base = http://ADDR:PORT; Microsoft paths carry the tenant id, "organizations" or
// "common" where Microsoft allows them):
//   microsoft  /{tenant}/v2.0/.well-known/openid-configuration   /{tenant}/oauth2/v2.0/token
//              /{tenant}/oauth2/v2.0/devicecode  /{tenant}/oauth2/v2.0/authorize  /{tenant}/discovery/v2.0/keys
//   google     /.well-known/openid-configuration  /token  /device/code  /o/oauth2/v2/auth  /revoke  /oauth2/v3/certs
//   all        /.well-known/oauth-authorization-server  /token  /device/code  /authorize  /jwks  /revoke
//              /introspect (RFC 7662)  /device (approval page, GET form + POST)  /login (authorize page POST)
// Grants: client_credentials (client_secret_post, client_secret_basic, private_key_jwt with RS256
// or PS256 and x5t / x5t#S256 / kid), refresh_token (rotating: the old one is dead once the new one
// is issued), urn:ietf:params:oauth:grant-type:device_code (RFC 8628 with slow_down, interval,
// expiry, approval by page or approve_device()), authorization_code with PKCE S256 (RFC 7636;
// plain is refused), urn:ietf:params:oauth:grant-type:jwt-bearer (google service accounts, `sub`
// needs domain-wide delegation). Token lifetimes are settings, down to one second.
// Token endpoint faults come from fault_registry (500, 429 with Retry-After, invalid_grant, slow).
// Must not: touch sockets or the wall clock; put a secret, code or token into an error body or a
// log line; accept a client secret from a public client (AADSTS700025); accept a code twice.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "sandbox/directory.hpp"
#include "sandbox/faults.hpp"
#include "sandbox/http.hpp"
#include "sandbox/tokens.hpp"

namespace oauthmail::sandbox {

struct idp_settings {
  std::string base_url;  // "http://127.0.0.1:8080" (no trailing slash)
  std::chrono::seconds access_token_lifetime{3599};
  std::chrono::seconds refresh_token_lifetime{std::chrono::hours(24 * 90)};
  std::chrono::seconds device_code_lifetime{900};
  std::chrono::seconds device_poll_interval{5};
  std::chrono::seconds authorization_code_lifetime{600};
};

// The endpoints a client configures (also written to sandbox.json).
struct idp_endpoints {
  std::string issuer;
  std::string discovery;  // the discovery document's URL
  std::string token;
  std::string device_authorization;
  std::string authorization;
  std::string revocation;  // empty for microsoft (Entra has no RFC 7009 endpoint)
  std::string introspection;
  std::string jwks;
  std::string device_page;  // where a person enters the user code
};

// The `iss` of the sandbox's tokens and discovery documents (give it to token_authority::open):
// microsoft "<base>/<tenant id>/v2.0" (as Entra's v2 tokens), google and generic "<base>".
std::string idp_issuer(profile_kind profile, std::string_view base_url, std::string_view tenant_id);

class identity_provider {
 public:
  identity_provider(idp_settings settings, const directory& dir, token_authority& tokens, fault_registry& faults);
  ~identity_provider();

  idp_endpoints endpoints() const;
  // Handles a request whose path belongs to the provider; nullopt when the path is not one of its.
  std::optional<http_response> handle(const http_request& request, wall_clock::time_point now);

  // Approves (or declines) a pending device authorization for `mailbox`, as the approval page does.
  // Errors: unknown/expired user code, unknown mailbox.
  core::result<void> approve_device(std::string_view user_code, std::string_view mailbox, bool approve,
                                    wall_clock::time_point now);
  // Makes every refresh token of `mailbox` invalid (as a password reset does: AADSTS50173 /
  // Google "Token has been expired or revoked.").
  void revoke_user_sessions(std::string_view mailbox);
  // Counters for tests and the demo: requests to the token endpoint by grant type.
  boost::json::object counters() const;
  void set_access_token_lifetime(std::chrono::seconds lifetime);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace oauthmail::sandbox
