// Token endpoint answers: success forms, Microsoft's error JSON (providers.md §1.7), every AADSTS
// code of §1.8, Google's errors (§2.3, §2.5), rate limits with Retry-After and server failures.
#include "oauth/responses.hpp"

#include <gtest/gtest.h>

#include <set>

#include "oauth/errors.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using core::failure_class;
using testing::at;
using testing::response;

const std::vector<std::string> requested = {"https://outlook.office.com/SMTP.Send", "offline_access"};

constexpr std::string_view microsoft_error = R"({
  "error": "invalid_scope",
  "error_description": "AADSTS70011: The provided value for the input parameter 'scope' isn't valid. The scope https://example.contoso.com/activity.read isn't valid.\r\nTrace ID: 0000aaaa-11bb-cccc-dd33-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z",
  "error_codes": [70011],
  "timestamp": "2016-01-09 02:02:12Z",
  "trace_id": "0000aaaa-11bb-cccc-dd33-eeeeee333333",
  "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
  "error_uri": "https://login.microsoftonline.com/error?code=70011"
})";

TEST(TokenResponse, MicrosoftClientCredentialsSuccess) {
  auto t = parse_token_response(
      response(
          200,
          R"({"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.x.y"})"),
      at(1700000000), requested);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->access_token.expose(), "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.x.y");
  EXPECT_FALSE(t->refresh_token);
  EXPECT_EQ(t->token_type, "Bearer");
  EXPECT_EQ(t->obtained_at, at(1700000000));
  EXPECT_EQ(t->expires_at, at(1700003599));
  EXPECT_EQ(t->scopes, requested);
}

TEST(TokenResponse, Rfc6749ExampleWithRefreshAndScope) {
  auto t = parse_token_response(
      response(200, R"({"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"bearer","expires_in":"3600",)"
                    R"("refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","scope":"a  b","example_parameter":"example_value"})"),
      at(100), requested);
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_TRUE(t->refresh_token);
  EXPECT_EQ(t->refresh_token->expose(), "tGzv3JOkF0XG5Qx2TlKWIA");
  EXPECT_EQ(t->expires_at, at(3700));  // expires_in as a string
  EXPECT_EQ(t->scopes, (std::vector<std::string>{"a", "b"}));
}

TEST(TokenResponse, MissingExpiresInUsesJwtExpThenOneHour) {
  // {"alg":"none"} . {"exp":1700000600}
  auto jwt = parse_token_response(
      response(200, R"({"access_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDA2MDB9.","token_type":"Bearer"})"),
      at(1700000000), requested);
  ASSERT_TRUE(jwt);
  EXPECT_EQ(jwt->expires_at, at(1700000600));
  auto opaque = parse_token_response(response(200, R"({"access_token":"ya29.x"})"), at(0), requested);
  ASSERT_TRUE(opaque);
  EXPECT_EQ(opaque->expires_at, at(3600));
}

TEST(TokenResponse, MalformedSuccessIsProtocol) {
  for (const char* body :
       {R"({"token_type":"Bearer","expires_in":3599})", R"({"access_token":""})", R"({"access_token":42})",
        "<html>captive portal</html>", "", R"({"access_token":"x","expires_in":-5})",
        R"({"access_token":"x","expires_in":"soon"})", R"({"access_token":"x","token_type":"mac"})", R"([1,2])"}) {
    const auto o = evaluate_token_response(response(200, body), at(0), requested);
    EXPECT_FALSE(o.ok()) << body;
    EXPECT_FALSE(o.error) << body;
    EXPECT_EQ(o.diagnosis.klass, failure_class::protocol) << body;
    const auto e = o.to_error();
    EXPECT_EQ(e.code(), make_error_code(oauth_errc::malformed_response));
    EXPECT_EQ(e.classification(), failure_class::protocol);
  }
}

