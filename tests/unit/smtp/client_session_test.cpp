// Transcript tests of the sans-I/O SMTP client session, against a FAKE server (see
// fake_smtp_server.hpp) so that every fault can be put at an exact step.
#include "smtp/client_session.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/base64.hpp"
#include "fake_smtp_server.hpp"

namespace oauthmail::smtp {
namespace {

using testing::fake_smtp_server;
using testing::fault;
using testing::session_harness;

constexpr const char* kToken = "ya29.SECRET-TOKEN-must-never-print";
const std::string kMessage = "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello.\r\n";

client_options oauth_options(tls_mode tls = tls_mode::starttls) {
  client_options o;
  o.ehlo_domain = "client.example.org";
  o.tls = tls;
  sasl::credentials c;
  c.user = "someuser@example.com";
  c.secret = core::secret<std::string>(kToken);
  o.credentials = std::move(c);
  return o;
}

client_options plain_options() {
  client_options o;
  o.ehlo_domain = "client.example.org";
  o.tls = tls_mode::none;
  return o;
}

envelope env(std::vector<std::string> to = {"b@example.net"}) {
  envelope e;
  e.mail_from = "a@example.com";
  e.rcpt_to = std::move(to);
  return e;
}

std::vector<std::string> verbs(const fake_smtp_server& s) {
  std::vector<std::string> out;
  for (const auto& c : s.commands) out.push_back(c.substr(0, c.find(' ')));
  return out;
}

std::string xoauth2_b64(const std::string& user, const std::string& token) {
  return core::base64_encode("user=" + user + "\x01" + "auth=Bearer " + token + "\x01\x01");
}

TEST(ClientSession, PlainDeliveryWithPipeliningSendsOneGroup) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "PIPELINING", "8BITMIME"};
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env({"b@example.net", "c@example.net"}), kMessage);
  EXPECT_TRUE(r.delivered());
  EXPECT_EQ(r.accepted_count(), 2u);
  h.quit();
  EXPECT_EQ(verbs(server), (std::vector<std::string>{"EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}));
  ASSERT_EQ(server.messages.size(), 1u);
  EXPECT_EQ(server.messages[0], kMessage);
  // MAIL, both RCPTs and DATA went out in one write (RFC 2920).
  const auto group = std::find_if(h.transcript().begin(), h.transcript().end(),
                                  [](const std::string& l) { return l.rfind("C: MAIL", 0) == 0; });
  ASSERT_NE(group, h.transcript().end());
  EXPECT_NE(group->find("RCPT TO:<c@example.net>\nDATA"), std::string::npos) << *group;
  EXPECT_FALSE(h.session().final_error());
  EXPECT_TRUE(h.session().closed());
}

TEST(ClientSession, WithoutPipeliningEachCommandWaitsForItsReply) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "8BITMIME"};
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env({"b@example.net", "c@example.net"}), kMessage);
  EXPECT_TRUE(r.delivered());
  for (const auto& line : h.transcript()) {
    if (line.rfind("C: ", 0) == 0 && line.rfind("C: <message content", 0) != 0) {
      EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    }
  }
}

