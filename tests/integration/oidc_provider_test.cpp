// The real OpenID provider peer (peers/oidc_provider.mjs: npm oidc-provider 9.x) driven with
// net::perform over https with the test PKI: discovery; client_credentials with client_secret_post,
// client_secret_basic and private_key_jwt (RS256, key made here) giving JWT access tokens whose
// claims are checked; the device flow approved headlessly; authorization code with PKCE (RFC 7636
// Appendix B vector); refresh-token rotation (a used refresh token is refused); revocation; the
// provider's counters; and a provider that is stopped and started again keeping its grants.
// The fixture below (oidc_peer) is the way to start the peer from C++; see the script's header for
// every option.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "integration/support/harness.hpp"
#include "net/http_client.hpp"

namespace oauthmail::testing {
namespace {

namespace json = boost::json;

constexpr const char* kClientSecret = "oauthmail-test-client-secret-7c1f";  // the peer's default

// ---- the peer ------------------------------------------------------------------------------------

class oidc_peer {
 public:
  struct options {
    int access_ttl = 60;
    std::optional<fs::path> client_jwks;
    bool https = true;
  };

  oidc_peer(const temp_dir& dir, options opts) : dir_(dir), opts_(std::move(opts)), state_(dir / "oidc-state") {
    const fs::path modules = fs::path(OAUTHMAIL_PEERS_DIR) / ".." / ".." / "node_modules" / "oidc-provider";
    if (!fs::exists(modules)) {
      throw std::runtime_error("tests/node_modules/oidc-provider is missing: run `bash scripts/install-deps`");
    }
    for (int attempt = 0;; ++attempt) {
      port_ = free_port();
      try {
        start();
        return;
      } catch (const std::runtime_error&) {
        if (attempt == 2) throw;
      }
    }
  }

  // Starts the provider on the same port with the same state (after stop()).
  void start() {
    const fs::path ready = dir_ / ("oidc-ready-" + std::to_string(port_));
    fs::remove(ready);
    spawn_options o;
    o.argv = {"node",         std::string(OAUTHMAIL_PEERS_DIR) + "/oidc_provider.mjs",
              "--port",       std::to_string(port_),
              "--ready-file", ready.string(),
              "--access-ttl", std::to_string(opts_.access_ttl),
              "--state-dir",  state_.string()};
    if (opts_.https) {
      for (const auto& a : {std::string("--cert"), pki().server_cert.string(), std::string("--key"),
                            pki().server_key.string(), std::string("--ca"), pki().ca_cert.string()})
        o.argv.push_back(a);
    }
    if (opts_.client_jwks) {
      o.argv.push_back("--client-jwks");
      o.argv.push_back(opts_.client_jwks->string());
    }
    o.stdout_path = dir_ / ("oidc-" + std::to_string(port_) + "-" + std::to_string(++starts_) + ".log");
    child_.emplace(child_process::start(std::move(o)));
    child_->wait_for_file(ready, std::chrono::seconds(30));
    std::string text = read_file(ready);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    issuer_ = text;
  }
  void stop() { child_->stop(); }

  const std::string& issuer() const noexcept { return issuer_; }
  std::uint16_t port() const noexcept { return port_; }
  std::string log() const { return child_->log(); }

  net::http_options http() const {
    net::http_options o;
    if (opts_.https) o.ca_file = pki().ca_cert.string();
    o.timeout = std::chrono::seconds(20);
    return o;
  }

 private:
  const temp_dir& dir_;
  options opts_;
  fs::path state_;
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::string issuer_;
  std::optional<child_process> child_;
};

// ---- small helpers ------------------------------------------------------------------------------

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    for (const std::string* s : {&k, &v}) {
      for (unsigned char c : *s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
          out += static_cast<char>(c);
        } else {
          char buf[4];
          std::snprintf(buf, sizeof buf, "%%%02X", c);
          out += buf;
        }
      }
      if (s == &k) out += '=';
    }
  }
  return out;
}