TEST(TokenResponse, MicrosoftErrorParsedAndClassified) {
  const auto o =
      evaluate_token_response(response(400, std::string(microsoft_error)), at(0), requested,
                              {"work", config::provider_kind::microsoft, config::flow_kind::device_code, {}});
  ASSERT_FALSE(o.ok());
  ASSERT_TRUE(o.error);
  EXPECT_EQ(o.error->http_status, 400);
  EXPECT_EQ(o.error->error, "invalid_scope");
  EXPECT_EQ(o.error->error_codes, std::vector<long>{70011});
  EXPECT_EQ(o.error->correlation_id, "aaaa0000-bb11-2222-33cc-444444dddddd");
  EXPECT_EQ(o.error->trace_id, "0000aaaa-11bb-cccc-dd33-eeeeee333333");
  EXPECT_EQ(o.diagnosis.klass, failure_class::needs_human);
  EXPECT_NE(o.diagnosis.cause.find("scope is not valid"), std::string::npos);
  const auto e = o.to_error();
  EXPECT_EQ(e.code(), make_error_code(oauth_errc::token_endpoint_error));
  EXPECT_EQ(e.classification(), failure_class::needs_human);
  const std::string& m = e.message();
  EXPECT_NE(m.find("Fix: request"), std::string::npos) << m;
  EXPECT_NE(m.find("AADSTS70011: The provided value"), std::string::npos) << m;
  EXPECT_NE(m.find("correlation id aaaa0000-bb11-2222-33cc-444444dddddd"), std::string::npos) << m;
  EXPECT_EQ(m.find("Trace ID:"), std::string::npos) << m;  // the trace block is cut
  EXPECT_EQ(m.find('\r'), std::string::npos);
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(TokenResponse, AadstsCodeFromDescriptionWhenNoErrorCodes) {
  const auto err = parse_error_response(
      response(401,
               R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})"),
      at(0));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error_codes, std::vector<long>{7000215});
  const auto d = diagnose(*err);
  EXPECT_NE(d.cause.find("secret ID was used instead of its value"), std::string::npos);
}

// providers.md §1.8, every row.
TEST(Aadsts, EveryCodeOfTheReferenceHasADiagnosis) {
  const long codes[] = {50076, 50079,  50126,   50173,  53003,  530035,  65001,   70008,   700082, 70011, 70016,
                        70018, 70019,  700016,  700024, 700025, 7000215, 7000218, 7000222, 700027, 28000, 1002012,
                        90002, 900144, 9002313, 54005,  50020,  500208,  9001023, 90124,   90130};
  for (const long code : codes) {
    const auto* entry = find_aadsts(code);
    ASSERT_NE(entry, nullptr) << code;
    EXPECT_FALSE(entry->cause.empty()) << code;
    oauth_error e;
    e.http_status = 400;
    e.error = "invalid_grant";
    e.error_codes = {code};
    const auto d = diagnose(e, {"work", config::provider_kind::microsoft, config::flow_kind::device_code, {}});
    if (code == 70016) {
      EXPECT_EQ(d.klass, failure_class::transient) << code;  // "pending" is not a failure
    } else {
      EXPECT_EQ(d.klass, failure_class::needs_human) << code;
      EXPECT_FALSE(d.fix.empty()) << code;
    }
    EXPECT_EQ(d.fix.find("{account}"), std::string::npos) << code;
  }
  std::set<long> seen;
  for (const auto& e : aadsts_table()) EXPECT_TRUE(seen.insert(e.code).second) << "duplicate " << e.code;
}

TEST(Aadsts, KeyCodesSayTheRightThing) {
  const auto cause = [](long code) { return std::string(find_aadsts(code)->cause); };
  const auto fix = [](long code) {
    oauth_error e;
    e.error = "invalid_grant";
    e.error_codes = {code};
    return diagnose(e, {"work", config::provider_kind::microsoft, config::flow_kind::device_code, {}}).fix;
  };
  EXPECT_NE(cause(7000215).find("secret ID was used instead of its value"), std::string::npos);
  EXPECT_NE(cause(700016).find("not found in this tenant"), std::string::npos);
  EXPECT_NE(cause(65001).find("consent"), std::string::npos);
  EXPECT_NE(cause(70011).find("scope"), std::string::npos);
  EXPECT_NE(cause(7000222).find("expired"), std::string::npos);
  EXPECT_NE(fix(700082).find("oauthmail account login work"), std::string::npos);
  EXPECT_NE(fix(70008).find("oauthmail account login work"), std::string::npos);
  EXPECT_NE(cause(50173).find("revoked"), std::string::npos);
  EXPECT_NE(cause(53003).find("Conditional Access"), std::string::npos);
  EXPECT_NE(cause(1002012).find("/.default"), std::string::npos);
  EXPECT_NE(cause(28000).find("more than one resource"), std::string::npos);
  EXPECT_NE(cause(700024).find("clock"), std::string::npos);
  EXPECT_NE(cause(700025).find("public client"), std::string::npos);
  EXPECT_NE(cause(7000218).find("confidential client"), std::string::npos);
}

