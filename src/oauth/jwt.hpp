// JSON Web Tokens, the two ways oauthmail meets them:
//  1. It signs its own: RFC 7523 client assertions (private_key_jwt, Microsoft certificates) and
//     Google service-account JWT bearer grants. JWS compact serialization (RFC 7515 §7.1) with
//     RS256 (RSASSA-PKCS1-v1_5 SHA-256) or PS256 (RSASSA-PSS SHA-256, MGF1 SHA-256, salt = 32)
//     (RFC 7518 §3.3/§3.5) through OpenSSL 3 EVP_DigestSign; keys from PEM (PKCS#8 or PKCS#1,
//     unencrypted, RSA >= 2048 bits). Certificates give the `x5t` (SHA-1) and `x5t#S256` (SHA-256)
//     thumbprints of their DER form (RFC 7515 §4.1.7/§4.1.8), which Microsoft uses to find the key.
//  2. It looks inside access tokens it received, for diagnostics only (RFC 9068; Microsoft: "don't
//     validate tokens not meant for you"): decode_unverified() / inspect_token() never check a
//     signature and nothing decoded is trusted; smtp_suitability() warns when a token cannot work
//     for SMTP (Graph audience, no SMTP.Send / SMTP.SendAsApp). Opaque tokens (Microsoft consumer
//     "EwB...", Google "ya29.") are reported as opaque, not as errors.
// verify_signature() exists for tests and for the sandbox identity provider.
// Must not: print a key, an assertion or a token (signed JWTs are secret<>); prompt for a PEM
// passphrase (encrypted keys are refused); accept "none" or HMAC algorithms in verify_signature.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/secret.hpp"
#include "oauth/token.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace oauthmail::oauth {

struct provider_endpoints;

enum class jwt_alg { rs256, ps256 };
std::string_view to_string(jwt_alg a) noexcept;  // "RS256", "PS256"

// base64url of the serialized JOSE header {"alg":...,"typ":"JWT", ...extra members in order}.
// encode_header(jwt_alg::rs256) == "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9" (providers.md §5).
std::string encode_header(jwt_alg alg, const boost::json::object& extra = {});

// An RSA private key loaded from PEM, shareable (the key object is immutable once loaded).
class signing_key {
 public:
  // Errors: class needs_human, oauth_errc::bad_key; the message never quotes the PEM.
  static core::result<signing_key> from_pem(const core::secret<std::string>& pem);
  int bits() const noexcept;
  evp_pkey_st* native() const noexcept { return key_.get(); }

 private:
  std::shared_ptr<evp_pkey_st> key_;
};

// header.claims.signature; header = {"alg","typ":"JWT"} followed by `header_extra` (e.g. x5t).
core::result<core::secret<std::string>> sign_jwt(const boost::json::object& header_extra,
                                                 const boost::json::object& claims, const signing_key& key,
                                                 jwt_alg alg);

// Checks an RS256/PS256 signature with a PEM public key or certificate. For tests and the sandbox.
core::result<void> verify_signature(std::string_view jwt, std::string_view public_key_or_certificate_pem);

struct certificate_info {
  std::string x5t;       // base64url(SHA-1(DER))
  std::string x5t_s256;  // base64url(SHA-256(DER))
  std::string subject;   // one-line form, for messages
  wall_clock::time_point not_before{};
  wall_clock::time_point not_after{};
};
// Reads the first certificate of a PEM text.
core::result<certificate_info> read_certificate(std::string_view pem);
// True when the certificate's public key is the key's.
bool certificate_matches_key(std::string_view certificate_pem, const signing_key& key);

// --- looking inside tokens (never trusted) ---

struct decoded_jwt {
  boost::json::object header;
  boost::json::object claims;
};
// Splits a JWS compact token and decodes header and claims. Errors (not_a_jwt, class protocol)
// for anything else: opaque tokens, JWE (5 parts), bad base64url, non-object JSON, > 64 KiB.
core::result<decoded_jwt> decode_unverified(std::string_view token);

enum class token_format { jwt, opaque };

struct token_facts {
  token_format format = token_format::opaque;
  std::string opaque_kind;  // opaque: "Microsoft consumer token (EwB...)", "Google token (ya29.)", "unknown"
  std::string alg, typ;
  std::optional<wall_clock::time_point> expires_at, not_before, issued_at;
  std::vector<std::string> audiences;  // aud (string or array)
  std::vector<std::string> scopes;     // scp (space-delimited) or scope
  std::vector<std::string> roles;      // roles (app-only)
  std::string user;                    // upn, preferred_username, unique_name or email
  std::string tenant_id;               // tid
  std::string app_id;                  // appid, azp or client_id
  std::string issuer;                  // iss
  std::string subject;                 // sub
};
// Never fails: a token that is not a decodable JWT is opaque.
token_facts inspect_token(std::string_view token);

// Plain-language warnings when a token cannot work for SMTP with this provider and flow: Graph
// audience instead of Exchange, no SMTP.Send (delegated) / no SMTP.SendAsApp (app-only), expired.
// Empty for opaque tokens and for tokens that look right.
std::vector<std::string> smtp_suitability(const token_facts& facts, const provider_endpoints& endpoints,
                                          wall_clock::time_point now);

}  // namespace oauthmail::oauth
