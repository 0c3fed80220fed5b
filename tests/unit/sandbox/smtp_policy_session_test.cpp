// The policy together with smtp::server_session, driven by transcripts: the bytes a client sees
// from each profile, as providers.md records them, and messages landing in a real capture store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/base64.hpp"
#include "sandbox/capture_store.hpp"
#include "sandbox/smtp_policy.hpp"
#include "unit/sandbox/helpers.hpp"

namespace oauthmail::sandbox {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using testing::temp_dir;

const wall_clock::time_point t0 = wall_clock::time_point(std::chrono::seconds(1679941073));

directory make_directory(profile_kind p) {
  directory d;
  d.profile = p;
  d.tenant_id = "tenant";
  d.domain = p == profile_kind::google ? "example.test" : "contoso.test";
  d.mailboxes = {
      {"sender@" + d.domain, "Sender", true, {"shared@" + d.domain}},
      {"shared@" + d.domain, "Shared", true, {}},
      {"other@" + d.domain, "Other", true, {}},
  };
  client pub;
  pub.name = "public";
  pub.client_id = "44444444-4444-4444-4444-444444444444";
  pub.kind = client_kind::public_client;
  d.clients = {pub};
  return d;
}

// A sandbox with a capture store in a temporary state folder.
struct sandbox {
  explicit sandbox(profile_kind p)
      : kind(p),
        dir(make_directory(p)),
        tokens(open_tokens()),
        store(open_store()),
        faults(7),
        policy(make_profile(p), dir, tokens, faults,
               [this](const smtp::received_message& m, const captured_envelope& e) { return store.add(m, e, t0); }) {}

  token_authority open_tokens() {
    testing::write_shared_signing_key(tmp.file("signing.pem"));
    auto a = token_authority::open(tmp.file("signing.pem"), "http://127.0.0.1:1/tenant/v2.0", kind, "tenant");
    if (!a) throw std::runtime_error(a.error().message());
    return std::move(*a);
  }
  capture_store open_store() {
    auto s = capture_store::open(tmp.path());
    if (!s) throw std::runtime_error(s.error().message());
    return std::move(*s);
  }
  std::string token(const std::string& user) {
    token_grant g;
    g.client_id = dir.clients[0].client_id;
    g.user = user;
    if (kind == profile_kind::microsoft) {
      g.audiences = {"https://outlook.office.com"};
      g.scopes = {"SMTP.Send"};
    } else {
      g.audiences = {g.client_id};
      g.scopes = {"https://mail.google.com/"};
    }
    return tokens.mint(g, t0).expose();
  }
  static std::string xoauth2(const std::string& user, const std::string& token) {
    return core::base64_encode("user=" + user + "\x01" + "auth=Bearer " + token + "\x01\x01");
  }

  profile_kind kind;
  temp_dir tmp;
  directory dir;
  token_authority tokens;
  capture_store store;
  fault_registry faults;
  smtp_policy policy;
};

// One client connection: the session run by the policy, as src/net's driver runs it (TLS
// handshakes succeed at once; delays are recorded, not slept).
struct client_conn {
  client_conn(sandbox& sb, bool implicit_tls = false)
      : session(sb.policy.session_options(implicit_tls, true, "127.0.0.1")), policy(sb.policy.open()) {
    pump();
  }

  // Sends `bytes`, returns everything the server wrote until it waits for input again.
  std::string say(std::string_view bytes) {
    out.clear();
    session.on_bytes(bytes);
    pump();
    return out;
  }
  std::string greeting() {
    std::string g = std::move(out);
    out.clear();
    return g;
  }

  void pump() {
    for (int guard = 0; guard < 10000; ++guard) {
      const auto a = session.next();
      switch (a.what) {
        case smtp::server_action::kind::write:
          out.append(a.bytes);
          session.on_written();
          break;
        case smtp::server_action::kind::read:
          return;
        case smtp::server_action::kind::start_tls:
          session.on_tls_established();
          break;
        case smtp::server_action::kind::decide: {
          const auto answer = policy->decide(*a.request, session, now);
          delays += answer.delay;
          if (answer.drop) {
            dropped = true;
            closed = true;
            return;
          }
          session.decide(answer.decision);
          break;
        }
        case smtp::server_action::kind::close:
          closed = true;
          return;
      }
    }
    FAIL() << "the session did not settle";
  }

