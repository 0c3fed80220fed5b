// Transcript tests of the sans-I/O SMTP server session: byte transcripts in, the exact bytes
// written and the owner's questions out. The main dialogue is fed whole, split at every byte
// boundary and one byte at a time; the SMTP-smuggling vectors of providers.md §4.14 likewise.
// At the end our own client_session talks to the server_session in memory (STARTTLS, AUTH).
#include "smtp/server_session.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "core/base64.hpp"
#include "smtp/client_session.hpp"

namespace oauthmail::smtp {
namespace {

constexpr std::string_view kToken = "ya29.SERVER-TEST-TOKEN-never-logged";
constexpr std::string_view kHost = "mx.example.test";
constexpr std::string_view kMarker = "CONTENT-MARKER-never-logged";

using request_kind = server_request::kind;
using namespace std::string_view_literals;

// -- harness ----------------------------------------------------------------------------------

struct outcome {
  std::string written;              // everything the server wrote, in order
  std::vector<std::string> writes;  // each write action
  std::string transcript;           // all transcripts, one per line
  std::vector<server_request> requests;
  std::vector<received_message> messages;
  int handshakes = 0;
  bool closed = false;  // the session ended with a close action
  bool eof = false;     // the input ran out first (on_eof)
  std::size_t max_buffered = 0;
  std::vector<std::chrono::milliseconds> read_timeouts;
  server_session_stats stats;