TEST(ClientSession, PipeliningCanBeSwitchedOff) {
  fake_smtp_server server;
  auto o = plain_options();
  o.pipelining = false;
  server.ehlo_before_tls = {"fake.example", "PIPELINING"};
  session_harness h(o, server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_TRUE(h.send(env({"b@example.net", "c@example.net"}), kMessage).delivered());
  for (const auto& line : h.transcript()) {
    if (line.rfind("C: ", 0) == 0 && line.rfind("C: <message content", 0) != 0) {
      EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    }
  }
}

TEST(ClientSession, StartTlsThenEhloAgainThenXoauth2) {
  fake_smtp_server server;
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_TRUE(h.session().tls_active());
  EXPECT_TRUE(h.session().authenticated());
  EXPECT_EQ(h.session().auth_mechanism(), sasl::mechanism::xoauth2);
  auto r = h.send(env(), kMessage);
  EXPECT_TRUE(r.delivered());
  h.quit();
  EXPECT_EQ(verbs(server),
            (std::vector<std::string>{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"}));
  EXPECT_EQ(server.commands[3], "AUTH XOAUTH2 " + xoauth2_b64("someuser@example.com", kToken));
  // The transcript (what may be logged) never contains the token or its base64.
  const std::string t = h.transcript_text();
  EXPECT_EQ(t.find(kToken), std::string::npos);
  EXPECT_EQ(t.find(xoauth2_b64("someuser@example.com", kToken)), std::string::npos);
  EXPECT_NE(t.find("AUTH XOAUTH2 <redacted>"), std::string::npos);
}

TEST(ClientSession, SameResultForEverySplitOfServerBytes) {
  for (std::size_t split : {1u, 2u, 3u, 5u, 7u, 11u, 64u}) {
    fake_smtp_server server;
    server.refuse_rcpt["x@example.net"] = "550 5.1.1 <x@example.net>: Recipient address rejected\r\n";
    session_harness h(oauth_options(), server, split);
    ASSERT_EQ(h.run(), action::kind::idle) << "split " << split;
    auto r = h.send(env({"b@example.net", "x@example.net"}), kMessage);
    EXPECT_TRUE(r.delivered()) << "split " << split;
    EXPECT_EQ(r.accepted_count(), 1u);
    ASSERT_EQ(r.recipients.size(), 2u);
    EXPECT_FALSE(r.recipients[1].accepted);
    EXPECT_EQ(r.recipients[1].server_reply.code, 550);
    h.quit();
    EXPECT_EQ(verbs(server),
              (std::vector<std::string>{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}))
        << "split " << split;
  }
}

TEST(ClientSession, PartialRecipientFailureStillDeliversToTheOthers) {
  fake_smtp_server server;
  server.refuse_rcpt["nobody@example.net"] = "550 5.1.1 User unknown\r\n";
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env({"a1@example.net", "nobody@example.net", "a3@example.net"}), kMessage);
  EXPECT_TRUE(r.delivered());
  ASSERT_EQ(r.recipients.size(), 3u);
  EXPECT_TRUE(r.recipients[0].accepted);
  EXPECT_FALSE(r.recipients[1].accepted);
  EXPECT_EQ(r.recipients[1].server_reply.to_string(), "550 5.1.1 User unknown");
  EXPECT_TRUE(r.recipients[2].accepted);
}

TEST(ClientSession, AllRecipientsRefusedResetsAndStaysUsable) {
  fake_smtp_server server;
  server.refuse_rcpt["x@example.net"] = "550 5.1.1 User unknown\r\n";
  server.refuse_rcpt["y@example.net"] = "450 4.2.1 Mailbox busy\r\n";
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env({"x@example.net", "y@example.net"}), kMessage);
  EXPECT_FALSE(r.delivered());
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->code(), session_errc::no_recipients);
  EXPECT_TRUE(server.messages.empty() || server.messages[0].empty());
  EXPECT_TRUE(h.session().ready());
  auto again = h.send(env({"b@example.net"}), kMessage);
  EXPECT_TRUE(again.delivered());
  const auto v = verbs(server);
  EXPECT_NE(std::find(v.begin(), v.end(), "RSET"), v.end());
}

TEST(ClientSession, ManyMessagesOverOneConnection) {
  fake_smtp_server server;
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  for (int i = 0; i < 25; ++i) {
    auto r = h.send(env(), "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n");
    ASSERT_TRUE(r.delivered()) << i;
  }
  h.quit();
  EXPECT_EQ(server.messages.size(), 25u);
  const auto v = verbs(server);
  EXPECT_EQ(std::count(v.begin(), v.end(), "MAIL"), 25);
  EXPECT_EQ(std::count(v.begin(), v.end(), "AUTH"), 1);
  EXPECT_EQ(std::count(v.begin(), v.end(), "RSET"), 0);
}

TEST(ClientSession, ContentIsDotStuffedAndLineEndsCanonical) {
  fake_smtp_server server;
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env(), "Subject: t\n\n.hidden\nbody\n.\nend");
  EXPECT_TRUE(r.delivered());
  ASSERT_EQ(server.messages.size(), 1u);
  EXPECT_EQ(server.messages[0], "Subject: t\r\n\r\n..hidden\r\nbody\r\n..\r\nend\r\n");
}

