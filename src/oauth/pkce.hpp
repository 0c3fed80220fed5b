// PKCE (RFC 7636) and the loopback redirect of native apps (RFC 8252 §7.3), sans-I/O:
//  - verifier: base64url of 32 random octets (43 characters, within §4.1's 43..128 of
//    [A-Z a-z 0-9 - . _ ~]); challenge: BASE64URL(SHA256(ASCII(verifier))), method S256 (§4.2).
//    Appendix B's vector: octets {116, 24, ...} -> "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
//    -> "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".
//  - state: base64url of 16 random octets (RFC 6749 §10.12 CSRF protection).
//  - the redirect: a full URL pasted by the user on a remote machine
//    ("http://127.0.0.1:PORT/?code=...&state=..."), the request target the loopback listener saw
//    ("/?code=...&state=..."), or a bare query; the state must match, error=... becomes a diagnosis.
// Must not: accept a redirect whose state differs (possible CSRF or a stale attempt); put the code
// or verifier in a message.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/secret.hpp"
#include "oauth/random.hpp"

namespace oauthmail::oauth {

struct pkce_pair {
  core::secret<std::string> verifier;
  std::string challenge;  // S256
};

pkce_pair make_pkce(const random_source& random);
// From given octets (32 for the usual 43-character verifier); for tests (RFC 7636 Appendix B).
pkce_pair pkce_from_octets(std::span<const unsigned char> octets);
std::string s256_challenge(std::string_view verifier);
// 43..128 characters of the unreserved set (RFC 7636 §4.1).
bool valid_verifier(std::string_view verifier) noexcept;

std::string make_state(const random_source& random);

// "http://HOST:PORT/PATH" for the loopback listener; HOST is "127.0.0.1" (RFC 8252 §8.3) or
// "localhost" (Microsoft's portal accepts only that without manifest edits); "[::1]" for IPv6.
std::string loopback_redirect_uri(std::string_view host, std::uint16_t port, std::string_view path = "/");

struct redirect_result {
  core::secret<std::string> code;
  std::string state;
};
// Errors (oauth_errc::redirect_error, class needs_human): the provider's error=... (with its
// description, sanitized), no code, several codes, or a state that differs from `expected_state`.
core::result<redirect_result> parse_redirect(std::string_view redirect, std::string_view expected_state);

}  // namespace oauthmail::oauth
