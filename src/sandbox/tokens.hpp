// The sandbox's token authority: mints RS256 JWT access tokens (RFC 9068 shape, with Microsoft's
// and Google's claim names) and validates them for the SMTP server for real: signature against
// its own key, expiry, audience, scope (delegated `scp`) or role (app-only `roles`), and who the
// token is for. Refresh tokens, device codes and authorization codes are opaque random strings
// kept by the identity provider, not here.
//
// Microsoft profile claims: aud "https://outlook.office.com" (delegated) or
// "https://outlook.office365.com" (app-only), iss "<base>/<tenant>/v2.0", tid, appid/azp,
// scp "SMTP.Send" (delegated: from https://outlook.office.com/SMTP.Send) or roles ["SMTP.SendAsApp"]
// (app-only: from https://outlook.office365.com/.default), upn/preferred_username (delegated),
// oid, exp/nbf/iat. A Graph scope gives aud "https://graph.microsoft.com" (which SMTP refuses).
// Google profile: aud = the client id, scope "https://mail.google.com/", email/sub of the user.
// Must not: accept alg "none" or HMAC; log a token (the JWT is secret<>).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/secret.hpp"
#include "oauth/token.hpp"
#include "sandbox/directory.hpp"

namespace oauthmail::sandbox {

using oauth::wall_clock;

// What a token grants, decided by the identity provider from the grant and the requested scopes.
struct token_grant {
  std::string client_id;
  std::optional<std::string> user;     // delegated: the mailbox; app-only: none
  std::vector<std::string> audiences;  // usually one
  std::vector<std::string> scopes;     // delegated, without the resource prefix ("SMTP.Send")
  std::vector<std::string> roles;      // app-only ("SMTP.SendAsApp")
  std::chrono::seconds lifetime{3599};
};

struct validated_token {
  std::string client_id;
  std::optional<std::string> user;
  std::vector<std::string> audiences;
  std::vector<std::string> scopes;
  std::vector<std::string> roles;
  wall_clock::time_point expires_at{};
};

enum class token_problem {
  malformed = 1,  // not a JWT, bad base64, bad JSON
  bad_signature,  // not signed by this sandbox (or alg none/HS256)
  expired,        // exp <= now (with no leeway)
  not_yet_valid,  // nbf > now
  wrong_issuer,
  revoked,  // its jti was revoked (RFC 7009 on an access token)
};
std::string_view describe(token_problem p) noexcept;  // plain words, for logs and the HTTP API

class token_authority {
 public:
  // Loads the PEM signing key from `key_path`, creating a new 2048-bit RSA key (mode 0600) when
  // the file does not exist. `issuer` is the `iss` of every token.
  static core::result<token_authority> open(const std::string& key_path, std::string issuer, profile_kind profile,
                                            std::string tenant_id);

  core::secret<std::string> mint(const token_grant& grant, wall_clock::time_point now);
  // Signature, issuer, time; never audience or scope (the SMTP policy judges those).
  struct validation {
    std::optional<validated_token> token;  // set when valid
    std::optional<token_problem> problem;  // set when not
  };
  validation validate(std::string_view jwt, wall_clock::time_point now) const;
  void revoke(std::string_view jwt, wall_clock::time_point now);  // by jti, until it would expire anyway

  boost::json::object jwks() const;  // {"keys":[{"kty":"RSA","use":"sig","kid":...,"n":...,"e":...,"alg":"RS256"}]}
  const std::string& issuer() const noexcept;
  const std::string& key_id() const noexcept;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace oauthmail::sandbox
