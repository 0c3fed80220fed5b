// SASL server mechanisms: the vectors of providers.md §1.6, §2.2, §3.1 and §5 decoded and parsed
// back into their fields; every grammar error; the step sequence (accept, reject, error
// challenge, out of sequence); and round trips with the client mechanisms of sasl::make_client.
#include "sasl/server.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "unit/sasl/helpers.hpp"

namespace oauthmail::sasl {
namespace {

using testing::creds;
using testing::decode;

using step_kind = server_step::kind;
using namespace std::string_view_literals;

// Runs start(initial) on a fresh mechanism.
server_step start_with(mechanism m, std::string_view initial) { return make_server(m)->start(initial); }

void expect_verify(const server_step& s, std::string_view user, std::string_view secret) {
  ASSERT_EQ(s.what, step_kind::verify) << (s.error ? s.error->message() : "");
  ASSERT_TRUE(s.credentials.has_value());
  EXPECT_EQ(s.credentials->user, user);
  EXPECT_EQ(s.credentials->secret.expose(), secret);
  EXPECT_FALSE(s.error.has_value());
}

void expect_malformed(const server_step& s, server_sasl_errc code, std::string_view must_not_contain = {}) {
  ASSERT_EQ(s.what, step_kind::malformed);
  ASSERT_TRUE(s.error.has_value());
  EXPECT_EQ(s.error->code(), make_error_code(code)) << s.error->message();
  EXPECT_FALSE(s.error->message().empty());
  EXPECT_EQ(s.error->classification(), core::failure_class::protocol);
  EXPECT_FALSE(s.credentials.has_value());
  if (!must_not_contain.empty()) {
    EXPECT_EQ(s.error->message().find(must_not_contain), std::string::npos) << s.error->message();
  }
}

std::string bytes(std::string_view s) { return std::string(s); }

// ---------------------------------------------------------------------------------------------
// XOAUTH2

TEST(ServerXoauth2, GoogleVector) {
  const std::string raw = decode(
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0"
      "Q2cBAQ==");
  auto m = make_server(mechanism::xoauth2);
  EXPECT_EQ(m->kind(), mechanism::xoauth2);
  const auto s = m->start(raw);
  expect_verify(s, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
  EXPECT_EQ(s.credentials->kind, mechanism::xoauth2);
  EXPECT_TRUE(s.credentials->authzid.empty());
  EXPECT_TRUE(s.credentials->host.empty());
  EXPECT_EQ(s.credentials->port, 0);
}

TEST(ServerXoauth2, MicrosoftVector) {
  const std::string raw = decode(
      "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJD"
      "M0VvQUEBAQ==");
  expect_verify(start_with(mechanism::xoauth2, raw), "test@contoso.onmicrosoft.com",
                "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA");
}

TEST(ServerXoauth2, ComputedVectorOfSection5) {
  const std::string raw = decode("dXNlcj11c2VyQGV4YW1wbGUuY29tAWF1dGg9QmVhcmVyIHlhMjkuVE9LRU4BAQ==");
  EXPECT_EQ(raw, bytes("user=user@example.com\x01"
                       "auth=Bearer ya29.TOKEN\x01\x01"));
  expect_verify(start_with(mechanism::xoauth2, raw), "user@example.com", "ya29.TOKEN");
}

TEST(ServerXoauth2, WithoutInitialResponseSendsAnEmptyChallengeFirst) {
  // Microsoft's sample: "auth xoauth2" / "334" / <response>.
  auto m = make_server(mechanism::xoauth2);
  const auto first = m->start(std::nullopt);
  ASSERT_EQ(first.what, step_kind::challenge);
  EXPECT_EQ(first.challenge, "");
  expect_verify(m->step("user=u@example.com\x01"
                        "auth=Bearer T0K\x01\x01"),
                "u@example.com", "T0K");
}

TEST(ServerXoauth2, SchemeIsCaseInsensitive) {
  for (const std::string scheme : {"bearer", "BEARER", "BeArEr"}) {
    expect_verify(start_with(mechanism::xoauth2,
                             "user=a@b.c\x01"
                             "auth=" +
                                 scheme + " tok\x01\x01"),
                  "a@b.c", "tok");
  }
}

TEST(ServerXoauth2, UnknownKeysAreIgnoredAndOrderDoesNotMatter) {
  expect_verify(start_with(mechanism::xoauth2,
                           "auth=Bearer tok\x01"
                           "extra=1\x01user=a@b.c\x01\x01"),
                "a@b.c", "tok");
}

TEST(ServerXoauth2, MissingOrEmptyUserIsMissingUser) {
  expect_malformed(start_with(mechanism::xoauth2, "auth=Bearer SECRETTOK\x01\x01"), server_sasl_errc::missing_user,
                   "SECRETTOK");
  // Postfix with an empty sasl_username (Microsoft: 501 5.5.124).
  expect_malformed(start_with(mechanism::xoauth2,
                              "user=\x01"
                              "auth=Bearer SECRETTOK\x01\x01"),
                   server_sasl_errc::missing_user, "SECRETTOK");
}

TEST(ServerXoauth2, MissingAuthIsMissingAuth) {
  expect_malformed(start_with(mechanism::xoauth2, "user=a@b.c\x01\x01"), server_sasl_errc::missing_auth);
}

TEST(ServerXoauth2, SchemeOtherThanBearerIsBadScheme) {
  for (const std::string auth : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "BearerSECRETTOK", "MAC SECRETTOK",
                                 "Bearer SECRET TOK", "", "Bearer \tSECRETTOK"}) {
    SCOPED_TRACE(auth);
    expect_malformed(start_with(mechanism::xoauth2,
                                "user=a@b.c\x01"
                                "auth=" +
                                    auth + "\x01\x01"),
                     server_sasl_errc::bad_scheme, "SECRETTOK");
  }
}

TEST(ServerXoauth2, GrammarErrorsAreMalformed) {
  const std::vector<std::string> cases = {
      "",         // nothing
      "garbage",  // no separators
      "user=a@b.c\x01"
      "auth=Bearer SECRETTOK\x01",  // one final 0x01 missing
      "user=a@b.c\x01"
      "auth=Bearer SECRETTOK",  // no separators at the end
      "user=a@b.c\x01"
      "auth=Bearer SECRETTOK\x01\x01\x01",  // an empty kvpair
      "user=a@b.c\x01noequals\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // kvpair without '='
      "user=a@b.c\x01=x\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // empty key
      "user=a@b.c\x01us3r=x\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // key not ALPHA
      std::string("user=a") + '\0' +
          "b\x01"
          "auth=Bearer SECRETTOK\x01\x01",  // NUL in a value
      "user=a@b.c\x01user=x@y.z\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // duplicate key
      "user=a@b.c\r\n\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // CR LF in the user name
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c));
    expect_malformed(start_with(mechanism::xoauth2, c), server_sasl_errc::malformed_response, "SECRETTOK");
  }
}