oauth::http_request post(const std::string& url, const std::vector<std::pair<std::string, std::string>>& fields) {
  oauth::http_request r;
  r.method = "POST";
  r.url = url;
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  r.body = core::secret<std::string>(form_encode(fields));
  return r;
}

struct reply {
  int status = 0;
  json::object body;
};

reply call(const oidc_peer& peer, const oauth::http_request& request) {
  auto r = net::perform(request, peer.http());
  if (!r) throw std::runtime_error("HTTP to the provider failed: " + r.error().message());
  reply out;
  out.status = r->status;
  if (!r->body.empty()) {
    boost::system::error_code ec;
    auto v = json::parse(r->body, ec);
    if (!ec && v.is_object()) out.body = v.as_object();
  }
  return out;
}

reply get(const oidc_peer& peer, const std::string& path) {
  oauth::http_request r;
  r.method = "GET";
  r.url = peer.issuer() + path;
  return call(peer, r);
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t num(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : -1;
}

// The header and claims of a JWT, decoded (not verified: the provider's signature is its business).
struct jwt_parts {
  json::object header;
  json::object claims;
};
jwt_parts decode_jwt(const std::string& token) {
  const auto dot1 = token.find('.');
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot1 == std::string::npos || dot2 == std::string::npos) throw std::runtime_error("not a JWT");
  auto h = core::base64url_decode(token.substr(0, dot1));
  auto c = core::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!h || !c) throw std::runtime_error("JWT parts are not base64url");
  return {json::parse(*h).as_object(), json::parse(*c).as_object()};
}

// ---- an RSA key for private_key_jwt --------------------------------------------------------------

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

class rsa_client_key {
 public:
  rsa_client_key() : key_(EVP_RSA_gen(2048)) {
    if (!key_) throw std::runtime_error("EVP_RSA_gen");
  }

  // {"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":...,"e":...}]}
  std::string public_jwks() const {
    auto component = [&](const char* name) {
      BIGNUM* bn = nullptr;
      if (EVP_PKEY_get_bn_param(key_.get(), name, &bn) != 1) throw std::runtime_error("RSA parameter");
      std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
      BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
      BN_free(bn);
      return core::base64url_encode(bytes);
    };
    json::object jwk{{"kty", "RSA"},
                     {"kid", "k1"},
                     {"alg", "RS256"},
                     {"use", "sig"},
                     {"n", component(OSSL_PKEY_PARAM_RSA_N)},
                     {"e", component(OSSL_PKEY_PARAM_RSA_E)}};
    return json::serialize(json::object{{"keys", json::array{jwk}}});
  }

  // An RFC 7523 client assertion for `client_id` at `audience`.
  std::string assertion(const std::string& client_id, const std::string& audience, const std::string& jti) const {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string header = core::base64url_encode(R"({"alg":"RS256","typ":"JWT","kid":"k1"})");
    const std::string claims = core::base64url_encode(json::serialize(json::object{
        {"iss", client_id}, {"sub", client_id}, {"aud", audience}, {"iat", now}, {"exp", now + 300}, {"jti", jti}}));
    const std::string input = header + "." + claims;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::size_t len = 0;
    if (EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) !=
            1)
      throw std::runtime_error("sign");
    std::string sig(len, '\0');
    if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      throw std::runtime_error("sign");
    sig.resize(len);
    return input + "." + core::base64url_encode(sig);
  }

 private:
  std::unique_ptr<EVP_PKEY, pkey_deleter> key_;
};

// ---- the tests -----------------------------------------------------------------------------------

class OidcProviderTest : public ::testing::Test {
 protected:
  std::string endpoint(const oidc_peer& peer, const std::string& path) { return peer.issuer() + path; }