TEST(ClientSession, GmailJsonErrorChallengeIsAnsweredWithEmptyLine) {
  fake_smtp_server server;
  server.auth = [](const std::string& line) -> std::string {
    if (line.rfind("AUTH XOAUTH2 ", 0) == 0) {
      return "334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n";
    }
    if (line.empty()) {
      return "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
             "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x - gsmtp\r\n";
    }
    return "501 5.5.2 wrong dummy response\r\n";
  };
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  const auto& e = h.session().final_error();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), session_errc::auth_failed);
  EXPECT_EQ(e->classification(), core::failure_class::token_rejected);
  EXPECT_NE(e->message().find("status 400"), std::string::npos) << e->message();
  ASSERT_TRUE(h.session().auth_error_challenge());
  EXPECT_EQ(h.session().auth_error_challenge()->scope, "https://mail.google.com/");
  // AUTH, then the empty response, then a polite QUIT; no MAIL.
  const auto v = verbs(server);
  ASSERT_GE(server.commands.size(), 6u);
  EXPECT_EQ(server.commands[4], "");
  EXPECT_EQ(v.back(), "QUIT");
  EXPECT_EQ(std::find(v.begin(), v.end(), "MAIL"), v.end());
  EXPECT_EQ(e->message().find(kToken), std::string::npos);
}

TEST(ClientSession, OauthbearerErrorChallengeIsAnsweredWithCtrlA) {
  fake_smtp_server server;
  server.ehlo_after_tls = {"fake.example", "AUTH OAUTHBEARER"};
  server.auth = [](const std::string& line) -> std::string {
    if (line.rfind("AUTH OAUTHBEARER ", 0) == 0) {
      return "334 "
             "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciBtYWMiLCJzY29wZSI6Imh0dHBzOi8vbWFpbC5leGFtcGxlL"
             "mNvbS8ifQ==\r\n";
    }
    if (line == "AQ==") return "535 5.7.8 Authentication credentials invalid\r\n";
    return "501 5.5.2 wrong dummy response\r\n";
  };
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  ASSERT_TRUE(h.session().final_error());
  EXPECT_EQ(h.session().final_error()->classification(), core::failure_class::token_rejected);
  EXPECT_EQ(server.commands[4], "AQ==");
  EXPECT_EQ(h.session().auth_error_challenge()->status, "invalid_token");
}

TEST(ClientSession, Microsoft535IsTokenRejectedWithoutDummyResponse) {
  fake_smtp_server server;
  server.ehlo_after_tls = {"fake.example", "PIPELINING", "AUTH LOGIN XOAUTH2", "ENHANCEDSTATUSCODES"};
  server.auth = [](const std::string&) -> std::string {
    return "535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]\r\n";
  };
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  const auto& e = h.session().final_error();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->classification(), core::failure_class::token_rejected);
  EXPECT_NE(e->message().find("535 5.7.3 Authentication unsuccessful"), std::string::npos);
  EXPECT_EQ(verbs(server), (std::vector<std::string>{"EHLO", "STARTTLS", "EHLO", "AUTH", "QUIT"}));
}

TEST(ClientSession, LastReplyOfEachStageIsKeptForDiagnostics) {
  fake_smtp_server server;
  server.auth = [](const std::string& line) -> std::string {
    if (line.rfind("AUTH XOAUTH2 ", 0) == 0) {
      return "334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n";
    }
    return "535 5.7.8 Username and Password not accepted - gsmtp\r\n";
  };
  session_harness h(oauth_options(), server);
  EXPECT_FALSE(h.session().last_reply(stage::greeting));
  EXPECT_EQ(h.run(), action::kind::closed);
  ASSERT_TRUE(h.session().last_reply(stage::greeting));
  EXPECT_EQ(h.session().last_reply(stage::greeting)->code, 220);
  ASSERT_TRUE(h.session().last_reply(stage::starttls));
  EXPECT_EQ(h.session().last_reply(stage::starttls)->code, 220);
  // The EHLO over TLS, not the one before it.
  ASSERT_TRUE(h.session().last_reply(stage::ehlo));
  EXPECT_NE(h.session().last_reply(stage::ehlo)->text().find("XOAUTH2"), std::string::npos);
  // The final AUTH reply (after the 334 challenge), not the QUIT answer that followed it.
  ASSERT_TRUE(h.session().last_reply(stage::auth));
  EXPECT_EQ(h.session().last_reply(stage::auth)->code, 535);
  ASSERT_TRUE(h.session().last_reply(stage::quit));
  EXPECT_EQ(h.session().last_reply(stage::quit)->code, 221);
  EXPECT_FALSE(h.session().last_reply(stage::mail));
}

