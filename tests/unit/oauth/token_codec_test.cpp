// The token cache's JSON text: roundtrip, version, refusals.
#include "oauth/token_codec.hpp"

#include <gtest/gtest.h>

#include "oauth/errors.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using testing::at;

token_set sample() {
  token_set t;
  t.access_token = core::secret<std::string>("eyJ.access\"token\\with\nquotes");
  t.refresh_token = core::secret<std::string>("0.AXo-refresh");
  t.obtained_at = at(1700000000);
  t.expires_at = at(1700003599);
  t.scopes = {"https://outlook.office.com/SMTP.Send", "offline_access"};
  return t;
}

TEST(TokenCodec, Roundtrip) {
  const auto text = encode_token_set(sample());
  EXPECT_NE(text.expose().find("\"version\":1"), std::string::npos);
  auto back = decode_token_set(text);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->access_token.expose(), sample().access_token.expose());
  ASSERT_TRUE(back->refresh_token);
  EXPECT_EQ(back->refresh_token->expose(), "0.AXo-refresh");
  EXPECT_EQ(back->token_type, "Bearer");
  EXPECT_EQ(back->obtained_at, at(1700000000));
  EXPECT_EQ(back->expires_at, at(1700003599));
  EXPECT_EQ(back->scopes, sample().scopes);
}

TEST(TokenCodec, WithoutRefreshToken) {
  auto t = sample();
  t.refresh_token.reset();
  const auto text = encode_token_set(t);
  EXPECT_EQ(text.expose().find("refresh_token"), std::string::npos);
  auto back = decode_token_set(text);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->refresh_token);
}

TEST(TokenCodec, FixedFormat) {
  auto back = decode_token_set(core::secret<std::string>(
      R"({"version":1,"token_type":"Bearer","access_token":"a","obtained_at":10,"expires_at":20,"scopes":["s"]})"));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->expires_at, at(20));
}

TEST(TokenCodec, Refusals) {
  for (const char* text :
       {"", "not json", "[]", R"({"access_token":"a","obtained_at":1,"expires_at":2})",
        R"({"version":2,"access_token":"a","obtained_at":1,"expires_at":2})",
        R"({"version":1,"obtained_at":1,"expires_at":2})", R"({"version":1,"access_token":"a","expires_at":2})",
        R"({"version":1,"access_token":"a","obtained_at":-1,"expires_at":2})",
        R"({"version":1,"access_token":"a","refresh_token":5,"obtained_at":1,"expires_at":2})"}) {
    auto r = decode_token_set(core::secret<std::string>(text));
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code(), make_error_code(oauth_errc::bad_cache_entry)) << text;
    EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  }
  auto newer = decode_token_set(
      core::secret<std::string>(R"({"version":2,"access_token":"SECRETVALUE","obtained_at":1,"expires_at":2})"));
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message().find("version 2"), std::string::npos);
  EXPECT_EQ(newer.error().message().find("SECRETVALUE"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::oauth
