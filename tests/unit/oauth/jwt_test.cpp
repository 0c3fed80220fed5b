// JWS signing (RS256, PS256) and verification with keys generated in the test, certificate
// thumbprints, unverified decoding of access tokens and the SMTP suitability warnings.
#include "oauth/jwt.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/base64.hpp"
#include "oauth/errors.hpp"
#include "oauth/presets.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using testing::at;

std::string unsigned_jwt(const boost::json::object& header, const boost::json::object& claims) {
  return core::base64url_encode(boost::json::serialize(header)) + "." +
         core::base64url_encode(boost::json::serialize(claims)) + ".c2ln";
}

provider_endpoints endpoints(config::provider_kind p, config::flow_kind f) {
  auto a = testing::account(p, f);
  if (f == config::flow_kind::client_credentials) a.tenant = "contoso.onmicrosoft.com";
  auto e = resolve_provider(a);
  EXPECT_TRUE(e);
  return *e;
}

TEST(Jwt, HeaderVector) {
  EXPECT_EQ(encode_header(jwt_alg::rs256), "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9");
  EXPECT_EQ(core::base64url_decode(encode_header(jwt_alg::ps256)).value(), R"({"alg":"PS256","typ":"JWT"})");
}

class JwtSign : public ::testing::TestWithParam<jwt_alg> {};

TEST_P(JwtSign, SignVerifyRoundtrip) {
  const auto& k = testing::shared_key();
  auto key = signing_key::from_pem(core::secret<std::string>(k.private_pem));
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->bits(), 2048);
  boost::json::object claims;
  claims["iss"] = "me";
  claims["exp"] = 1700000300;
  auto jwt = sign_jwt({}, claims, *key, GetParam());
  ASSERT_TRUE(jwt) << jwt.error().message();
  const std::string& t = jwt->expose();
  EXPECT_TRUE(verify_signature(t, k.public_pem));
  EXPECT_TRUE(verify_signature(t, k.certificate_pem));
  // A changed payload fails.
  auto tampered = t;
  tampered[tampered.find('.') + 2] ^= 1;
  EXPECT_FALSE(verify_signature(tampered, k.public_pem));
  // Another key fails.
  const auto other = testing::make_key();
  EXPECT_FALSE(verify_signature(t, other.public_pem));
  auto d = decode_unverified(t);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->header.at("alg").as_string(), to_string(GetParam()));
  EXPECT_EQ(d->claims.at("iss").as_string(), "me");
}

INSTANTIATE_TEST_SUITE_P(Algorithms, JwtSign, ::testing::Values(jwt_alg::rs256, jwt_alg::ps256));

TEST(Jwt, Rs256IsDeterministicPs256IsNot) {
  const auto& k = testing::shared_key();
  auto key = signing_key::from_pem(core::secret<std::string>(k.private_pem)).value();
  boost::json::object c;
  c["a"] = 1;
  EXPECT_EQ(sign_jwt({}, c, key, jwt_alg::rs256)->expose(), sign_jwt({}, c, key, jwt_alg::rs256)->expose());
  EXPECT_NE(sign_jwt({}, c, key, jwt_alg::ps256)->expose(), sign_jwt({}, c, key, jwt_alg::ps256)->expose());
}

TEST(Jwt, VerifyRefusesOtherAlgorithms) {
  const auto& k = testing::shared_key();
  boost::json::object h{{"alg", "none"}};
  EXPECT_FALSE(verify_signature(unsigned_jwt(h, {}), k.public_pem));
  boost::json::object hs{{"alg", "HS256"}};
  EXPECT_FALSE(verify_signature(unsigned_jwt(hs, {}), k.public_pem));
}

