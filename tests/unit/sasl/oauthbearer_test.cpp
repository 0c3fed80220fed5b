// OAUTHBEARER (RFC 7628): the §4.1 SMTP vector, the corrected §4.4 vector, gs2 escaping (RFC 5801),
// host/port only when set, and the 0x01 answer to the error challenge (§3.2.3).
#include <gtest/gtest.h>

#include "unit/sasl/helpers.hpp"

namespace oauthmail::sasl {
namespace {

using testing::creds;
using testing::decode;
using testing::initial_base64;
using testing::initial_bytes;

constexpr std::string_view rfc7628_44_challenge =
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciBtYWMiLCJzY29wZSI6Imh0dHBzOi8vbWFpbC5leGFtcGxlLmNvbS8ifQ"
    "==";
constexpr std::string_view rfc7628_43_challenge =
    "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW"
    "1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWcifQ==";

TEST(Oauthbearer, Rfc7628Section41SmtpVector) {
  auto m =
      make_client(mechanism::oauthbearer,
                  creds("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 587));
  EXPECT_EQ(m->name(), "OAUTHBEARER");
  const std::string bytes = initial_bytes(*m);
  EXPECT_EQ(bytes, std::string("n,a=user@example.com,\x01host=server.example.com\x01port=587\x01"
                               "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"));
  EXPECT_EQ(
      core::base64_encode(bytes),
      "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52"
      "YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
}

TEST(Oauthbearer, Rfc7628Section41ImapVectorWithPort143) {
  auto m =
      make_client(mechanism::oauthbearer,
                  creds("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143));
  EXPECT_EQ(
      initial_base64(*m),
      "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52"
      "YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
}

TEST(Oauthbearer, Rfc7628Section44CorrectedVectorWithoutHostAndPort) {
  auto m =
      make_client(mechanism::oauthbearer, creds("someuser@example.com", "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg=="));
  EXPECT_EQ(
      initial_base64(*m),
      "bixhPXNvbWV1c2VyQGV4YW1wbGUuY29tLAFhdXRoPUJlYXJlciB2RjlkZnQ0cW1UYzJOdmIzUmxja0JoZEhSaGRtbHpkR0V1WTI5dENnPT0B"
      "AQ==");
}

TEST(Oauthbearer, GmailStyleAndMinimalVectors) {
  EXPECT_EQ(initial_base64(
                *make_client(mechanism::oauthbearer, creds("user@example.com", "ya29.TOKEN", "smtp.gmail.com", 587))),
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c210cC5nbWFpbC5jb20BcG9ydD01ODcBYXV0aD1CZWFyZXIgeWEyOS5UT0tFTgEB");
  // No authzid: "n,,".
  EXPECT_EQ(initial_base64(*make_client(mechanism::oauthbearer, creds("", "ya29.TOKEN"))),
            "biwsAWF1dGg9QmVhcmVyIHlhMjkuVE9LRU4BAQ==");
}

TEST(Oauthbearer, HostAndPortAreIndependent) {
  EXPECT_EQ(initial_bytes(*make_client(mechanism::oauthbearer, creds("u", "T", "h.example", 0))),
            std::string("n,a=u,\x01host=h.example\x01"
                        "auth=Bearer T\x01\x01"));
  EXPECT_EQ(initial_bytes(*make_client(mechanism::oauthbearer, creds("u", "T", "", 465))),
            std::string("n,a=u,\x01port=465\x01"
                        "auth=Bearer T\x01\x01"));
}

TEST(Oauthbearer, EscapesCommaAndEqualsInAuthzid) {
  // RFC 5801 §4: ',' -> "=2C", '=' -> "=3D".
  EXPECT_EQ(initial_bytes(*make_client(mechanism::oauthbearer, creds("a,b=c@example.com", "T"))),
            std::string("n,a=a=2Cb=3Dc@example.com,\x01"
                        "auth=Bearer T\x01\x01"));
  EXPECT_EQ(initial_bytes(*make_client(mechanism::oauthbearer, creds(",,==", "T"))),
            std::string("n,a==2C=2C=3D=3D,\x01"
                        "auth=Bearer T\x01\x01"));
}

TEST(Oauthbearer, ErrorChallengeIsAnsweredWithControlA) {
  auto m = make_client(mechanism::oauthbearer, creds("someuser@example.com", "vF9dft4qmTc2"));
  ASSERT_TRUE(m->start());
  const std::string challenge = decode(rfc7628_44_challenge);
  EXPECT_EQ(challenge, R"({"status":"invalid_token","schemes":"bearer mac","scope":"https://mail.example.com/"})");
  auto r = m->step(challenge);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->bytes.expose(), "\x01");
  EXPECT_EQ(core::base64_encode(r->bytes.expose()), "AQ==");
  EXPECT_TRUE(r->acknowledges_error);
  ASSERT_TRUE(m->server_error());
  EXPECT_EQ(m->server_error()->status, "invalid_token");
  EXPECT_EQ(m->server_error()->schemes, "bearer mac");
  EXPECT_EQ(m->server_error()->scope, "https://mail.example.com/");
}

TEST(Oauthbearer, Rfc7628Section43ChallengeWithOpenidConfiguration) {
  auto m = make_client(mechanism::oauthbearer, creds("user@example.com", "T", "server.example.com", 143));
  ASSERT_TRUE(m->start());
  auto r = m->step(decode(rfc7628_43_challenge));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(core::base64_encode(r->bytes.expose()), "AQ==");
  ASSERT_TRUE(m->server_error());
  EXPECT_EQ(m->server_error()->status, "invalid_token");
  EXPECT_EQ(m->server_error()->scope, "example_scope");
  EXPECT_EQ(m->server_error()->openid_configuration, "https://example.com/.well-known/openid-config");
}

TEST(Oauthbearer, SecondChallengeIsAnError) {
  auto m = make_client(mechanism::oauthbearer, creds("u@example.com", "T"));
  ASSERT_TRUE(m->start());
  ASSERT_TRUE(m->step(decode(rfc7628_44_challenge)));
  auto r = m->step(decode(rfc7628_44_challenge));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::unexpected_challenge);
}

TEST(Oauthbearer, RefusesInjection) {
  for (const std::string& user : {std::string("u\x01"
                                              "auth=Bearer x"),
                                  std::string("u\0", 2), std::string("u\r"), std::string("u\n")}) {
    auto r = make_client(mechanism::oauthbearer, creds(user, "SECRETTOKEN"))->start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
    EXPECT_EQ(r.error().message().find("SECRETTOKEN"), std::string::npos);
  }
  auto host = make_client(mechanism::oauthbearer, creds("u", "SECRETTOKEN", "evil\x01port=1"))->start();
  ASSERT_FALSE(host);
  EXPECT_EQ(host.error().code(), sasl_errc::bad_credentials_format);
  auto token = make_client(mechanism::oauthbearer, creds("u", "SECRETTOKEN\x01host=x"))->start();
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code(), sasl_errc::bad_credentials_format);
  EXPECT_EQ(token.error().message().find("SECRETTOKEN"), std::string::npos);
  auto empty = make_client(mechanism::oauthbearer, creds("u", ""))->start();
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), sasl_errc::bad_credentials_format);
}

}  // namespace
}  // namespace oauthmail::sasl
