// The sandbox token authority: minted tokens validate, and every way a token can be wrong is
// caught (signature, expiry, issuer, revocation); the key persists across restarts.
#include "sandbox/tokens.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/base64.hpp"
#include "oauth/jwt.hpp"

namespace oauthmail::sandbox {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TokenAuthority : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oauthmail-tokens-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string key_path() const { return (dir_ / "signing-key.pem").string(); }
  token_authority open(profile_kind p = profile_kind::microsoft, std::string issuer = "http://127.0.0.1:1/t/v2.0") {
    auto a = token_authority::open(key_path(), std::move(issuer), p, "tenant-1");
    EXPECT_TRUE(a) << (a ? "" : a.error().message());
    return std::move(*a);
  }
  static token_grant delegated() {
    token_grant g;
    g.client_id = "client-1";
    g.user = "sender@contoso.test";
    g.audiences = {"https://outlook.office.com"};
    g.scopes = {"SMTP.Send"};
    g.lifetime = 60s;
    return g;
  }
  fs::path dir_;
  const wall_clock::time_point t0 = wall_clock::time_point(std::chrono::seconds(1'800'000'000));
};

TEST_F(TokenAuthority, MintedDelegatedTokenValidatesWithItsClaims) {
  auto a = open();
  auto jwt = a.mint(delegated(), t0);
  auto v = a.validate(jwt.expose(), t0 + 1s);
  ASSERT_TRUE(v.token) << describe(*v.problem);
  EXPECT_EQ(v.token->client_id, "client-1");
  EXPECT_EQ(v.token->user, "sender@contoso.test");
  EXPECT_EQ(v.token->audiences, std::vector<std::string>{"https://outlook.office.com"});
  EXPECT_EQ(v.token->scopes, std::vector<std::string>{"SMTP.Send"});
  EXPECT_TRUE(v.token->roles.empty());
  EXPECT_EQ(v.token->expires_at, t0 + 60s);

  // Our own diagnostics read it as an Exchange token (what `oauthmail token show` would print).
  auto facts = oauth::inspect_token(jwt.expose());
  EXPECT_EQ(facts.format, oauth::token_format::jwt);
  EXPECT_EQ(facts.alg, "RS256");
  EXPECT_EQ(facts.tenant_id, "tenant-1");
  EXPECT_EQ(facts.user, "sender@contoso.test");
}

TEST_F(TokenAuthority, AppOnlyTokenCarriesRolesAndNoUser) {
  auto a = open();
  token_grant g;
  g.client_id = "app";
  g.audiences = {"https://outlook.office365.com"};
  g.roles = {"SMTP.SendAsApp"};
  auto v = a.validate(a.mint(g, t0).expose(), t0);
  ASSERT_TRUE(v.token);
  EXPECT_FALSE(v.token->user);
  EXPECT_EQ(v.token->roles, std::vector<std::string>{"SMTP.SendAsApp"});
}

TEST_F(TokenAuthority, GoogleTokensUseScopeAndEmail) {
  auto a = open(profile_kind::google, "http://127.0.0.1:1");
  token_grant g = delegated();
  g.scopes = {"https://mail.google.com/"};
  g.audiences = {"client-1"};
  auto jwt = a.mint(g, t0);
  auto claims = oauth::decode_unverified(jwt.expose())->claims;
  EXPECT_EQ(claims.at("scope").as_string(), "https://mail.google.com/");
  EXPECT_EQ(claims.at("email").as_string(), "sender@contoso.test");
  auto v = a.validate(jwt.expose(), t0);
  ASSERT_TRUE(v.token);
  EXPECT_EQ(v.token->scopes, std::vector<std::string>{"https://mail.google.com/"});
}

TEST_F(TokenAuthority, ExpiryIsExactAndNotBeforeIsChecked) {
  auto a = open();
  auto jwt = a.mint(delegated(), t0);
  EXPECT_TRUE(a.validate(jwt.expose(), t0 + 59s).token);
  EXPECT_EQ(a.validate(jwt.expose(), t0 + 60s).problem, token_problem::expired);
  EXPECT_EQ(a.validate(jwt.expose(), t0 - 5s).problem, token_problem::not_yet_valid);
}

TEST_F(TokenAuthority, ForeignAlteredAndUnsignedTokensAreRefused) {
  auto a = open();
  const std::string good = a.mint(delegated(), t0).expose();

  EXPECT_EQ(a.validate("not a token", t0).problem, token_problem::malformed);
  EXPECT_EQ(a.validate("EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA", t0).problem, token_problem::malformed);

  // Claims changed after signing (a different user).
  auto parts = good;
  const auto d1 = parts.find('.');
  const auto d2 = parts.find('.', d1 + 1);
  auto claims = oauth::decode_unverified(good)->claims;
  claims["upn"] = "other@contoso.test";
  const std::string forged =
      parts.substr(0, d1 + 1) + core::base64url_encode(boost::json::serialize(claims)) + parts.substr(d2);
  EXPECT_EQ(a.validate(forged, t0).problem, token_problem::bad_signature);

  // alg "none" with the same claims.
  const std::string none = core::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                           core::base64url_encode(boost::json::serialize(claims)) + ".";
  EXPECT_NE(a.validate(none, t0).problem, std::nullopt);

  // Signed by another sandbox (another key).
  auto other_dir = dir_ / "other";
  fs::create_directories(other_dir);
  auto other = token_authority::open((other_dir / "k.pem").string(), "http://127.0.0.1:1/t/v2.0",
                                     profile_kind::microsoft, "tenant-1");
  ASSERT_TRUE(other);
  EXPECT_EQ(a.validate(other->mint(delegated(), t0).expose(), t0).problem, token_problem::bad_signature);
}

TEST_F(TokenAuthority, WrongIssuerIsRefused) {
  auto a = open(profile_kind::microsoft, "http://127.0.0.1:1/t/v2.0");
  const std::string jwt = a.mint(delegated(), t0).expose();
  // Same key file, other issuer: a token from the first is not the second's.
  auto b = token_authority::open(key_path(), "http://127.0.0.1:2/t/v2.0", profile_kind::microsoft, "tenant-1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->validate(jwt, t0).problem, token_problem::wrong_issuer);
}

TEST_F(TokenAuthority, RevokedTokenIsRefusedOthersNot) {
  auto a = open();
  const std::string one = a.mint(delegated(), t0).expose();
  const std::string two = a.mint(delegated(), t0).expose();
  a.revoke(one, t0);
  EXPECT_EQ(a.validate(one, t0).problem, token_problem::revoked);
  EXPECT_TRUE(a.validate(two, t0).token);
}

TEST_F(TokenAuthority, KeyIsCreatedPrivateAndReusedAfterRestart) {
  const std::string jwt = open().mint(delegated(), t0).expose();
  struct stat st {};
  ASSERT_EQ(::stat(key_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto again = open();
  EXPECT_TRUE(again.validate(jwt, t0).token);  // tokens survive a sandbox restart
}

TEST_F(TokenAuthority, JwksPublishesTheKeyThatVerifies) {
  auto a = open();
  auto jwks = a.jwks();
  const auto& key = jwks.at("keys").as_array().at(0).as_object();
  EXPECT_EQ(key.at("kty").as_string(), "RSA");
  EXPECT_EQ(key.at("kid").as_string(), a.key_id());
  EXPECT_EQ(key.at("e").as_string(), "AQAB");
  EXPECT_GT(key.at("n").as_string().size(), 300u);  // 2048-bit modulus
  auto header = oauth::decode_unverified(a.mint(delegated(), t0).expose())->header;
  EXPECT_EQ(header.at("kid").as_string(), a.key_id());
}

TEST_F(TokenAuthority, UnusableKeyFileIsAClearError) {
  std::ofstream(key_path()) << "not a key";
  auto a = token_authority::open(key_path(), "i", profile_kind::microsoft, "t");
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message().find("delete it"), std::string::npos);
  EXPECT_EQ(a.error().message().find("not a key"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::sandbox