  smtp::server_session session;
  std::unique_ptr<smtp_policy::connection> policy;
  wall_clock::time_point now = t0;
  std::string out;
  std::chrono::milliseconds delays{0};
  bool closed = false;
  bool dropped = false;
};

constexpr const char* message_text =
    "From: Sender <sender@contoso.test>\r\n"
    "To: a@example.net\r\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
    "\r\n"
    "Hello.\r\n"
    "..dot-stuffed line\r\n"
    ".\r\n";

TEST(PolicySessionMicrosoft, TheWholeConversationAsExchange) {
  sandbox sb(profile_kind::microsoft);
  client_conn c(sb);
  EXPECT_EQ(c.greeting(),
            "220 SN2PR00CA0018.sandbox.outlook.test Microsoft ESMTP MAIL Service ready at Mon, 27 Mar 2023 "
            "18:17:53 +0000\r\n");
  const std::string before = c.say("EHLO client.example.org\r\n");
  EXPECT_THAT(before, StartsWith("250-SN2PR00CA0018.sandbox.outlook.test Hello [127.0.0.1]\r\n"));
  EXPECT_THAT(before, HasSubstr("250-SIZE 157286400\r\n"));
  EXPECT_THAT(before, HasSubstr("250-PIPELINING\r\n"));
  EXPECT_THAT(before, HasSubstr("250-DSN\r\n"));
  EXPECT_THAT(before, HasSubstr("STARTTLS\r\n"));
  EXPECT_THAT(before, ::testing::Not(HasSubstr("AUTH")));  // only after TLS (§1.2)
  EXPECT_EQ(c.say("STARTTLS\r\n"), "220 2.0.0 SMTP server ready\r\n");
  const std::string after = c.say("EHLO client.example.org\r\n");
  EXPECT_THAT(after, HasSubstr("250-AUTH LOGIN XOAUTH2\r\n"));
  EXPECT_THAT(after, ::testing::Not(HasSubstr("STARTTLS")));

  const std::string auth = "AUTH XOAUTH2 " + sandbox::xoauth2("sender@contoso.test", sb.token("sender@contoso.test"));
  EXPECT_EQ(c.say(auth + "\r\n"), "235 2.7.0 Authentication successful\r\n");
  // Pipelined: MAIL, RCPT, DATA in one write (§1.13).
  EXPECT_EQ(c.say("MAIL FROM:<sender@contoso.test> SIZE=200\r\nRCPT TO:<a@example.net>\r\nDATA\r\n"),
            "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n");
  EXPECT_THAT(c.say(message_text),
              MatchesRegex("250 2\\.0\\.0 OK <[0-9A-F]{16}00000001@SN2PR00CA0018\\.sandbox\\.outlook\\.test> "
                           "\\[Hostname=SN2PR00CA0018\\.sandbox\\.outlook\\.test\\]\r\n"));
  EXPECT_EQ(c.say("QUIT\r\n"), "221 2.0.0 Service closing transmission channel\r\n");
  EXPECT_TRUE(c.closed);

  auto stored = sb.store.get(1);
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  const stored_message& m = **stored;
  EXPECT_EQ(m.envelope.mailbox, "sender@contoso.test");
  EXPECT_EQ(m.envelope.mechanism, "XOAUTH2");
  EXPECT_EQ(m.envelope.client_id, sb.dir.clients[0].client_id);
  EXPECT_TRUE(m.envelope.tls);
  EXPECT_EQ(m.mail_from, "sender@contoso.test");
  EXPECT_EQ(m.rcpt_to, std::vector<std::string>{"a@example.net"});
  EXPECT_EQ(m.subject, "Grüße");
  EXPECT_THAT(m.raw, HasSubstr("\r\n.dot-stuffed line\r\n"));  // dot-stuffing undone
}

TEST(PolicySessionMicrosoft, BadTokenIsAStraight535) {
  sandbox sb(profile_kind::microsoft);
  client_conn c(sb, true);
  c.say("EHLO client.example.org\r\n");
  const std::string reply =
      c.say("AUTH XOAUTH2 " + sandbox::xoauth2("sender@contoso.test", "EwBAAl3BAAUFFpUAo7J3") + "\r\n");
  EXPECT_THAT(reply, MatchesRegex("535 5\\.7\\.3 Authentication unsuccessful \\[SN2PR00CA0018\\.sandbox\\.outlook\\."
                                  "test 2023-03-27T18:17:53\\.000Z [0-9A-F]{16}\\]\r\n"));
  // Without AUTH, MAIL is refused (§1.9).
  EXPECT_EQ(c.say("MAIL FROM:<sender@contoso.test>\r\n"), "530 5.7.57 Client not authenticated to send mail\r\n");
}

// "AUTH XOAUTH2" without an initial response: Exchange answers a bare "334" (providers.md §1.6).
TEST(PolicySessionMicrosoft, BareChallengeThenTheToken) {
  sandbox sb(profile_kind::microsoft);
  client_conn c(sb, true);
  c.say("EHLO client.example.org\r\n");
  EXPECT_EQ(c.say("AUTH XOAUTH2\r\n"), "334\r\n");
  EXPECT_EQ(c.say(sandbox::xoauth2("sender@contoso.test", sb.token("sender@contoso.test")) + "\r\n"),
            "235 2.7.0 Authentication successful\r\n");
  // PLAIN is not offered by Exchange.
  EXPECT_THAT(c.say("AUTH PLAIN AHNlbmRlcgBwdw==\r\n"), StartsWith("50"));
}

TEST(PolicySessionMicrosoft, SendAsDeniedComesAfterTheFinalDot) {
  sandbox sb(profile_kind::microsoft);
  client_conn c(sb, true);
  c.say("EHLO client.example.org\r\n");
  ASSERT_THAT(
      c.say("AUTH XOAUTH2 " + sandbox::xoauth2("sender@contoso.test", sb.token("sender@contoso.test")) + "\r\n"),
      StartsWith("235 "));
  EXPECT_EQ(c.say("MAIL FROM:<other@contoso.test>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n"),
            "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n");
  EXPECT_THAT(c.say("From: other@contoso.test\r\n\r\nx\r\n.\r\n"),
              MatchesRegex("554 5\\.2\\.252 SendAsDenied; sender@contoso\\.test not allowed to send as "
                           "other@contoso\\.test; STOREDRV\\.Submission\\.Exception:SendAsDeniedException\\."
                           "MapiExceptionSendAsDenied; .*\\[Hostname=SN2PR00CA0018\\.sandbox\\.outlook\\.test\\]\r\n"));
  EXPECT_EQ(*sb.store.count(), 0u);
  // The connection goes on: the next message with a permitted sender is accepted.
  c.say("MAIL FROM:<shared@contoso.test>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
  EXPECT_THAT(c.say("From: shared@contoso.test\r\n\r\nx\r\n.\r\n"), StartsWith("250 2.0.0 OK <"));
  EXPECT_EQ(*sb.store.count(), 1u);
}

TEST(PolicySessionGoogle, JsonChallengeThen535) {
  sandbox sb(profile_kind::google);
  client_conn c(sb, true);  // 465: implicit TLS
  EXPECT_THAT(c.greeting(), MatchesRegex("220 smtp\\.gmail\\.com ESMTP [0-9a-z.-]+ - gsmtp\r\n"));
  const std::string ehlo = c.say("EHLO client.example.org\r\n");
  EXPECT_THAT(ehlo, StartsWith("250-smtp.gmail.com at your service, [127.0.0.1]\r\n"));
  EXPECT_THAT(ehlo, HasSubstr("250-SIZE 35882577\r\n"));
  EXPECT_THAT(ehlo, HasSubstr("AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER\r\n"));
  // The live server's challenge, byte for byte (providers.md §2.2), then 535-5.7.8 after the
  // client's empty line.
  EXPECT_EQ(c.say("AUTH XOAUTH2 " + sandbox::xoauth2("sender@example.test", "ya29.expired") + "\r\n"),
            "334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n");
  EXPECT_THAT(c.say("\r\n"), MatchesRegex("535-5\\.7\\.8 Username and Password not accepted\\. For more information, "
                                          "go to\r\n535 5\\.7\\.8  https://support\\.google\\.com/mail/\\?p="
                                          "BadCredentials [0-9a-z.-]+ - gsmtp\r\n"));
  // Then a good token on the same connection.
  EXPECT_EQ(c.say("AUTH XOAUTH2 " + sandbox::xoauth2("sender@example.test", sb.token("sender@example.test")) + "\r\n"),
            "235 2.7.0 Accepted\r\n");
  c.say("MAIL FROM:<sender@example.test>\r\n");
  c.say("RCPT TO:<a@example.net>\r\n");
  EXPECT_THAT(c.say("DATA\r\n"), StartsWith("354 Go ahead "));
  EXPECT_THAT(c.say("Subject: hi\r\n\r\nbody\r\n.\r\n"),
              MatchesRegex("250 2\\.0\\.0 OK  1679941073 [0-9a-z.-]+ - gsmtp\r\n"));
  EXPECT_EQ(*sb.store.count(), 1u);
}

TEST(PolicySessionGoogle, EveryReplyEndsInGsmtp) {
  sandbox sb(profile_kind::google);
  client_conn c(sb, true);
  const std::string greeting = c.greeting();
  const std::string id =
      greeting.substr(25, greeting.size() - 25 - 10);  // "220 smtp.gmail.com ESMTP " ... " - gsmtp\r\n"
  EXPECT_EQ(c.say("NOOP\r\n"), "250 2.0.0 OK " + id + " - gsmtp\r\n");
  EXPECT_EQ(c.say("MAIL FROM:<sender@example.test>\r\n"), "503 5.5.1 EHLO/HELO first. " + id + " - gsmtp\r\n");
  c.say("EHLO client.example.org\r\n");
  EXPECT_EQ(c.say("MAIL FROM:<sender@example.test>\r\n"),
            "530-5.7.0 Authentication Required. For more information, go to\r\n"
            "530 5.7.0  https://support.google.com/mail/?p=WantAuthError " +
                id + " - gsmtp\r\n");
  EXPECT_EQ(c.say("QUIT\r\n"), "221 2.0.0 closing connection " + id + " - gsmtp\r\n");
}

TEST(PolicySessionGoogle, StartTlsFirst) {
  sandbox sb(profile_kind::google);
  client_conn c(sb, false);  // 587
  c.say("EHLO client.example.org\r\n");
  EXPECT_THAT(
      c.say("AUTH XOAUTH2 " + sandbox::xoauth2("sender@example.test", sb.token("sender@example.test")) + "\r\n"),
      MatchesRegex("530 5\\.7\\.0 Must issue a STARTTLS command first\\. [0-9a-z.-]+ - gsmtp\r\n"));
}

TEST(PolicySessionFaults, DropAndDelay) {
  sandbox sb(profile_kind::microsoft);
  sb.faults.replace(*parse_fault_plan(boost::json::parse(
      R"({"smtp": [{"step": "ehlo", "action": "delay", "delay_ms": 250}, {"step": "mail", "action": "drop"}]})")));
  client_conn c(sb, true);
  c.say("EHLO client.example.org\r\n");
  EXPECT_EQ(c.delays, 250ms);
  ASSERT_THAT(
      c.say("AUTH XOAUTH2 " + sandbox::xoauth2("sender@contoso.test", sb.token("sender@contoso.test")) + "\r\n"),
      StartsWith("235 "));
  EXPECT_EQ(c.say("MAIL FROM:<sender@contoso.test>\r\n"), "");
  EXPECT_TRUE(c.dropped);
}

TEST(PolicySessionFaults, TransientReplyAtTheFinalDotThenSuccess) {
  sandbox sb(profile_kind::microsoft);
  sb.faults.replace(*parse_fault_plan(boost::json::parse(
      R"({"smtp": [{"step": "data_end", "reply": "451 4.7.500 Server busy. Please try again later.", "times": 1}]})")));
  client_conn c(sb, true);
  c.say("EHLO client.example.org\r\n");
  c.say("AUTH XOAUTH2 " + sandbox::xoauth2("sender@contoso.test", sb.token("sender@contoso.test")) + "\r\n");
  c.say("MAIL FROM:<sender@contoso.test>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
  EXPECT_EQ(c.say(message_text), "451 4.7.500 Server busy. Please try again later.\r\n");
  EXPECT_EQ(*sb.store.count(), 0u);
  c.say("MAIL FROM:<sender@contoso.test>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n");
  EXPECT_THAT(c.say(message_text), StartsWith("250 2.0.0 OK <"));
  EXPECT_EQ(*sb.store.count(), 1u);
}

}  // namespace
}  // namespace oauthmail::sandbox
