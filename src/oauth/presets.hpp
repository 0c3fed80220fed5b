// Provider presets: from a configured account to the endpoints, scopes and SMTP server it uses.
//   microsoft  Microsoft identity platform v2 (providers.md §1.3/§1.4): tenant (GUID or domain;
//              delegated default "organizations"; app-only needs the real tenant), clouds
//              global / US Government / China (21Vianet); delegated scope
//              "https://outlook.office.com/SMTP.Send offline_access", app-only
//              "https://outlook.office365.com/.default"; smtp.office365.com:587 STARTTLS, XOAUTH2.
//   outlook    consumer accounts: tenant "consumers", smtp-mail.outlook.com:587 (§1.14).
//   google     accounts.google.com / oauth2.googleapis.com (§2.4), scope https://mail.google.com/
//              (§2.3), smtp.gmail.com:587 STARTTLS (465 implicit TLS), service accounts (§2.5).
//   generic    explicit endpoints, or discovery from an issuer: RFC 8414
//              /.well-known/oauth-authorization-server first, then OpenID Connect Discovery
//              /.well-known/openid-configuration (discovery_request / parse_discovery /
//              apply_discovery; discovery_attempt drives one pass over both documents and
//              classifies its failure: transient — no connection, HTTP 5xx, 408, 429 — to be
//              retried like a token request, or needing a person — both documents absent (4xx), a
//              document that is not JSON, is for another issuer or lacks what the flow needs).
// Explicit endpoints and SMTP settings in the account override any preset (a test provider or the
// sandbox can stand in for Microsoft or Google that way).
// Must not: do I/O (discovery is a request value and a parser); guess a tenant for app-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "oauth/http_exchange.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth {

std::string_view provider_name(config::provider_kind p) noexcept;  // "microsoft", "outlook", "google", "generic"
std::string_view flow_name(config::flow_kind f) noexcept;          // "client_credentials", "device_code", ...
// Delegated flows act for a signed-in user and can get refresh tokens.
bool is_delegated(config::flow_kind f) noexcept;

struct smtp_endpoint {
  std::string host;
  std::uint16_t port = 587;
  config::tls_setting tls = config::tls_setting::starttls;
  config::mechanism_setting mechanism = config::mechanism_setting::automatic;
};

struct provider_endpoints {
  config::provider_kind provider = config::provider_kind::generic;
  config::flow_kind flow = config::flow_kind::client_credentials;
  std::string tenant;                  // Microsoft: as used in the URLs
  std::string authority;               // Microsoft: "https://login.microsoftonline.com/{tenant}"; generic: the issuer
  std::string authorization_endpoint;  // empty when unknown (generic before discovery)
  std::string token_endpoint;
  std::string device_authorization_endpoint;
  std::string revocation_endpoint;  // empty: no RFC 7009 endpoint (Entra has none)
  // Generic provider with an issuer and missing endpoints: fetch discovery first.
  bool needs_discovery = false;
  std::string issuer;

  std::vector<std::string> default_scopes;  // the preset's scopes for this flow
  std::vector<std::string> scopes;          // what to request: the account's override, else default_scopes

  smtp_endpoint smtp;

  // Provider behaviour the grant builders and the token manager follow:
  bool refresh_sends_scope = false;         // Microsoft: repeat the scope with refresh_token (one resource per token)
  bool rotates_refresh_tokens = false;      // Microsoft: every refresh returns a new refresh token (store it first)
  bool public_client_sends_secret = false;  // Google desktop clients: client_secret with code exchange/device poll
  std::string loopback_host = "127.0.0.1";  // RFC 8252 §7.3; Microsoft: "localhost" (the portal refuses 127.0.0.1)
  // Extra authorization request parameters (Google: access_type=offline and prompt=consent, without
  // which no refresh token is issued).
  std::vector<std::pair<std::string, std::string>> authorize_extra;
  // Resources an access token for SMTP must be issued for (JWT `aud`), for token diagnostics.
  std::vector<std::string> smtp_audiences;