TEST(ServerXoauth2, AcceptAfterVerify) {
  auto m = make_server(mechanism::xoauth2);
  ASSERT_EQ(m->start("user=a@b.c\x01"
                     "auth=Bearer t\x01\x01")
                .what,
            step_kind::verify);
  EXPECT_EQ(m->accept().what, step_kind::accepted);
  // The exchange is over.
  expect_malformed(m->step(""), server_sasl_errc::out_of_sequence);
  expect_malformed(m->accept(), server_sasl_errc::out_of_sequence);
  expect_malformed(m->reject(std::nullopt), server_sasl_errc::out_of_sequence);
}

TEST(ServerXoauth2, RejectWithJsonSendsTheErrorChallengeThenRejects) {
  // Gmail: 334 <base64 JSON>, the client answers with an empty line, then 535.
  const std::string json = R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})";
  auto m = make_server(mechanism::xoauth2);
  ASSERT_EQ(m->start("user=a@b.c\x01"
                     "auth=Bearer t\x01\x01")
                .what,
            step_kind::verify);
  const auto c = m->reject(json);
  ASSERT_EQ(c.what, step_kind::challenge);
  EXPECT_EQ(c.challenge, json);
  EXPECT_EQ(core::base64_encode(c.challenge),
            "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==");
  EXPECT_EQ(m->step("").what, step_kind::rejected);
  expect_malformed(m->step(""), server_sasl_errc::out_of_sequence);
}

