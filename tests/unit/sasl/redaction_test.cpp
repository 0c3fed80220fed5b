// Secrets never reach output: credentials and responses print "***" through fmt and ostream, and
// no error message of any mechanism contains the token or password. The test writes everything to
// stdout/stderr, captures it and greps it for the secrets.
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>
#include <vector>

#include "unit/sasl/helpers.hpp"

namespace oauthmail::sasl {
namespace {

constexpr std::string_view token = "ya29.TOPSECRET-token-value";
constexpr std::string_view password = "Pa55-TOPSECRET-word";

std::vector<std::string> exercise_all(std::string_view user, std::string_view secret) {
  std::vector<std::string> out;
  for (const auto m : {mechanism::xoauth2, mechanism::oauthbearer, mechanism::plain, mechanism::login}) {
    auto client = make_client(m, testing::creds(std::string(user), std::string(secret), "smtp.example.com", 587));
    auto start = client->start();
    if (start) {
      if (start->has_value()) {
        out.push_back(fmt::format("{}", **start));
        std::ostringstream os;
        os << **start;
        out.push_back(os.str());
      }
    } else {
      out.push_back(start.error().message());
    }
    for (const std::string_view challenge :
         {std::string_view("Username:"), std::string_view("{\"status\":\"401\"}"), std::string_view("Password:"),
          std::string_view("x"), std::string_view("")}) {
      auto r = client->step(challenge);
      if (r) {
        out.push_back(fmt::format("{}", *r));
        std::ostringstream os;
        os << *r;
        out.push_back(os.str());
      } else {
        out.push_back(r.error().message());
      }
    }
  }
  return out;
}

TEST(Redaction, CredentialsFormatAsStars) {
  const credentials c = testing::creds("user@example.com", std::string(token), "smtp.gmail.com", 587);
  const std::string via_fmt = fmt::format("{}", c);
  std::ostringstream os;
  os << c;
  EXPECT_EQ(via_fmt, "user=user@example.com secret=*** host=smtp.gmail.com port=587");
  EXPECT_EQ(os.str(), via_fmt);
  EXPECT_EQ(fmt::format("{}", testing::creds("u", "p")), "user=u secret=***");
  EXPECT_EQ(fmt::format("{}", c.secret), "***");
}

TEST(Redaction, ResponsesFormatAsStars) {
  auto m = make_client(mechanism::xoauth2, testing::creds("user@example.com", std::string(token)));
  auto r = m->start();
  ASSERT_TRUE(r && r->has_value());
  const std::string via_fmt = fmt::format("{}", **r);
  EXPECT_EQ(via_fmt.rfind("*** (", 0), 0u) << via_fmt;
  EXPECT_EQ(via_fmt.find(token), std::string::npos);
  std::ostringstream os;
  os << **r;
  EXPECT_EQ(os.str(), via_fmt);
}

TEST(Redaction, NothingPrintedContainsTheSecrets) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const credentials c = testing::creds("user@example.com", std::string(token), "smtp.gmail.com", 587);
  std::cout << c << '\n' << c.secret << '\n';
  std::cerr << c << '\n';
  fmt::print("{} {}\n", c, c.secret);
  fmt::print(stderr, "{:>40}\n", c.secret);
  fmt::print("{}\n", fmt::streamed(c));
  // Good credentials, and credentials every mechanism refuses (so that error paths print too).
  for (const auto& [user, secret] : std::vector<std::pair<std::string, std::string>>{
           {"user@example.com", std::string(token)},
           {"user@example.com", std::string(password)},
           {"bad\r\nuser", std::string(token)},
           {"user@example.com", std::string(token) + "\x01" + "\n"},
           {"user@example.com", std::string(password) + std::string(1, '\0')}}) {
    for (const auto& line : exercise_all(user, secret)) {
      std::cout << line << '\n';
      std::cerr << line << '\n';
    }
  }
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(out.empty());
  EXPECT_NE(out.find("***"), std::string::npos);
  for (const std::string& text : {out, err}) {
    EXPECT_EQ(text.find("TOPSECRET"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace oauthmail::sasl