  // Device flow for oauthmail-public, approved by the peer's headless user: the token response.
  json::object device_tokens(const oidc_peer& peer) {
    auto start = call(peer, post(endpoint(peer, "/device/auth"),
                                 {{"client_id", "oauthmail-public"}, {"scope", "SMTP.Send offline_access"}}));
    EXPECT_EQ(start.status, 200);
    const std::string device_code = str(start.body, "device_code");
    auto approved =
        call(peer, post(endpoint(peer, "/test/device/approve"), {{"user_code", str(start.body, "user_code")}}));
    EXPECT_EQ(approved.status, 200) << str(approved.body, "error");
    auto tokens =
        call(peer, post(endpoint(peer, "/token"), {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                                                   {"client_id", "oauthmail-public"},
                                                   {"device_code", device_code}}));
    EXPECT_EQ(tokens.status, 200) << str(tokens.body, "error");
    return tokens.body;
  }

  reply refresh(const oidc_peer& peer, const std::string& refresh_token) {
    return call(peer, post(endpoint(peer, "/token"), {{"grant_type", "refresh_token"},
                                                      {"client_id", "oauthmail-public"},
                                                      {"refresh_token", refresh_token}}));
  }

  test_deadline deadline_{std::chrono::seconds(120), "OidcProviderTest"};
  temp_dir dir_;
};