TEST(ClientSession, Microsoft5_7_139NeedsAHuman) {
  fake_smtp_server server;
  server.auth = [](const std::string&) -> std::string {
    return "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
           "https://aka.ms/smtp_auth_disabled for more information. [X.prod.outlook.com]\r\n";
  };
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  const auto& e = h.session().final_error();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->classification(), core::failure_class::needs_human);
  EXPECT_NE(e->message().find("disabled for the whole Microsoft 365 tenant"), std::string::npos) << e->message();
  EXPECT_NE(e->message().find("Set-CASMailbox"), std::string::npos);
}

TEST(ClientSession, SendAsDeniedAfterFinalDotIsReportedPerMessage) {
  fake_smtp_server server;
  server.final_reply =
      "554 5.2.252 SendAsDenied; info@x not allowed to send as noreply@x; "
      "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied\r\n";
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env(), kMessage);
  EXPECT_FALSE(r.delivered());
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->classification(), core::failure_class::needs_human);
  EXPECT_NE(r.failure->message().find("Add-RecipientPermission"), std::string::npos);
  EXPECT_TRUE(h.session().ready());
}

TEST(ClientSession, NoStartTlsOfferedIsAnErrorNeverADowngrade) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "PIPELINING", "AUTH PLAIN XOAUTH2"};
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  ASSERT_TRUE(h.session().final_error());
  EXPECT_EQ(h.session().final_error()->code(), session_errc::tls_required);
  EXPECT_EQ(verbs(server), (std::vector<std::string>{"EHLO", "QUIT"}));
}

TEST(ClientSession, CredentialsWithoutTlsAreRefusedUnlessAllowed) {
  {
    fake_smtp_server server;
    server.ehlo_before_tls = {"fake.example", "AUTH PLAIN XOAUTH2"};
    session_harness h(oauth_options(tls_mode::none), server);
    EXPECT_EQ(h.run(), action::kind::closed);
    ASSERT_TRUE(h.session().final_error());
    EXPECT_EQ(h.session().final_error()->code(), session_errc::tls_required);
    for (const auto& c : server.commands) EXPECT_EQ(c.rfind("AUTH", 0), std::string::npos);
  }
  {
    fake_smtp_server server;
    server.ehlo_before_tls = {"fake.example", "AUTH PLAIN XOAUTH2"};
    auto o = oauth_options(tls_mode::none);
    o.allow_plaintext_auth = true;
    session_harness h(o, server);
    EXPECT_EQ(h.run(), action::kind::idle);
    EXPECT_TRUE(h.session().authenticated());
  }
}

TEST(ClientSession, BytesInjectedBeforeTlsAreDiscarded) {
  fake_smtp_server server;
  // The "220" to STARTTLS arrives together with a forged EHLO reply in the same read.
  server.faults[2] = {fault::kind::reply, "220 2.0.0 Ready\r\n250-evil.example\r\n250 AUTH PLAIN\r\n"};
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_EQ(verbs(server), (std::vector<std::string>{"EHLO", "STARTTLS", "EHLO", "AUTH"}));
  EXPECT_TRUE(h.session().server_capabilities().offers_auth("XOAUTH2"));
  EXPECT_EQ(h.session().server_capabilities().server_name, "fake.example");
}

TEST(ClientSession, CapabilitiesBeforeTlsAreForgotten) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "STARTTLS", "AUTH PLAIN", "SMTPUTF8"};
  server.ehlo_after_tls = {"fake.example", "AUTH XOAUTH2"};
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_FALSE(h.session().server_capabilities().smtputf8);
  EXPECT_FALSE(h.session().server_capabilities().offers_auth("PLAIN"));
}

TEST(ClientSession, HeloFallbackWhenEhloIsNotRecognised) {
  fake_smtp_server server;
  server.faults[1] = {fault::kind::reply, "502 5.5.1 Command not implemented\r\n"};
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_TRUE(h.send(env(), kMessage).delivered());
  EXPECT_EQ(verbs(server)[1], "HELO");
}

