// parse_error_challenge(): Gmail's and RFC 7628's JSON, leniency, and refusal of non-JSON.
#include <gtest/gtest.h>

#include "unit/sasl/helpers.hpp"

namespace oauthmail::sasl {
namespace {

TEST(ErrorChallenge, GmailDocumentedWithTrailingNewline) {
  auto r = parse_error_challenge(
      testing::decode("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20v"
                      "In0K"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, "401");
  EXPECT_EQ(r->schemes, "bearer mac");
  EXPECT_EQ(r->scope, "https://mail.google.com/");
}

TEST(ErrorChallenge, Rfc7628Section44) {
  auto r =
      parse_error_challenge(R"({"status":"invalid_token","schemes":"bearer mac","scope":"https://mail.example.com/"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, "invalid_token");
  EXPECT_EQ(r->openid_configuration, "");
}

TEST(ErrorChallenge, Lenient) {
  {
    auto r = parse_error_challenge("{\"status\":400}\r\n");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, "400");
  }
  {
    auto r = parse_error_challenge(R"({"status":4E2,"scope":1.5})");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, "400");
    EXPECT_EQ(r->scope, "1.5");
  }
  {
    auto r = parse_error_challenge(R"({"status":18446744073709551615})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, "18446744073709551615");
  }
  {
    auto r = parse_error_challenge(
        R"(  {"error":"x","status":"401","nested":{"a":[1,2,3]},"schemes":null,"scope":true,"openid-configuration":"u"} )");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, "401");
    EXPECT_EQ(r->schemes, "");  // null: ignored
    EXPECT_EQ(r->scope, "");    // bool: ignored
    EXPECT_EQ(r->openid_configuration, "u");
  }
  {
    auto r = parse_error_challenge("{}");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, "");
  }
}

TEST(ErrorChallenge, NotJsonIsAProtocolError) {
  for (const std::string_view text :
       {std::string_view(""), std::string_view("Username:"), std::string_view("{\"status\":\"400\""),
        std::string_view("[\"status\",\"400\"]"), std::string_view("\"400\""), std::string_view("400"),
        std::string_view("{\"status\":\"400\"} trailing"), std::string_view("{\"status\":\"400\"}\0", 17)}) {
    auto r = parse_error_challenge(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code(), sasl_errc::bad_challenge);
    EXPECT_EQ(r.error().classification(), core::failure_class::protocol);
  }
}

TEST(ErrorChallenge, Bounded) {
  std::string huge = R"({"status":")" + std::string(20000, 'x') + R"("})";
  auto r = parse_error_challenge(huge);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::bad_challenge);

  std::string deep(5000, '[');
  EXPECT_FALSE(parse_error_challenge(deep));

  std::string long_field = R"({"status":")" + std::string(10000, 'y') + R"("})";
  auto f = parse_error_challenge(long_field);
  ASSERT_TRUE(f);
  EXPECT_LE(f->status.size(), 4096u);
}

}  // namespace
}  // namespace oauthmail::sasl
