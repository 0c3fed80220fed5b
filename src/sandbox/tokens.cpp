// The sandbox token authority (tokens.hpp): RS256 JWTs signed with the sandbox's own key, and
// their validation for the SMTP server.
#include "sandbox/tokens.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "core/base64.hpp"
#include "oauth/jwt.hpp"
#include "oauth/random.hpp"
#include "sandbox/pki.hpp"

namespace oauthmail::sandbox {
namespace {

core::error setup_error(std::string message) {
  return core::error(std::make_error_code(std::errc::io_error), std::move(message), core::failure_class::needs_human);
}

// Reads the signing key, or creates one (0600, never overwriting a file that appeared meanwhile).
core::result<std::string> load_or_create_key(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  auto pem = make_rsa_key();
  if (!pem) return pem.error();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return setup_error("cannot create the token signing key " + path + ": " + std::strerror(errno) +
                       "; check that the state folder exists and is writable");
  }
  const bool written = ::write(fd, pem->data(), pem->size()) == static_cast<ssize_t>(pem->size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return setup_error("cannot write the token signing key " + path + ": " + std::strerror(errno));
  return *pem;
}

std::string bignum_b64url(const BIGNUM* bn) {
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  return core::base64url_encode(bytes);
}

std::string sha256_b64url(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return core::base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string claim_string(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::vector<std::string> claim_strings(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(key);
  if (v == nullptr) return out;
  if (v->is_string()) {
    std::istringstream words{std::string(v->as_string())};
    for (std::string w; words >> w;) out.push_back(w);
  } else if (v->is_array()) {
    for (const auto& e : v->as_array()) {
      if (e.is_string()) out.emplace_back(e.as_string());
    }
  }
  return out;
}

std::optional<std::int64_t> claim_time(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return std::nullopt;
}

std::int64_t seconds(wall_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string_view describe(token_problem p) noexcept {
  switch (p) {
    case token_problem::malformed:
      return "the token is not a well-formed JWT";
    case token_problem::bad_signature:
      return "the token's signature is not the sandbox's";
    case token_problem::expired:
      return "the token has expired";
    case token_problem::not_yet_valid:
      return "the token is not valid yet (nbf in the future)";
    case token_problem::wrong_issuer:
      return "the token was issued by someone else";
    case token_problem::revoked:
      return "the token was revoked";
  }
  return "the token is not valid";
}

struct token_authority::state {
  oauth::signing_key key;
  std::string public_pem;
  std::string issuer;
  std::string kid;
  boost::json::object jwk;
  profile_kind profile = profile_kind::microsoft;
  std::string tenant_id;
  std::map<std::string, std::int64_t, std::less<>> revoked;  // jti -> exp
  oauth::random_source random = oauth::system_random();
};

core::result<token_authority> token_authority::open(const std::string& key_path, std::string issuer,
                                                    profile_kind profile, std::string tenant_id) {
  auto pem = load_or_create_key(key_path);
  if (!pem) return pem.error();
  auto key = oauth::signing_key::from_pem(core::secret<std::string>(std::move(*pem)));
  if (!key) {
    return setup_error("the token signing key " + key_path + " cannot be used (" + key.error().message() +
                       "); delete it to have a new one created");
  }
  auto st = std::make_shared<state>(
      state{std::move(*key), {}, std::move(issuer), {}, {}, profile, std::move(tenant_id), {}, oauth::system_random()});

  BIO* bio = BIO_new(BIO_s_mem());
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  const bool ok = bio != nullptr && PEM_write_bio_PUBKEY(bio, st->key.native()) == 1 &&
                  EVP_PKEY_get_bn_param(st->key.native(), OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
                  EVP_PKEY_get_bn_param(st->key.native(), OSSL_PKEY_PARAM_RSA_E, &e) == 1;
  if (ok) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    st->public_pem.assign(data, static_cast<std::size_t>(len));
    const std::string n64 = bignum_b64url(n);
    const std::string e64 = bignum_b64url(e);
    // RFC 7638 thumbprint as the key id: members in lexicographic order, no spaces.
    st->kid = sha256_b64url(R"({"e":")" + e64 + R"(","kty":"RSA","n":")" + n64 + R"("})");
    st->jwk = {{"kty", "RSA"}, {"use", "sig"}, {"alg", "RS256"}, {"kid", st->kid}, {"n", n64}, {"e", e64}};
  }
  BN_free(n);
  BN_free(e);
  BIO_free(bio);
  ERR_clear_error();
  if (!ok)
    return setup_error("the token signing key " + key_path + " is not an RSA key; delete it to have a new one created");
  token_authority a;
  a.state_ = std::move(st);
  return a;
}

core::secret<std::string> token_authority::mint(const token_grant& grant, wall_clock::time_point now) {
  auto& st = *state_;
  const std::int64_t iat = seconds(now);
  boost::json::object claims;
  if (grant.audiences.size() == 1) {
    claims["aud"] = grant.audiences.front();
  } else {
    boost::json::array aud;
    for (const auto& a : grant.audiences) aud.emplace_back(a);
    claims["aud"] = std::move(aud);
  }
  claims["iss"] = st.issuer;
  claims["iat"] = iat;
  claims["nbf"] = iat;
  claims["exp"] = iat + grant.lifetime.count();
  claims["jti"] = oauth::random_uuid(st.random);
  switch (st.profile) {
    case profile_kind::microsoft:
      claims["tid"] = st.tenant_id;
      claims["appid"] = grant.client_id;
      claims["ver"] = "1.0";
      break;
    case profile_kind::google:
      claims["azp"] = grant.client_id;
      break;
    case profile_kind::generic:
      claims["client_id"] = grant.client_id;
      break;
  }
  if (grant.user) {
    if (st.profile == profile_kind::microsoft) {
      claims["upn"] = *grant.user;
      claims["unique_name"] = *grant.user;
      claims["oid"] = sha256_b64url(*grant.user).substr(0, 22);
    } else {
      claims["email"] = *grant.user;
    }
    claims["sub"] = *grant.user;
  } else {
    claims["sub"] = grant.client_id;
  }
  if (!grant.scopes.empty()) {
    std::string joined;
    for (const auto& s : grant.scopes) joined += (joined.empty() ? "" : " ") + s;
    claims[st.profile == profile_kind::microsoft ? "scp" : "scope"] = joined;
  }
  if (!grant.roles.empty()) {
    boost::json::array roles;
    for (const auto& r : grant.roles) roles.emplace_back(r);
    claims["roles"] = std::move(roles);
  }
  boost::json::object header{{"kid", st.kid}};
  auto jwt = oauth::sign_jwt(header, claims, st.key, oauth::jwt_alg::rs256);
  if (!jwt)
    throw std::logic_error("signing with the sandbox key failed: " + jwt.error().message());  // key checked at open()
  return std::move(*jwt);
}

token_authority::validation token_authority::validate(std::string_view jwt, wall_clock::time_point now) const {
  const auto& st = *state_;
  validation v;
  auto decoded = oauth::decode_unverified(jwt);
  if (!decoded) {
    v.problem = token_problem::malformed;
    return v;
  }
  if (claim_string(decoded->header, "alg") != "RS256" || claim_string(decoded->header, "kid") != st.kid ||
      !oauth::verify_signature(jwt, st.public_pem)) {
    v.problem = token_problem::bad_signature;
    return v;
  }
  const auto& c = decoded->claims;
  if (claim_string(c, "iss") != st.issuer) {
    v.problem = token_problem::wrong_issuer;
    return v;
  }
  const auto exp = claim_time(c, "exp");
  const auto nbf = claim_time(c, "nbf");
  const std::int64_t t = seconds(now);
  if (!exp || *exp <= t) {
    v.problem = token_problem::expired;
    return v;
  }
  if (nbf && *nbf > t) {
    v.problem = token_problem::not_yet_valid;
    return v;
  }
  if (st.revoked.contains(claim_string(c, "jti"))) {
    v.problem = token_problem::revoked;
    return v;
  }
  validated_token tok;
  for (const char* key : {"appid", "azp", "client_id"}) {
    if (auto id = claim_string(c, key); !id.empty()) {
      tok.client_id = id;
      break;
    }
  }
  for (const char* key : {"upn", "email", "preferred_username"}) {
    if (auto u = claim_string(c, key); !u.empty()) {
      tok.user = u;
      break;
    }
  }
  tok.audiences = claim_strings(c, "aud");
  tok.scopes = claim_strings(c, c.contains("scp") ? "scp" : "scope");
  tok.roles = claim_strings(c, "roles");
  tok.expires_at = wall_clock::time_point(std::chrono::seconds(*exp));
  v.token = std::move(tok);
  return v;
}

void token_authority::revoke(std::string_view jwt, wall_clock::time_point now) {
  auto decoded = oauth::decode_unverified(jwt);
  if (!decoded || !oauth::verify_signature(jwt, state_->public_pem)) return;  // not ours: nothing to revoke
  const auto jti = claim_string(decoded->claims, "jti");
  const auto exp = claim_time(decoded->claims, "exp");
  if (jti.empty() || !exp) return;
  auto& revoked = state_->revoked;
  // Forget entries whose tokens have expired anyway, so the set stays bounded by live tokens.
  std::erase_if(revoked, [t = seconds(now)](const auto& entry) { return entry.second <= t; });
  revoked.emplace(jti, *exp);
}

boost::json::object token_authority::jwks() const { return {{"keys", boost::json::array{state_->jwk}}}; }
const std::string& token_authority::issuer() const noexcept { return state_->issuer; }
const std::string& token_authority::key_id() const noexcept { return state_->kid; }

}  // namespace oauthmail::sandbox
