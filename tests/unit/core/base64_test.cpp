#include "core/base64.hpp"

#include <gtest/gtest.h>

namespace oauthmail::core {
namespace {

TEST(Base64, RoundTripsRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

}  // namespace
}  // namespace oauthmail::core

namespace oauthmail::core {
namespace {

void expect_refused(const result<std::string>& r, std::string_view input) {
  ASSERT_FALSE(r) << "accepted: " << input;
  EXPECT_EQ(r.error().code(), errc::invalid_argument) << input;
  EXPECT_EQ(r.error().classification(), failure_class::protocol) << input;
  EXPECT_EQ(r.error().message().rfind("invalid base64", 0), 0u) << r.error().message();
}

TEST(Base64, EncodesBinaryAndSaslPayloads) {
  EXPECT_EQ(base64_encode(std::string_view("\x01", 1)), "AQ==");  // OAUTHBEARER dummy response
  EXPECT_EQ(base64_encode(std::string("\0\xff\xfe", 3)), "AP/+");
  EXPECT_EQ(base64_encode("Username:"), "VXNlcm5hbWU6");
  EXPECT_EQ(base64_encode("Password:"), "UGFzc3dvcmQ6");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  auto back = base64_decode(base64_encode(all));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, all);
}

TEST(Base64, StrictDecodeKeepsNulBytes) {
  auto d = base64_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm");  // RFC 4616 PLAIN
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, std::string("\0tim\0tanstaaftanstaaf", 21));
}

TEST(Base64, StrictRefusesBadInput) {
  for (const std::string_view bad :
       {"Zg", "Zg=", "Zm9vYg", "Zm9v\r\n", " Zm9v", "Zm9v ", "Zm 9v", "Zm9v\n", "Z===", "====", "Zg==Zg==", "Zm=v",
        "=Zm9", "Zm9-", "Zm9_", "Zm9!", "Zm9vY===", "\xff\xff\xff\xff"}) {
    expect_refused(base64_decode(bad), bad);
  }
  expect_refused(base64_decode(std::string_view("Zg\0=", 4)), "NUL");
}

TEST(Base64, LenientAcceptsMissingPaddingAndUrlAlphabet) {
  const std::string binary("\0\xff\xfe", 3);
  const std::pair<std::string_view, std::string> ok[] = {
      {"Zg", "f"},      {"Zg=", "f"},     {"Zg==", "f"}, {"Zm8", "fo"}, {"Zm9vYmFy", "foobar"},
      {"AP_-", binary}, {"AP/+", binary}, {"", ""}};
  for (const auto& [text, plain] : ok) {
    auto d = base64_decode_lenient(text);
    ASSERT_TRUE(d) << text << ": " << d.error().message();
    EXPECT_EQ(*d, plain) << text;
  }
}

TEST(Base64, LenientStillRefusesGarbage) {
  for (const std::string_view bad :
       {"Z", "Zm9v!", "Zm9v Zg", "Zm9v\r\n", "Zg==Zm8=", "Zm8=Zm8=", "Zg=Zm8", "=Zm8", "Zm9vY"}) {
    expect_refused(base64_decode_lenient(bad), bad);
  }
}

TEST(Base64, Url) {
  EXPECT_EQ(base64url_encode(std::string("\0\xff\xfe", 3)), "AP_-");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode(R"({"alg":"RS256","typ":"JWT"})"), "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9");
  auto d = base64url_decode("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, R"({"alg":"RS256","typ":"JWT"})");
  // PKCE S256 challenge of RFC 7636 Appendix B is plain base64url of 32 bytes.
  auto pkce = base64url_decode("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  ASSERT_TRUE(pkce);
  EXPECT_EQ(pkce->size(), 32u);
  EXPECT_EQ(base64url_encode(*pkce), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  for (const std::string_view bad : {"AP/+", "Zg==", "Zg=", "Z", "Zm9v.", "Zm9v\n"}) {
    expect_refused(base64url_decode(bad), bad);
  }
}

}  // namespace
}  // namespace oauthmail::core
