// oauth::discovery_attempt: one pass over RFC 8414's and OpenID's well-known documents, and how its
// failures are classified — transient (no connection, 5xx, 408, 429 with Retry-After: the token
// service retries the pass within its budget) or needing a person (both documents absent, a
// document that is not JSON or is for another issuer: never retried).
#include <gtest/gtest.h>

#include <variant>

#include "core/error.hpp"
#include "oauth/errors.hpp"
#include "oauth/presets.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::response;

constexpr std::string_view kIssuer = "https://id.example.com/tenant";
constexpr std::string_view kDocument = R"({"issuer":"https://id.example.com/tenant",
  "token_endpoint":"https://id.example.com/tenant/token"})";

// The URL the attempt asks for next (fails the test when it asks for none).
std::string next_url(discovery_attempt& d) {
  auto step = d.next();
  const auto* f = std::get_if<discovery_attempt::fetch>(&step);
  EXPECT_NE(f, nullptr);
  if (f == nullptr) return {};
  EXPECT_EQ(f->request.method, "GET");
  return f->request.url;
}

// The failure the attempt ends with (a default one, and a test failure, when it does not fail).
discovery_attempt::failed failure(const discovery_attempt::step& step) {
  const auto* f = std::get_if<discovery_attempt::failed>(&step);
  EXPECT_NE(f, nullptr);
  return f ? *f : discovery_attempt::failed{};
}

TEST(DiscoveryAttempt, Rfc8414FirstThenOpenId) {
  discovery_attempt d{std::string(kIssuer)};
  EXPECT_EQ(next_url(d), "https://id.example.com/.well-known/oauth-authorization-server/tenant");
  d.on_response(response(404, "not found"), at(0));
  EXPECT_EQ(next_url(d), "https://id.example.com/tenant/.well-known/openid-configuration");
  d.on_response(response(200, std::string(kDocument)), at(0));
  auto step = d.next();
  auto* found = std::get_if<discovery_attempt::found>(&step);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->metadata.token_endpoint, "https://id.example.com/tenant/token");
  // It stays done.
  EXPECT_TRUE(std::holds_alternative<discovery_attempt::found>(d.next()));
}

TEST(DiscoveryAttempt, FirstDocumentSuffices) {
  discovery_attempt d{std::string(kIssuer)};
  (void)next_url(d);
  d.on_response(response(200, std::string(kDocument)), at(0));
  EXPECT_TRUE(std::holds_alternative<discovery_attempt::found>(d.next()));
}

TEST(DiscoveryAttempt, BothDocumentsMissingNeedsAPersonWithTheFix) {
  discovery_attempt d{std::string(kIssuer)};
  (void)next_url(d);
  d.on_response(response(404, ""), at(0));
  (void)next_url(d);
  d.on_response(response(403, ""), at(0));
  const auto f = failure(d.next());
  EXPECT_EQ(f.error.code(), make_error_code(oauth_errc::discovery_failed));
  EXPECT_EQ(f.error.classification(), core::failure_class::needs_human);
  EXPECT_FALSE(f.retry_after);
  const std::string& m = f.error.message();
  EXPECT_NE(m.find(std::string(kIssuer)), std::string::npos) << m;
  EXPECT_NE(m.find("HTTP 404, 403"), std::string::npos) << m;
  EXPECT_NE(m.find("check `issuer`"), std::string::npos) << m;
  EXPECT_NE(m.find("token_endpoint"), std::string::npos) << m;
}

TEST(DiscoveryAttempt, BadDocumentNeedsAPersonAtOnce) {
  for (const std::string& body : {std::string("<html>maintenance</html>"),
                                  std::string(R"({"issuer":"https://evil.example.com","token_endpoint":"x"})")}) {
    discovery_attempt d{std::string(kIssuer)};
    (void)next_url(d);
    d.on_response(response(200, body), at(0));
    const auto f = failure(d.next());  // the OpenID document is not tried
    EXPECT_EQ(f.error.classification(), core::failure_class::needs_human) << body;
    EXPECT_EQ(f.error.code(), make_error_code(oauth_errc::discovery_failed));
    EXPECT_NE(f.error.message().find("discovery for issuer " + std::string(kIssuer)), std::string::npos);
  }
}

TEST(DiscoveryAttempt, ServerTroubleIsTransientWithTheLongestRetryAfter) {
  for (int status : {500, 502, 503, 504, 408, 429}) {
    discovery_attempt d{std::string(kIssuer)};
    (void)next_url(d);
    d.on_response(response(status, "", {{"retry-after", "7"}}), at(0));
    (void)next_url(d);  // the other document is still tried
    d.on_response(response(404, ""), at(0));
    const auto f = failure(d.next());
    EXPECT_EQ(f.error.classification(), core::failure_class::transient) << status;
    EXPECT_EQ(f.retry_after, std::optional<std::chrono::seconds>(7s)) << status;
    EXPECT_NE(f.error.message().find("try again later"), std::string::npos) << f.error.message();
  }
  // An HTTP-date Retry-After, relative to now; the longer of two wins.
  discovery_attempt d{std::string(kIssuer)};
  (void)next_url(d);
  d.on_response(response(503, "", {{"retry-after", "Thu, 01 Jan 1970 00:01:40 GMT"}}), at(40));
  (void)next_url(d);
  d.on_response(response(503, "", {{"retry-after", "5"}}), at(40));
  EXPECT_EQ(failure(d.next()).retry_after, std::optional<std::chrono::seconds>(60s));
}

TEST(DiscoveryAttempt, TroubleThenTheOtherDocumentFound) {
  discovery_attempt d{std::string(kIssuer)};
  (void)next_url(d);
  d.on_response(response(503, ""), at(0));
  (void)next_url(d);
  d.on_response(response(200, std::string(kDocument)), at(0));
  EXPECT_TRUE(std::holds_alternative<discovery_attempt::found>(d.next()));
}

TEST(DiscoveryAttempt, TransportFailureEndsThePassWithItsClass) {
  discovery_attempt d{std::string(kIssuer)};
  (void)next_url(d);
  d.on_transport_failure(core::error(core::make_error_code(core::errc::io_failure), "cannot connect to id.example.com",
                                     core::failure_class::transient));
  const auto f = failure(d.next());
  EXPECT_EQ(f.error.classification(), core::failure_class::transient);
  EXPECT_NE(f.error.message().find("cannot connect to id.example.com"), std::string::npos);
  EXPECT_NE(f.error.message().find(std::string(kIssuer)), std::string::npos);

  discovery_attempt tls{std::string(kIssuer)};
  (void)next_url(tls);
  tls.on_transport_failure(core::error(core::make_error_code(core::errc::io_failure), "certificate not trusted",
                                       core::failure_class::needs_human));
  EXPECT_EQ(failure(tls.next()).error.classification(), core::failure_class::needs_human);
}

TEST(DiscoveryAttempt, BadIssuerFailsWithoutARequest) {
  discovery_attempt d{"ftp://id.example.com"};
  EXPECT_EQ(failure(d.next()).error.classification(), core::failure_class::needs_human);
}

TEST(DiscoveryAttempt, AnswersOutOfTurnAreIgnored) {
  discovery_attempt d{std::string(kIssuer)};
  d.on_response(response(200, std::string(kDocument)), at(0));  // nothing was asked yet
  EXPECT_EQ(next_url(d), "https://id.example.com/.well-known/oauth-authorization-server/tenant");
}

}  // namespace
}  // namespace oauthmail::oauth