TEST(ClientSession, EhloNotRecognisedWithStartTlsRequiredFails) {
  fake_smtp_server server;
  server.faults[1] = {fault::kind::reply, "500 5.5.1 Command unrecognized\r\n"};
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  EXPECT_EQ(h.session().final_error()->code(), session_errc::tls_required);
}

TEST(ClientSession, ImplicitTlsHandshakesBeforeTheGreeting) {
  fake_smtp_server server;
  server.ehlo_before_tls = server.ehlo_after_tls;  // the fake starts in TLS
  session_harness h(oauth_options(tls_mode::implicit), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_TRUE(h.session().tls_active());
  EXPECT_EQ(verbs(server), (std::vector<std::string>{"EHLO", "AUTH"}));
}

TEST(ClientSession, TlsFailureClosesWithoutSendingCredentials) {
  fake_smtp_server server;
  session_harness h(oauth_options(), server);
  h.fail_tls = true;
  EXPECT_EQ(h.run(), action::kind::closed);
  EXPECT_EQ(h.session().final_error()->code(), session_errc::tls_failed);
  for (const auto& c : server.commands) EXPECT_EQ(c.rfind("AUTH", 0), std::string::npos);
}

TEST(ClientSession, ConfiguredXoauth2IsNeverReplacedByOauthbearer) {
  fake_smtp_server server;
  server.ehlo_after_tls = {"fake.example", "AUTH OAUTHBEARER PLAIN"};
  auto o = oauth_options();
  o.mechanism = sasl::mechanism::xoauth2;
  session_harness h(o, server);
  EXPECT_EQ(h.run(), action::kind::closed);
  EXPECT_EQ(h.session().final_error()->code(), session_errc::auth_not_offered);
  for (const auto& c : server.commands) EXPECT_EQ(c.rfind("AUTH", 0), std::string::npos);
}

TEST(ClientSession, NoAuthOfferedAfterTls) {
  fake_smtp_server server;
  server.ehlo_after_tls = {"fake.example", "PIPELINING"};
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  EXPECT_EQ(h.session().final_error()->code(), session_errc::auth_not_offered);
}

TEST(ClientSession, AuthLineTooLongRetriesWithoutInitialResponse) {
  fake_smtp_server server;
  server.auth = [](const std::string& line) -> std::string {
    if (line.rfind("AUTH XOAUTH2 ", 0) == 0) return "500 5.5.6 Line too long\r\n";
    if (line == "AUTH XOAUTH2") return "334 \r\n";
    return "235 2.7.0 Accepted\r\n";
  };
  session_harness h(oauth_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_TRUE(h.session().authenticated());
  ASSERT_GE(server.commands.size(), 6u);
  EXPECT_EQ(server.commands[4], "AUTH XOAUTH2");
  EXPECT_EQ(server.commands[5], xoauth2_b64("someuser@example.com", kToken));
}

TEST(ClientSession, MicrosoftBare334WithoutInitialResponse) {
  fake_smtp_server server;
  server.auth = [](const std::string& line) -> std::string {
    if (line == "AUTH XOAUTH2") return "334\r\n";
    return "235 2.7.0 Authentication successful\r\n";
  };
  auto o = oauth_options();
  o.auth_initial_response = false;
  session_harness h(o, server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_EQ(server.commands[4], xoauth2_b64("someuser@example.com", kToken));
}

TEST(ClientSession, LoginMechanismAnswersPrompts) {
  fake_smtp_server server;
  server.ehlo_after_tls = {"fake.example", "AUTH LOGIN"};
  server.auth = [](const std::string& line) -> std::string {
    if (line == "AUTH LOGIN") return "334 VXNlcm5hbWU6\r\n";
    if (line == core::base64_encode("someuser@example.com")) return "334 UGFzc3dvcmQ6\r\n";
    if (line == core::base64_encode("pa55word")) return "235 2.7.0 OK\r\n";
    return "535 5.7.8 bad\r\n";
  };
  auto o = oauth_options();
  o.credentials->secret = core::secret<std::string>("pa55word");
  o.credential_kind = sasl::credential_kind::password;
  session_harness h(o, server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_EQ(h.session().auth_mechanism(), sasl::mechanism::login);
  EXPECT_EQ(h.transcript_text().find(core::base64_encode("pa55word")), std::string::npos);
}

TEST(ClientSession, LineOver998OctetsIsRefusedBeforeMailFrom) {
  fake_smtp_server server;
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env(), "Subject: x\r\n\r\n" + std::string(999, 'a') + "\r\n");
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->code(), session_errc::bad_message);
  EXPECT_EQ(r.failure->classification(), core::failure_class::permanent);
  EXPECT_TRUE(h.session().ready());
  const auto v = verbs(server);
  EXPECT_EQ(std::find(v.begin(), v.end(), "MAIL"), v.end());
  EXPECT_TRUE(h.send(env(), "Subject: x\r\n\r\n" + std::string(998, 'a') + "\r\n").delivered());
}

TEST(ClientSession, MessageOverSizeIsRefusedBeforeMailFrom) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "SIZE 100"};
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env(), "Subject: x\r\n\r\n" + std::string(200, 'a') + "\r\n");
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->code(), session_errc::message_too_big);
  EXPECT_EQ(server.commands.size(), 1u);  // EHLO only
}

