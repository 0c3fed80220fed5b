// RFC 8628 device flow: the authorization response and the polling machine, driven by a fake clock.
#include "oauth/device_flow.hpp"

#include <gtest/gtest.h>

#include <variant>

#include "oauth/errors.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::response;

const std::vector<std::string> scopes = {"https://outlook.office.com/SMTP.Send", "offline_access"};

device_authorization rfc_sample() {
  auto a = parse_device_authorization(response(
      200,
      R"({"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":1800,"interval":5})"));
  EXPECT_TRUE(a);
  return *a;
}

http_response pending() {
  return response(
      400,
      R"({"error":"authorization_pending","error_description":"AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.","error_codes":[70016]})");
}
http_response slow_down() { return response(400, R"({"error":"slow_down"})"); }
http_response success() {
  return response(
      200,
      R"({"token_type":"Bearer","scope":"https://outlook.office.com/SMTP.Send","expires_in":3600,"access_token":"at-1","refresh_token":"rt-1"})");
}

TEST(DeviceAuthorization, Rfc8628Sample) {
  const auto a = rfc_sample();
  EXPECT_EQ(a.device_code.expose(), "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS");
  EXPECT_EQ(a.user_code, "WDJB-MJHT");
  EXPECT_EQ(a.verification_uri, "https://example.com/device");
  EXPECT_EQ(a.verification_uri_complete, "https://example.com/device?user_code=WDJB-MJHT");
  EXPECT_EQ(a.expires_in, 1800s);
  EXPECT_EQ(a.interval, 5s);
  EXPECT_NE(a.instructions().find("WDJB-MJHT"), std::string::npos);
  EXPECT_NE(a.instructions().find("https://example.com/device"), std::string::npos);
}

TEST(DeviceAuthorization, MicrosoftAndGoogleShapes) {
  auto ms = parse_device_authorization(response(
      200,
      R"({"user_code":"FJ2Q8KQ3P","device_code":"DAQABAAEAAAD","verification_uri":"https://microsoft.com/devicelogin","expires_in":"900","interval":"5","message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FJ2Q8KQ3P to authenticate."})"));
  ASSERT_TRUE(ms) << ms.error().message();
  EXPECT_EQ(ms->expires_in, 900s);
  EXPECT_FALSE(ms->verification_uri_complete);
  EXPECT_EQ(ms->instructions(), ms->message);
  auto g = parse_device_authorization(response(
      200,
      R"({"device_code":"AH-1Ng","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device","expires_in":1800})"));
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->verification_uri, "https://www.google.com/device");
  EXPECT_EQ(g->interval, 5s);  // default
  auto defaults =
      parse_device_authorization(response(200, R"({"device_code":"d","user_code":"u","verification_uri":"v"})"));
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->expires_in, 900s);
}

TEST(DeviceAuthorization, Errors) {
  auto bad = parse_device_authorization(response(200, R"({"user_code":"x"})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().classification(), core::failure_class::protocol);
  auto refused = parse_device_authorization(response(
      400,
      R"({"error":"invalid_client","error_description":"AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.","error_codes":[7000218]})"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), make_error_code(oauth_errc::device_flow_failed));
  EXPECT_EQ(refused.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(refused.error().message().find("Allow public client flows"), std::string::npos);
}

TEST(DevicePoller, PendingThenSuccess) {
  const auto start = at(1000);
  device_poller p(rfc_sample(), start, scopes,
                  {"work", config::provider_kind::microsoft, config::flow_kind::device_code, {}});
  // Nothing before one interval.
  auto a = p.next(start);
  ASSERT_TRUE(std::holds_alternative<device_poller::wait_until>(a));
  EXPECT_EQ(std::get<device_poller::wait_until>(a).when, start + 5s);
  EXPECT_TRUE(std::holds_alternative<device_poller::wait_until>(p.next(start + 4s)));
  ASSERT_TRUE(std::holds_alternative<device_poller::poll>(p.next(start + 5s)));
  p.on_poll_response(pending(), start + 5s);
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(start + 5s)).when, start + 10s);
  ASSERT_TRUE(std::holds_alternative<device_poller::poll>(p.next(start + 10s)));
  p.on_poll_response(success(), start + 11s);
  auto d = p.next(start + 11s);
  ASSERT_TRUE(std::holds_alternative<device_poller::done>(d));
  const auto& t = std::get<device_poller::done>(d).tokens;
  EXPECT_EQ(t.access_token.expose(), "at-1");
  ASSERT_TRUE(t.refresh_token);
  EXPECT_EQ(t.refresh_token->expose(), "rt-1");
  EXPECT_EQ(t.expires_at, start + 11s + 3600s);
  EXPECT_EQ(p.polls(), 2);
  // Done stays done.
  EXPECT_TRUE(std::holds_alternative<device_poller::done>(p.next(start + 100s)));
}

TEST(DevicePoller, SlowDownIsCumulative) {
  const auto start = at(0);
  device_poller p(rfc_sample(), start, scopes);
  auto now = start + 5s;
  ASSERT_TRUE(std::holds_alternative<device_poller::poll>(p.next(now)));
  p.on_poll_response(slow_down(), now);
  EXPECT_EQ(p.interval(), 10s);
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(now)).when, now + 10s);
  now += 10s;
  ASSERT_TRUE(std::holds_alternative<device_poller::poll>(p.next(now)));
  p.on_poll_response(slow_down(), now);
  EXPECT_EQ(p.interval(), 15s);
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(now)).when, now + 15s);
  now += 15s;
  p.on_poll_response(pending(), now);  // pending keeps the raised interval
  EXPECT_EQ(p.interval(), 15s);
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(now)).when, now + 15s);
}

