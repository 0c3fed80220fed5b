// Base64 (RFC 4648 §4, with padding) and base64url (§5, without padding) through OpenSSL's EVP
// encoder, for SASL payloads (RFC 4954) and JWTs.
// Must not: accept non-alphabet characters silently; decode() refuses them with an error.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace oauthmail::core {

std::string base64_encode(std::string_view bytes);
// Strict decode: standard alphabet, padding required, no whitespace.
result<std::string> base64_decode(std::string_view text);
// Lenient decode for peers' payloads: accepts missing padding and the url-safe alphabet too.
result<std::string> base64_decode_lenient(std::string_view text);

std::string base64url_encode(std::string_view bytes);  // no padding
result<std::string> base64url_decode(std::string_view text);

}  // namespace oauthmail::core
