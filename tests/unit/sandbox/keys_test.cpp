// Generated keys and self-signed certificates are usable by oauthmail's own JWT code (the
// private_key_jwt client of the sandbox signs with them; the identity provider verifies).
#include <gtest/gtest.h>

#include "oauth/jwt.hpp"
#include "sandbox/pki.hpp"

namespace oauthmail::sandbox {
namespace {

TEST(SandboxKeys, RsaKeyLoadsAsA2048BitSigningKey) {
  auto pem = make_rsa_key();
  ASSERT_TRUE(pem);
  EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);  // PKCS#8
  auto key = oauth::signing_key::from_pem(core::secret<std::string>(*pem));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->bits(), 2048);
}

TEST(SandboxKeys, SelfSignedCertificateMatchesItsKeyAndVerifiesSignatures) {
  auto kc = make_self_signed("app-cert.contoso.test");
  ASSERT_TRUE(kc);
  auto info = oauth::read_certificate(kc->certificate_pem);
  ASSERT_TRUE(info);
  EXPECT_NE(info->subject.find("app-cert.contoso.test"), std::string::npos);
  EXPECT_EQ(info->x5t.size(), 27u);       // base64url of 20 bytes
  EXPECT_EQ(info->x5t_s256.size(), 43u);  // base64url of 32 bytes
  EXPECT_LT(info->not_before, std::chrono::system_clock::now());
  EXPECT_GT(info->not_after, std::chrono::system_clock::now() + std::chrono::hours(24 * 365));

  auto key = oauth::signing_key::from_pem(core::secret<std::string>(kc->private_key_pem));
  ASSERT_TRUE(key);
  EXPECT_TRUE(oauth::certificate_matches_key(kc->certificate_pem, *key));
  auto jwt = oauth::sign_jwt({}, {{"iss", "x"}}, *key, oauth::jwt_alg::ps256);
  ASSERT_TRUE(jwt);
  EXPECT_TRUE(oauth::verify_signature(jwt->expose(), kc->certificate_pem));

  auto other = make_self_signed("other");
  ASSERT_TRUE(other);
  EXPECT_FALSE(oauth::verify_signature(jwt->expose(), other->certificate_pem));
}

}  // namespace
}  // namespace oauthmail::sandbox