  std::size_t count(request_kind k) const {
    return static_cast<std::size_t>(
        std::count_if(requests.begin(), requests.end(), [k](const server_request& r) { return r.what == k; }));
  }
};

using owner_fn = std::function<server_decision(const server_request&)>;

server_decision accept_all(const server_request&) { return server_decision::ok(); }

// Accepts everything; authentication only with kToken.
server_decision token_owner(const server_request& r) {
  if (r.what == request_kind::authenticate) {
    if (r.credentials && r.credentials->secret.expose() == kToken) return server_decision::ok();
    return server_decision::refuse(server_reply::make(535, "5.7.3", "Authentication unsuccessful"));
  }
  return server_decision::ok();
}

// Input for the client side: phase 0 at once, phase k after the k-th TLS handshake.
using phases = std::vector<std::vector<std::string>>;

outcome run(server_options o, phases input, const owner_fn& owner = token_owner, std::size_t max_steps = 200000) {
  outcome r;
  server_session s(std::move(o));
  std::size_t phase = 0;
  std::size_t chunk = 0;
  for (std::size_t step = 0; step < max_steps; ++step) {
    r.max_buffered = std::max(r.max_buffered, s.buffered_octets());
    r.stats = s.stats();
    const server_action a = s.next();
    switch (a.what) {
      case server_action::kind::write:
        r.written.append(a.bytes);
        r.writes.emplace_back(a.bytes);
        if (!a.transcript.empty()) r.transcript += a.transcript + "\n";
        s.on_written();
        break;
      case server_action::kind::read: {
        if (!a.transcript.empty()) r.transcript += a.transcript + "\n";
        r.read_timeouts.push_back(a.timeout);
        while (phase < input.size() && chunk >= input[phase].size() && phase < static_cast<std::size_t>(r.handshakes)) {
          ++phase;
          chunk = 0;
        }
        if (phase < input.size() && chunk < input[phase].size()) {
          s.on_bytes(input[phase][chunk++]);
        } else {
          r.eof = true;
          s.on_eof();
        }
        break;
      }
      case server_action::kind::start_tls:
        ++r.handshakes;
        s.on_tls_established();
        break;
      case server_action::kind::decide: {
        EXPECT_NE(a.request, nullptr);
        const server_request& q = *a.request;
        r.requests.push_back(q);
        if (q.what == request_kind::message) r.messages.push_back(s.take_message());
        s.decide(owner(q));
        break;
      }
      case server_action::kind::close:
        r.closed = true;
        EXPECT_TRUE(s.closed());
        return r;
    }
  }
  ADD_FAILURE() << "the session did not finish";
  return r;
}

std::vector<std::string> whole(std::string s) { return {std::move(s)}; }
std::vector<std::string> split_at(const std::string& s, std::size_t i) {
  std::vector<std::string> out;
  if (i > 0) out.push_back(s.substr(0, i));
  if (i < s.size()) out.push_back(s.substr(i));
  return out;
}
std::vector<std::string> bytewise(const std::string& s) {
  std::vector<std::string> out;
  for (const char c : s) out.emplace_back(1, c);
  return out;
}

server_options base_options() {
  server_options o;
  o.hostname = std::string(kHost);
  o.client_address = "192.0.2.1";
  o.implicit_tls = true;
  o.auth_mechanisms = {sasl::mechanism::xoauth2, sasl::mechanism::plain};
  o.max_message_octets = 10000;
  return o;
}

std::string xoauth2_ir(std::string_view user = "user@example.com", std::string_view token = kToken) {
  return core::base64_encode("user=" + std::string(user) + "\x01" + "auth=Bearer " + std::string(token) + "\x01\x01");
}

const std::string kGreeting = "220 mx.example.test ESMTP ready\r\n";
const std::string kEhloTls =
    "250-mx.example.test Hello [192.0.2.1]\r\n"
    "250-SIZE 10000\r\n"
    "250-PIPELINING\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-AUTH XOAUTH2 PLAIN\r\n"
    "250-8BITMIME\r\n"
    "250 SMTPUTF8\r\n";
const std::string kAuthOk = "235 2.7.0 Authentication successful\r\n";
const std::string kLogin = "EHLO client.example\r\nAUTH XOAUTH2 " + xoauth2_ir() + "\r\n";

// The replies after the greeting, the EHLO list and the 235.
std::string after_login(const std::string& written) {
  EXPECT_EQ(written.substr(0, kGreeting.size()), kGreeting);
  const std::size_t at = written.find(kAuthOk);
  EXPECT_NE(at, std::string::npos) << written;
  return at == std::string::npos ? std::string() : written.substr(at + kAuthOk.size());
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void expect_no_secrets(const outcome& r) {
  EXPECT_EQ(r.transcript.find(kToken), std::string::npos) << r.transcript;
  EXPECT_EQ(r.transcript.find(xoauth2_ir()), std::string::npos) << r.transcript;
  EXPECT_EQ(r.transcript.find(kMarker), std::string::npos) << r.transcript;
}

// -- the main dialogue, in every split ----------------------------------------------------------

const std::string kContent = std::string("From: a@example.com\r\nSubject: main\r\n\r\n") + std::string(kMarker) +
                             "\r\n.leading dot\r\n..\r\n.\r\n \r\nUTF-8: \xc3\xa9\xe2\x82\xac \xff\r\nlast line\r\n";
std::string stuffed(const std::string& content) {
  std::string out;
  bool start = true;
  for (const char c : content) {
    if (start && c == '.') out.push_back('.');
    out.push_back(c);
    start = c == '\n';
  }
  return out;
}

const std::string kDialogue = kLogin +
                              "MAIL FROM:<a@example.com> SIZE=200 BODY=8BITMIME\r\n"
                              "RCPT TO:<b@example.net>\r\n"
                              "rcpt to:<C@Example.NET>\r\n"
                              "DATA\r\n" +
                              stuffed(kContent) + ".\r\nQUIT\r\n";
const std::string kDialogueReplies = kGreeting + kEhloTls + kAuthOk +
                                     "250 2.1.0 Ok\r\n"
                                     "250 2.1.5 Ok\r\n"
                                     "250 2.1.5 Ok\r\n"
                                     "354 End data with <CR><LF>.<CR><LF>\r\n"
                                     "250 2.0.0 Ok: queued\r\n"
                                     "221 2.0.0 Bye\r\n";

void check_main_dialogue(const outcome& r) {
  EXPECT_EQ(r.written, kDialogueReplies);
  EXPECT_TRUE(r.closed);
  EXPECT_FALSE(r.eof);
  ASSERT_EQ(r.messages.size(), 1u);
  const received_message& m = r.messages[0];
  EXPECT_EQ(m.mail_from, "a@example.com");
  EXPECT_EQ(m.mail_parameters, (std::vector<std::string>{"SIZE=200", "BODY=8BITMIME"}));
  EXPECT_EQ(m.rcpt_to, (std::vector<std::string>{"b@example.net", "C@Example.NET"}));
  EXPECT_EQ(m.content, kContent);
  EXPECT_EQ(m.helo, "client.example");
  EXPECT_TRUE(m.tls);
  ASSERT_TRUE(m.auth.has_value());
  EXPECT_EQ(m.auth->user, "user@example.com");
  EXPECT_EQ(m.auth->kind, sasl::mechanism::xoauth2);
  EXPECT_TRUE(m.auth->secret.empty());
  std::vector<request_kind> kinds;
  for (const auto& q : r.requests) kinds.push_back(q.what);
  EXPECT_EQ(kinds, (std::vector<request_kind>{request_kind::connect, request_kind::helo, request_kind::authenticate,
                                              request_kind::mail, request_kind::rcpt, request_kind::rcpt,
                                              request_kind::data, request_kind::message}));
  expect_no_secrets(r);
}

TEST(ServerSession, MainDialogueWhole) {
  const auto r = run(base_options(), {whole(kDialogue)});
  check_main_dialogue(r);
  // Pipelined: EHLO+AUTH answered together after the greeting; MAIL/RCPT/RCPT/DATA in one write
  // (ending at the 354); the final reply and the 221 in one write.
  ASSERT_EQ(r.writes.size(), 3u);
  EXPECT_EQ(r.writes[0], kGreeting);
  EXPECT_EQ(r.writes[1], kEhloTls + kAuthOk + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" +
                             "354 End data with <CR><LF>.<CR><LF>\r\n")
      << "a whole pipelined input is answered up to the synchronisation point in one write";
  EXPECT_EQ(r.writes[2], "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n");
  const auto& auth = r.requests[2];
  ASSERT_TRUE(auth.credentials.has_value());
  EXPECT_EQ(auth.credentials->user, "user@example.com");
  EXPECT_EQ(auth.credentials->secret.expose(), kToken);
  EXPECT_NE(r.transcript.find("C: AUTH XOAUTH2 ***"), std::string::npos) << r.transcript;
  EXPECT_NE(r.transcript.find("C: <message content: "), std::string::npos) << r.transcript;
}

TEST(ServerSession, MainDialogueSplitAtEveryByteBoundary) {
  for (std::size_t i = 0; i <= kDialogue.size(); ++i) {
    SCOPED_TRACE("split at " + std::to_string(i));
    check_main_dialogue(run(base_options(), {split_at(kDialogue, i)}));
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(ServerSession, MainDialogueOneByteAtATime) { check_main_dialogue(run(base_options(), {bytewise(kDialogue)})); }

TEST(ServerSession, MainDialogueOverStarttlsInEverySplit) {
  server_options o = base_options();
  o.implicit_tls = false;
  o.starttls_available = true;
  const std::string before = "EHLO client.example\r\nSTARTTLS\r\n";
  const std::string ehlo_plain =
      "250-mx.example.test Hello [192.0.2.1]\r\n"
      "250-SIZE 10000\r\n"
      "250-PIPELINING\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-STARTTLS\r\n"
      "250-8BITMIME\r\n"
      "250 SMTPUTF8\r\n";
  for (std::size_t i = 0; i <= kDialogue.size(); i += 7) {
    SCOPED_TRACE("split at " + std::to_string(i));
    const auto r = run(o, {split_at(before, i % before.size()), split_at(kDialogue, i)});
    EXPECT_EQ(r.handshakes, 1);
    EXPECT_EQ(r.written,
              kGreeting + ehlo_plain + "220 2.0.0 SMTP server ready\r\n" + kDialogueReplies.substr(kGreeting.size()));
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].content, kContent);
    EXPECT_TRUE(r.messages[0].tls);
    if (::testing::Test::HasFailure()) return;
  }
}

// -- greeting, EHLO, HELO -------------------------------------------------------------------------

TEST(ServerSession, ConnectRefusedClosesAfterTheReply) {
  const auto r = run(base_options(), {whole("EHLO x\r\n")}, [](const server_request& q) {
    EXPECT_EQ(q.what, request_kind::connect);
    return server_decision::refuse(server_reply::make(554, "5.7.1", "No SMTP service here"));
  });
  EXPECT_EQ(r.written, "554 5.7.1 No SMTP service here\r\n");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.requests.size(), 1u);
}

TEST(ServerSession, ConnectAcceptedWithACustomGreeting) {
  const auto r = run(base_options(), {whole("QUIT\r\n")}, [](const server_request& q) {
    if (q.what == request_kind::connect) {
      server_decision d;
      d.reply = server_reply::make(220, "", "SN2PR00CA0018.outlook.office365.com Microsoft ESMTP MAIL Service ready");
      return d;
    }
    return server_decision::ok();
  });
  EXPECT_EQ(r.written,
            "220 SN2PR00CA0018.outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, EhloBeforeTlsListsStarttlsButNotAuth) {
  server_options o = base_options();
  o.implicit_tls = false;
  o.starttls_available = true;
  o.dsn = true;
  const auto r = run(o, {whole("EHLO c\r\nAUTH XOAUTH2 " + xoauth2_ir() + "\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting +
                           "250-mx.example.test Hello [192.0.2.1]\r\n"
                           "250-SIZE 10000\r\n"
                           "250-PIPELINING\r\n"
                           "250-DSN\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n"
                           "250-STARTTLS\r\n"
                           "250-8BITMIME\r\n"
                           "250 SMTPUTF8\r\n"
                           "530 5.7.0 Must issue a STARTTLS command first.\r\n"
                           "221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.count(request_kind::authenticate), 0u);
  expect_no_secrets(r);
}

TEST(ServerSession, AuthOfferedWithoutTlsWhenNotRequired) {
  server_options o = base_options();
  o.implicit_tls = false;
  o.require_tls_for_auth = false;
  o.max_message_octets = 0;  // SIZE not advertised
  o.pipelining = false;
  o.smtputf8 = false;
  o.eight_bit_mime = false;
  o.client_address.clear();
  const auto r = run(o, {whole(kLogin + "QUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting +
                           "250-mx.example.test Hello\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n"
                           "250 AUTH XOAUTH2 PLAIN\r\n" +
                           kAuthOk + "221 2.0.0 Bye\r\n");
}

TEST(ServerSession, WithoutEnhancedStatusCodesNoneAreWritten) {
  server_options o = base_options();
  o.enhanced_status_codes = false;
  const auto r = run(o, {whole("MAIL FROM:<a@b.c>\r\nEHLO c\r\nFOO\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting +
                           "503 Error: send HELO/EHLO first\r\n"
                           "250-mx.example.test Hello [192.0.2.1]\r\n"
                           "250-SIZE 10000\r\n"
                           "250-PIPELINING\r\n"
                           "250-AUTH XOAUTH2 PLAIN\r\n"
                           "250-8BITMIME\r\n"
                           "250 SMTPUTF8\r\n"
                           "502 Error: command not recognized\r\n"
                           "221 Bye\r\n");
}

TEST(ServerSession, HeloGetsOneLineAndNoEnhancedCodes) {
  const auto r = run(base_options(), {whole("HELO client.example\r\nFOO\r\nNOOP\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting +
                           "250 mx.example.test\r\n"
                           "502 Error: command not recognized\r\n"
                           "250 Ok\r\n"
                           "221 Bye\r\n");
  ASSERT_EQ(r.count(request_kind::helo), 1u);
  EXPECT_EQ(r.requests[1].argument, "client.example");
}

TEST(ServerSession, EhloNeedsADomain) {
  const auto r = run(base_options(), {whole("EHLO\r\nHELO \r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting +
                           "501 5.5.4 Syntax: EHLO/HELO hostname\r\n"
                           "501 5.5.4 Syntax: EHLO/HELO hostname\r\n"
                           "221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.count(request_kind::helo), 0u);
}

TEST(ServerSession, OwnerRefusesHeloThenMailNeedsEhlo) {
  server_options o = base_options();
  o.require_auth = false;
  const auto r = run(o, {whole("EHLO bad.example\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n")}, [](const server_request& q) {
    if (q.what == request_kind::helo) return server_decision::refuse(server_reply::make(550, "5.7.1", "Go away"));
    return server_decision::ok();
  });
  EXPECT_EQ(r.written, kGreeting + "550 5.7.1 Go away\r\n503 5.5.1 Error: send HELO/EHLO first\r\n221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.count(request_kind::mail), 0u);
}

TEST(ServerSession, OwnerMayReplaceTheEhloReply) {
  const auto r = run(base_options(), {whole("EHLO c\r\nQUIT\r\n")}, [](const server_request& q) {
    if (q.what == request_kind::helo) {
      server_decision d;
      server_reply e;
      e.code = 250;
      e.lines = {"smtp.gmail.com at your service, [192.0.2.1]", "SIZE 35882577", "AUTH XOAUTH2"};
      d.reply = e;
      return d;
    }
    return server_decision::ok();
  });
  EXPECT_EQ(r.written, kGreeting +
                           "250-smtp.gmail.com at your service, [192.0.2.1]\r\n250-SIZE 35882577\r\n"
                           "250 AUTH XOAUTH2\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, EhloResetsTheTransaction) {
  server_options o = base_options();
  o.require_auth = false;
  const auto r = run(o, {whole("EHLO c\r\nMAIL FROM:<a@b.c>\r\nEHLO c\r\nRCPT TO:<d@e.f>\r\nQUIT\r\n")});
  EXPECT_NE(r.written.find("250 2.1.0 Ok\r\n" + kEhloTls + "503 5.5.1 Error: need MAIL command\r\n"), std::string::npos)
      << r.written;
}

TEST(ServerSession, VerbsAreCaseInsensitive) {
  const std::string input = "ehlo c\r\nAuth xoauth2 " + xoauth2_ir() +
                            "\r\nmail from:<a@b.c>\r\nRcPt To:<d@e.f>\r\ndata\r\nhi\r\n.\r\nnoop\r\nrset\r\nquit\r\n";
  const auto r = run(base_options(), {whole(input)});
  EXPECT_EQ(after_login(r.written),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n"
            "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content, "hi\r\n");
}

// -- STARTTLS -------------------------------------------------------------------------------------

server_options starttls_options() {
  server_options o = base_options();
  o.implicit_tls = false;
  o.starttls_available = true;
  return o;
}

TEST(ServerSession, StarttlsInjectionIsDiscarded) {
  // CVE-2011-0411: commands pipelined after STARTTLS (in the same packet) must never run.
  const std::string injected =
      "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<v@victim.example>\r\n";
  for (std::size_t i = 0; i <= injected.size(); ++i) {
    // Splits at or after the end of the STARTTLS line model a client that waited for the 220.
    const std::size_t starttls_end = injected.find("MAIL");
    if (i > starttls_end) break;
    SCOPED_TRACE(i);
    const auto r = run(starttls_options(), {split_at(injected, i), whole("EHLO c\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n")});
    EXPECT_EQ(r.handshakes, 1);
    for (const auto& q : r.requests) {
      EXPECT_NE(q.address, "evil@attacker.example");
      EXPECT_NE(q.address, "v@victim.example");
    }
    // After TLS the (legitimate) MAIL is refused only for want of AUTH.
    EXPECT_NE(r.written.find("530 5.7.57 Client not authenticated to send mail\r\n221 2.0.0 Bye\r\n"),
              std::string::npos)
        << r.written;
    if (i < starttls_end) {
      EXPECT_NE(r.transcript.find("after STARTTLS discarded"), std::string::npos) << r.transcript;
    }
  }
}

TEST(ServerSession, AfterTlsEverythingIsResetAndEhloIsNeededAgain) {
  server_options o = starttls_options();
  o.require_tls_for_auth = false;  // authenticate before TLS, to see it forgotten
  o.require_auth = false;
  const auto r = run(o, {whole(kLogin + "STARTTLS\r\n"),
                         whole("MAIL FROM:<a@b.c>\r\nAUTH XOAUTH2 " + xoauth2_ir() + "\r\nEHLO c2\r\nQUIT\r\n")});
  EXPECT_EQ(r.handshakes, 1);
  const std::string tail = r.written.substr(r.written.find("220 2.0.0 SMTP server ready\r\n"));
  EXPECT_EQ(tail.substr(0, tail.find("250-")),
            "220 2.0.0 SMTP server ready\r\n"
            "503 5.5.1 Error: send HELO/EHLO first\r\n"
            "503 5.5.1 Error: send HELO/EHLO first\r\n");
  // The second EHLO lists AUTH but not STARTTLS.
  EXPECT_NE(tail.find("250-AUTH XOAUTH2 PLAIN\r\n"), std::string::npos);
  EXPECT_EQ(tail.find("STARTTLS"), std::string::npos);
}

TEST(ServerSession, StarttlsSessionStateAccessors) {
  server_options o = starttls_options();
  o.require_tls_for_auth = false;
  server_session s(o);
  ASSERT_EQ(s.next().what, server_action::kind::decide);
  s.decide(server_decision::ok());
  EXPECT_EQ(s.next().what, server_action::kind::write);
  s.on_written();
  EXPECT_EQ(s.next().what, server_action::kind::read);
  s.on_bytes(kLogin);
  EXPECT_EQ(s.next().what, server_action::kind::decide);  // helo
  s.decide(server_decision::ok());
  auto a = s.next();
  ASSERT_EQ(a.what, server_action::kind::decide);  // authenticate
  ASSERT_EQ(a.request->what, request_kind::authenticate);
  s.decide(server_decision::ok());
  EXPECT_TRUE(s.authenticated());
  EXPECT_EQ(s.authenticated_user(), "user@example.com");
  EXPECT_FALSE(s.tls_active());
  ASSERT_EQ(s.next().what, server_action::kind::write);
  s.on_written();
  ASSERT_EQ(s.next().what, server_action::kind::read);
  s.on_bytes("STARTTLS\r\n");
  a = s.next();
  ASSERT_EQ(a.what, server_action::kind::write);
  EXPECT_EQ(a.bytes, "220 2.0.0 SMTP server ready\r\n");
  s.on_written();
  s.on_bytes("NOOP\r\n");  // arrives before the handshake: discarded
  ASSERT_EQ(s.next().what, server_action::kind::start_tls);
  s.on_tls_established();
  EXPECT_TRUE(s.tls_active());
  EXPECT_FALSE(s.authenticated());
  EXPECT_EQ(s.authenticated_user(), "");
  EXPECT_EQ(s.next().what, server_action::kind::read);  // no reply to the discarded NOOP
}

TEST(ServerSession, StarttlsRefusals) {
  server_options o = starttls_options();
  const auto r = run(o, {whole("STARTTLS\r\nEHLO c\r\nSTARTTLS now\r\nQUIT\r\n")});
  EXPECT_EQ(r.written.substr(0, r.written.find("250-")), kGreeting + "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_NE(r.written.find("501 5.5.4 Syntax: this command takes no arguments\r\n221"), std::string::npos);

  const auto not_offered = run(base_options(), {whole("EHLO c\r\nSTARTTLS\r\nQUIT\r\n")});
  EXPECT_NE(not_offered.written.find("503 5.5.1 Error: TLS already active\r\n"), std::string::npos);
  server_options plain = base_options();
  plain.implicit_tls = false;
  const auto unavailable = run(plain, {whole("EHLO c\r\nSTARTTLS\r\nQUIT\r\n")});
  EXPECT_NE(unavailable.written.find("502 5.5.2 Error: command not recognized\r\n"), std::string::npos);
  EXPECT_EQ(unavailable.handshakes, 0);
}

TEST(ServerSession, TlsFailureCloses) {
  server_session s(starttls_options());
  s.next();
  s.decide(server_decision::ok());
  s.next();
  s.on_written();
  s.next();
  s.on_bytes("EHLO c\r\nSTARTTLS\r\n");
  s.next();
  s.decide(server_decision::ok());
  ASSERT_EQ(s.next().what, server_action::kind::write);
  s.on_written();
  ASSERT_EQ(s.next().what, server_action::kind::start_tls);
  s.on_tls_failed();
  EXPECT_EQ(s.next().what, server_action::kind::close);
  EXPECT_TRUE(s.closed());
}

// -- AUTH -----------------------------------------------------------------------------------------

TEST(ServerSession, RequireAuthRefusesMailBeforeAuth) {
  const auto r = run(base_options(), {whole("EHLO c\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting + kEhloTls + "530 5.7.57 Client not authenticated to send mail\r\n221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.count(request_kind::mail), 0u);
}

TEST(ServerSession, AuthWithoutInitialResponseGetsAnEmptyChallenge) {
  const auto r = run(base_options(), {whole("EHLO c\r\nAUTH XOAUTH2\r\n"), {}});
  // The 334 is a synchronisation point: written before the client's answer is read.
  const auto r2 = run(base_options(), {whole("EHLO c\r\nAUTH XOAUTH2\r\n" + xoauth2_ir() + "\r\nQUIT\r\n")});
  EXPECT_EQ(r2.written, kGreeting + kEhloTls + "334 \r\n" + kAuthOk + "221 2.0.0 Bye\r\n");
  ASSERT_GE(r2.writes.size(), 3u);
  EXPECT_EQ(r2.writes[1], kEhloTls + "334 \r\n");
  EXPECT_EQ(r.written, kGreeting + kEhloTls + "334 \r\n");
  EXPECT_TRUE(r.eof);
  expect_no_secrets(r2);
  EXPECT_NE(r2.transcript.find("C: AUTH XOAUTH2\n"), std::string::npos) << r2.transcript;
  EXPECT_NE(r2.transcript.find("C: ***\n"), std::string::npos) << r2.transcript;
}

TEST(ServerSession, BareEmptyChallengeForMicrosoftProfiles) {
  server_options o = base_options();
  o.texts.bare_empty_challenge = true;
  const auto r = run(o, {whole("EHLO c\r\nAUTH XOAUTH2\r\n" + xoauth2_ir() + "\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting + kEhloTls + "334\r\n" + kAuthOk + "221 2.0.0 Bye\r\n");
}

TEST(ServerSession, PlainAndLoginExchanges) {
  server_options o = base_options();
  o.auth_mechanisms = {sasl::mechanism::login, sasl::mechanism::plain};
  const std::string plain_ir = core::base64_encode(std::string("\0user\0pw", 8));
  const auto plain = run(o, {whole("EHLO c\r\nAUTH PLAIN " + plain_ir + "\r\nQUIT\r\n")}, accept_all);
  EXPECT_NE(plain.written.find(kAuthOk), std::string::npos) << plain.written;
  ASSERT_EQ(plain.count(request_kind::authenticate), 1u);
  EXPECT_EQ(plain.requests[2].credentials->user, "user");
  EXPECT_EQ(plain.requests[2].credentials->secret.expose(), "pw");

  const auto login = run(o,
                         {whole("EHLO c\r\nAUTH LOGIN\r\n" + core::base64_encode("user@example.com") + "\r\n" +
                                core::base64_encode("pass") + "\r\nQUIT\r\n")},
                         accept_all);
  EXPECT_NE(login.written.find("250-AUTH LOGIN PLAIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n334 VXNlcm5hbWU6\r\n"
                               "334 UGFzc3dvcmQ6\r\n" +
                               kAuthOk),
            std::string::npos)
      << login.written;
  EXPECT_EQ(login.requests[2].credentials->user, "user@example.com");
  EXPECT_EQ(login.requests[2].credentials->kind, sasl::mechanism::login);
  EXPECT_EQ(login.transcript.find(core::base64_encode("pass")), std::string::npos);
}

TEST(ServerSession, EqualsSignIsAnEmptyInitialResponse) {
  // RFC 4954 §4: "=" is an empty initial response (not an undecodable one): LOGIN takes it as an
  // empty user name and refuses it; the exchange ends and the session goes on.
  server_options o = base_options();
  o.auth_mechanisms = {sasl::mechanism::login};
  const auto r = run(o,
                     {whole("EHLO c\r\nAUTH LOGIN =\r\nAUTH LOGIN " + core::base64_encode("u") + "\r\n" +
                            core::base64_encode("p") + "\r\nQUIT\r\n")},
                     accept_all);
  EXPECT_NE(r.written.find("501 5.5.2 Cannot decode AUTH response\r\n334 UGFzc3dvcmQ6\r\n" + kAuthOk),
            std::string::npos)
      << r.written;
}

TEST(ServerSession, AuthCancelAndMalformedResponses) {
  const auto r = run(base_options(), {whole("EHLO c\r\nAUTH XOAUTH2\r\n*\r\nAUTH XOAUTH2\r\n!!notbase64\r\n"
                                            "AUTH XOAUTH2 !!notbase64\r\nAUTH XOAUTH2 " +
                                            core::base64_encode("user=a\x01\x01") + "\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting + kEhloTls +
                           "334 \r\n"
                           "501 5.0.0 Authentication cancelled\r\n"
                           "334 \r\n"
                           "501 5.5.2 Cannot decode AUTH response\r\n"
                           "501 5.5.2 Cannot decode AUTH response\r\n"
                           "501 5.5.2 Cannot decode AUTH response\r\n"
                           "221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.count(request_kind::authenticate), 0u);
  EXPECT_NE(r.transcript.find("C: *\n"), std::string::npos);
}

TEST(ServerSession, AuthRefusalsBySequence) {
  server_options o = base_options();
  o.require_auth = false;
  const auto r = run(o, {whole("AUTH XOAUTH2 " + xoauth2_ir() +
                               "\r\nEHLO c\r\nAUTH CRAM-MD5\r\nAUTH LOGIN\r\nAUTH\r\n"
                               "MAIL FROM:<a@b.c>\r\nAUTH XOAUTH2 " +
                               xoauth2_ir() + "\r\nRSET\r\n" + "AUTH XOAUTH2 " + xoauth2_ir() + "\r\nAUTH XOAUTH2 " +
                               xoauth2_ir() + "\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting + "503 5.5.1 Error: send HELO/EHLO first\r\n" + kEhloTls +
                           "504 5.5.4 Unrecognized authentication type\r\n"
                           "504 5.5.4 Unrecognized authentication type\r\n"
                           "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
                           "250 2.1.0 Ok\r\n"
                           "503 5.5.1 Error: MAIL transaction in progress\r\n"
                           "250 2.0.0 Ok\r\n" +
                           kAuthOk + "503 5.5.1 Error: already authenticated\r\n221 2.0.0 Bye\r\n");
  server_options none = base_options();
  none.auth_mechanisms.clear();
  const auto n = run(none, {whole("EHLO c\r\nAUTH PLAIN\r\nQUIT\r\n")});
  EXPECT_NE(n.written.find("503 5.5.1 Error: authentication not enabled\r\n"), std::string::npos);
  EXPECT_EQ(n.written.find("AUTH"), std::string::npos);
}

TEST(ServerSession, OwnerRefusesWithoutErrorChallenge) {
  // Microsoft: a straight 535; the client may try again.
  const auto r = run(base_options(), {whole("EHLO c\r\nAUTH XOAUTH2 " + xoauth2_ir("user@example.com", "wrong") +
                                            "\r\nAUTH XOAUTH2 " + xoauth2_ir() + "\r\nQUIT\r\n")});
  EXPECT_EQ(r.written,
            kGreeting + kEhloTls + "535 5.7.3 Authentication unsuccessful\r\n" + kAuthOk + "221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.count(request_kind::authenticate), 2u);
}

server_decision gmail_owner(const server_request& q) {
  if (q.what == request_kind::authenticate) {
    server_decision d;
    d.accept = false;
    server_reply r;
    r.code = 535;
    r.enhanced = "5.7.8";
    r.lines = {"Username and Password not accepted. For more information, go to",
               " https://support.google.com/mail/?p=BadCredentials x - gsmtp"};
    d.reply = r;
    d.error_challenge_json = R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})";
    return d;
  }
  return server_decision::ok();
}

TEST(ServerSession, ErrorChallengeFlowXoauth2) {
  const auto r =
      run(base_options(), {whole("EHLO c\r\nAUTH XOAUTH2 " + xoauth2_ir() + "\r\n\r\nQUIT\r\n")}, gmail_owner);
  EXPECT_EQ(r.written,
            kGreeting + kEhloTls +
                "334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ"
                "==\r\n"
                "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
                "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x - gsmtp\r\n"
                "221 2.0.0 Bye\r\n");
  expect_no_secrets(r);
}

TEST(ServerSession, ErrorChallengeFlowOauthbearerWithClose) {
  server_options o = base_options();
  o.auth_mechanisms = {sasl::mechanism::oauthbearer};
  const std::string ir =
      core::base64_encode(std::string("n,a=user@example.com,\x01") + "auth=Bearer " + std::string(kToken) + "\x01\x01");
  const auto r =
      run(o, {whole("EHLO c\r\nAUTH OAUTHBEARER " + ir + "\r\nAQ==\r\nNOOP\r\n")}, [](const server_request& q) {
        if (q.what != request_kind::authenticate) return server_decision::ok();
        EXPECT_EQ(q.credentials->kind, sasl::mechanism::oauthbearer);
        EXPECT_EQ(q.credentials->user, "user@example.com");
        auto d = server_decision::refuse(server_reply::make(535, "5.7.1", "Not accepted"), true);
        d.error_challenge_json = R"({"status":"invalid_token"})";
        return d;
      });
  EXPECT_NE(r.written.find("250-AUTH OAUTHBEARER\r\n"), std::string::npos);
  EXPECT_NE(
      r.written.find("334 " + core::base64_encode(R"({"status":"invalid_token"})") + "\r\n535 5.7.1 Not accepted\r\n"),
      std::string::npos)
      << r.written;
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.written.find("250 2.0.0 Ok"), std::string::npos) << "NOOP after the closing 535 must not run";
}

TEST(ServerSession, ErrorChallengeJsonIsIgnoredForPlain) {
  const std::string plain_ir = core::base64_encode(std::string("\0user\0pw", 8));
  const auto r = run(base_options(), {whole("EHLO c\r\nAUTH PLAIN " + plain_ir + "\r\nQUIT\r\n")}, gmail_owner);
  EXPECT_EQ(r.written, kGreeting + kEhloTls +
                           "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
                           "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x - gsmtp\r\n"
                           "221 2.0.0 Bye\r\n");
}

TEST(ServerSession, AuthLinesUpTo12288Octets) {
  server_options o = base_options();
  o.max_command_octets = 512;
  // "AUTH XOAUTH2  " + base64 + CRLF = exactly 12288 octets (two spaces: base64 comes in fours).
  std::string token;
  std::string line;
  for (std::size_t n = 9000; n < 9300; ++n) {
    token = std::string(n, 'T');
    line = "AUTH XOAUTH2  " + xoauth2_ir("user@example.com", token) + "\r\n";
    if (line.size() == 12288) break;
  }
  ASSERT_EQ(line.size(), 12288u);
  const auto ok = run(o, {whole("EHLO c\r\n" + line + "QUIT\r\n")}, accept_all);
  EXPECT_EQ(ok.written, kGreeting + kEhloTls + kAuthOk + "221 2.0.0 Bye\r\n");
  EXPECT_EQ(ok.requests[2].credentials->secret.expose(), token);

  // One octet more (the initial response padded differently) is refused, and the next command runs.
  const std::string longer = "AUTH XOAUTH2 " + xoauth2_ir("user@example.com", token + "TTT") + "\r\n";
  ASSERT_GT(longer.size(), 12288u);
  const auto too_long = run(o, {whole("EHLO c\r\n" + longer + "NOOP\r\nQUIT\r\n")}, accept_all);
  EXPECT_EQ(too_long.written, kGreeting + kEhloTls +
                                  "500 5.5.6 Authentication exchange line is too long\r\n"
                                  "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
  EXPECT_EQ(too_long.count(request_kind::authenticate), 0u);

  // The same limit for a response line after 334; more than it ends the exchange.
  const std::string response = xoauth2_ir("user@example.com", token);
  const auto cont = run(o, {whole("EHLO c\r\nAUTH XOAUTH2\r\n" + response + "\r\nQUIT\r\n")}, accept_all);
  EXPECT_EQ(cont.written, kGreeting + kEhloTls + "334 \r\n" + kAuthOk + "221 2.0.0 Bye\r\n");
  const auto cont_long =
      run(o, {whole("EHLO c\r\nAUTH XOAUTH2\r\n" + std::string(13000, 'A') + "\r\nNOOP\r\nQUIT\r\n")});
  EXPECT_EQ(cont_long.written, kGreeting + kEhloTls +
                                   "334 \r\n500 5.5.6 Authentication exchange line is too long\r\n"
                                   "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
  // Other commands keep the command limit.
  const auto noop = run(o, {whole("EHLO c\r\nNOOP " + std::string(600, 'x') + "\r\nQUIT\r\n")});
  EXPECT_EQ(noop.written, kGreeting + kEhloTls + "500 5.5.6 Line too long\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, AuthPayloadsNeverReachTheTranscript) {
  server_options o = base_options();
  o.auth_mechanisms = {sasl::mechanism::xoauth2, sasl::mechanism::plain, sasl::mechanism::login};
  const std::string secret_pw = "pw-SECRET-in-transcript?";
  const std::string input = "EHLO c\r\nAUTH XOAUTH2 " + xoauth2_ir("user@example.com", "wrong") + "\r\nAUTH PLAIN " +
                            core::base64_encode("\0u\0" + secret_pw) + "\n" + "AUTH LOGIN " + core::base64_encode("u") +
                            "\r\n" + core::base64_encode(secret_pw) + "\r\nAUTH XOAUTH2 " + xoauth2_ir() +
                            "\r\nQUIT\r\n";
  const auto r = run(o, {whole(input)});
  EXPECT_EQ(r.transcript.find(secret_pw), std::string::npos);
  EXPECT_EQ(r.transcript.find(core::base64_encode(secret_pw)), std::string::npos);
  EXPECT_EQ(r.transcript.find(core::base64_encode("\0u\0" + secret_pw)), std::string::npos);
  EXPECT_EQ(r.transcript.find(xoauth2_ir("user@example.com", "wrong")), std::string::npos);
  expect_no_secrets(r);
  EXPECT_NE(r.transcript.find("C: AUTH PLAIN ***"), std::string::npos) << r.transcript;
}

// -- MAIL, RCPT -----------------------------------------------------------------------------------

outcome logged_in(const std::string& commands, server_options o = base_options(), const owner_fn& owner = token_owner) {
  return run(std::move(o), {whole(kLogin + commands + "QUIT\r\n")}, owner);
}

TEST(ServerSession, MailBeforeEhlo) {
  const auto r = run(base_options(), {whole("MAIL FROM:<a@b.c>\r\nRCPT TO:<a@b.c>\r\nDATA\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting +
                           "503 5.5.1 Error: send HELO/EHLO first\r\n"
                           "503 5.5.1 Error: send HELO/EHLO first\r\n"
                           "503 5.5.1 Error: send HELO/EHLO first\r\n"
                           "221 2.0.0 Bye\r\n");
}

TEST(ServerSession, MailPathsAndParameters) {
  server_options o = base_options();
  o.dsn = true;
  const auto r = logged_in(
      "MAIL FROM:<>\r\nRSET\r\n"
      "MAIL FROM: <a@b.c> size=123 body=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2B1 AUTH=<>\r\nRSET\r\n"
      "MAIL FROM:<@relay.example,@r2.example:a@b.c>\r\n"
      "RCPT TO:<\"quoted user\"@b.c> NOTIFY=success,failure ORCPT=rfc822;x+40y\r\n"
      "RCPT TO:<Postmaster>\r\n",
      o);
  ASSERT_EQ(r.count(request_kind::mail), 3u);
  std::vector<server_request> mails;
  std::vector<server_request> rcpts;
  for (const auto& q : r.requests) {
    if (q.what == request_kind::mail) mails.push_back(q);
    if (q.what == request_kind::rcpt) rcpts.push_back(q);
  }
  EXPECT_EQ(mails[0].address, "");
  EXPECT_TRUE(mails[0].parameters.empty());
  EXPECT_EQ(mails[1].address, "a@b.c");
  EXPECT_EQ(mails[1].parameters,
            (std::vector<std::string>{"SIZE=123", "BODY=8BITMIME", "SMTPUTF8", "RET=HDRS", "ENVID=QQ+2B1", "AUTH=<>"}));
  EXPECT_EQ(mails[2].address, "a@b.c");
  ASSERT_EQ(rcpts.size(), 2u);
  EXPECT_EQ(rcpts[0].address, "\"quoted user\"@b.c");
  EXPECT_EQ(rcpts[0].parameters, (std::vector<std::string>{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x+40y"}));
  EXPECT_EQ(rcpts[1].address, "Postmaster");
  EXPECT_EQ(after_login(r.written),
            "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, MailSyntaxAndParameterErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"MAIL FROM:a@b.c", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL TO:<a@b.c>", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a b@c.d>", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c>junk", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<nodomain>", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@>", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c> SIZE=12x", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c> SIZE", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c> SIZE=1 SIZE=2", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c> SMTPUTF8=yes", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c> X_Y=1", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM:<a@b.c> BODY=BINARYMIME", "555 5.5.4 Unsupported option"},
      {"MAIL FROM:<a@b.c> XFOO=1", "555 5.5.4 Unsupported option"},
      {"MAIL FROM:<a@b.c> RET=FULL", "555 5.5.4 Unsupported option"},  // DSN not offered
      {"MAIL FROM:<a@b.c> SIZE=10001", "552 5.3.4 Message size exceeds fixed limit"},
      {"MAIL FROM:<a@b.c> SIZE=99999999999999999999", "552 5.3.4 Message size exceeds fixed limit"},
      {"MAIL FROM:<j\xc3\xb6rg@b.c>", "553 5.6.7 Non-ASCII address needs SMTPUTF8"},
  };
  for (const auto& [command, expected] : cases) {
    SCOPED_TRACE(command);
    const auto r = logged_in(command + "\r\n");
    EXPECT_EQ(after_login(r.written), expected + "\r\n221 2.0.0 Bye\r\n");
    EXPECT_EQ(r.count(request_kind::mail), 0u);
  }
  // SIZE over the limit is a refusal, not a client error.
  const auto size = logged_in("MAIL FROM:<a@b.c> SIZE=20000\r\n");
  // With SMTPUTF8 a non-ASCII address passes.
  const auto utf8 = logged_in("MAIL FROM:<j\xc3\xb6rg@b.c> SMTPUTF8\r\nRCPT TO:<\xc3\xa9@b.c>\r\n");
  EXPECT_EQ(after_login(utf8.written), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n");
  server_options no_utf8 = base_options();
  no_utf8.smtputf8 = false;
  const auto off = logged_in("MAIL FROM:<a@b.c> SMTPUTF8\r\n", no_utf8);
  EXPECT_EQ(after_login(off.written), "555 5.5.4 Unsupported option\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, SizeIsUnlimitedWhenZero) {
  server_options o = base_options();
  o.max_message_octets = 0;
  const auto r = logged_in("MAIL FROM:<a@b.c> SIZE=99999999999\r\n", o);
  EXPECT_NE(r.written.find("250 2.1.0 Ok\r\n"), std::string::npos);
}

TEST(ServerSession, RcptRules) {
  server_options o = base_options();
  o.max_recipients = 2;
  const auto r = logged_in(
      "RCPT TO:<x@y.z>\r\nMAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<>\r\nRCPT TO:x@y.z\r\n"
      "RCPT TO:<x@y.z> NOTIFY=NEVER\r\nRCPT TO:<\xc3\xa9@b.c>\r\n"
      "RCPT TO:<r1@y.z>\r\nRCPT TO:<refused@y.z>\r\nRCPT TO:<r2@y.z>\r\nRCPT TO:<r3@y.z>\r\n"
      "DATA\r\nbody\r\n.\r\n",
      o, [](const server_request& q) {
        if (q.what == request_kind::rcpt && q.address == "refused@y.z") {
          return server_decision::refuse(server_reply::make(550, "5.1.1", "User unknown"));
        }
        return token_owner(q);
      });
  EXPECT_EQ(after_login(r.written),
            "503 5.5.1 Error: need MAIL command\r\n"
            "250 2.1.0 Ok\r\n"
            "503 5.5.1 Error: nested MAIL command\r\n"
            "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
            "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
            "555 5.5.4 Unsupported option\r\n"
            "553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n"
            "250 2.1.5 Ok\r\n"
            "550 5.1.1 User unknown\r\n"
            "250 2.1.5 Ok\r\n"
            "452 4.5.3 Too many recipients\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n"
            "250 2.0.0 Ok: queued\r\n"
            "221 2.0.0 Bye\r\n");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].rcpt_to, (std::vector<std::string>{"r1@y.z", "r2@y.z"}));
}

TEST(ServerSession, OwnerRefusalsOfMailRcptAndData) {
  const auto r = logged_in(
      "MAIL FROM:<spoof@b.c>\r\nRCPT TO:<x@y.z>\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<refused@y.z>\r\nDATA\r\n"
      "RCPT TO:<ok@y.z>\r\nDATA\r\nNOOP\r\n",
      base_options(), [](const server_request& q) {
        if (q.what == request_kind::mail && q.address == "spoof@b.c") {
          return server_decision::refuse(server_reply::make(550, "5.7.60", "SMTP; Client does not have permissions"));
        }
        if (q.what == request_kind::rcpt && q.address == "refused@y.z") {
          server_decision d;  // no reply: the session's default refusal
          d.accept = false;
          return d;
        }
        if (q.what == request_kind::data) {
          return server_decision::refuse(server_reply::make(451, "4.7.500", "Server busy. Please try again later."));
        }
        return token_owner(q);
      });
  EXPECT_EQ(after_login(r.written),
            "550 5.7.60 SMTP; Client does not have permissions\r\n"
            "503 5.5.1 Error: need MAIL command\r\n"
            "250 2.1.0 Ok\r\n"
            "550 5.7.1 Refused\r\n"
            "554 5.5.1 Error: no valid recipients\r\n"
            "250 2.1.5 Ok\r\n"
            "451 4.7.500 Server busy. Please try again later.\r\n"
            "250 2.0.0 Ok\r\n"
            "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(r.messages.empty());
}

TEST(ServerSession, CloseAfterARefusal) {
  const auto r = logged_in("MAIL FROM:<a@b.c>\r\nNOOP\r\n", base_options(), [](const server_request& q) {
    if (q.what == request_kind::mail) {
      return server_decision::refuse(server_reply::make(421, "4.3.2", "Service not available"), true);
    }
    return token_owner(q);
  });
  EXPECT_EQ(after_login(r.written), "421 4.3.2 Service not available\r\n");
  EXPECT_TRUE(r.closed);
}

// -- DATA -----------------------------------------------------------------------------------------

const std::string kTxn = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n";

TEST(ServerSession, DataArgumentsAndSequence) {
  const auto r = logged_in("DATA\r\nMAIL FROM:<a@b.c>\r\nDATA\r\nRCPT TO:<d@e.f>\r\nDATA now\r\n");
  EXPECT_EQ(after_login(r.written),
            "503 5.5.1 Error: need MAIL command\r\n"
            "250 2.1.0 Ok\r\n"
            "554 5.5.1 Error: no valid recipients\r\n"
            "250 2.1.5 Ok\r\n"
            "501 5.5.4 Syntax: this command takes no arguments\r\n"
            "221 2.0.0 Bye\r\n");
}

TEST(ServerSession, EmptyMessageAndDotUnstuffing) {
  const auto r = logged_in(kTxn + ".\r\n" + kTxn + "..\r\n...\r\n..x\r\n.\r\n");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].content, "");
  EXPECT_EQ(r.messages[1].content, ".\r\n..\r\n.x\r\n");
}

TEST(ServerSession, NewTransactionAfterTheFinalReplyWithoutRset) {
  const auto r = logged_in(kTxn + "one\r\n.\r\nRCPT TO:<d@e.f>\r\n" + kTxn + "two\r\n.\r\n");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].content, "one\r\n");
  EXPECT_EQ(r.messages[1].content, "two\r\n");
  EXPECT_NE(r.written.find("250 2.0.0 Ok: queued\r\n503 5.5.1 Error: need MAIL command\r\n250 2.1.0 Ok\r\n"),
            std::string::npos);
  EXPECT_EQ(r.count(request_kind::authenticate), 1u);
}

TEST(ServerSession, EightBitAndBinaryOctetsPassThrough) {
  std::string body;
  for (int c = 1; c < 256; ++c) {
    if (c != '\r' && c != '\n') body.push_back(static_cast<char>(c));
  }
  body += "\r\n";
  body += std::string("\0nul\r\n", 6);
  const auto r = logged_in(kTxn + body + ".\r\n");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content, body);
}

TEST(ServerSession, LongLinesInDataAreAcceptedUpToTheSizeLimit) {
  // Our choice: RFC 5321's 1000-octet line limit is not enforced on content; the size limit is.
  const std::string line(5000, 'x');
  const auto r = logged_in(kTxn + line + "\r\n.\r\n");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content, line + "\r\n");
}

TEST(ServerSession, MessageSizeIsCountedWhileReadingAndTheExcessNeverBuffered) {
  server_options o = base_options();
  o.max_message_octets = 1000;
  std::vector<std::string> chunks = {kLogin + kTxn};
  // 1 MB of content in 4 KiB reads.
  const std::string block = std::string(4094, 'y') + "\r\n";
  for (int i = 0; i < 256; ++i) chunks.push_back(block);
  chunks.emplace_back(".\r\nQUIT\r\n");
  const auto r = run(o, {chunks});
  EXPECT_TRUE(ends_with(r.written, kAuthOk + "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
                                             "552 5.3.4 Message size exceeds fixed limit\r\n221 2.0.0 Bye\r\n"))
      << r.written;
  EXPECT_TRUE(r.messages.empty());
  EXPECT_EQ(r.count(request_kind::message), 0u);
  EXPECT_LE(r.max_buffered, 1000u + 2 * block.size()) << "content beyond the limit was buffered";

  // Exactly at the limit passes.
  const std::string exact = std::string(998, 'z') + "\r\n";
  const auto ok = run(o, {whole(kLogin + kTxn + exact + ".\r\nQUIT\r\n")});
  ASSERT_EQ(ok.messages.size(), 1u);
  EXPECT_EQ(ok.messages[0].content, exact);
  const auto over = run(o, {whole(kLogin + kTxn + exact + "a\r\n.\r\nQUIT\r\n")});
  EXPECT_TRUE(over.messages.empty());
}

TEST(ServerSession, OverlongCommandLineIsSkippedWithoutBuffering) {
  server_options o = base_options();
  std::vector<std::string> chunks = {"EHLO c\r\nNOOP "};
  for (int i = 0; i < 1000; ++i) chunks.emplace_back(1000, 'x');  // 1 MB without LF
  chunks.emplace_back("\r\nNOOP\r\nQUIT\r\n");
  const auto r = run(o, {chunks});
  EXPECT_EQ(r.written, kGreeting + kEhloTls + "500 5.5.6 Line too long\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
  EXPECT_LE(r.max_buffered, o.max_command_octets + 1000) << "the over-long line was buffered";
  EXPECT_NE(r.transcript.find("octets skipped>"), std::string::npos);
  // A complete line one octet too long in a single read.
  o.max_command_octets = 64;
  const std::string at_limit = "NOOP " + std::string(64 - 7, 'x') + "\r\n";
  ASSERT_EQ(at_limit.size(), 64u);
  const auto edge = run(o, {whole("EHLO c\r\n" + at_limit + "NOOP x" + at_limit.substr(5) + "QUIT\r\n")});
  EXPECT_EQ(edge.written, kGreeting + kEhloTls + "250 2.0.0 Ok\r\n500 5.5.6 Line too long\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, CommandLinesMustEndInCrlfAndHaveNoNul) {
  const auto r = run(base_options(), {whole(std::string("EHLO c\r\nNOOP\nNO\rOP\r\nNO\0OP\r\nNOOP\r\nQUIT\r\n"sv))});
  EXPECT_EQ(r.written, kGreeting + kEhloTls +
                           "500 5.5.2 Error: bad syntax\r\n"
                           "500 5.5.2 Error: bad syntax\r\n"
                           "500 5.5.2 Error: bad syntax\r\n"
                           "250 2.0.0 Ok\r\n"
                           "221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.stats.errors, 3u);
}

// -- SMTP smuggling (providers.md §4.14) ----------------------------------------------------------

const std::string kSmuggled =
    "MAIL FROM:<x@evil>\r\nRCPT TO:<y@victim>\r\nDATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n";

struct smuggling_vector {
  const char* name;
  std::string separator;
  bool bare_cr;  // refused under both policies
};

const std::vector<smuggling_vector> kVectors = {
    {"A", "\n.\r\n", false}, {"B", "\n.\n", false},        {"C", "\r.\r", true},
    {"D", "\r\n.\r", true},  {"E", "\r\r\n.\r\r\n", true},
};

std::string smuggling_input(const smuggling_vector& v) { return "Subject: t\r\n\r\nbody" + v.separator + kSmuggled; }

void check_smuggling(const outcome& r, bool expect_message, std::string_view name) {
  SCOPED_TRACE(name);
  // Never a second transaction: one MAIL, one RCPT, one DATA, at most one message.
  EXPECT_EQ(r.count(request_kind::mail), 1u);
  EXPECT_EQ(r.count(request_kind::rcpt), 1u);
  EXPECT_EQ(r.count(request_kind::data), 1u);
  for (const auto& q : r.requests) EXPECT_NE(q.address, "x@evil");
  const std::string tail = after_login(r.written);
  if (expect_message) {
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(tail,
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n"
              "221 2.0.0 Bye\r\n");
    // The smuggled commands are content of the one message.
    EXPECT_EQ(r.messages[0].content, "Subject: t\r\n\r\nbody\r\n.\r\n" + kSmuggled.substr(0, kSmuggled.size() - 3));
  } else {
    EXPECT_TRUE(r.messages.empty());
    EXPECT_EQ(tail,
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
              "554 5.6.0 Message contains a bare CR or LF; lines must end in CRLF (RFC 5321 section 2.3.8)\r\n"
              "221 2.0.0 Bye\r\n");
  }
}

TEST(ServerSessionSmuggling, RejectPolicyGivesExactlyOneRejectionInEverySplit) {
  for (const auto& v : kVectors) {
    const std::string input =
        kLogin + "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n" + smuggling_input(v) + "QUIT\r\n";
    check_smuggling(run(base_options(), {whole(input)}), false, v.name);
    check_smuggling(run(base_options(), {bytewise(input)}), false, v.name);
    for (std::size_t i = kLogin.size(); i < input.size(); ++i) {
      check_smuggling(run(base_options(), {split_at(input, i)}), false, v.name);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(ServerSessionSmuggling, NormalizePolicyGivesExactlyOneMessageOrOneRejection) {
  server_options o = base_options();
  o.bare_line_ends = bare_line_end_policy::normalize;
  for (const auto& v : kVectors) {
    const std::string input =
        kLogin + "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n" + smuggling_input(v) + "QUIT\r\n";
    check_smuggling(run(o, {whole(input)}), !v.bare_cr, v.name);
    for (std::size_t i = kLogin.size(); i < input.size(); ++i) {
      check_smuggling(run(o, {split_at(input, i)}), !v.bare_cr, v.name);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(ServerSessionSmuggling, BareLineEndsInContent) {
  const auto header_injection = logged_in(kTxn + "Subject: a\nX-Injected: b\r\n\r\nbody\r\n.\r\n");
  EXPECT_TRUE(header_injection.messages.empty());
  EXPECT_NE(header_injection.written.find("554 5.6.0 "), std::string::npos);

  server_options o = base_options();
  o.bare_line_ends = bare_line_end_policy::normalize;
  const auto lf = logged_in(kTxn + "a\nb\r\n.\r\n", o);
  ASSERT_EQ(lf.messages.size(), 1u);
  EXPECT_EQ(lf.messages[0].content, "a\r\nb\r\n");
  // A dot line after a bare LF is content: the session still waits for CRLF.CRLF.
  const auto waits = run(o, {whole(kLogin + kTxn + "a\n.\r\n")});
  EXPECT_TRUE(waits.messages.empty());
  EXPECT_TRUE(waits.eof);
  const auto cr = logged_in(kTxn + "a\rb\r\n.\r\n", o);
  EXPECT_TRUE(cr.messages.empty());
  EXPECT_NE(cr.written.find("554 5.6.0 "), std::string::npos);
}

// -- pipelining, errors, limits, timeouts ------------------------------------------------------------

TEST(ServerSession, PipelinedGroupsAreAnsweredInOneWriteEach) {
  const auto r =
      run(base_options(),
          {{kLogin, "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@h.i>\r\nDATA\r\n", "body\r\n.\r\nQUIT\r\n"}});
  ASSERT_EQ(r.writes.size(), 4u);
  EXPECT_EQ(r.writes[0], kGreeting);
  EXPECT_EQ(r.writes[1], kEhloTls + kAuthOk);
  EXPECT_EQ(r.writes[2], "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(r.writes[3], "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, PartialCommandAtTheEndOfAReadWaitsForTheRest) {
  const auto r = run(base_options(), {{kLogin + "MAIL FROM:<a@b.c>\r\nRCPT TO:<d", "@e.f>\r\nQUIT\r\n"}});
  ASSERT_EQ(r.writes.size(), 3u);
  EXPECT_EQ(r.writes[1], kEhloTls + kAuthOk + "250 2.1.0 Ok\r\n");
  EXPECT_EQ(r.writes[2], "250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n");
  ASSERT_EQ(r.count(request_kind::rcpt), 1u);
}

TEST(ServerSession, CommandsAfterQuitAreIgnored) {
  const auto r = run(base_options(), {whole("QUIT\r\nNOOP\r\nEHLO c\r\n")});
  EXPECT_EQ(r.written, kGreeting + "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.count(request_kind::helo), 0u);
}

TEST(ServerSession, HelpVrfyExpnUnknownAndRset) {
  const auto r =
      run(base_options(),
          {whole("EHLO c\r\nHELP\r\nVRFY a@b.c\r\nVRFY\r\nEXPN list\r\nBDAT 10 LAST\r\nRSET x\r\nQUIT\r\n")});
  EXPECT_EQ(r.written, kGreeting + kEhloTls +
                           "502 5.5.1 Error: command not implemented\r\n"
                           "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
                           "501 5.5.4 Syntax error in parameters or arguments\r\n"
                           "502 5.5.1 Error: command not implemented\r\n"
                           "502 5.5.2 Error: command not recognized\r\n"
                           "501 5.5.4 Syntax: this command takes no arguments\r\n"
                           "221 2.0.0 Bye\r\n");
  EXPECT_EQ(r.stats.errors, 3u);
}

TEST(ServerSession, TooManyErrorsCloseTheSession) {
  server_options o = base_options();
  o.max_errors = 3;
  const auto r = run(o, {whole("EHLO c\r\nFOO\r\nBAR\r\nBAZ\r\nNOOP\r\n")});
  EXPECT_EQ(r.written, kGreeting + kEhloTls +
                           "502 5.5.2 Error: command not recognized\r\n"
                           "502 5.5.2 Error: command not recognized\r\n"
                           "502 5.5.2 Error: command not recognized\r\n"
                           "421 4.7.0 Error: too many errors\r\n");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.stats.errors, 3u);
  // Failed authentications count too (after at least max_errors of them, RFC 4954 §9 wants >= 3).
  const auto auth = run(o, {whole("EHLO c\r\nAUTH XOAUTH2 " + xoauth2_ir("u@v.w", "bad") + "\r\nAUTH XOAUTH2 " +
                                  xoauth2_ir("u@v.w", "bad") + "\r\nAUTH XOAUTH2 " + xoauth2_ir("u@v.w", "bad") +
                                  "\r\nAUTH XOAUTH2 " + xoauth2_ir() + "\r\n")});
  EXPECT_TRUE(ends_with(auth.written, "535 5.7.3 Authentication unsuccessful\r\n421 4.7.0 Error: too many errors\r\n"));
  EXPECT_EQ(auth.count(request_kind::authenticate), 3u);
}

TEST(ServerSession, IdleAndDataTimeouts) {
  server_options o = base_options();
  o.idle_timeout = std::chrono::seconds(30);
  o.data_timeout = std::chrono::seconds(90);
  {
    server_session s(o);
    ASSERT_EQ(s.next().what, server_action::kind::decide);
    s.decide(server_decision::ok());
    ASSERT_EQ(s.next().what, server_action::kind::write);
    s.on_written();
    const auto a = s.next();
    ASSERT_EQ(a.what, server_action::kind::read);
    EXPECT_EQ(a.timeout, std::chrono::seconds(30));
    s.on_timeout();
    const auto w = s.next();
    ASSERT_EQ(w.what, server_action::kind::write);
    EXPECT_EQ(w.bytes, "421 4.4.2 Error: timeout exceeded\r\n");
    s.on_written();
    EXPECT_EQ(s.next().what, server_action::kind::close);
  }
  {
    // In DATA: the data timeout, and no message.
    std::vector<std::chrono::milliseconds> timeouts;
    server_session s(o);
    bool fed = false;
    bool timed_out = false;
    std::size_t messages = 0;
    std::string written;
    for (int i = 0; i < 1000 && !s.closed(); ++i) {
      const auto a = s.next();
      if (a.what == server_action::kind::close) break;
      if (a.what == server_action::kind::decide) {
        messages += a.request->what == request_kind::message;
        s.decide(token_owner(*a.request));
      } else if (a.what == server_action::kind::write) {
        written.append(a.bytes);
        s.on_written();
      } else if (a.what == server_action::kind::read) {
        timeouts.push_back(a.timeout);
        if (!fed) {
          s.on_bytes(kLogin + kTxn + "partial content");
          fed = true;
        } else {
          ASSERT_FALSE(timed_out);
          timed_out = true;
          s.on_timeout();
        }
      }
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(messages, 0u);
    EXPECT_TRUE(ends_with(written, "354 End data with <CR><LF>.<CR><LF>\r\n421 4.4.2 Error: timeout exceeded\r\n"));
    ASSERT_EQ(timeouts.size(), 2u);
    EXPECT_EQ(timeouts[0], std::chrono::seconds(30));
    EXPECT_EQ(timeouts[1], std::chrono::seconds(90));
  }
}

TEST(ServerSession, EofInDataDeliversNothing) {
  const auto r = run(base_options(), {whole(kLogin + kTxn + "Subject: x\r\n\r\nunfinished\r\n")});
  EXPECT_TRUE(r.eof);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_EQ(r.count(request_kind::message), 0u);
}

TEST(ServerSession, DecideIsRepeatedUntilAnsweredAndTakeMessageOnlyDuringMessage) {
  server_session s(base_options());
  const auto a = s.next();
  ASSERT_EQ(a.what, server_action::kind::decide);
  const auto b = s.next();
  ASSERT_EQ(b.what, server_action::kind::decide);
  EXPECT_EQ(a.request, b.request);
  EXPECT_EQ(b.request->what, request_kind::connect);
  EXPECT_TRUE(s.take_message().content.empty());
  s.decide(server_decision::ok());
  s.decide(server_decision::refuse(server_reply::make(554, "", "ignored: nothing pending")));
  const auto w = s.next();
  ASSERT_EQ(w.what, server_action::kind::write);
  EXPECT_EQ(w.bytes, kGreeting);
  // Asking again before on_written returns the same write.
  EXPECT_EQ(s.next().bytes, kGreeting);
  s.on_written();
  s.on_bytes(kLogin + kTxn + "hello\r\n.\r\n");
  server_action m;
  for (int i = 0; i < 50; ++i) {
    m = s.next();
    if (m.what == server_action::kind::decide && m.request->what == request_kind::message) break;
    if (m.what == server_action::kind::decide) s.decide(token_owner(*m.request));
    if (m.what == server_action::kind::write) s.on_written();
  }
  ASSERT_EQ(m.what, server_action::kind::decide);
  ASSERT_EQ(m.request->what, request_kind::message);
  received_message msg = s.take_message();
  EXPECT_EQ(msg.content, "hello\r\n");
  EXPECT_TRUE(s.take_message().content.empty()) << "the message is moved out once";
  s.decide(server_decision::ok());
  EXPECT_EQ(s.stats().messages_accepted, 1u);
}

TEST(ServerSession, StatsCountAcceptedAndRefusedMessages) {
  server_options o = base_options();
  o.max_message_octets = 100;
  int n = 0;
  const auto r = logged_in(
      kTxn + "ok\r\n.\r\n" + kTxn + "refused\r\n.\r\n" + kTxn + std::string(200, 'x') + "\r\n.\r\n" + kTxn +
          "bare\nlf\r\n.\r\n",
      o, [&n](const server_request& q) {
        if (q.what == request_kind::message && n++ == 1) {
          return server_decision::refuse(server_reply::make(554, "5.2.252", "SendAsDenied; a@b.c not allowed to send"));
        }
        return token_owner(q);
      });
  EXPECT_EQ(r.stats.messages_accepted, 1u);
  EXPECT_EQ(r.stats.messages_refused, 3u);
  EXPECT_EQ(r.messages.size(), 2u);
  EXPECT_NE(r.written.find("554 5.2.252 SendAsDenied; a@b.c not allowed to send\r\n"), std::string::npos);
}

TEST(ServerSession, TranscriptShowsCommandsAndRepliesButNoContent) {
  const auto r = run(base_options(), {whole(kDialogue)});
  EXPECT_NE(r.transcript.find("C: MAIL FROM:<a@example.com> SIZE=200 BODY=8BITMIME\n"), std::string::npos);
  EXPECT_NE(r.transcript.find("S: 250 2.1.0 Ok\n"), std::string::npos);
  EXPECT_NE(r.transcript.find("C: <message content: " + std::to_string(stuffed(kContent).size()) + " octets>\nC: .\n"),
            std::string::npos)
      << r.transcript;
  expect_no_secrets(r);
}

// -- server_reply ---------------------------------------------------------------------------------

TEST(ServerReply, Encode) {
  EXPECT_EQ(server_reply::make(250, "2.1.0", "Ok").encode(true), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(server_reply::make(250, "2.1.0", "Ok").encode(false), "250 Ok\r\n");
  EXPECT_EQ(server_reply::make(354, "2.0.0", "Go ahead").encode(true), "354 Go ahead\r\n");
  EXPECT_EQ(server_reply::make(334, "", "").encode(true), "334\r\n");
  EXPECT_EQ(server_reply::make(250, "2.0.0", "").encode(true), "250 2.0.0\r\n");
  server_reply multi;
  multi.code = 535;
  multi.enhanced = "5.7.8";
  multi.lines = {"first", "", "last"};
  EXPECT_EQ(multi.encode(true), "535-5.7.8 first\r\n535-5.7.8\r\n535 5.7.8 last\r\n");
  EXPECT_EQ(multi.encode(false), "535-first\r\n535-\r\n535 last\r\n");
  server_reply none;
  none.code = 250;
  EXPECT_EQ(none.encode(true), "250\r\n");
  // CR, LF and NUL in a text could inject a reply line: they become spaces.
  EXPECT_EQ(server_reply::make(550, "5.1.1", std::string("a\r\n250 b\0c"sv)).encode(true), "550 5.1.1 a  250 b c\r\n");
}

// -- our client against our server ----------------------------------------------------------------

struct duo {
  client_session client;
  server_session server;
  owner_fn owner;
  std::vector<server_request> requests;
  std::vector<received_message> messages;
  std::optional<message_result> result;
  std::string client_transcript;
  std::string server_transcript;
  int handshakes = 0;

  duo(client_options co, server_options so, owner_fn o)
      : client(std::move(co)), server(std::move(so)), owner(std::move(o)) {}

  void run(envelope env, std::string body) {
    std::string c2s;
    std::string s2c;
    bool client_tls = false;
    bool server_tls = false;
    bool submitted = false;
    bool quit = false;
    for (int i = 0; i < 100000; ++i) {
      bool progress = false;
      if (!client.closed()) {
        const action a = client.next();
        switch (a.what) {
          case action::kind::write:
            c2s.append(a.bytes);
            client_transcript += a.transcript + "\n";
            client.on_written();
            progress = true;
            break;
          case action::kind::read:
            if (!s2c.empty()) {
              client.on_bytes(s2c);
              s2c.clear();
              progress = true;
            }
            break;
          case action::kind::start_tls:
            client_tls = true;
            break;
          case action::kind::idle:
            if (!submitted) {
              submitted = true;
              outgoing_message m;
              m.env = env;
              m.body = std::make_unique<string_body>(body);
              client.submit(std::move(m));
            } else if (!quit) {
              result = client.take_result();
              client.quit();
              quit = true;
            }
            progress = true;
            break;
          case action::kind::closed:
            break;
        }
      }
      if (!server.closed()) {
        const server_action a = server.next();
        switch (a.what) {
          case server_action::kind::write:
            s2c.append(a.bytes);
            server_transcript += a.transcript + "\n";
            server.on_written();
            progress = true;
            break;
          case server_action::kind::read:
            if (!c2s.empty()) {
              server.on_bytes(c2s);
              c2s.clear();
              progress = true;
            } else if (client.closed()) {
              server.on_eof();
              progress = true;
            }
            break;
          case server_action::kind::start_tls:
            server_tls = true;
            break;
          case server_action::kind::decide:
            requests.push_back(*a.request);
            if (a.request->what == request_kind::message) messages.push_back(server.take_message());
            server.decide(owner(*a.request));
            progress = true;
            break;
          case server_action::kind::close:
            break;
        }
      }
      if (client_tls && server_tls) {
        client.on_tls_established();
        server.on_tls_established();
        client_tls = server_tls = false;
        ++handshakes;
        progress = true;
      }
      if (client.closed() && server.closed()) {
        if (!result) result = client.take_result();
        return;
      }
      if (!progress) {
        ADD_FAILURE() << "client and server are stuck\nclient:\n"
                      << client_transcript << "server:\n"
                      << server_transcript;
        return;
      }
    }
    ADD_FAILURE() << "no end";
  }
};

client_options client_for(sasl::mechanism m, std::string secret) {
  client_options o;
  o.ehlo_domain = "client.example.org";
  o.tls = tls_mode::starttls;
  sasl::credentials c;
  c.user = "user@example.com";
  c.secret = core::secret<std::string>(std::move(secret));
  c.host = "mx.example.test";
  c.port = 587;
  o.credentials = std::move(c);
  o.mechanism = m;
  o.credential_kind = sasl::is_oauth(m) ? sasl::credential_kind::bearer_token : sasl::credential_kind::password;
  return o;
}

server_options server_for_clients() {
  server_options o = starttls_options();
  o.auth_mechanisms = {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer, sasl::mechanism::plain,
                       sasl::mechanism::login};
  o.max_message_octets = 1000000;
  return o;
}

envelope client_envelope() {
  envelope e;
  e.mail_from = "user@example.com";
  e.rcpt_to = {"b@example.net", "c@example.net"};
  return e;
}

const std::string kClientBody =
    "From: user@example.com\r\nTo: b@example.net\r\nSubject: interop\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
    "caf\xc3\xa9\r\nlast";

TEST(ServerSessionInterop, ClientSendsOverStarttlsWithXoauth2) {
  duo d(client_for(sasl::mechanism::xoauth2, std::string(kToken)), server_for_clients(), token_owner);
  d.run(client_envelope(), kClientBody);
  EXPECT_EQ(d.handshakes, 1);
  ASSERT_TRUE(d.result.has_value());
  EXPECT_TRUE(d.result->delivered()) << (d.result->failure ? d.result->failure->message() : "");
  EXPECT_EQ(d.result->accepted_count(), 2u);
  EXPECT_TRUE(d.client.tls_active());
  EXPECT_TRUE(d.client.authenticated());
  EXPECT_TRUE(d.client.server_capabilities().pipelining);
  ASSERT_EQ(d.messages.size(), 1u);
  const received_message& m = d.messages[0];
  EXPECT_EQ(m.content, kClientBody + "\r\n");  // the client ends the last line with CRLF
  EXPECT_EQ(m.mail_from, "user@example.com");
  EXPECT_EQ(m.rcpt_to, (std::vector<std::string>{"b@example.net", "c@example.net"}));
  EXPECT_EQ(m.helo, "client.example.org");
  EXPECT_TRUE(m.tls);
  ASSERT_TRUE(m.auth.has_value());
  EXPECT_EQ(m.auth->user, "user@example.com");
  EXPECT_TRUE(m.auth->secret.empty());
  EXPECT_NE(std::find(m.mail_parameters.begin(), m.mail_parameters.end(), "BODY=8BITMIME"), m.mail_parameters.end());
  EXPECT_NE(std::find(m.mail_parameters.begin(), m.mail_parameters.end(), "SIZE=" + std::to_string(kClientBody.size())),
            m.mail_parameters.end());
  EXPECT_EQ(d.server.stats().messages_accepted, 1u);
  EXPECT_EQ(d.server.stats().errors, 0u);
  EXPECT_TRUE(d.server.closed());
  EXPECT_FALSE(d.client.final_error().has_value());
  EXPECT_EQ(d.server_transcript.find(kToken), std::string::npos);
  EXPECT_EQ(d.client_transcript.find(kToken), std::string::npos);
}

TEST(ServerSessionInterop, EveryMechanism) {
  for (const auto m :
       {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer, sasl::mechanism::plain, sasl::mechanism::login}) {
    SCOPED_TRACE(std::string(sasl::to_string(m)));
    duo d(client_for(m, std::string(kToken)), server_for_clients(), token_owner);
    d.run(client_envelope(), "Subject: x\r\n\r\nhi\r\n");
    ASSERT_TRUE(d.result.has_value());
    EXPECT_TRUE(d.result->delivered());
    const auto auth = std::find_if(d.requests.begin(), d.requests.end(),
                                   [](const server_request& q) { return q.what == request_kind::authenticate; });
    ASSERT_NE(auth, d.requests.end());
    EXPECT_EQ(auth->credentials->kind, m);
    EXPECT_EQ(auth->credentials->user, "user@example.com");
    if (m == sasl::mechanism::oauthbearer) {
      EXPECT_EQ(auth->credentials->host, "mx.example.test");
      EXPECT_EQ(auth->credentials->port, 587);
    }
    EXPECT_EQ(d.client.auth_mechanism(), m);
  }
}

TEST(ServerSessionInterop, GmailStyleErrorChallengeReachesTheClient) {
  for (const auto m : {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer}) {
    SCOPED_TRACE(std::string(sasl::to_string(m)));
    duo d(client_for(m, "ya29.expired"), server_for_clients(), gmail_owner);
    d.run(client_envelope(), "Subject: x\r\n\r\nhi\r\n");
    EXPECT_TRUE(d.messages.empty());
    EXPECT_FALSE(d.client.authenticated());
    ASSERT_TRUE(d.client.final_error().has_value());
    EXPECT_EQ(d.client.final_error()->classification(), core::failure_class::token_rejected)
        << d.client.final_error()->message();
    const auto challenge = d.client.auth_error_challenge();
    ASSERT_TRUE(challenge.has_value());
    EXPECT_EQ(challenge->status, "400");
    EXPECT_EQ(challenge->scope, "https://mail.google.com/");
    EXPECT_FALSE(d.server.authenticated());
    EXPECT_TRUE(d.server.closed());
  }
}

TEST(ServerSessionInterop, LargeTokenGoesOnTheAuthLine) {
  // An Entra JWT of several KB: the initial response fits the 12288-octet AUTH line limit.
  const std::string token = "eyJ0eXAiOiJKV1Qi." + std::string(8000, 'a') + ".sig";
  server_options so = server_for_clients();
  so.max_command_octets = 512;
  duo d(client_for(sasl::mechanism::xoauth2, token), so, [&token](const server_request& q) {
    if (q.what == request_kind::authenticate) {
      return q.credentials->secret.expose() == token ? server_decision::ok()
                                                     : server_decision::refuse(server_reply::make(535, "5.7.3", "no"));
    }
    return server_decision::ok();
  });
  d.run(client_envelope(), "Subject: x\r\n\r\nhi\r\n");
  ASSERT_TRUE(d.result.has_value());
  EXPECT_TRUE(d.result->delivered());
  EXPECT_NE(d.client_transcript.find("AUTH XOAUTH2 <redacted>"), std::string::npos) << d.client_transcript;
}

TEST(ServerSessionInterop, RefusedRecipientAndFinalReplyReachTheClient) {
  duo d(client_for(sasl::mechanism::xoauth2, std::string(kToken)), server_for_clients(), [](const server_request& q) {
    if (q.what == request_kind::rcpt && q.address == "c@example.net") {
      return server_decision::refuse(server_reply::make(550, "5.1.1", "User unknown"));
    }
    if (q.what == request_kind::message) {
      return server_decision::refuse(server_reply::make(554, "5.2.252", "SendAsDenied"));
    }
    return token_owner(q);
  });
  d.run(client_envelope(), "Subject: x\r\n\r\nhi\r\n");
  ASSERT_TRUE(d.result.has_value());
  EXPECT_FALSE(d.result->delivered());
  EXPECT_EQ(d.result->accepted_count(), 1u);
  ASSERT_TRUE(d.result->final_reply.has_value());
  EXPECT_EQ(d.result->final_reply->code, 554);
  EXPECT_EQ(d.result->final_reply->enhanced->to_string(), "5.2.252");
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].rcpt_to, (std::vector<std::string>{"b@example.net"}));
}

}  // namespace
}  // namespace oauthmail::smtp