TEST_F(OidcProviderTest, DiscoveryDescribesTheEndpoints) {
  oidc_peer peer(dir_, {});
  EXPECT_EQ(peer.issuer(), "https://127.0.0.1:" + std::to_string(peer.port()));
  auto d = get(peer, "/.well-known/openid-configuration");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(str(d.body, "issuer"), peer.issuer());
  EXPECT_EQ(str(d.body, "token_endpoint"), peer.issuer() + "/token");
  EXPECT_EQ(str(d.body, "device_authorization_endpoint"), peer.issuer() + "/device/auth");
  EXPECT_EQ(str(d.body, "revocation_endpoint"), peer.issuer() + "/token/revocation");
  EXPECT_EQ(str(d.body, "introspection_endpoint"), peer.issuer() + "/token/introspection");
  EXPECT_EQ(str(d.body, "jwks_uri"), peer.issuer() + "/jwks");
  std::vector<std::string> grants;
  for (const auto& g : d.body.at("grant_types_supported").as_array()) grants.emplace_back(g.as_string());
  for (const char* g :
       {"client_credentials", "refresh_token", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code"})
    EXPECT_NE(std::find(grants.begin(), grants.end(), g), grants.end()) << g;
}

TEST_F(OidcProviderTest, ClientCredentialsWithASecretGiveAJwtForTheSmtpResource) {
  oidc_peer::options o;
  o.access_ttl = 90;
  oidc_peer peer(dir_, o);
  auto r = call(peer, post(endpoint(peer, "/token"), {{"grant_type", "client_credentials"},
                                                      {"client_id", "oauthmail-cc-post"},
                                                      {"client_secret", kClientSecret},
                                                      {"scope", "SMTP.SendAsApp"}}));
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(str(r.body, "token_type"), "Bearer");
  EXPECT_EQ(num(r.body, "expires_in"), 90);
  EXPECT_EQ(str(r.body, "scope"), "SMTP.SendAsApp");
  EXPECT_EQ(r.body.if_contains("refresh_token"), nullptr);
  const auto jwt = decode_jwt(str(r.body, "access_token"));
  EXPECT_EQ(str(jwt.header, "alg"), "RS256");
  EXPECT_EQ(str(jwt.header, "typ"), "at+jwt");  // RFC 9068
  EXPECT_EQ(str(jwt.claims, "iss"), peer.issuer());
  EXPECT_EQ(str(jwt.claims, "aud"), "urn:oauthmail:smtp");
  EXPECT_EQ(str(jwt.claims, "client_id"), "oauthmail-cc-post");
  EXPECT_EQ(str(jwt.claims, "sub"), "oauthmail-cc-post");
  EXPECT_EQ(str(jwt.claims, "scope"), "SMTP.SendAsApp");
  EXPECT_EQ(num(jwt.claims, "exp") - num(jwt.claims, "iat"), 90);

  // client_secret_basic: the same secret in the Authorization header.
  auto basic = post(endpoint(peer, "/token"), {{"grant_type", "client_credentials"}, {"scope", "SMTP.SendAsApp"}});
  basic.headers.emplace_back("Authorization",
                             "Basic " + core::base64_encode(std::string("oauthmail-cc-basic:") + kClientSecret));
  basic.headers_secret = true;
  auto b = call(peer, basic);
  ASSERT_EQ(b.status, 200) << json::serialize(b.body);
  EXPECT_EQ(str(decode_jwt(str(b.body, "access_token")).claims, "client_id"), "oauthmail-cc-basic");

  // A resource whose audience is not SMTP (like Graph), and a wrong secret.
  auto graph = call(peer, post(endpoint(peer, "/token"), {{"grant_type", "client_credentials"},
                                                          {"client_id", "oauthmail-cc-post"},
                                                          {"client_secret", kClientSecret},
                                                          {"resource", "urn:oauthmail:graph"},
                                                          {"scope", "Mail.Send"}}));
  ASSERT_EQ(graph.status, 200) << json::serialize(graph.body);
  EXPECT_EQ(str(decode_jwt(str(graph.body, "access_token")).claims, "aud"), "urn:oauthmail:graph");
  auto wrong = call(peer, post(endpoint(peer, "/token"), {{"grant_type", "client_credentials"},
                                                          {"client_id", "oauthmail-cc-post"},
                                                          {"client_secret", "not-the-secret"}}));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(str(wrong.body, "error"), "invalid_client");

  // Counted at the provider: 4 token requests, 3 issued, 1 invalid_client.
  auto counters = get(peer, "/test/counters");
  ASSERT_EQ(counters.status, 200);
  EXPECT_EQ(num(counters.body, "token_requests"), 4);
  EXPECT_EQ(num(counters.body.at("issued").as_object(), "client_credentials"), 3);
  EXPECT_EQ(num(counters.body.at("errors").as_object(), "invalid_client"), 1);
  EXPECT_EQ(count_occurrences(peer.log(), "TOKEN_ISSUED grant=client_credentials"), 3u) << peer.log();
  EXPECT_EQ(peer.log().find(kClientSecret), std::string::npos);
}

TEST_F(OidcProviderTest, ClientCredentialsWithPrivateKeyJwt) {
  rsa_client_key key;
  write_file(dir_ / "client-jwks.json", key.public_jwks());
  oidc_peer::options o;
  o.client_jwks = dir_ / "client-jwks.json";
  oidc_peer peer(dir_, o);
  const std::string aud = peer.issuer() + "/token";
  auto r = call(peer, post(aud, {{"grant_type", "client_credentials"},
                                 {"client_id", "oauthmail-cc-jwt"},
                                 {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                                 {"client_assertion", key.assertion("oauthmail-cc-jwt", aud, "jti-1")},
                                 {"scope", "SMTP.SendAsApp"}}));
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(str(decode_jwt(str(r.body, "access_token")).claims, "client_id"), "oauthmail-cc-jwt");

  // An assertion from another key is refused.
  rsa_client_key other;
  auto bad = call(peer, post(aud, {{"grant_type", "client_credentials"},
                                   {"client_id", "oauthmail-cc-jwt"},
                                   {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                                   {"client_assertion", other.assertion("oauthmail-cc-jwt", aud, "jti-2")}}));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(str(bad.body, "error"), "invalid_client");
}

TEST_F(OidcProviderTest, DeviceFlowApprovedHeadlesslyAndRefreshTokenRotation) {
  oidc_peer peer(dir_, {});
  auto start = call(peer, post(endpoint(peer, "/device/auth"),
                               {{"client_id", "oauthmail-public"}, {"scope", "SMTP.Send offline_access"}}));
  ASSERT_EQ(start.status, 200);
  EXPECT_EQ(str(start.body, "verification_uri"), peer.issuer() + "/device");
  const auto poll = [&] {
    return call(peer, post(endpoint(peer, "/token"), {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                                                      {"client_id", "oauthmail-public"},
                                                      {"device_code", str(start.body, "device_code")}}));
  };
  auto pending = poll();
  EXPECT_EQ(pending.status, 400);
  EXPECT_EQ(str(pending.body, "error"), "authorization_pending");

  auto approved =
      call(peer, post(endpoint(peer, "/test/device/approve"), {{"user_code", str(start.body, "user_code")}}));
  ASSERT_EQ(approved.status, 200) << str(approved.body, "error");
  EXPECT_NE(peer.log().find("DEVICE_APPROVED"), std::string::npos);

  auto tokens = poll();
  ASSERT_EQ(tokens.status, 200) << json::serialize(tokens.body);
  const std::string rt1 = str(tokens.body, "refresh_token");
  ASSERT_FALSE(rt1.empty());
  const auto claims = decode_jwt(str(tokens.body, "access_token")).claims;
  EXPECT_EQ(str(claims, "aud"), "urn:oauthmail:smtp");
  EXPECT_EQ(str(claims, "sub"), "alice");
  EXPECT_EQ(str(claims, "scope"), "SMTP.Send");

  // Rotation: every refresh returns a new refresh token; the used one is refused afterwards.
  auto r2 = refresh(peer, rt1);
  ASSERT_EQ(r2.status, 200) << json::serialize(r2.body);
  const std::string rt2 = str(r2.body, "refresh_token");
  ASSERT_FALSE(rt2.empty());
  EXPECT_NE(rt2, rt1);
  auto r3 = refresh(peer, rt2);
  ASSERT_EQ(r3.status, 200) << json::serialize(r3.body);
  EXPECT_NE(str(r3.body, "refresh_token"), rt2);
  const std::string rt3 = str(r3.body, "refresh_token");
  auto reused = refresh(peer, rt1);
  EXPECT_EQ(reused.status, 400);
  EXPECT_EQ(str(reused.body, "error"), "invalid_grant");

  // The device code is used up; replaying it revokes the whole grant (so does reusing a rotated
  // refresh token): the newest refresh token dies too.
  EXPECT_EQ(str(poll().body, "error"), "invalid_grant");
  EXPECT_EQ(str(refresh(peer, rt3).body, "error"), "invalid_grant");

  auto counters = get(peer, "/test/counters");
  EXPECT_EQ(num(counters.body.at("issued").as_object(), "refresh_token"), 2);
  EXPECT_EQ(num(counters.body.at("issued").as_object(), "urn:ietf:params:oauth:grant-type:device_code"), 1);
  EXPECT_EQ(num(counters.body, "device_authorizations"), 1);
}

TEST_F(OidcProviderTest, DeviceFlowDeniedByTheUser) {
  oidc_peer peer(dir_, {});
  auto start =
      call(peer, post(endpoint(peer, "/device/auth"), {{"client_id", "oauthmail-public"}, {"scope", "SMTP.Send"}}));
  ASSERT_EQ(start.status, 200);
  auto denied = call(peer, post(endpoint(peer, "/test/device/deny"), {{"user_code", str(start.body, "user_code")}}));
  ASSERT_EQ(denied.status, 200) << str(denied.body, "error");
  auto r = call(peer, post(endpoint(peer, "/token"), {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                                                      {"client_id", "oauthmail-public"},
                                                      {"device_code", str(start.body, "device_code")}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(str(r.body, "error"), "access_denied");
}

TEST_F(OidcProviderTest, AuthorizationCodeWithPkce) {
  oidc_peer peer(dir_, {});
  // RFC 7636 Appendix B.
  const std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::string challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  const std::string redirect = "http://127.0.0.1:53682/callback";  // any loopback port (RFC 8252)
  const std::string url = peer.issuer() + "/auth?" +
                          form_encode({{"client_id", "oauthmail-public"},
                                       {"response_type", "code"},
                                       {"redirect_uri", redirect},
                                       {"scope", "SMTP.Send offline_access"},
                                       {"state", "st-1"},
                                       {"code_challenge", challenge},
                                       {"code_challenge_method", "S256"}});
  auto a = call(peer, post(endpoint(peer, "/test/authorize"), {{"url", url}, {"account", "bob"}}));
  ASSERT_EQ(a.status, 200) << str(a.body, "error");
  const std::string to = str(a.body, "redirect");
  ASSERT_EQ(to.rfind(redirect + "?", 0), 0u) << to;
  EXPECT_NE(to.find("state=st-1"), std::string::npos);
  const auto at = to.find("code=") + 5;
  const std::string code = to.substr(at, to.find('&', at) - at);

  auto wrong = call(peer, post(endpoint(peer, "/token"), {{"grant_type", "authorization_code"},
                                                          {"client_id", "oauthmail-public"},
                                                          {"code", code},
                                                          {"redirect_uri", redirect},
                                                          {"code_verifier", std::string(43, 'a')}}));
  EXPECT_EQ(str(wrong.body, "error"), "invalid_grant");

  // The code is bound to the challenge: a wrong verifier is refused. A fresh code with the right
  // verifier gives the tokens.
  auto a2 = call(peer, post(endpoint(peer, "/test/authorize"), {{"url", url}, {"account", "bob"}}));
  ASSERT_EQ(a2.status, 200);
  const std::string to2 = str(a2.body, "redirect");
  const auto at2 = to2.find("code=") + 5;
  auto tokens = call(peer, post(endpoint(peer, "/token"), {{"grant_type", "authorization_code"},
                                                           {"client_id", "oauthmail-public"},
                                                           {"code", to2.substr(at2, to2.find('&', at2) - at2)},
                                                           {"redirect_uri", redirect},
                                                           {"code_verifier", verifier}}));
  ASSERT_EQ(tokens.status, 200) << json::serialize(tokens.body);
  EXPECT_FALSE(str(tokens.body, "refresh_token").empty());
  EXPECT_EQ(str(decode_jwt(str(tokens.body, "access_token")).claims, "sub"), "bob");
}

TEST_F(OidcProviderTest, RevokedRefreshTokenIsRefused) {
  oidc_peer peer(dir_, {});
  const auto tokens = device_tokens(peer);
  const std::string rt = str(tokens, "refresh_token");
  ASSERT_FALSE(rt.empty());
  auto revoked =
      call(peer, post(endpoint(peer, "/token/revocation"),
                      {{"client_id", "oauthmail-public"}, {"token", rt}, {"token_type_hint", "refresh_token"}}));
  EXPECT_EQ(revoked.status, 200);
  auto r = refresh(peer, rt);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(str(r.body, "error"), "invalid_grant");
  EXPECT_EQ(num(get(peer, "/test/counters").body, "revocations"), 1);
  EXPECT_NE(peer.log().find("REVOKED"), std::string::npos);
  EXPECT_NE(peer.log().find("TOKEN_ERROR grant=refresh_token error=invalid_grant"), std::string::npos);
}

TEST_F(OidcProviderTest, ProviderThatGoesAwayAndComesBackKeepsItsGrants) {
  oidc_peer peer(dir_, {});
  const std::string rt = str(device_tokens(peer), "refresh_token");
  ASSERT_FALSE(rt.empty());
  peer.stop();
  auto down = net::perform(post(peer.issuer() + "/token", {{"grant_type", "refresh_token"}}), peer.http());
  ASSERT_FALSE(down.has_value());
  EXPECT_EQ(down.error().code(), net::make_error_code(net::http_errc::connect_failed));
  EXPECT_EQ(down.error().classification(), core::failure_class::transient);
  peer.start();
  auto r = refresh(peer, rt);
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_FALSE(str(r.body, "refresh_token").empty());
}

}  // namespace
}  // namespace oauthmail::testing