TEST(TokenResponse, Rfc6749ErrorsNeedAHuman) {
  for (const char* code :
       {"invalid_grant", "invalid_client", "unauthorized_client", "consent_required", "interaction_required",
        "invalid_scope", "access_denied", "unsupported_grant_type", "invalid_request", "something_new"}) {
    const auto o =
        evaluate_token_response(response(400, std::string(R"({"error":")") + code + "\"}"), at(0), requested,
                                {"acc", config::provider_kind::generic, config::flow_kind::authorization_code, {}});
    EXPECT_EQ(o.diagnosis.klass, failure_class::needs_human) << code;
    EXPECT_FALSE(o.diagnosis.cause.empty()) << code;
    EXPECT_FALSE(o.diagnosis.fix.empty()) << code;
  }
  const auto grant = diagnose(oauth_error{400, "invalid_grant", "", {}, "", "", std::nullopt},
                              {"acc", config::provider_kind::generic, config::flow_kind::device_code, {}});
  EXPECT_NE(grant.fix.find("oauthmail account login acc"), std::string::npos);
}

TEST(TokenResponse, TransientFailures) {
  for (const int status : {500, 502, 503, 504}) {
    const auto o = evaluate_token_response(response(status, "<html>Service Unavailable</html>"), at(0), requested);
    EXPECT_EQ(o.diagnosis.klass, failure_class::transient) << status;
    ASSERT_TRUE(o.error);
    EXPECT_EQ(o.error->http_status, status);
  }
  for (const char* code : {"temporarily_unavailable", "server_error"}) {
    const auto o =
        evaluate_token_response(response(400, std::string(R"({"error":")") + code + "\"}"), at(0), requested);
    EXPECT_EQ(o.diagnosis.klass, failure_class::transient) << code;
  }
  EXPECT_EQ(evaluate_token_response(response(408, ""), at(0), requested).diagnosis.klass, failure_class::transient);
}

TEST(TokenResponse, RateLimitWithRetryAfterSeconds) {
  const auto o = evaluate_token_response(response(429, R"({"error":"too_many_requests"})", {{"retry-after", "120"}}),
                                         at(0), requested);
  EXPECT_EQ(o.diagnosis.klass, failure_class::transient);
  ASSERT_TRUE(o.error);
  ASSERT_TRUE(o.error->retry_after);
  EXPECT_EQ(*o.error->retry_after, std::chrono::seconds(120));
  EXPECT_NE(o.diagnosis.cause.find("120 s"), std::string::npos);
  EXPECT_NE(o.to_error().message().find("retry after 120 s"), std::string::npos);
}

TEST(TokenResponse, RateLimitWithRetryAfterDate) {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  const auto o = evaluate_token_response(response(429, "", {{"retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"}}),
                                         at(784111777 - 90), requested);
  ASSERT_TRUE(o.error && o.error->retry_after);
  EXPECT_EQ(*o.error->retry_after, std::chrono::seconds(90));
  EXPECT_EQ(o.diagnosis.klass, failure_class::transient);
}

TEST(RetryAfter, Forms) {
  const auto now = at(784111777);
  EXPECT_EQ(parse_retry_after(" 5 ", now), std::chrono::seconds(5));
  EXPECT_EQ(parse_retry_after("0", now), std::chrono::seconds(0));
  EXPECT_EQ(parse_retry_after("99999999999", now), std::chrono::seconds(24 * 3600));  // capped
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), std::chrono::seconds(0));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now - std::chrono::seconds(10)),
            std::chrono::seconds(10));
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("-1", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("Sun, 32 Nov 1994 08:49:37 GMT", now));
  EXPECT_FALSE(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now));  // obsolete RFC 850 form
}

TEST(TokenResponse, ErrorWithoutJson) {
  const auto not_found = evaluate_token_response(response(404, "Not Found"), at(0), requested);
  EXPECT_EQ(not_found.diagnosis.klass, failure_class::needs_human);
  EXPECT_NE(not_found.diagnosis.cause.find("URL looks wrong"), std::string::npos);
  const auto unauthorized = evaluate_token_response(response(401, ""), at(0), requested);
  EXPECT_EQ(unauthorized.diagnosis.klass, failure_class::needs_human);
  // A 200 carrying an OAuth error (some servers do) is an error, not a malformed success.
  const auto ok_error = evaluate_token_response(response(200, R"({"error":"invalid_grant"})"), at(0), requested);
  ASSERT_TRUE(ok_error.error);
  EXPECT_EQ(ok_error.diagnosis.klass, failure_class::needs_human);
}