TEST(Jwt, KeyErrorsNeverQuoteThePem) {
  const std::string secretish = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n";
  auto bad = signing_key::from_pem(core::secret<std::string>(secretish));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), make_error_code(oauth_errc::bad_key));
  EXPECT_EQ(bad.error().message().find("TOPSECRET"), std::string::npos);
  auto enc = signing_key::from_pem(core::secret<std::string>(
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nTOPSECRET\n-----END ENCRYPTED PRIVATE KEY-----"));
  ASSERT_FALSE(enc);
  EXPECT_NE(enc.error().message().find("encrypted"), std::string::npos);
  const auto small = testing::make_key(1024);
  auto weak = signing_key::from_pem(core::secret<std::string>(small.private_pem));
  ASSERT_FALSE(weak);
  EXPECT_NE(weak.error().message().find("1024"), std::string::npos);
}

TEST(Jwt, CertificateThumbprints) {
  const auto& k = testing::shared_key();
  auto info = read_certificate(k.certificate_pem);
  ASSERT_TRUE(info) << info.error().message();
  unsigned char sha1[20], sha256[32];
  unsigned int n = 0;
  EVP_Digest(k.certificate_der.data(), k.certificate_der.size(), sha1, &n, EVP_sha1(), nullptr);
  EVP_Digest(k.certificate_der.data(), k.certificate_der.size(), sha256, &n, EVP_sha256(), nullptr);
  EXPECT_EQ(info->x5t, core::base64url_encode(std::string_view(reinterpret_cast<char*>(sha1), 20)));
  EXPECT_EQ(info->x5t_s256, core::base64url_encode(std::string_view(reinterpret_cast<char*>(sha256), 32)));
  EXPECT_EQ(info->x5t.size(), 27u);
  EXPECT_EQ(info->x5t_s256.size(), 43u);
  EXPECT_NE(info->subject.find("oauthmail test"), std::string::npos);
  EXPECT_LT(info->not_before, wall_clock::now());
  EXPECT_GT(info->not_after, wall_clock::now());
  auto key = signing_key::from_pem(core::secret<std::string>(k.private_pem)).value();
  EXPECT_TRUE(certificate_matches_key(k.certificate_pem, key));
  EXPECT_FALSE(read_certificate("not a certificate"));
}

TEST(Jwt, DecodeUnverified) {
  EXPECT_FALSE(decode_unverified("EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA"));
  EXPECT_FALSE(decode_unverified("ya29.a0AfH6SMB"));
  EXPECT_FALSE(decode_unverified("a.b.c.d.e"));
  EXPECT_FALSE(decode_unverified("e30.W10.x"));  // claims is an array
  EXPECT_FALSE(decode_unverified(""));
  EXPECT_TRUE(decode_unverified("e30.e30."));  // {} . {} . (no signature)
  auto err = decode_unverified("x");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().code(), make_error_code(oauth_errc::not_a_jwt));
}

boost::json::object delegated_claims() {
  return boost::json::object{{"aud", "https://outlook.office.com"},
                             {"iss", "https://sts.windows.net/tid-1/"},
                             {"exp", 1700003600},
                             {"iat", 1700000000},
                             {"nbf", 1700000000},
                             {"scp", "SMTP.Send User.Read"},
                             {"upn", "user@contoso.com"},
                             {"tid", "tid-1"},
                             {"appid", "app-1"}};
}

TEST(Jwt, InspectMicrosoftDelegatedToken) {
  const auto facts = inspect_token(unsigned_jwt({{"typ", "JWT"}, {"alg", "RS256"}}, delegated_claims()));
  EXPECT_EQ(facts.format, token_format::jwt);
  EXPECT_EQ(facts.alg, "RS256");
  ASSERT_TRUE(facts.expires_at);
  EXPECT_EQ(*facts.expires_at, at(1700003600));
  EXPECT_EQ(facts.audiences, std::vector<std::string>{"https://outlook.office.com"});
  EXPECT_EQ(facts.scopes, (std::vector<std::string>{"SMTP.Send", "User.Read"}));
  EXPECT_EQ(facts.user, "user@contoso.com");
  EXPECT_EQ(facts.tenant_id, "tid-1");
  EXPECT_EQ(facts.app_id, "app-1");
  EXPECT_TRUE(smtp_suitability(facts, endpoints(config::provider_kind::microsoft, config::flow_kind::device_code),
                               at(1700000100))
                  .empty());
}

