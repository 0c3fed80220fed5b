// RFC 7636 Appendix B vector, verifier rules, state, and the redirect a user pastes.
#include "oauth/pkce.hpp"

#include <gtest/gtest.h>

#include <array>

#include "oauth/errors.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

TEST(Pkce, Rfc7636AppendixB) {
  constexpr std::array<unsigned char, 32> octets = {116, 24,  223, 180, 151, 153, 224, 37,  79,  250, 96,
                                                    125, 216, 173, 187, 186, 22,  212, 37,  77,  105, 214,
                                                    191, 240, 91,  88,  5,   88,  83,  132, 141, 121};
  const pkce_pair p = pkce_from_octets(octets);
  EXPECT_EQ(p.verifier.expose(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  EXPECT_EQ(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  EXPECT_EQ(s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(Pkce, RandomVerifierIsValidAndFresh) {
  const auto a = make_pkce(system_random());
  const auto b = make_pkce(system_random());
  EXPECT_EQ(a.verifier.expose().size(), 43u);
  EXPECT_TRUE(valid_verifier(a.verifier.expose()));
  EXPECT_NE(a.verifier.expose(), b.verifier.expose());
  EXPECT_EQ(a.challenge, s256_challenge(a.verifier.expose()));
  EXPECT_EQ(a.challenge.find('='), std::string::npos);
}

TEST(Pkce, VerifierRules) {
  EXPECT_FALSE(valid_verifier(std::string(42, 'a')));
  EXPECT_TRUE(valid_verifier(std::string(43, 'a')));
  EXPECT_TRUE(valid_verifier(std::string(128, '~')));
  EXPECT_FALSE(valid_verifier(std::string(129, 'a')));
  EXPECT_FALSE(valid_verifier(std::string(42, 'a') + "+"));
}

TEST(Pkce, State) {
  const std::string s = make_state(testing::fixed_random(0xFF));
  EXPECT_EQ(s, "_____________________w");
  EXPECT_NE(make_state(system_random()), make_state(system_random()));
}

TEST(Redirect, LoopbackUri) {
  EXPECT_EQ(loopback_redirect_uri("127.0.0.1", 8400), "http://127.0.0.1:8400/");
  EXPECT_EQ(loopback_redirect_uri("localhost", 1234, "cb"), "http://localhost:1234/cb");
}

TEST(Redirect, PastedUrl) {
  auto r = parse_redirect("  http://127.0.0.1:53682/?code=0.AXo%2Bcode-value&state=xyz&session_state=1\n", "xyz");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->code.expose(), "0.AXo+code-value");
  EXPECT_EQ(r->state, "xyz");
}

TEST(Redirect, RequestTargetAndBareQuery) {
  auto t = parse_redirect("/?state=s1&code=abc", "s1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->code.expose(), "abc");
  auto q = parse_redirect("code=abc&state=s1", "s1");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->code.expose(), "abc");
}

TEST(Redirect, StateMismatchRefused) {
  auto r = parse_redirect("http://localhost:1/?code=SECRETCODE123&state=other", "mine");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), make_error_code(oauth_errc::redirect_error));
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(r.error().message().find("state"), std::string::npos);
  EXPECT_EQ(r.error().message().find("SECRETCODE123"), std::string::npos);
  EXPECT_FALSE(parse_redirect("http://localhost:1/?code=abc", "mine"));
}

TEST(Redirect, ProviderError) {
  auto r = parse_redirect(
      "http://localhost:2132/?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent&state=s",
      "s");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("access was denied"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("User declined to consent"), std::string::npos) << r.error().message();
}

TEST(Redirect, NoCodeOrDuplicate) {
  auto none = parse_redirect("http://127.0.0.1:1/?state=s", "s");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no `code`"), std::string::npos);
  EXPECT_FALSE(parse_redirect("http://127.0.0.1:1/?code=a&code=b&state=s", "s"));
  EXPECT_FALSE(parse_redirect("", "s"));
  EXPECT_FALSE(parse_redirect("http://127.0.0.1:1/", "s"));
}

}  // namespace
}  // namespace oauthmail::oauth