TEST(ClientSession, SizeParameterIsSentWhenOffered) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "SIZE 1000000"};
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  EXPECT_TRUE(h.send(env(), kMessage).delivered());
  EXPECT_EQ(server.commands[1], "MAIL FROM:<a@example.com> SIZE=" + std::to_string(kMessage.size()));
}

TEST(ClientSession, NonAsciiAddressNeedsSmtpUtf8) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "PIPELINING"};
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env({"j\xC3\xB6rg@example.de"}), kMessage);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->code(), session_errc::smtputf8_required);

  fake_smtp_server utf8_server;
  utf8_server.ehlo_before_tls = {"fake.example", "SMTPUTF8", "8BITMIME"};
  session_harness h2(plain_options(), utf8_server);
  ASSERT_EQ(h2.run(), action::kind::idle);
  EXPECT_TRUE(h2.send(env({"j\xC3\xB6rg@example.de"}), kMessage).delivered());
  EXPECT_NE(utf8_server.commands[1].find("SMTPUTF8"), std::string::npos) << utf8_server.commands[1];
}

// envelope.smtputf8: UTF-8 headers (RFC 6532) with ASCII envelope addresses still need SMTPUTF8.
TEST(ClientSession, Utf8HeadersFlagRequestsSmtpUtf8) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "8BITMIME"};
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto e = env();
  e.smtputf8 = true;
  auto r = h.send(e, kMessage);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->code(), session_errc::smtputf8_required);
  EXPECT_NE(r.failure->message().find("RFC 6532"), std::string::npos);
  EXPECT_EQ(server.commands.size(), 1u);  // EHLO only: refused before MAIL FROM

  fake_smtp_server utf8_server;
  utf8_server.ehlo_before_tls = {"fake.example", "SMTPUTF8"};
  session_harness h2(plain_options(), utf8_server);
  ASSERT_EQ(h2.run(), action::kind::idle);
  EXPECT_TRUE(h2.send(e, kMessage).delivered());
  EXPECT_EQ(utf8_server.commands[1], "MAIL FROM:<a@example.com> SMTPUTF8");
}

TEST(ClientSession, InjectionThroughAnAddressIsRefused) {
  fake_smtp_server server;
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env({"b@example.net>\r\nRCPT TO:<evil@example.net"}), kMessage);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->classification(), core::failure_class::permanent);
  for (const auto& c : server.commands) EXPECT_EQ(c.find("evil"), std::string::npos);
}

TEST(ClientSession, DataGoAheadWithNoRecipientsSendsOnlyTheDot) {
  fake_smtp_server server;
  server.refuse_rcpt["x@example.net"] = "550 5.1.1 unknown\r\n";
  server.accept_data_without_recipients = true;
  session_harness h(plain_options(), server);
  ASSERT_EQ(h.run(), action::kind::idle);
  auto r = h.send(env({"x@example.net"}), kMessage);
  EXPECT_FALSE(r.delivered());
  ASSERT_EQ(server.messages.size(), 1u);
  EXPECT_EQ(server.messages[0], "");  // the fake answers 354 regardless; no content was sent
  EXPECT_TRUE(h.session().ready());
}