TEST(Jwt, ImpossibleDatesAreIgnored) {
  // Beyond what wall_clock (64-bit nanoseconds) holds, negative, or not a number: no date.
  for (const auto& exp : {boost::json::value(1e300), boost::json::value(184467440737), boost::json::value(-5),
                          boost::json::value("1700000000")}) {
    const auto facts = inspect_token(unsigned_jwt({{"alg", "RS256"}}, {{"exp", exp}}));
    EXPECT_EQ(facts.format, token_format::jwt);
    EXPECT_FALSE(facts.expires_at);
  }
}

TEST(Jwt, OpaqueTokensAreNotErrors) {
  const auto ms = inspect_token("EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA");
  EXPECT_EQ(ms.format, token_format::opaque);
  EXPECT_NE(ms.opaque_kind.find("Microsoft consumer"), std::string::npos);
  const auto g = inspect_token("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
  EXPECT_EQ(g.format, token_format::opaque);
  EXPECT_NE(g.opaque_kind.find("Google"), std::string::npos);
  EXPECT_TRUE(
      smtp_suitability(g, endpoints(config::provider_kind::google, config::flow_kind::authorization_code), at(0))
          .empty());
}

TEST(Jwt, GraphAudienceWarned) {
  auto claims = delegated_claims();
  claims["aud"] = "00000003-0000-0000-c000-000000000000";
  claims["scp"] = "Mail.Send SMTP.Send";
  const auto w =
      smtp_suitability(inspect_token(unsigned_jwt({{"alg", "RS256"}}, claims)),
                       endpoints(config::provider_kind::microsoft, config::flow_kind::device_code), at(1700000100));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("Microsoft Graph"), std::string::npos);
  EXPECT_NE(w[0].find("https://outlook.office.com"), std::string::npos);
}

TEST(Jwt, MissingSmtpSendWarned) {
  auto claims = delegated_claims();
  claims["scp"] = "IMAP.AccessAsUser.All";
  const auto w = smtp_suitability(inspect_token(unsigned_jwt({{"alg", "RS256"}}, claims)),
                                  endpoints(config::provider_kind::microsoft, config::flow_kind::authorization_code),
                                  at(1700000100));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("no SMTP.Send scope"), std::string::npos);
}

TEST(Jwt, AppOnlyNeedsSendAsAppRole) {
  boost::json::object claims{
      {"aud", "https://outlook.office365.com"}, {"exp", 1700003600}, {"roles", boost::json::array{"IMAP.AccessAsApp"}}};
  const auto e = endpoints(config::provider_kind::microsoft, config::flow_kind::client_credentials);
  const auto w = smtp_suitability(inspect_token(unsigned_jwt({{"alg", "RS256"}}, claims)), e, at(1700000100));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("no SMTP.SendAsApp role"), std::string::npos);
  claims["roles"] = boost::json::array{"SMTP.SendAsApp"};
  EXPECT_TRUE(smtp_suitability(inspect_token(unsigned_jwt({{"alg", "RS256"}}, claims)), e, at(1700000100)).empty());
  // Expired tokens are flagged too.
  const auto late = smtp_suitability(inspect_token(unsigned_jwt({{"alg", "RS256"}}, claims)), e, at(1700003600));
  ASSERT_EQ(late.size(), 1u);
  EXPECT_NE(late[0].find("expired"), std::string::npos);
}

TEST(Jwt, OtherAudienceWarned) {
  auto claims = delegated_claims();
  claims["aud"] = boost::json::array{"api://something-else"};
  const auto w =
      smtp_suitability(inspect_token(unsigned_jwt({{"alg", "RS256"}}, claims)),
                       endpoints(config::provider_kind::microsoft, config::flow_kind::device_code), at(1700000100));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("not Exchange Online"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::oauth
