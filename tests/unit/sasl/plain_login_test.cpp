// PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), including Exchange's prompts and servers
// with other prompt text.
#include <gtest/gtest.h>

#include "unit/sasl/helpers.hpp"

namespace oauthmail::sasl {
namespace {

using testing::creds;
using testing::decode;
using testing::initial_bytes;

TEST(Plain, InitialResponse) {
  auto m = make_client(mechanism::plain, creds("tim", "tanstaaftanstaaf"));
  EXPECT_EQ(m->name(), "PLAIN");
  const std::string bytes = initial_bytes(*m);
  EXPECT_EQ(bytes, std::string("\0tim\0tanstaaftanstaaf", 21));
  // RFC 4616 §4 example, without authzid.
  EXPECT_EQ(core::base64_encode(bytes), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
}

TEST(Plain, ChallengeAfterCredentialsIsUnexpected) {
  auto m = make_client(mechanism::plain, creds("tim", "pw"));
  ASSERT_TRUE(m->start());
  auto r = m->step("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::unexpected_challenge);
  EXPECT_EQ(r.error().classification(), core::failure_class::protocol);
}

TEST(Plain, EmptyChallengeBeforeStartGivesTheInitialResponse) {
  auto m = make_client(mechanism::plain, creds("tim", "pw"));
  auto r = m->step("");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes.expose(), std::string("\0tim\0pw", 7));
}

TEST(Plain, RefusesBadCredentials) {
  for (const std::string& user :
       {std::string("t\0im", 4), std::string("tim\r\n"), std::string("t\x01"), std::string("")}) {
    auto r = make_client(mechanism::plain, creds(user, "hunter2hunter2"))->start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
    EXPECT_EQ(r.error().message().find("hunter2"), std::string::npos);
  }
  for (const std::string& pw : {std::string(""), std::string("hunter2\0x", 9)}) {
    auto r = make_client(mechanism::plain, creds("tim", pw))->start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
    EXPECT_EQ(r.error().message().find("hunter2"), std::string::npos);
  }
}

TEST(Login, NoInitialResponse) {
  auto m = make_client(mechanism::login, creds("user@contoso.com", "pw"));
  EXPECT_EQ(m->name(), "LOGIN");
  auto r = m->start();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
}

TEST(Login, ExchangePrompts) {
  auto m = make_client(mechanism::login, creds("user@contoso.com", "pa55word"));
  ASSERT_TRUE(m->start());
  auto u = m->step(decode("VXNlcm5hbWU6"));  // "Username:"
  ASSERT_TRUE(u);
  EXPECT_EQ(u->bytes.expose(), "user@contoso.com");
  EXPECT_FALSE(u->acknowledges_error);
  auto p = m->step(decode("UGFzc3dvcmQ6"));  // "Password:"
  ASSERT_TRUE(p);
  EXPECT_EQ(p->bytes.expose(), "pa55word");
  auto extra = m->step("Password:");
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().code(), sasl_errc::unexpected_challenge);
  EXPECT_EQ(extra.error().message().find("pa55word"), std::string::npos);
}

TEST(Login, PromptsMatchCaseInsensitively) {
  auto m = make_client(mechanism::login, creds("me", "secretpw"));
  ASSERT_TRUE(m->start());
  EXPECT_EQ(m->step("USERNAME:")->bytes.expose(), "me");
  EXPECT_EQ(m->step("password:")->bytes.expose(), "secretpw");
}

TEST(Login, RecognisedPromptsDecideOverOrder) {
  // A server that asks for the password first gets the password, then the user.
  auto m = make_client(mechanism::login, creds("me", "secretpw"));
  EXPECT_EQ(m->step("Password:")->bytes.expose(), "secretpw");
  EXPECT_EQ(m->step("Username:")->bytes.expose(), "me");
  EXPECT_FALSE(m->step("Username:"));
}

TEST(Login, OtherPromptTextGoesByPosition) {
  auto m = make_client(mechanism::login, creds("me", "secretpw"));
  ASSERT_TRUE(m->start());
  EXPECT_EQ(m->step("Who are you?")->bytes.expose(), "me");
  EXPECT_EQ(m->step("")->bytes.expose(), "secretpw");
  auto third = m->step("Anything else?");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), sasl_errc::unexpected_challenge);
}

TEST(Login, VariantPromptSpellings) {
  using namespace std::literals;
  for (const std::string_view prompt : {"User Name"sv, "user name\0"sv, "Username"sv, " login:"sv, "user:"sv}) {
    auto m = make_client(mechanism::login, creds("me", "secretpw"));
    // After a recognised user prompt, a second user prompt is an error (not the password).
    ASSERT_TRUE(m->step(prompt)) << prompt;
    EXPECT_FALSE(m->step(prompt)) << prompt;
  }
}

TEST(Login, UserPromptTwiceIsAnError) {
  auto m = make_client(mechanism::login, creds("me", "secretpw"));
  ASSERT_TRUE(m->step("Username:"));
  auto r = m->step("Username:");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::unexpected_challenge);
}

TEST(Login, RefusesInjectionBeforeSendingAnything) {
  auto m = make_client(mechanism::login, creds("me\r\nRSET", "secretpw"));
  auto s = m->start();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), sasl_errc::bad_credentials_format);
  auto r = m->step("Username:");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
  auto empty = make_client(mechanism::login, creds("me", ""))->start();
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), sasl_errc::bad_credentials_format);
}

}  // namespace
}  // namespace oauthmail::sasl