diagnosis_context google(config::flow_kind f) { return {"gmail", config::provider_kind::google, f, {}}; }

TEST(Google, RefreshTokenExpiredOrRevoked) {
  const auto o = evaluate_token_response(
      response(400, R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})"), at(0),
      requested, google(config::flow_kind::authorization_code));
  EXPECT_EQ(o.diagnosis.klass, failure_class::needs_human);
  EXPECT_NE(o.diagnosis.cause.find("7 days"), std::string::npos);
  EXPECT_NE(o.diagnosis.fix.find("oauthmail account login gmail"), std::string::npos);
  EXPECT_NE(o.diagnosis.fix.find("In production"), std::string::npos);
  EXPECT_NE(o.to_error().message().find("Token has been expired or revoked."), std::string::npos);
}

TEST(Google, ServiceAccountErrors) {
  const auto sa = google(config::flow_kind::service_account);
  const auto dwd = evaluate_token_response(
      response(
          401,
          R"({"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."})"),
      at(0), requested, sa);
  EXPECT_EQ(dwd.diagnosis.klass, failure_class::needs_human);
  EXPECT_NE(dwd.diagnosis.cause.find("domain-wide delegation"), std::string::npos);
  EXPECT_NE(dwd.diagnosis.fix.find("Admin console"), std::string::npos);
  EXPECT_NE(dwd.diagnosis.fix.find("https://mail.google.com/"), std::string::npos);

  const auto sig = evaluate_token_response(
      response(400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})"), at(0), requested, sa);
  EXPECT_NE(sig.diagnosis.cause.find("key"), std::string::npos);
  EXPECT_EQ(sig.diagnosis.klass, failure_class::needs_human);

  const auto user = evaluate_token_response(
      response(400, R"({"error":"invalid_grant","error_description":"Invalid email or User ID"})"), at(0), requested,
      sa);
  EXPECT_NE(user.diagnosis.cause.find("user to impersonate"), std::string::npos);

  const auto clock = evaluate_token_response(
      response(
          400,
          R"({"error":"invalid_grant","error_description":"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values and use a clock with skew to account for differences in time."})"),
      at(0), requested, sa);
  EXPECT_NE(clock.diagnosis.cause.find("clock"), std::string::npos);
  EXPECT_NE(clock.diagnosis.fix.find("NTP"), std::string::npos);
}

TEST(Google, DeviceFlowScopeRefused) {
  const auto o = evaluate_token_response(response(400, R"({"error":"invalid_scope"})"), at(0), requested,
                                         google(config::flow_kind::device_code));
  EXPECT_NE(o.diagnosis.cause.find("device flow"), std::string::npos);
  EXPECT_NE(o.diagnosis.fix.find("authorization_code"), std::string::npos);
}

TEST(Sanitize, ControlCharactersLengthAndTokens) {
  EXPECT_EQ(sanitize_provider_text("a\r\nb\t\tc\x01"), "a b c");
  const std::string long_text(1000, 'x');
  const std::string s = sanitize_provider_text(long_text);
  EXPECT_LE(s.size(), 303u);
  EXPECT_EQ(s.substr(s.size() - 3), "...");
  EXPECT_EQ(sanitize_provider_text("token eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl echoed"),
            "token *** echoed");
  // GUIDs, scopes and URLs stay.
  const std::string keep = "app 0000aaaa-11bb-cccc-dd33-eeeeee333333 scope https://outlook.office.com/SMTP.Send";
  EXPECT_EQ(sanitize_provider_text(keep), keep);
  // UTF-8 is cut on a character boundary.
  std::string utf8;
  for (int i = 0; i < 200; ++i) utf8 += "\xC3\xA9";
  const std::string cut = sanitize_provider_text(utf8);
  EXPECT_NE(static_cast<unsigned char>(cut[cut.size() - 4]) & 0xC0, 0xC0);
}

}  // namespace
}  // namespace oauthmail::oauth