TEST(ServerXoauth2, RejectWithoutJsonRejectsAtOnce) {
  // Microsoft: a straight 535.
  auto m = make_server(mechanism::xoauth2);
  ASSERT_EQ(m->start("user=a@b.c\x01"
                     "auth=Bearer t\x01\x01")
                .what,
            step_kind::verify);
  EXPECT_EQ(m->reject(std::nullopt).what, step_kind::rejected);
  expect_malformed(m->step(""), server_sasl_errc::out_of_sequence);
}

TEST(ServerXoauth2, OutOfSequenceCalls) {
  auto m = make_server(mechanism::xoauth2);
  expect_malformed(m->accept(), server_sasl_errc::out_of_sequence);
  expect_malformed(m->reject(std::string("{}")), server_sasl_errc::out_of_sequence);
  expect_malformed(m->step("x"), server_sasl_errc::out_of_sequence);
  ASSERT_EQ(m->start(std::nullopt).what, step_kind::challenge);
  expect_malformed(m->start(std::nullopt), server_sasl_errc::out_of_sequence);
  // While waiting for the response, accept() is still out of sequence.
  expect_malformed(m->accept(), server_sasl_errc::out_of_sequence);
  ASSERT_EQ(m->step("user=a@b.c\x01"
                    "auth=Bearer t\x01\x01")
                .what,
            step_kind::verify);
  // During verification the client cannot step.
  expect_malformed(m->step("again"), server_sasl_errc::out_of_sequence);
  EXPECT_EQ(m->accept().what, step_kind::accepted);
}

TEST(ServerXoauth2, MalformedEndsTheExchange) {
  auto m = make_server(mechanism::xoauth2);
  ASSERT_EQ(m->start("junk").what, step_kind::malformed);
  expect_malformed(m->step("user=a@b.c\x01"
                           "auth=Bearer t\x01\x01"),
                   server_sasl_errc::out_of_sequence);
}

// ---------------------------------------------------------------------------------------------
// OAUTHBEARER

