// The error domain of src/oauth: one enum and category for every failure the sans-I/O OAuth code
// reports (token endpoint errors, malformed responses, unusable keys, redirect and discovery
// problems). The failure_class of each error is set where it is created (see responses.hpp for
// the token-endpoint classification); messages say what is wrong and what to do.
// Must not: put a secret (token, client secret, assertion, private key, authorization code) into a
// message.
#pragma once

#include <string>
#include <system_error>

#include "core/error.hpp"

namespace oauthmail::oauth {

enum class oauth_errc {
  token_endpoint_error = 1,  // the provider answered a grant with an error (RFC 6749 §5.2)
  malformed_response,        // not JSON, missing access_token, impossible values
  bad_request_input,         // something needed to build a request is missing or unusable
  bad_key,                   // private key / certificate / service-account file unusable
  discovery_failed,          // RFC 8414 / OpenID metadata missing, malformed or for another issuer
  redirect_error,            // the authorization redirect carried an error, or the state did not match
  device_flow_failed,        // RFC 8628: declined, expired, bad code
  not_a_jwt,                 // decode_unverified() on a token that is not a JWS compact JWT
  unsupported,               // a provider/flow combination that cannot work
  bad_cache_entry,           // a token cache entry that cannot be read (format or version)
};

const std::error_category& oauth_category() noexcept;
std::error_code make_error_code(oauth_errc e) noexcept;

// Shorthand: an error of the oauth category.
inline core::error make_error(oauth_errc e, std::string message, core::failure_class cls) {
  return core::error(make_error_code(e), std::move(message), cls);
}

}  // namespace oauthmail::oauth

template <>
struct std::is_error_code_enum<oauthmail::oauth::oauth_errc> : std::true_type {};