// A fault at every step of a full session: greeting, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA,
// end of content, QUIT. Whatever happens, the session ends (closed, or idle with a failed
// message), nothing is reported delivered that was not, and the class follows the fault.
TEST(ClientSession, FailureAtEveryStep) {
  const std::vector<std::pair<std::string, fault>> kinds = {
      {"421", {fault::kind::reply, "421 4.3.2 Service not available, closing channel\r\n"}},
      {"451", {fault::kind::reply, "451 4.7.500 Server busy. Please try again later.\r\n"}},
      {"554", {fault::kind::reply, "554 5.7.1 Rejected by policy\r\n"}},
      {"close", {fault::kind::close, ""}},
      {"timeout", {fault::kind::timeout, ""}},
  };
  constexpr int steps = 10;
  for (const auto& [name, f] : kinds) {
    for (std::size_t split : {0u, 1u}) {
      for (int step = 0; step < steps; ++step) {
        SCOPED_TRACE(name + " at step " + std::to_string(step) + " split " + std::to_string(split));
        fake_smtp_server server;
        server.faults[step] = f;
        session_harness h(oauth_options(), server, split);
        const auto state = h.run();
        std::optional<message_result> r;
        if (state == action::kind::idle) {
          r = h.send(env(), kMessage);
          if (h.session().ready()) h.quit();
        }
        const bool transient_fault = name != "554";
        if (step <= 4) {
          // Set-up failed: no message could be attempted.
          EXPECT_EQ(state, action::kind::closed);
          ASSERT_TRUE(h.session().final_error());
          const auto cls = h.session().final_error()->classification();
          if (transient_fault) {
            EXPECT_EQ(cls, core::failure_class::transient) << h.session().final_error()->message();
          } else {
            EXPECT_NE(cls, core::failure_class::transient) << h.session().final_error()->message();
          }
          EXPECT_TRUE(server.messages.empty());
        } else if (step <= 8) {
          ASSERT_TRUE(r);
          EXPECT_FALSE(r->delivered());
          ASSERT_TRUE(r->failure);
          if (transient_fault) {
            EXPECT_EQ(r->failure->classification(), core::failure_class::transient) << r->failure->message();
          } else {
            EXPECT_NE(r->failure->classification(), core::failure_class::transient) << r->failure->message();
          }
        } else {
          // A fault at QUIT: the message was already accepted.
          ASSERT_TRUE(r);
          EXPECT_TRUE(r->delivered());
        }
        EXPECT_TRUE(h.session().closed() || h.session().ready());
      }
    }
  }
}

TEST(ClientSession, UnparsableReplyIsAProtocolError) {
  fake_smtp_server server;
  server.faults[1] = {fault::kind::reply, "2x0 what\r\n"};
  session_harness h(plain_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  ASSERT_TRUE(h.session().final_error());
  EXPECT_EQ(h.session().final_error()->classification(), core::failure_class::protocol);
}

TEST(ClientSession, TimeoutsFollowRfc5321ForEachStage) {
  fake_smtp_server server;
  client_options o = plain_options();
  client_session s(o);
  auto a = s.next();
  ASSERT_EQ(a.what, action::kind::read);
  EXPECT_EQ(a.timeout, std::chrono::minutes(5));
}

}  // namespace
}  // namespace oauthmail::smtp

namespace oauthmail::smtp {
namespace {

// Found by fuzzing: an unparsable reply to the QUIT sent after a fatal error used to loop forever.
TEST(ClientSession, GarbageReplyToGoodbyeQuitCloses) {
  fake_smtp_server server;
  server.ehlo_before_tls = {"fake.example", "AUTH XOAUTH2"};  // no STARTTLS: fatal, polite QUIT
  server.faults[2] = {fault::kind::reply, "garbage\r\n"};
  session_harness h(oauth_options(), server);
  EXPECT_EQ(h.run(), action::kind::closed);
  ASSERT_TRUE(h.session().final_error());
  EXPECT_EQ(h.session().final_error()->code(), session_errc::tls_required);
}

}  // namespace
}  // namespace oauthmail::smtp
