// Token endpoint requests, built as values (POST, application/x-www-form-urlencoded, Accept JSON;
// the body is a secret<>), for every grant oauthmail uses:
//   client_credentials         RFC 6749 §4.4 (Microsoft app-only, generic M2M)
//   refresh_token              RFC 6749 §6 (Microsoft: scope again, one resource per token)
//   device authorization       RFC 8628 §3.1 request and §3.4 token poll
//   authorization_code + PKCE  RFC 6749 §4.1.3, RFC 7636 §4.5; authorize URL (§4.1.1, §4.3)
//   JWT bearer                 RFC 7523 §2.1 (Google service account, domain-wide delegation `sub`)
//   revocation                 RFC 7009 §2.1 (Google; Entra has no endpoint)
// Client authentication (RFC 6749 §2.3): none (public client: client_id only), client_secret_post,
// client_secret_basic (id and secret each form-encoded, Appendix B, before base64 — §2.3.1), and
// private_key_jwt (RFC 7523 §2.2 client assertion: iss = sub = client_id, aud = token endpoint,
// jti random UUID, nbf = iat = now, exp = now + 5 min; header x5t (SHA-1) and x5t#S256 of the
// certificate; RS256 by default or PS256, as Microsoft's certificate credentials describe).
// Time and randomness come in through request_context; nothing here reads a clock or does I/O.
// Must not: put a secret anywhere but the request body or a header flagged headers_secret; repeat a
// parameter; send an empty parameter (omitted instead, RFC 6749 §3.1).
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/secret.hpp"
#include "oauth/http_exchange.hpp"
#include "oauth/jwt.hpp"
#include "oauth/random.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth {

inline constexpr std::string_view grant_client_credentials = "client_credentials";
inline constexpr std::string_view grant_refresh_token = "refresh_token";
inline constexpr std::string_view grant_authorization_code = "authorization_code";
inline constexpr std::string_view grant_device_code = "urn:ietf:params:oauth:grant-type:device_code";
inline constexpr std::string_view grant_jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
inline constexpr std::string_view assertion_type_jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct request_context {
  wall_clock::time_point now{};
  random_source random;  // for jti (private_key_jwt)
};

enum class client_auth_method { none, client_secret_post, client_secret_basic, private_key_jwt };

// How the client authenticates at the token endpoint.
struct client_auth {
  client_auth_method method = client_auth_method::none;
  std::string client_id;
  core::secret<std::string> client_secret;      // client_secret_post / client_secret_basic
  std::optional<signing_key> key;               // private_key_jwt
  std::optional<certificate_info> certificate;  // private_key_jwt: x5t / x5t#S256 header members
  jwt_alg alg = jwt_alg::rs256;
  std::string assertion_audience;  // empty: the token endpoint of the request
  std::chrono::seconds assertion_lifetime{300};
};

client_auth public_client(std::string client_id);
client_auth secret_client(std::string client_id, core::secret<std::string> secret,
                          client_auth_method method = client_auth_method::client_secret_post);
// Loads the key, reads the certificate (optional but needed by Microsoft), and checks that they
// belong together and that the certificate is valid at `now`. Errors: bad_key, class needs_human.
core::result<client_auth> certificate_client(std::string client_id, const core::secret<std::string>& private_key_pem,
                                             std::string_view certificate_pem, wall_clock::time_point now,
                                             jwt_alg alg = jwt_alg::rs256);

// "Basic base64(form(client_id) ':' form(secret))" (RFC 6749 §2.3.1).
core::secret<std::string> basic_authorization(std::string_view client_id, const core::secret<std::string>& secret);

// The RFC 7523 client assertion for private_key_jwt.
core::result<core::secret<std::string>> client_assertion(const client_auth& auth, std::string_view audience,
                                                         const request_context& ctx);

core::result<http_request> client_credentials_request(std::string_view token_endpoint, const client_auth& auth,
                                                      std::span<const std::string> scopes, const request_context& ctx);

// `scopes` may be empty (omitted); Microsoft needs them (provider_endpoints::refresh_sends_scope).
core::result<http_request> refresh_token_request(std::string_view token_endpoint, const client_auth& auth,
                                                 const core::secret<std::string>& refresh_token,
                                                 std::span<const std::string> scopes, const request_context& ctx);

// RFC 8628 §3.1: client_id and scope (the device flow is for public clients; Google's device
// endpoint takes exactly these).
core::result<http_request> device_authorization_request(std::string_view device_authorization_endpoint,
                                                        std::string_view client_id,
                                                        std::span<const std::string> scopes);
// RFC 8628 §3.4 poll. Google needs client_secret here (pass a secret_client).
core::result<http_request> device_token_request(std::string_view token_endpoint, const client_auth& auth,
                                                const core::secret<std::string>& device_code,
                                                const request_context& ctx);

struct authorize_params {
  std::string authorization_endpoint;
  std::string client_id;
  std::string redirect_uri;
  std::vector<std::string> scopes;
  std::string state;
  std::string code_challenge;                              // S256 (pkce.hpp)
  std::string login_hint;                                  // optional: pre-fills the account at Microsoft and Google
  std::vector<std::pair<std::string, std::string>> extra;  // e.g. Google access_type=offline, prompt=consent
};
// authorization_endpoint?response_type=code&client_id=..&redirect_uri=..&scope=..&state=..
// &code_challenge=..&code_challenge_method=S256[&login_hint=..][&extra...]
core::result<std::string> authorize_url(const authorize_params& params);

core::result<http_request> authorization_code_request(std::string_view token_endpoint, const client_auth& auth,
                                                      const core::secret<std::string>& code,
                                                      std::string_view redirect_uri,
                                                      const core::secret<std::string>& code_verifier,
                                                      const request_context& ctx);

// A Google service-account JSON key file (type "service_account").
struct service_account_key {
  std::string client_email;
  std::string client_id;
  std::string private_key_id;
  core::secret<std::string> private_key_pem;
  std::string token_uri;  // "https://oauth2.googleapis.com/token" when absent
};
// Errors: bad_key, class needs_human; never quotes the file.
core::result<service_account_key> parse_service_account_json(const core::secret<std::string>& json);

// RFC 7523 §2.1 with Google's claims (providers.md §2.5): header {"alg":"RS256","typ":"JWT","kid"},
// claims iss = client_email, scope, aud = token_endpoint, iat = now, exp = now + lifetime (capped at
// 3600 s), sub = `subject` (the Workspace user to impersonate; omitted when empty).
core::result<http_request> jwt_bearer_request(std::string_view token_endpoint, const service_account_key& key,
                                              std::string_view subject, std::span<const std::string> scopes,
                                              const request_context& ctx,
                                              std::chrono::seconds lifetime = std::chrono::seconds(3600));

// RFC 7009 §2.1: token=..&token_type_hint=refresh_token|access_token, with client authentication.
core::result<http_request> revocation_request(std::string_view revocation_endpoint, const client_auth& auth,
                                              const core::secret<std::string>& token, std::string_view token_type_hint,
                                              const request_context& ctx);

}  // namespace oauthmail::oauth
