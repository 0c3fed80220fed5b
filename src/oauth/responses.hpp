// Token endpoint responses: success (RFC 6749 §5.1) to a token_set, errors (RFC 6749 §5.2 plus
// Microsoft's error_codes / trace_id / correlation_id, providers.md §1.7) to an oauth_error, and
// every failure to a diagnosis: the failure class, the cause in plain words and the fix.
//
// Classification (the one place for token endpoint answers; network failures are src/net's):
//   transient    HTTP 5xx, 429 (Retry-After: seconds or HTTP-date), server_error,
//                temporarily_unavailable, authorization_pending / slow_down (device flow), 408
//   needs_human  invalid_grant, invalid_client, unauthorized_client, consent_required,
//                interaction_required, login_required, invalid_scope, access_denied, invalid_request,
//                unsupported_grant_type, expired_token, authorization_declined,
//                bad_verification_code, any unknown error, every AADSTS code of providers.md §1.8
//                (except 70016 "pending", transient) and Google's errors of §2.3/§2.5
//   protocol     a 2xx answer without access_token, not JSON, impossible expires_in, non-Bearer type
// Microsoft asks clients to react to `error`, not to the description; AADSTS numbers only refine the
// words of the diagnosis (and its class where the table says so). Google has no codes: its
// descriptions are matched.
// Must not: put our secrets into a message: the provider's description is included only after
// sanitizing (control characters removed, Microsoft's trace block cut, every value of
// diagnosis_context::sent_secrets and anything token-like (>= 40 characters of the base64url/JWT
// alphabet with letters and digits) replaced by "***"), truncated to 300 characters.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "oauth/http_exchange.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth {

// What the diagnosis may mention, and what it must not.
struct diagnosis_context {
  std::string account;  // account name for "run `oauthmail account login NAME`" (empty: "NAME")
  config::provider_kind provider = config::provider_kind::generic;
  config::flow_kind flow = config::flow_kind::client_credentials;
  // Values sent in the request (client secret, refresh token, assertion, code, device code): never
  // repeated in a message even if the provider echoes them.
  std::vector<const core::secret<std::string>*> sent_secrets;
};

// The result of one token request.
struct grant_outcome {
  std::optional<token_set> tokens;   // set on success
  std::optional<oauth_error> error;  // set when the provider answered with an error
  oauth_diagnosis diagnosis;         // klass none on success

  bool ok() const noexcept { return tokens.has_value(); }
  // oauth_errc::token_endpoint_error (or malformed_response), class = diagnosis.klass; message =
  // cause, fix, and the provider's (sanitized) words with AADSTS code and correlation id.
  core::error to_error() const;
};

// Evaluates a token endpoint answer. `requested_scopes` become token_set::scopes when the response
// has no "scope". expires_in may be a number or a numeric string; when missing, the JWT's `exp` is
// used, else one hour.
grant_outcome evaluate_token_response(const http_response& response, wall_clock::time_point now,
                                      std::span<const std::string> requested_scopes,
                                      const diagnosis_context& context = {});
// The same, as a result; the error message is cause + fix (grant_outcome::to_error()).
core::result<token_set> parse_token_response(const http_response& response, wall_clock::time_point now,
                                             std::span<const std::string> requested_scopes,
                                             const diagnosis_context& context = {});

// An error answer (any non-2xx status, or a 2xx body with "error" and no access_token) as an
// oauth_error, with Retry-After; std::nullopt for a success body.
std::optional<oauth_error> parse_error_response(const http_response& response, wall_clock::time_point now);

// The outcome for an error answer: diagnosed, and every text field of the error sanitized with
// the context's secrets (so that callers may print its fields directly).
grant_outcome error_outcome(oauth_error error, const diagnosis_context& context = {});

// Cause and fix for an error answer (see the classification above).
oauth_diagnosis diagnose(const oauth_error& error, const diagnosis_context& context = {});

// The provider's words as they may appear in messages: "invalid_grant: AADSTS70008: ... (AADSTS
// 70008, correlation id ...)", sanitized and bounded.
std::string provider_detail(const oauth_error& error, const diagnosis_context& context = {});

// Sanitizes untrusted provider text for messages (see the file comment).
std::string sanitize_provider_text(std::string_view text, const diagnosis_context& context = {},
                                   std::size_t max_chars = 300);

// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date (IMF-fixdate). A date in the
// past is 0 s; values are capped at one day. std::nullopt when unparsable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, wall_clock::time_point now);

// Microsoft Entra AADSTS codes oauthmail explains (providers.md §1.8 and a few more).
struct aadsts_entry {
  long code;
  core::failure_class klass;
  std::string_view cause;
  std::string_view fix;  // "{account}" is replaced by the account name
};
std::span<const aadsts_entry> aadsts_table() noexcept;
const aadsts_entry* find_aadsts(long code) noexcept;

}  // namespace oauthmail::oauth