TEST(DevicePoller, ExpiryByTheClock) {
  auto auth = rfc_sample();
  auth.expires_in = 12s;
  const auto start = at(0);
  device_poller p(std::move(auth), start, scopes,
                  {"work", config::provider_kind::microsoft, config::flow_kind::device_code, {}});
  p.on_poll_response(pending(), start + 5s);
  p.on_poll_response(pending(), start + 10s);
  // The next poll would be at 15 s, after expiry: wait only until expiry, then fail.
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(start + 10s)).when, start + 12s);
  auto f = p.next(start + 12s);
  ASSERT_TRUE(std::holds_alternative<device_poller::failed>(f));
  const auto& failed = std::get<device_poller::failed>(f);
  EXPECT_EQ(failed.diagnosis.klass, core::failure_class::needs_human);
  EXPECT_NE(failed.diagnosis.cause.find("expired"), std::string::npos);
  EXPECT_NE(failed.to_error().message().find("oauthmail account login work"), std::string::npos);
  EXPECT_EQ(failed.to_error().code(), make_error_code(oauth_errc::device_flow_failed));
}

TEST(DevicePoller, ExpiredTokenFromTheProvider) {
  device_poller p(rfc_sample(), at(0), scopes);
  p.on_poll_response(response(400, R"({"error":"expired_token"})"), at(5));
  auto f = p.next(at(6));
  ASSERT_TRUE(std::holds_alternative<device_poller::failed>(f));
  EXPECT_NE(std::get<device_poller::failed>(f).diagnosis.cause.find("expired"), std::string::npos);
}

TEST(DevicePoller, DeclinedOrDenied) {
  for (const char* code : {"authorization_declined", "access_denied"}) {
    device_poller p(rfc_sample(), at(0), scopes);
    p.on_poll_response(response(400, std::string(R"({"error":")") + code + "\"}"), at(5));
    auto f = p.next(at(5));
    ASSERT_TRUE(std::holds_alternative<device_poller::failed>(f)) << code;
    const auto& d = std::get<device_poller::failed>(f).diagnosis;
    EXPECT_EQ(d.klass, core::failure_class::needs_human);
    EXPECT_NE(d.cause.find("the sign-in was declined"), std::string::npos) << code;
  }
}

TEST(DevicePoller, BadVerificationCode) {
  device_poller p(rfc_sample(), at(0), scopes);
  p.on_poll_response(response(400, R"({"error":"bad_verification_code"})"), at(5));
  ASSERT_TRUE(std::holds_alternative<device_poller::failed>(p.next(at(5))));
}

TEST(DevicePoller, TransientFailuresKeepPolling) {
  device_poller p(rfc_sample(), at(0), scopes);
  p.on_poll_response(response(503, "busy", {{"retry-after", "30"}}), at(5));
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(at(5))).when, at(35));
  p.on_poll_response(response(500, ""), at(35));
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(at(35))).when, at(40));
  p.on_transport_failure(at(40));
  EXPECT_EQ(std::get<device_poller::wait_until>(p.next(at(40))).when, at(45));
  p.on_poll_response(success(), at(45));
  EXPECT_TRUE(std::holds_alternative<device_poller::done>(p.next(at(45))));
}

TEST(DevicePoller, OtherErrorsFail) {
  device_poller p(rfc_sample(), at(0), scopes);
  p.on_poll_response(
      response(
          400,
          R"({"error":"invalid_client","error_description":"AADSTS700025: Client is public so neither 'client_assertion' nor 'client_secret' should be presented.","error_codes":[700025]})"),
      at(5));
  auto f = p.next(at(5));
  ASSERT_TRUE(std::holds_alternative<device_poller::failed>(f));
  EXPECT_NE(std::get<device_poller::failed>(f).diagnosis.cause.find("public client"), std::string::npos);
}

TEST(DevicePoller, FullRunOnAFakeClock) {
  // pending, slow_down, pending, success: poll times 5, 10, 20, 30.
  device_poller p(rfc_sample(), at(0), scopes);
  std::vector<http_response> answers = {pending(), slow_down(), pending(), success()};
  std::vector<std::int64_t> poll_times;
  auto now = at(0);
  std::size_t next_answer = 0;
  for (int steps = 0; steps < 100; ++steps) {
    auto a = p.next(now);
    if (auto* w = std::get_if<device_poller::wait_until>(&a)) {
      now = w->when;
    } else if (std::holds_alternative<device_poller::poll>(a)) {
      poll_times.push_back(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
      p.on_poll_response(answers.at(next_answer++), now);
    } else {
      break;
    }
  }
  EXPECT_TRUE(std::holds_alternative<device_poller::done>(p.next(now)));
  EXPECT_EQ(poll_times, (std::vector<std::int64_t>{5, 10, 20, 30}));
}

}  // namespace
}  // namespace oauthmail::oauth