  std::vector<std::string> warnings;  // things that will probably not work, with the fix
};

// Errors (class needs_human, oauth_errc::unsupported / bad_request_input): a flow the provider does
// not have (client credentials at Outlook.com or Google, service accounts outside Google), app-only
// at Microsoft without a real tenant, a generic provider without token endpoint or issuer, or
// without an SMTP host.
core::result<provider_endpoints> resolve_provider(const config::account& account);

// --- Discovery (RFC 8414; OpenID Connect Discovery 1.0) ---

enum class discovery_document { oauth_authorization_server, openid_configuration };

// RFC 8414 §3.1 inserts the well-known segment between host and path
// ("https://ex.com/issuer1" -> "https://ex.com/.well-known/oauth-authorization-server/issuer1");
// OpenID appends it ("https://ex.com/issuer1/.well-known/openid-configuration").
core::result<std::string> discovery_url(std::string_view issuer, discovery_document doc);
// A GET with Accept: application/json. Try oauth_authorization_server first; on 404 (or another
// non-2xx) try openid_configuration.
core::result<http_request> discovery_request(std::string_view issuer, discovery_document doc);

struct server_metadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string device_authorization_endpoint;
  std::string revocation_endpoint;
  std::string jwks_uri;
  std::vector<std::string> response_types_supported;
  std::vector<std::string> grant_types_supported;
  std::vector<std::string> code_challenge_methods_supported;
  std::vector<std::string> token_endpoint_auth_methods_supported;
  std::vector<std::string> scopes_supported;
};

// Parses a metadata document. The `issuer` in it must equal `expected_issuer` (RFC 8414 §3.3; one
// trailing "/" is ignored on both sides); endpoints must be absolute http(s) URLs.
core::result<server_metadata> parse_discovery(const http_response& response, std::string_view expected_issuer);

// Fills the endpoints the account did not set explicitly, clears needs_discovery, and checks that
// the flow can work: a token endpoint; device flow needs device_authorization_endpoint; the
// authorization code flow needs authorization_endpoint and, when the server lists its PKCE methods,
// S256 (RFC 8414 §2 code_challenge_methods_supported).
core::result<void> apply_discovery(provider_endpoints& endpoints, const server_metadata& metadata);

// One pass of discovery for an issuer, sans I/O: fetch what next() asks for, feed the answer (or
// the transport failure) back, until next() says found or failed.
//  - 2xx: the document is parsed (parse_discovery); a bad one fails at once, needing a person.
//  - 404 and other 4xx (but 408, 429), 3xx: the document is not there; the next one is tried.
//  - 5xx, 408, 429: the server is in trouble; the next document is still tried, and if none is
//    found the pass fails as transient (with the largest Retry-After seen): retry it later.
//  - a transport failure (no connection, time-out): the pass fails with that error at once (both
//    documents are on the same server); its class decides (transient for network failures).
//  - neither document found, without trouble: oauth_errc::discovery_failed, needs_human, with the
//    statuses and the fix (check `issuer`, or configure the endpoints).
class discovery_attempt {
 public:
  explicit discovery_attempt(std::string issuer);

  struct fetch {
    http_request request;
  };
  struct found {
    server_metadata metadata;
  };
  struct failed {
    core::error error;
    std::optional<std::chrono::seconds> retry_after;  // transient failures: the provider's Retry-After
  };
  using step = std::variant<fetch, found, failed>;

  step next();
  void on_response(const http_response& response, wall_clock::time_point now);
  void on_transport_failure(core::error error);

 private:
  std::string issuer_;
  std::size_t document_ = 0;  // index of the document fetched or to fetch
  bool awaiting_ = false;
  std::optional<step> outcome_;
  std::vector<int> statuses_;  // of the documents not found
  bool trouble_ = false;       // a 5xx / 408 / 429 was seen
  std::optional<std::chrono::seconds> retry_after_;
};

}  // namespace oauthmail::oauth
