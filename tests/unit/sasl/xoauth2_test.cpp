// XOAUTH2: the vectors of providers.md §1.6, §2.2 and §5; Gmail's error challenge handling.
#include <gtest/gtest.h>

#include "unit/sasl/helpers.hpp"

namespace oauthmail::sasl {
namespace {

using testing::creds;
using testing::decode;
using testing::initial_base64;
using testing::initial_bytes;

constexpr std::string_view gmail_doc_challenge =
    "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K";
constexpr std::string_view gmail_live_challenge =
    "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==";

TEST(Xoauth2, GoogleVector) {
  auto m =
      make_client(mechanism::xoauth2, creds("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->kind(), mechanism::xoauth2);
  EXPECT_EQ(m->name(), "XOAUTH2");
  EXPECT_EQ(initial_base64(*m),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZ"
            "Mjl0Q2cBAQ==");
}

TEST(Xoauth2, MicrosoftVector) {
  auto m = make_client(mechanism::xoauth2,
                       creds("test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA"));
  EXPECT_EQ(initial_base64(*m),
            "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0Nj"
            "bFJDM0VvQUEBAQ==");
}

TEST(Xoauth2, RawBytesAndComputedVector) {
  auto m = make_client(mechanism::xoauth2, creds("user@example.com", "ya29.TOKEN"));
  const std::string bytes = initial_bytes(*m);
  EXPECT_EQ(bytes, std::string("user=user@example.com\x01"
                               "auth=Bearer ya29.TOKEN\x01\x01"));
  EXPECT_EQ(core::base64_encode(bytes), "dXNlcj11c2VyQGV4YW1wbGUuY29tAWF1dGg9QmVhcmVyIHlhMjkuVE9LRU4BAQ==");
}

TEST(Xoauth2, InitialResponseIsNotAnErrorAcknowledgement) {
  auto m = make_client(mechanism::xoauth2, creds("user@example.com", "ya29.TOKEN"));
  auto r = m->start();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_FALSE((*r)->acknowledges_error);
  EXPECT_FALSE(m->server_error().has_value());
}

TEST(Xoauth2, GmailDocumentedErrorChallengeGetsAnEmptyResponse) {
  auto m = make_client(mechanism::xoauth2, creds("someuser@example.com", "ya29.expired"));
  ASSERT_TRUE(m->start());
  const std::string challenge = decode(gmail_doc_challenge);
  EXPECT_EQ(challenge, "{\"status\":\"401\",\"schemes\":\"bearer mac\",\"scope\":\"https://mail.google.com/\"}\n");
  auto r = m->step(challenge);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->bytes.empty());  // sent as "\r\n"
  EXPECT_TRUE(r->acknowledges_error);
  ASSERT_TRUE(m->server_error().has_value());
  EXPECT_EQ(m->server_error()->status, "401");
  EXPECT_EQ(m->server_error()->schemes, "bearer mac");
  EXPECT_EQ(m->server_error()->scope, "https://mail.google.com/");
  EXPECT_EQ(m->server_error()->openid_configuration, "");
}

TEST(Xoauth2, GmailLiveErrorChallenge) {
  auto m = make_client(mechanism::xoauth2, creds("someuser@example.com", "ya29.expired"));
  ASSERT_TRUE(m->start());
  auto r = m->step(decode(gmail_live_challenge));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->bytes.expose(), "");
  EXPECT_TRUE(r->acknowledges_error);
  ASSERT_TRUE(m->server_error());
  EXPECT_EQ(m->server_error()->status, "400");
  EXPECT_EQ(m->server_error()->schemes, "Bearer");
  EXPECT_EQ(m->server_error()->scope, "https://mail.google.com/");
}

TEST(Xoauth2, SecondChallengeIsAnError) {
  auto m = make_client(mechanism::xoauth2, creds("someuser@example.com", "ya29.expired"));
  ASSERT_TRUE(m->start());
  ASSERT_TRUE(m->step(decode(gmail_live_challenge)));
  auto again = m->step(decode(gmail_live_challenge));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), sasl_errc::unexpected_challenge);
  EXPECT_EQ(again.error().classification(), core::failure_class::protocol);
}

TEST(Xoauth2, NonJsonChallengeIsBadChallenge) {
  auto m = make_client(mechanism::xoauth2, creds("someuser@example.com", "ya29.TOKEN"));
  ASSERT_TRUE(m->start());
  auto r = m->step("Username:");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::bad_challenge);
  EXPECT_EQ(r.error().classification(), core::failure_class::protocol);
  EXPECT_FALSE(m->server_error());
}

TEST(Xoauth2, EmptyChallengeBeforeStartGivesTheInitialResponse) {
  // RFC 4954 §4: "AUTH XOAUTH2" without initial response, server answers "334 ".
  auto m = make_client(mechanism::xoauth2, creds("user@example.com", "ya29.TOKEN"));
  auto r = m->step("");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(core::base64_encode(r->bytes.expose()), "dXNlcj11c2VyQGV4YW1wbGUuY29tAWF1dGg9QmVhcmVyIHlhMjkuVE9LRU4BAQ==");
  EXPECT_FALSE(r->acknowledges_error);
  // After that the error challenge is handled as usual.
  auto e = m->step(decode(gmail_live_challenge));
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->acknowledges_error);
}

TEST(Xoauth2, NonEmptyChallengeBeforeStartIsUnexpected) {
  auto m = make_client(mechanism::xoauth2, creds("user@example.com", "ya29.TOKEN"));
  auto r = m->step("{\"status\":\"400\"}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::unexpected_challenge);
}

TEST(Xoauth2, RefusesUserNamesThatInjectKeys) {
  for (const std::string& user :
       {std::string("a@b.c\x01"
                    "auth=Bearer evil"),
        std::string("a@b.c\0x", 7), std::string("a@b.c\r\nQUIT"), std::string("a@b.c\n"), std::string("\r")}) {
    auto m = make_client(mechanism::xoauth2, creds(user, "ya29.TOKEN"));
    auto r = m->start();
    ASSERT_FALSE(r) << "user accepted";
    EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
    EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
    EXPECT_EQ(r.error().message().find("ya29.TOKEN"), std::string::npos);
    // And through the empty-challenge path too.
    auto s = make_client(mechanism::xoauth2, creds(user, "ya29.TOKEN"))->step("");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), sasl_errc::bad_credentials_format);
  }
}

TEST(Xoauth2, RefusesEmptyUserAndBadTokens) {
  {
    auto r = make_client(mechanism::xoauth2, creds("", "ya29.TOKEN"))->start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
  }
  {
    auto r = make_client(mechanism::xoauth2, creds("u@example.com", ""))->start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
  }
  for (const std::string& token : {std::string("ya29.SECRET\x01user=x"), std::string("ya29.SECRET\n"),
                                   std::string("ya29.SECRET\0", 12), std::string("ya29.SECRET\r")}) {
    auto r = make_client(mechanism::xoauth2, creds("u@example.com", token))->start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
    EXPECT_EQ(r.error().message().find("SECRET"), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace oauthmail::sasl
