// The sandbox's HTTP values: form parsing (application/x-www-form-urlencoded, RFC 6749 Appendix B),
// query parameters, headers and the response factories.
#include "sandbox/http.hpp"

#include <gtest/gtest.h>

#include "oauth/form.hpp"

namespace oauthmail::sandbox {
namespace {

using pairs = std::vector<std::pair<std::string, std::string>>;

TEST(ParseForm, DecodesNamesAndValuesInOrder) {
  EXPECT_EQ(parse_form("grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default"),
            (pairs{{"grant_type", "client_credentials"}, {"scope", "https://outlook.office365.com/.default"}}));
}

TEST(ParseForm, PlusIsASpaceAndEncodedPlusIsAPlus) {
  EXPECT_EQ(parse_form("scope=openid+offline_access&s=a%2Bb"),
            (pairs{{"scope", "openid offline_access"}, {"s", "a+b"}}));
}

TEST(ParseForm, Utf8AndEmptyValuesAndBareNames) {
  EXPECT_EQ(parse_form("name=J%C3%BCrgen&empty=&bare"),
            (pairs{{"name", "J\xC3\xBCrgen"}, {"empty", ""}, {"bare", ""}}));
}

TEST(ParseForm, EmptyItemsAreSkippedAndRepeatsAreKeptForTheCaller) {
  EXPECT_EQ(parse_form("&a=1&&a=2&"), (pairs{{"a", "1"}, {"a", "2"}}));
  EXPECT_TRUE(parse_form("").empty());
}

TEST(ParseForm, ValueMayContainEqualsSigns) { EXPECT_EQ(parse_form("a=b=c"), (pairs{{"a", "b=c"}})); }

TEST(ParseForm, InvalidEscapesAreLeftOutLenientlyAndRefusedStrictly) {
  EXPECT_EQ(parse_form("a=%G1&b=2&c=%4"), (pairs{{"b", "2"}}));
  EXPECT_FALSE(parse_form_strict("a=%G1&b=2"));
  EXPECT_FALSE(parse_form_strict("c=%4"));
  auto ok = parse_form_strict("b=2");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (pairs{{"b", "2"}}));
}

TEST(ParseForm, StrictRefusesNul) {
  EXPECT_FALSE(parse_form_strict("a=x%00y"));
  EXPECT_FALSE(parse_form_strict("a%00=1"));
  EXPECT_EQ(parse_form("a=x%00y").size(), 1u);  // lenient keeps it; the caller decides
}

TEST(ParseForm, ReadsWhatOurFormEncoderWrites) {
  // RFC 6749 Appendix B's awkward secret, and every printable ASCII character.
  std::string all;
  for (char c = 0x20; c < 0x7F; ++c) all.push_back(c);
  const std::string body = "client_secret=" + oauth::form_encode("a+b/c=d~e:f") + "&all=" + oauth::form_encode(all);
  EXPECT_EQ(parse_form(body), (pairs{{"client_secret", "a+b/c=d~e:f"}, {"all", all}}));
}

TEST(HttpRequest, PathQueryAndHeaders) {
  http_request r;
  r.method = "GET";
  r.target = "/device?user_code=WDJB-MJHT&x=a+b&x=c%20d#frag";
  r.headers["content-type"] = "text/plain";
  EXPECT_EQ(r.path(), "/device");
  EXPECT_EQ(r.query_parameter("user_code"), "WDJB-MJHT");
  EXPECT_EQ(r.query_parameter("x"), "c d");  // last one wins
  EXPECT_FALSE(r.query_parameter("missing"));
  EXPECT_EQ(r.header("content-type"), "text/plain");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_FALSE(r.header("authorization"));

  http_request bare;
  bare.target = "/token";
  EXPECT_EQ(bare.path(), "/token");
  EXPECT_FALSE(bare.query_parameter("a"));
}

TEST(HttpResponse, Factories) {
  auto j = http_response::json(400, R"({"error":"invalid_request"})");
  EXPECT_EQ(j.status, 400);
  EXPECT_EQ(j.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(j.body, R"({"error":"invalid_request"})");
  EXPECT_EQ(j.delay.count(), 0);

  auto h = http_response::html(200, "<p>x</p>");
  EXPECT_EQ(h.content_type, "text/html; charset=utf-8");
  const auto has = [&](const http_response& r, std::string_view name, std::string_view value) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return value.empty() || v == value;
    }
    return false;
  };
  EXPECT_TRUE(has(h, "Cache-Control", "no-store"));
  EXPECT_TRUE(has(h, "X-Frame-Options", "DENY"));
  EXPECT_TRUE(has(h, "Content-Security-Policy", ""));

  auto r = http_response::redirect("http://127.0.0.1:5000/cb?code=x");
  EXPECT_EQ(r.status, 302);
  EXPECT_TRUE(has(r, "Location", "http://127.0.0.1:5000/cb?code=x"));

  auto n = http_response::not_found();
  EXPECT_EQ(n.status, 404);
  EXPECT_NE(n.body.find("not_found"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::sandbox