TEST(ServerOauthbearer, Rfc7628ImapVector) {
  const std::string raw = decode(
      "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52"
      "YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
  const auto s = start_with(mechanism::oauthbearer, raw);
  expect_verify(s, "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
  EXPECT_EQ(s.credentials->kind, mechanism::oauthbearer);
  EXPECT_EQ(s.credentials->host, "server.example.com");
  EXPECT_EQ(s.credentials->port, 143);
}

TEST(ServerOauthbearer, Rfc7628SmtpVector) {
  const std::string raw = decode(
      "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52"
      "YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
  const auto s = start_with(mechanism::oauthbearer, raw);
  expect_verify(s, "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
  EXPECT_EQ(s.credentials->host, "server.example.com");
  EXPECT_EQ(s.credentials->port, 587);
}

TEST(ServerOauthbearer, ComputedVectors) {
  const auto gmail = start_with(
      mechanism::oauthbearer,
      decode("bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c210cC5nbWFpbC5jb20BcG9ydD01ODcBYXV0aD1CZWFyZXIgeWEyOS5UT0tFTgEB"));
  expect_verify(gmail, "user@example.com", "ya29.TOKEN");
  EXPECT_EQ(gmail.credentials->host, "smtp.gmail.com");
  EXPECT_EQ(gmail.credentials->port, 587);

  const auto minimal = start_with(mechanism::oauthbearer, decode("biwsAWF1dGg9QmVhcmVyIHlhMjkuVE9LRU4BAQ=="));
  expect_verify(minimal, "", "ya29.TOKEN");
  EXPECT_TRUE(minimal.credentials->host.empty());
  EXPECT_EQ(minimal.credentials->port, 0);

  // §4.4 as it should have been written (a= instead of user=).
  expect_verify(start_with(mechanism::oauthbearer,
                           decode("bixhPXNvbWV1c2VyQGV4YW1wbGUuY29tLAFhdXRoPUJlYXJlciB2RjlkZnQ0cW1UYzJOdmIzUmxja0JoZE"
                                  "hSaGRtbHpkR0V1WTI5dENnPT0BAQ==")),
                "someuser@example.com", "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==");
}

TEST(ServerOauthbearer, Rfc7628Section4_4InvalidGs2HeaderIsRefused) {
  // The RFC's own SMTP example sends "n,user=...," which is not a gs2 header.
  const std::string raw = decode(
      "bix1c2VyPXNvbWV1c2VyQGV4YW1wbGUuY29tLAFhdXRoPUJlYXJlciB2RjlkZnQ0cW1UYzJOdmIzUmxja0JoZEhSaGRtbHpkR0V1WTI5dENn"
      "PT0BAQ==");
  EXPECT_EQ(raw.substr(0, 7), "n,user=");
  expect_malformed(start_with(mechanism::oauthbearer, raw), server_sasl_errc::malformed_response,
                   "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
}

TEST(ServerOauthbearer, Rfc7628Section4_3EmptyAuthIsBadScheme) {
  // "auth=" without a token (the RFC's discovery request) carries no credentials to verify.
  const std::string raw =
      decode("bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=");
  EXPECT_EQ(raw, bytes("n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
                       "auth=\x01\x01"));
  expect_malformed(start_with(mechanism::oauthbearer, raw), server_sasl_errc::bad_scheme);
}

TEST(ServerOauthbearer, CurlFixture) {
  const auto s = start_with(mechanism::oauthbearer,
                            "n,a=user,\x01host=127.0.0.1\x01port=9999\x01"
                            "auth=Bearer mF_9.B5f-4.1JqM\x01\x01");
  expect_verify(s, "user", "mF_9.B5f-4.1JqM");
  EXPECT_EQ(s.credentials->host, "127.0.0.1");
  EXPECT_EQ(s.credentials->port, 9999);
}

TEST(ServerOauthbearer, YFlagAndEscapedAuthzid) {
  const auto s = start_with(mechanism::oauthbearer,
                            "y,a=we=2Cird=3Dname=2c=3d,\x01"
                            "auth=bearer tok\x01\x01");
  expect_verify(s, "we,ird=name,=", "tok");
}

TEST(ServerOauthbearer, UnknownKeysAreIgnored) {
  const auto s = start_with(mechanism::oauthbearer,
                            "n,,\x01mfa=otp 123\x01"
                            "auth=Bearer tok\x01Xyz=\x01\x01");
  expect_verify(s, "", "tok");
}

TEST(ServerOauthbearer, ChannelBindingAndBadHeadersAreRefused) {
  const std::vector<std::string> cases = {
      "p=tls-unique,,\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // channel binding
      "x,,\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // unknown flag
      "n\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // no comma
      "n,a=user\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // authzid not closed by ','
      "n,a=,\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // empty saslname
      "n,b=user,\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // not a=
      "n,a=us=41er,\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // bad escape
      "n,a=user=,\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // truncated escape
      "n,a=user=2,\x01"
      "auth=Bearer SECRETTOK\x01\x01",     // truncated escape
      "n,,auth=Bearer SECRETTOK\x01\x01",  // no 0x01 after the gs2 header
      "n,,\x01"
      "auth=Bearer SECRETTOK\x01",  // final 0x01 missing
      "n,,\x01host=a b\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // host with a space
      "n,,\x01port=0\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // port 0
      "n,,\x01port=65536\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // port too large
      "n,,\x01port=12a\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // not a number
      "n,,\x01port=0000587\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // too many digits
      "n,,\x01"
      "auth=Bearer SECRETTOK\x01"
      "auth=Bearer SECRETTOK\x01\x01",  // auth twice
      "",
      ",",
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c));
    expect_malformed(start_with(mechanism::oauthbearer, c), server_sasl_errc::malformed_response, "SECRETTOK");
  }
}

TEST(ServerOauthbearer, MissingAuthAndBadScheme) {
  expect_malformed(start_with(mechanism::oauthbearer, "n,,\x01host=h\x01\x01"), server_sasl_errc::missing_auth);
  expect_malformed(start_with(mechanism::oauthbearer, "\x01"), server_sasl_errc::missing_auth);
  expect_malformed(start_with(mechanism::oauthbearer,
                              "n,,\x01"
                              "auth=Basic SECRETTOK\x01\x01"),
                   server_sasl_errc::bad_scheme, "SECRETTOK");
}

TEST(ServerOauthbearer, ErrorChallengeFlowEndsWithTheClientsControlA) {
  // RFC 7628 §4.4: 334 <JSON>, the client answers AQ== (0x01), the server fails the exchange.
  const std::string json = decode(
      "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciBtYWMiLCJzY29wZSI6Imh0dHBzOi8vbWFpbC5leGFtcGxlLmNv"
      "bS8ifQ==");
  EXPECT_EQ(json, R"({"status":"invalid_token","schemes":"bearer mac","scope":"https://mail.example.com/"})");
  auto m = make_server(mechanism::oauthbearer);
  ASSERT_EQ(m->start(std::nullopt).what, step_kind::challenge);
  ASSERT_EQ(m->step("n,,\x01"
                    "auth=Bearer t\x01\x01")
                .what,
            step_kind::verify);
  const auto c = m->reject(json);
  ASSERT_EQ(c.what, step_kind::challenge);
  EXPECT_EQ(c.challenge, json);
  EXPECT_EQ(m->step(decode("AQ==")).what, step_kind::rejected);
}

// ---------------------------------------------------------------------------------------------
// PLAIN

TEST(ServerPlain, Rfc4616Forms) {
  // RFC 4616 §4 examples: "\0tim\0tanstaaftanstaaf" and "Ursel\0Kurt\0xipj3plmq".
  const auto a = start_with(mechanism::plain, bytes("\0tim\0tanstaaftanstaaf"sv));
  expect_verify(a, "tim", "tanstaaftanstaaf");
  EXPECT_EQ(a.credentials->kind, mechanism::plain);
  EXPECT_TRUE(a.credentials->authzid.empty());
  const auto b = start_with(mechanism::plain, bytes("Ursel\0Kurt\0xipj3plmq"sv));
  expect_verify(b, "Kurt", "xipj3plmq");
  EXPECT_EQ(b.credentials->authzid, "Ursel");
}

TEST(ServerPlain, WithoutInitialResponseEmptyChallenge) {
  auto m = make_server(mechanism::plain);
  const auto c = m->start(std::nullopt);
  ASSERT_EQ(c.what, step_kind::challenge);
  EXPECT_EQ(c.challenge, "");
  expect_verify(m->step(bytes("\0u\0p"sv)), "u", "p");
}

TEST(ServerPlain, GrammarErrors) {
  expect_malformed(start_with(mechanism::plain, ""), server_sasl_errc::malformed_response);
  expect_malformed(start_with(mechanism::plain, bytes("user\0SECRETPW"sv)), server_sasl_errc::malformed_response,
                   "SECRETPW");
  expect_malformed(start_with(mechanism::plain, bytes("\0user\0SECRET\0PW"sv)), server_sasl_errc::malformed_response,
                   "SECRET");
  expect_malformed(start_with(mechanism::plain, bytes("\0user\0"sv)), server_sasl_errc::malformed_response);
  expect_malformed(start_with(mechanism::plain, bytes("\0\0SECRETPW"sv)), server_sasl_errc::missing_user, "SECRETPW");
}

TEST(ServerPlain, RejectIgnoresJson) {
  auto m = make_server(mechanism::plain);
  ASSERT_EQ(m->start(bytes("\0u\0p"sv)).what, step_kind::verify);
  EXPECT_EQ(m->reject(std::string(R"({"status":"400"})")).what, step_kind::rejected);
}

// ---------------------------------------------------------------------------------------------
// LOGIN

TEST(ServerLogin, ChallengesUsernameThenPassword) {
  auto m = make_server(mechanism::login);
  EXPECT_EQ(m->kind(), mechanism::login);
  const auto u = m->start(std::nullopt);
  ASSERT_EQ(u.what, step_kind::challenge);
  EXPECT_EQ(u.challenge, "Username:");
  EXPECT_EQ(core::base64_encode(u.challenge), "VXNlcm5hbWU6");
  const auto p = m->step("user@example.com");
  ASSERT_EQ(p.what, step_kind::challenge);
  EXPECT_EQ(p.challenge, "Password:");
  EXPECT_EQ(core::base64_encode(p.challenge), "UGFzc3dvcmQ6");
  const auto v = m->step("s3cret pass");
  expect_verify(v, "user@example.com", "s3cret pass");
  EXPECT_EQ(v.credentials->kind, mechanism::login);
  EXPECT_EQ(m->accept().what, step_kind::accepted);
}

TEST(ServerLogin, InitialResponseIsTheUserName) {
  auto m = make_server(mechanism::login);
  const auto p = m->start("user@example.com");
  ASSERT_EQ(p.what, step_kind::challenge);
  EXPECT_EQ(p.challenge, "Password:");
  expect_verify(m->step("pw"), "user@example.com", "pw");
}

TEST(ServerLogin, Errors) {
  expect_malformed(start_with(mechanism::login, ""), server_sasl_errc::missing_user);
  expect_malformed(start_with(mechanism::login, "a\r\nb"), server_sasl_errc::malformed_response);
  auto m = make_server(mechanism::login);
  ASSERT_EQ(m->start("u").what, step_kind::challenge);
  expect_malformed(m->step(bytes("SECRET\0PW"sv)), server_sasl_errc::malformed_response, "SECRET");
  auto e = make_server(mechanism::login);
  ASSERT_EQ(e->start("u").what, step_kind::challenge);
  expect_malformed(e->step(""), server_sasl_errc::malformed_response);
}

TEST(ServerLogin, RejectWithJsonStillRejectsAtOnce) {
  auto m = make_server(mechanism::login);
  ASSERT_EQ(m->start("u").what, step_kind::challenge);
  ASSERT_EQ(m->step("p").what, step_kind::verify);
  EXPECT_EQ(m->reject(std::string("{}")).what, step_kind::rejected);
}

// ---------------------------------------------------------------------------------------------
// Formatting and errors

TEST(ServerCredentials, ToStringHidesTheSecret) {
  auto s = start_with(mechanism::oauthbearer,
                      "n,a=user@example.com,\x01host=smtp.example.com\x01port=587\x01"
                      "auth=Bearer ya29.SECRET\x01\x01");
  ASSERT_EQ(s.what, step_kind::verify);
  const std::string text = to_string(*s.credentials);
  EXPECT_EQ(text, "kind=OAUTHBEARER user=user@example.com secret=*** host=smtp.example.com port=587");
  EXPECT_EQ(text.find("ya29"), std::string::npos);
  auto p = start_with(mechanism::plain, bytes("admin\0u\0pw-SECRET"sv));
  ASSERT_EQ(p.what, step_kind::verify);
  EXPECT_EQ(to_string(*p.credentials), "kind=PLAIN user=u authzid=admin secret=***");
}

TEST(ServerCategory, NamesAndMessages) {
  EXPECT_STREQ(server_sasl_category().name(), "oauthmail.sasl.server");
  for (int i = 1; i <= 5; ++i) {
    const std::error_code ec = make_error_code(static_cast<server_sasl_errc>(i));
    EXPECT_NE(ec.message(), "unknown sasl server error") << i;
  }
  EXPECT_EQ(std::error_code(server_sasl_errc::bad_scheme).category(), server_sasl_category());
  EXPECT_EQ(make_error_code(static_cast<server_sasl_errc>(99)).message(), "unknown sasl server error");
}

// ---------------------------------------------------------------------------------------------
// Round trips: the client mechanisms' responses parse back to the same fields.

// Runs a client against a server mechanism until the server asks for verification.
server_step converse(client_mechanism& client, server_mechanism& server, bool initial_response) {
  std::optional<std::string> ir;
  if (initial_response) {
    auto r = client.start();
    EXPECT_TRUE(r.has_value());
    if (r && r->has_value()) ir = (*r)->bytes.expose();
  }
  server_step s = server.start(ir ? std::optional<std::string_view>(*ir) : std::nullopt);
  for (int round = 0; round < 4 && s.what == step_kind::challenge; ++round) {
    auto resp = client.step(s.challenge);
    EXPECT_TRUE(resp.has_value()) << (resp ? "" : resp.error().message());
    if (!resp) break;
    s = server.step(resp->bytes.expose());
  }
  return s;
}

struct round_trip_case {
  mechanism m;
  std::string user;
  std::string secret;
  std::string host;
  std::uint16_t port;
};

TEST(ServerRoundTrip, ClientResponsesParseBackToTheSameFields) {
  const std::vector<round_trip_case> cases = {
      {mechanism::xoauth2, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "", 0},
      {mechanism::xoauth2, "test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA", "", 0},
      {mechanism::oauthbearer, "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com",
       587},
      {mechanism::oauthbearer, "", "ya29.TOKEN", "", 0},
      {mechanism::oauthbearer, "we,ird=user", "tok", "smtp.gmail.com", 465},
      {mechanism::plain, "user@example.com", "pass word with spaces", "", 0},
      {mechanism::login, "user@example.com", "p@ss:word", "", 0},
  };
  for (const auto& c : cases) {
    for (const bool ir : {true, false}) {
      SCOPED_TRACE(std::string(to_string(c.m)) + " " + c.user + (ir ? " with" : " without") + " initial response");
      auto client = make_client(c.m, creds(c.user, c.secret, c.host, c.port));
      auto server = make_server(c.m);
      const auto s = converse(*client, *server, ir);
      expect_verify(s, c.user, c.secret);
      if (s.what != step_kind::verify) continue;
      EXPECT_EQ(s.credentials->kind, c.m);
      EXPECT_EQ(s.credentials->host, c.host);
      EXPECT_EQ(s.credentials->port, c.port);
      EXPECT_EQ(server->accept().what, step_kind::accepted);
    }
  }
}

TEST(ServerRoundTrip, ClientAcknowledgesTheErrorChallengeAndTheServerRejects) {
  for (const mechanism m : {mechanism::xoauth2, mechanism::oauthbearer}) {
    SCOPED_TRACE(std::string(to_string(m)));
    auto client = make_client(m, creds("user@example.com", "ya29.expired"));
    auto server = make_server(m);
    ASSERT_EQ(converse(*client, *server, true).what, step_kind::verify);
    const auto c =
        server->reject(std::string(R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})"));
    ASSERT_EQ(c.what, step_kind::challenge);
    auto ack = client->step(c.challenge);
    ASSERT_TRUE(ack.has_value());
    EXPECT_TRUE(ack->acknowledges_error);
    EXPECT_EQ(ack->bytes.expose(), m == mechanism::xoauth2 ? "" : "\x01");
    ASSERT_TRUE(client->server_error().has_value());
    EXPECT_EQ(client->server_error()->status, "400");
    EXPECT_EQ(server->step(ack->bytes.expose()).what, step_kind::rejected);
  }
}

TEST(ServerMake, EveryMechanismHasAServer) {
  for (const mechanism m : {mechanism::xoauth2, mechanism::oauthbearer, mechanism::plain, mechanism::login}) {
    auto s = make_server(m);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->kind(), m);
  }
}

}  // namespace
}  // namespace oauthmail::sasl
