// The sandbox SMTP policy per profile: every reply string against providers.md, tokens judged for
// real (minted by the sandbox's token authority), limits, Send As, captures and faults. The
// requests are given to decide() directly, as smtp::server_session would ask them.
#include "sandbox/smtp_policy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/sandbox/helpers.hpp"

namespace oauthmail::sandbox {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using testing::temp_dir;
using kind = smtp::server_request::kind;

// Mon, 27 Mar 2023 18:17:53 +0000 (the greeting of providers.md §1.2).
const wall_clock::time_point t0 = wall_clock::time_point(std::chrono::seconds(1679941073));

std::string domain_of(profile_kind p) { return p == profile_kind::google ? "example.test" : "contoso.test"; }

directory make_directory(profile_kind p) {
  directory d;
  d.profile = p;
  d.tenant_id = "9188040d-6c67-4c5b-b112-36a304b66dad";
  d.domain = domain_of(p);
  auto at = [&](const char* local) { return std::string(local) + "@" + d.domain; };
  d.mailboxes = {
      {at("sender"), "Sender", true, {at("shared")}},
      {at("shared"), "Shared", true, {}},
      {at("disabled"), "Disabled", false, {}},
      {at("other"), "Other", true, {}},
  };
  auto make_client = [](std::string name, std::string id, client_kind k, bool sp, std::vector<std::string> perms) {
    client c;
    c.name = std::move(name);
    c.client_id = std::move(id);
    c.kind = k;
    c.secret = "not-used-here";
    c.service_principal = sp;
    c.mailbox_permissions = std::move(perms);
    return c;
  };
  d.clients = {
      make_client("app-secret", "11111111-1111-1111-1111-111111111111", client_kind::secret, true,
                  {at("sender"), at("disabled")}),
      make_client("app-noperm", "22222222-2222-2222-2222-222222222222", client_kind::secret, true, {}),
      make_client("app-nosp", "33333333-3333-3333-3333-333333333333", client_kind::secret, false, {at("sender")}),
      make_client("public", "44444444-4444-4444-4444-444444444444", client_kind::public_client, true, {}),
  };
  return d;
}

struct capture {
  smtp::received_message message;
  captured_envelope envelope;
};

// One sandbox: directory, token authority, faults, captures, and the policy under test.
struct world {
  explicit world(profile_kind p, std::function<void(smtp_profile&)> adjust = {})
      : kind(p),
        dir(make_directory(p)),
        tokens(open_tokens(p)),
        faults(1),
        policy(profile(p, adjust), dir, tokens, faults, sink()) {}

  static smtp_profile profile(profile_kind p, const std::function<void(smtp_profile&)>& adjust) {
    auto prof = make_profile(p);
    if (adjust) adjust(prof);
    return prof;
  }
  token_authority open_tokens(profile_kind p) {
    testing::write_shared_signing_key(tmp.file("signing.pem"));
    auto a = token_authority::open(tmp.file("signing.pem"), "http://127.0.0.1:1/tenant/v2.0", p, "tenant");
    if (!a) throw std::runtime_error(a.error().message());
    return std::move(*a);
  }
  capture_sink sink() {
    return [this](const smtp::received_message& m, const captured_envelope& e) -> core::result<std::int64_t> {
      if (sink_fails) {
        return core::error(make_error_code(core::errc::io_failure), "disk full", core::failure_class::transient);
      }
      captures.push_back({m, e});
      return static_cast<std::int64_t>(captures.size());
    };
  }

  std::string at(const char* local) const { return std::string(local) + "@" + dir.domain; }
  const client& app(const char* name) const { return *dir.find_client(name); }

  // A delegated token as the identity provider would grant it for this profile.
  std::string delegated(const std::string& user, std::chrono::seconds lifetime = 3599s,
                        wall_clock::time_point when = t0) {
    token_grant g;
    g.client_id = app("public").client_id;
    g.user = user;
    g.lifetime = lifetime;
    if (kind == profile_kind::microsoft) {
      g.audiences = {"https://outlook.office.com"};
      g.scopes = {"SMTP.Send"};
    } else {
      g.audiences = {g.client_id};
      g.scopes = {"https://mail.google.com/"};
    }
    return tokens.mint(g, when).expose();
  }
  std::string app_only(const char* client_name) {
    token_grant g;
    g.client_id = app(client_name).client_id;
    g.audiences = {"https://outlook.office365.com"};
    g.roles = {"SMTP.SendAsApp"};
    return tokens.mint(g, t0).expose();
  }
  std::string custom(token_grant g) { return tokens.mint(g, t0).expose(); }

  profile_kind kind;
  temp_dir tmp;
  directory dir;
  token_authority tokens;
  fault_registry faults;
  std::vector<capture> captures;
  bool sink_fails = false;
  smtp_policy policy;
};

// A connection of `w` with a session to hand to decide().
struct conn {
  explicit conn(world& w) : w(w), session(w.policy.session_options(false, true, "127.0.0.1")), c(w.policy.open()) {}

  policy_answer ask(smtp::server_request r, wall_clock::time_point now = t0) { return c->decide(r, session, now); }
  static smtp::server_request request(kind what, std::string address = {}) {
    smtp::server_request r;
    r.what = what;
    r.address = std::move(address);
    return r;
  }
  policy_answer connect(wall_clock::time_point now = t0) { return ask(request(kind::connect), now); }
  policy_answer ehlo() {
    auto r = request(kind::helo);
    r.argument = "client.example.org";
    return ask(std::move(r));
  }
  policy_answer auth(std::string user, std::string token, sasl::mechanism m = sasl::mechanism::xoauth2,
                     wall_clock::time_point now = t0) {
    sasl::server_credentials creds;
    creds.kind = m;
    creds.user = std::move(user);
    creds.secret = core::secret<std::string>(std::move(token));
    auto r = request(kind::authenticate);
    r.credentials = std::move(creds);
    return ask(std::move(r), now);
  }
  policy_answer login(const std::string& user) { return auth(user, w.delegated(user)); }
  policy_answer mail(std::string from, wall_clock::time_point now = t0) {
    return ask(request(kind::mail, std::move(from)), now);
  }
  policy_answer rcpt(std::string to) { return ask(request(kind::rcpt, std::move(to))); }
  policy_answer data() { return ask(request(kind::data)); }
  policy_answer message(std::string from_header, std::string mail_from, std::vector<std::string> rcpts,
                        wall_clock::time_point now = t0) {
    smtp::received_message m;
    m.mail_from = std::move(mail_from);
    m.rcpt_to = std::move(rcpts);
    m.helo = "client.example.org";
    m.tls = true;
    m.content = "From: " + from_header + "\r\nTo: a@example.net\r\nSubject: test\r\n\r\nHello.\r\n";
    return c->decide_message(std::move(m), now);
  }
  // A whole transaction for the authenticated `sender`: MAIL, RCPTs, DATA, content.
  policy_answer send(const std::string& from, std::size_t rcpts = 1, wall_clock::time_point now = t0) {
    auto m = mail(from, now);
    if (!m.decision.accept) return m;
    std::vector<std::string> to;
    for (std::size_t i = 0; i < rcpts; ++i) {
      to.push_back("r" + std::to_string(i) + "@example.net");
      auto r = rcpt(to.back());
      if (!r.decision.accept) return r;
    }
    auto d = data();
    if (!d.decision.accept) return d;
    return message("<" + from + ">", from, to, now);
  }

  world& w;
  smtp::server_session session;
  std::unique_ptr<smtp_policy::connection> c;
};

// The reply as one line per reply line: "535 5.7.3 text" (what a client's reply parser sees).
std::string text_of(const policy_answer& a) {
  if (!a.decision.reply) return "(default)";
  const auto& r = *a.decision.reply;
  std::string out;
  for (const auto& line : r.lines) {
    if (!out.empty()) out += "\n";
    out += std::to_string(r.code) + (r.enhanced.empty() ? "" : " " + r.enhanced) + " " + line;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Microsoft

TEST(PolicyMicrosoft, ProfileDefaults) {
  const auto p = make_profile(profile_kind::microsoft);
  EXPECT_EQ(p.mechanisms, (std::vector<sasl::mechanism>{sasl::mechanism::login, sasl::mechanism::xoauth2}));
  EXPECT_EQ(p.max_message_octets, 157286400u);
  EXPECT_EQ(p.recipients_per_message, 500u);
  EXPECT_EQ(p.recipients_per_day, 10000u);
  EXPECT_EQ(p.messages_per_minute, 30u);
  EXPECT_EQ(p.concurrent_connections_per_mailbox, 3u);
  EXPECT_FALSE(p.oauth_error_challenge);
  EXPECT_TRUE(p.enforce_send_as);
  EXPECT_FALSE(p.accept_passwords);
  EXPECT_TRUE(p.pipelining);
  EXPECT_TRUE(p.dsn);
}

TEST(PolicyMicrosoft, SessionOptions) {
  world w(profile_kind::microsoft);
  const auto o = w.policy.session_options(false, true, "192.0.2.7");
  EXPECT_EQ(o.hostname, "SN2PR00CA0018.sandbox.outlook.test");
  EXPECT_EQ(o.client_address, "192.0.2.7");
  EXPECT_TRUE(o.starttls_available);
  EXPECT_FALSE(o.implicit_tls);
  EXPECT_TRUE(o.require_tls_for_auth);
  EXPECT_TRUE(o.require_auth);
  EXPECT_EQ(o.auth_mechanisms, (std::vector<sasl::mechanism>{sasl::mechanism::login, sasl::mechanism::xoauth2}));
  EXPECT_TRUE(o.pipelining);
  EXPECT_TRUE(o.dsn);
  EXPECT_EQ(o.max_message_octets, 157286400u);
  EXPECT_EQ(o.max_recipients, 500u);
  EXPECT_EQ(o.texts.ehlo_greeting, "Hello");  // "250-<host> Hello [addr]"
  EXPECT_EQ(o.texts.not_authenticated.code, 530);
  EXPECT_EQ(o.texts.not_authenticated.enhanced, "5.7.57");
  EXPECT_EQ(o.texts.not_authenticated.lines.at(0), "Client not authenticated to send mail");
  EXPECT_EQ(o.texts.starttls_ready.lines.at(0), "SMTP server ready");
  EXPECT_EQ(o.texts.closing.lines.at(0), "Service closing transmission channel");
  EXPECT_EQ(o.texts.auth_ok.lines.at(0), "Authentication successful");
  const auto tls = w.policy.session_options(true, true, "127.0.0.1");
  EXPECT_TRUE(tls.implicit_tls);
  EXPECT_FALSE(tls.starttls_available);
  EXPECT_FALSE(w.policy.session_options(false, false, "127.0.0.1").starttls_available);
}

TEST(PolicyMicrosoft, GreetingCarriesTheDateOfTheConnection) {
  world w(profile_kind::microsoft);
  conn c(w);
  const auto a = c.connect();
  EXPECT_TRUE(a.decision.accept);
  EXPECT_FALSE(a.drop);
  EXPECT_EQ(a.delay, 0ms);
  EXPECT_EQ(text_of(a),
            "220 SN2PR00CA0018.sandbox.outlook.test Microsoft ESMTP MAIL Service ready at Mon, 27 Mar 2023 "
            "18:17:53 +0000");
  conn later(w);
  EXPECT_THAT(text_of(later.connect(t0 + 24h + 2s)), HasSubstr("ready at Tue, 28 Mar 2023 18:17:55 +0000"));
  const auto ehlo = c.ehlo();
  EXPECT_TRUE(ehlo.decision.accept);
  EXPECT_FALSE(ehlo.decision.reply.has_value());  // the session's EHLO list
}

TEST(PolicyMicrosoft, DelegatedTokenOfTheMailboxIsAccepted) {
  world w(profile_kind::microsoft);
  conn c(w);
  const auto a = c.login(w.at("sender"));
  EXPECT_TRUE(a.decision.accept) << text_of(a);
  EXPECT_FALSE(a.decision.reply.has_value());
  const auto counters = w.policy.counters();
  EXPECT_EQ(counters.at("auth_successes"), 1u);
  EXPECT_EQ(counters.at("mailboxes").at("sender@contoso.test").at("connections"), 1u);
  // The user name's case does not matter.
  conn upper(w);
  EXPECT_TRUE(upper.auth("Sender@Contoso.TEST", w.delegated(w.at("sender"))).decision.accept);
}

TEST(PolicyMicrosoft, AppOnlyTokenForAPermittedMailboxIsAccepted) {
  world w(profile_kind::microsoft);
  conn c(w);
  const auto a = c.auth(w.at("sender"), w.app_only("app-secret"));
  EXPECT_TRUE(a.decision.accept) << text_of(a);
}

// Every way a token is wrong gives the same straight 535 5.7.3 (no JSON challenge), with host,
// time and a hex id as Exchange writes it (providers.md §1.6).
TEST(PolicyMicrosoft, BadTokensGet535_5_7_3) {
  world w(profile_kind::microsoft);
  const std::string sender = w.at("sender");
  token_grant graph;
  graph.client_id = w.app("public").client_id;
  graph.user = sender;
  graph.audiences = {"https://graph.microsoft.com"};
  graph.scopes = {"Mail.Send"};
  token_grant no_scope = graph;
  no_scope.audiences = {"https://outlook.office.com"};
  no_scope.scopes = {"IMAP.AccessAsUser.All"};
  token_grant unknown_client = no_scope;
  unknown_client.client_id = "99999999-9999-9999-9999-999999999999";
  unknown_client.scopes = {"SMTP.Send"};
  token_grant app_with_scope_only;
  app_with_scope_only.client_id = w.app("app-secret").client_id;
  app_with_scope_only.audiences = {"https://outlook.office365.com"};
  app_with_scope_only.roles = {"IMAP.AccessAsApp"};

  temp_dir elsewhere;
  auto foreign = token_authority::open(elsewhere.file("k.pem"), "http://127.0.0.1:1/tenant/v2.0",
                                       profile_kind::microsoft, "tenant");
  ASSERT_TRUE(foreign);
  token_grant fine;
  fine.client_id = w.app("public").client_id;
  fine.user = sender;
  fine.audiences = {"https://outlook.office.com"};
  fine.scopes = {"SMTP.Send"};
  const std::string revoked = w.delegated(sender);
  w.tokens.revoke(revoked, t0);

  struct bad_case {
    const char* reason;
    std::string user;
    std::string token;
    wall_clock::time_point when = t0;
  };
  const std::vector<bad_case> cases = {
      {"malformed_token", sender, "not-a-jwt"},
      {"bad_signature", sender, foreign->mint(fine, t0).expose()},
      {"expired", sender, w.delegated(sender, 60s), t0 + 61s},
      {"revoked", sender, revoked},
      {"wrong_audience", sender, w.custom(graph)},
      {"missing_scope_or_role", sender, w.custom(no_scope)},
      {"missing_scope_or_role", sender, w.custom(app_with_scope_only)},
      {"unknown_client", sender, w.custom(unknown_client)},
      {"wrong_user", w.at("other"), w.delegated(sender)},
      {"no_mailbox_permission", sender, w.app_only("app-noperm")},
      {"no_mailbox_permission", w.at("other"), w.app_only("app-secret")},
      {"no_service_principal", sender, w.app_only("app-nosp")},
      {"unknown_mailbox", w.at("nobody"), w.delegated(w.at("nobody"))},
  };
  std::map<std::string, std::size_t> expected;
  for (const auto& bc : cases) {
    conn c(w);
    const auto a = c.auth(bc.user, bc.token, sasl::mechanism::xoauth2, bc.when);
    EXPECT_FALSE(a.decision.accept) << bc.reason;
    EXPECT_FALSE(a.decision.close_after) << bc.reason;
    EXPECT_FALSE(a.decision.error_challenge_json.has_value()) << bc.reason;
    const std::string when = bc.when == t0 ? "2023-03-27T18:17:53\\.000Z" : "2023-03-27T18:18:54\\.000Z";
    EXPECT_THAT(text_of(a), MatchesRegex("535 5\\.7\\.3 Authentication unsuccessful \\[SN2PR00CA0018\\.sandbox\\."
                                         "outlook\\.test " +
                                         when + " [0-9A-F]{16}\\]"))
        << bc.reason;
    ++expected[bc.reason];
  }
  const auto failures = w.policy.counters().at("auth_failures").as_object();
  for (const auto& [reason, n] : expected) EXPECT_EQ(failures.at(reason), n) << reason;
  EXPECT_EQ(w.policy.counters().at("auth_successes"), 0u);
}

TEST(PolicyMicrosoft, DisabledMailboxGets535_5_7_139) {
  world w(profile_kind::microsoft);
  for (bool app : {false, true}) {
    conn c(w);
    const auto a = app ? c.auth(w.at("disabled"), w.app_only("app-secret")) : c.login(w.at("disabled"));
    EXPECT_FALSE(a.decision.accept);
    EXPECT_EQ(text_of(a),
              "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.");
  }
  EXPECT_EQ(w.policy.counters().at("auth_failures").at("smtp_auth_disabled"), 2u);
}

TEST(PolicyMicrosoft, TokensAboutToExpireAreRefusedWhenAsked) {
  world hve(profile_kind::microsoft, [](smtp_profile& p) { p.refuse_tokens_expiring_within = 300s; });
  conn soon(hve);
  const auto a = soon.auth(hve.at("sender"), hve.delegated(hve.at("sender"), 200s));
  EXPECT_FALSE(a.decision.accept);
  EXPECT_THAT(text_of(a), StartsWith("535 5.7.3 Authentication unsuccessful ["));
  EXPECT_EQ(hve.policy.counters().at("auth_failures").at("expiring_soon"), 1u);
  conn fresh(hve);
  EXPECT_TRUE(fresh.auth(hve.at("sender"), hve.delegated(hve.at("sender"), 3599s)).decision.accept);
  // Off by default: a token with 200 s left is fine.
  world normal(profile_kind::microsoft);
  conn c(normal);
  EXPECT_TRUE(c.auth(normal.at("sender"), normal.delegated(normal.at("sender"), 200s)).decision.accept);
}

TEST(PolicyMicrosoft, FourthConcurrentConnectionOfAMailboxGets432) {
  world w(profile_kind::microsoft);
  std::vector<std::unique_ptr<conn>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<conn>(w));
    ASSERT_TRUE(open.back()->login(w.at("sender")).decision.accept);
  }
  conn fourth(w);
  const auto a = fourth.login(w.at("sender"));
  EXPECT_FALSE(a.decision.accept);
  EXPECT_FALSE(a.decision.close_after);
  EXPECT_EQ(text_of(a), "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded");
  EXPECT_EQ(w.policy.counters().at("auth_failures").at("concurrency"), 1u);
  // Another mailbox is not affected; unauthenticated connections do not count.
  conn shared(w);
  EXPECT_TRUE(shared.login(w.at("shared")).decision.accept);
  // A connection that ends frees its slot.
  open.pop_back();
  EXPECT_EQ(w.policy.counters().at("mailboxes").at("sender@contoso.test").at("connections"), 2u);
  EXPECT_TRUE(fourth.login(w.at("sender")).decision.accept);
  EXPECT_EQ(w.policy.counters().at("mailboxes").at("sender@contoso.test").at("connections"), 3u);
  EXPECT_EQ(w.policy.counters().at("connections_open"), 4u);  // two of `open`, fourth, shared
}

TEST(PolicyMicrosoft, PasswordsAreRefusedAsBasicAuthentication) {
  world w(profile_kind::microsoft);
  for (auto m : {sasl::mechanism::plain, sasl::mechanism::login}) {
    conn c(w);
    const auto a = c.auth(w.at("sender"), "Passw0rd!", m);
    EXPECT_FALSE(a.decision.accept);
    EXPECT_EQ(text_of(a), "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.");
  }
  EXPECT_EQ(w.policy.counters().at("auth_failures").at("password_refused"), 2u);
}

TEST(PolicyMicrosoft, PasswordsWhenAccepted) {
  world w(profile_kind::microsoft, [](smtp_profile& p) { p.accept_passwords = true; });
  conn ok(w);
  EXPECT_TRUE(ok.auth(w.at("sender"), "anything", sasl::mechanism::plain).decision.accept);
  conn empty(w);
  EXPECT_FALSE(empty.auth(w.at("sender"), "", sasl::mechanism::plain).decision.accept);
  conn disabled(w);
  EXPECT_THAT(text_of(disabled.auth(w.at("disabled"), "x", sasl::mechanism::login)), StartsWith("535 5.7.139 "));
  conn unknown(w);
  EXPECT_THAT(text_of(unknown.auth(w.at("nobody"), "x", sasl::mechanism::login)), StartsWith("535 5.7.3 "));
  // The captured envelope names the mechanism and no client.
  ASSERT_TRUE(ok.send(w.at("sender")).decision.accept);
  ASSERT_EQ(w.captures.size(), 1u);
  EXPECT_EQ(w.captures[0].envelope.mechanism, "PLAIN");
  EXPECT_EQ(w.captures[0].envelope.client_id, "");
}

TEST(PolicyMicrosoft, TransactionRepliesAsExchange) {
  world w(profile_kind::microsoft);
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  EXPECT_EQ(text_of(c.mail(w.at("sender"))), "250 2.1.0 Sender OK");
  EXPECT_EQ(text_of(c.rcpt("a@example.net")), "250 2.1.5 Recipient OK");
  const auto d = c.data();
  EXPECT_TRUE(d.decision.accept);
  EXPECT_EQ(text_of(d), "354 Start mail input; end with <CRLF>.<CRLF>");
  const auto m = c.message("Sender <sender@contoso.test>", w.at("sender"), {"a@example.net"});
  EXPECT_TRUE(m.decision.accept);
  EXPECT_THAT(text_of(m), MatchesRegex("250 2\\.0\\.0 OK <[0-9A-F]{16}00000001@SN2PR00CA0018\\.sandbox\\.outlook\\."
                                       "test> \\[Hostname=SN2PR00CA0018\\.sandbox\\.outlook\\.test\\]"));
  ASSERT_EQ(w.captures.size(), 1u);
  const auto& cap = w.captures[0];
  EXPECT_EQ(cap.envelope.profile, "microsoft");
  EXPECT_EQ(cap.envelope.mailbox, "sender@contoso.test");
  EXPECT_EQ(cap.envelope.mechanism, "XOAUTH2");
  EXPECT_EQ(cap.envelope.client_id, w.app("public").client_id);
  EXPECT_TRUE(cap.envelope.tls);
  EXPECT_EQ(cap.message.rcpt_to, std::vector<std::string>{"a@example.net"});
  EXPECT_THAT(cap.message.content, HasSubstr("Hello."));
  const auto counters = w.policy.counters();
  EXPECT_EQ(counters.at("mailboxes").at("sender@contoso.test").at("accepted"), 1u);
  EXPECT_EQ(counters.at("mailboxes").at("sender@contoso.test").at("messages_last_minute"), 1u);
  EXPECT_EQ(counters.at("mailboxes").at("sender@contoso.test").at("recipients_last_24h"), 1u);
}

TEST(PolicyMicrosoft, AppOnlyCaptureNamesTheClient) {
  world w(profile_kind::microsoft);
  conn c(w);
  ASSERT_TRUE(c.auth(w.at("sender"), w.app_only("app-secret")).decision.accept);
  ASSERT_TRUE(c.send(w.at("sender")).decision.accept);
  ASSERT_EQ(w.captures.size(), 1u);
  EXPECT_EQ(w.captures[0].envelope.client_id, w.app("app-secret").client_id);
  EXPECT_EQ(w.captures[0].envelope.mailbox, "sender@contoso.test");
}

TEST(PolicyMicrosoft, ThirtyMessagesPerMinuteThen451) {
  world w(profile_kind::microsoft);
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  for (int i = 0; i < 30; ++i) {
    const auto a = c.send(w.at("sender"), 1, t0 + std::chrono::seconds(i));
    ASSERT_TRUE(a.decision.accept) << i << ": " << text_of(a);
  }
  const auto busy = c.mail(w.at("sender"), t0 + 40s);
  EXPECT_FALSE(busy.decision.accept);
  EXPECT_FALSE(busy.decision.close_after);
  EXPECT_EQ(text_of(busy), "451 4.7.500 Server busy. Please try again later.");
  // Another connection of the same mailbox is throttled too.
  conn other(w);
  ASSERT_TRUE(other.login(w.at("sender")).decision.accept);
  EXPECT_FALSE(other.mail(w.at("sender"), t0 + 41s).decision.accept);
  // A rolling minute: the first message leaves the window at t0 + 60 s.
  EXPECT_TRUE(c.send(w.at("sender"), 1, t0 + 60s).decision.accept);
  EXPECT_FALSE(c.mail(w.at("sender"), t0 + 60s).decision.accept);
  EXPECT_EQ(w.policy.counters().at("refusals").at("messages_per_minute"), 3u);
  // reset_quotas forgets the window.
  w.policy.reset_quotas();
  EXPECT_TRUE(c.send(w.at("sender"), 1, t0 + 61s).decision.accept);
  // Limits change at run time.
  w.policy.mutable_profile().messages_per_minute = 0;
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(c.send(w.at("sender"), 1, t0 + 62s).decision.accept);
}

TEST(PolicyMicrosoft, RecipientsPerMessage) {
  world w(profile_kind::microsoft, [](smtp_profile& p) { p.recipients_per_message = 2; });
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  ASSERT_TRUE(c.mail(w.at("sender")).decision.accept);
  EXPECT_TRUE(c.rcpt("a@example.net").decision.accept);
  EXPECT_TRUE(c.rcpt("b@example.net").decision.accept);
  const auto third = c.rcpt("c@example.net");
  EXPECT_FALSE(third.decision.accept);
  EXPECT_EQ(text_of(third), "452 4.5.3 Too many recipients");
  // A new transaction starts counting again.
  ASSERT_TRUE(c.mail(w.at("sender")).decision.accept);
  EXPECT_TRUE(c.rcpt("a@example.net").decision.accept);
  EXPECT_EQ(w.policy.session_options(false, true, "127.0.0.1").max_recipients, 2u);
}

TEST(PolicyMicrosoft, DailyRecipientQuotaAfterTheFinalDot) {
  world w(profile_kind::microsoft, [](smtp_profile& p) { p.recipients_per_day = 5; });
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  ASSERT_TRUE(c.send(w.at("sender"), 3, t0).decision.accept);
  // MAIL and RCPT still get 250: Exchange refuses after DATA.
  const auto over = c.send(w.at("sender"), 3, t0 + 1h);
  EXPECT_FALSE(over.decision.accept);
  EXPECT_THAT(text_of(over),
              StartsWith("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
                         "process message due to a permanent exception"));
  EXPECT_THAT(text_of(over), HasSubstr("[Hostname=SN2PR00CA0018.sandbox.outlook.test]"));
  EXPECT_EQ(w.captures.size(), 1u);
  EXPECT_TRUE(c.send(w.at("sender"), 2, t0 + 2h).decision.accept);  // exactly at the limit
  EXPECT_FALSE(c.send(w.at("sender"), 1, t0 + 3h).decision.accept);
  // Rolling 24 hours: the first message's recipients come back at t0 + 24 h.
  EXPECT_TRUE(c.send(w.at("sender"), 3, t0 + 24h).decision.accept);
  EXPECT_EQ(w.policy.counters().at("refusals").at("recipients_per_day"), 2u);
}

TEST(PolicyMicrosoft, SendAsDeniedAfterTheFinalDot) {
  world w(profile_kind::microsoft);
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  const std::string prefix =
      "554 5.2.252 SendAsDenied; sender@contoso.test not allowed to send as other@contoso.test; "
      "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message "
      "due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.";

  // The envelope sender is someone else: MAIL and RCPT pass, the final reply refuses.
  ASSERT_TRUE(c.mail(w.at("other")).decision.accept);
  ASSERT_TRUE(c.rcpt("a@example.net").decision.accept);
  ASSERT_TRUE(c.data().decision.accept);
  auto a = c.message("<sender@contoso.test>", w.at("other"), {"a@example.net"});
  EXPECT_FALSE(a.decision.accept);
  EXPECT_THAT(text_of(a), StartsWith(prefix));
  EXPECT_THAT(text_of(a), ::testing::EndsWith("[Hostname=SN2PR00CA0018.sandbox.outlook.test]"));

  // The From field is someone else (display name and encoded word do not matter).
  a = c.message("=?UTF-8?B?T3RoZXI=?= <Other@Contoso.test>", w.at("sender"), {"a@example.net"});
  EXPECT_FALSE(a.decision.accept);
  EXPECT_THAT(text_of(a), HasSubstr("not allowed to send as Other@Contoso.test;"));
  // Several From addresses: every one must be permitted.
  a = c.message("sender@contoso.test, other@contoso.test", w.at("sender"), {"a@example.net"});
  EXPECT_THAT(text_of(a), HasSubstr("not allowed to send as other@contoso.test;"));
  // An unreadable From is not a permitted sender.
  EXPECT_FALSE(c.message("undisclosed", w.at("sender"), {"a@example.net"}).decision.accept);
  EXPECT_TRUE(w.captures.empty());

  // Send As granted (sender@ may send as shared@), the mailbox itself, and the null sender.
  EXPECT_TRUE(c.message("Shared <shared@contoso.test>", w.at("shared"), {"a@example.net"}).decision.accept);
  EXPECT_TRUE(c.message("=?UTF-8?B?U8OpbmRlcg==?= <SENDER@contoso.test>", "", {"a@example.net"}).decision.accept);
  EXPECT_EQ(w.captures.size(), 2u);
  EXPECT_EQ(w.policy.counters().at("refusals").at("send_as"), 4u);
  EXPECT_EQ(w.policy.counters().at("mailboxes").at("sender@contoso.test").at("refused"), 4u);

  // Off: anything goes.
  w.policy.mutable_profile().enforce_send_as = false;
  EXPECT_TRUE(c.message("<other@contoso.test>", w.at("other"), {"a@example.net"}).decision.accept);
}

TEST(PolicyMicrosoft, CaptureFailureIsTransient) {
  world w(profile_kind::microsoft);
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  w.sink_fails = true;
  const auto a = c.send(w.at("sender"));
  EXPECT_FALSE(a.decision.accept);
  EXPECT_EQ(a.decision.reply->code, 451);
  EXPECT_EQ(a.decision.reply->enhanced, "4.3.0");
  EXPECT_EQ(w.policy.counters().at("mailboxes").at("sender@contoso.test").at("accepted"), 0u);
  EXPECT_EQ(w.policy.counters().at("mailboxes").at("sender@contoso.test").at("messages_last_minute"), 0u);
}

// ------------------------------------------------------------------------------------------------
// Faults

TEST(PolicyFaults, DropAtConnect) {
  world w(profile_kind::microsoft);
  w.faults.replace(*parse_fault_plan(boost::json::parse(R"({"smtp": [{"step": "connect", "action": "drop"}]})")));
  conn c(w);
  const auto a = c.connect();
  EXPECT_TRUE(a.drop);
  EXPECT_EQ(w.policy.counters().at("faults_fired"), 1u);
}

TEST(PolicyFaults, ReplyAtGreetingClosesTheConnection) {
  world w(profile_kind::microsoft);
  w.faults.replace(*parse_fault_plan(boost::json::parse(
      R"({"smtp": [{"step": "greeting", "reply": "554 5.7.1 Service unavailable; client host blocked", "times": 1}]})")));
  conn c(w);
  const auto a = c.connect();
  EXPECT_FALSE(a.drop);
  EXPECT_FALSE(a.decision.accept);
  EXPECT_TRUE(a.decision.close_after);
  EXPECT_EQ(text_of(a), "554 5.7.1 Service unavailable; client host blocked");
  conn next(w);  // times: 1
  EXPECT_TRUE(next.connect().decision.accept);
}

TEST(PolicyFaults, DelayKeepsTheNormalAnswer) {
  world w(profile_kind::microsoft);
  w.faults.replace(*parse_fault_plan(boost::json::parse(
      R"({"smtp": [{"step": "greeting", "action": "delay", "delay_ms": 1500},
                   {"step": "ehlo", "action": "delay", "delay_ms": 20}]})")));
  conn c(w);
  const auto g = c.connect();
  EXPECT_EQ(g.delay, 1500ms);
  EXPECT_TRUE(g.decision.accept);
  EXPECT_THAT(text_of(g), HasSubstr("Microsoft ESMTP MAIL Service ready"));
  const auto e = c.ehlo();
  EXPECT_EQ(e.delay, 20ms);
  EXPECT_TRUE(e.decision.accept);
}

TEST(PolicyFaults, ReplyAtAuthComesBeforeTheTokenIsLookedAt) {
  world w(profile_kind::microsoft);
  w.faults.replace(*parse_fault_plan(boost::json::parse(
      R"({"smtp": [{"step": "auth", "reply": "454 4.7.0 Cannot authenticate due to a temporary system problem.", "times": 1}]})")));
  conn c(w);
  const auto a = c.login(w.at("sender"));
  EXPECT_FALSE(a.decision.accept);
  EXPECT_FALSE(a.decision.close_after);
  EXPECT_EQ(text_of(a), "454 4.7.0 Cannot authenticate due to a temporary system problem.");
  EXPECT_TRUE(c.login(w.at("sender")).decision.accept);  // the retry works
  EXPECT_EQ(w.policy.counters().at("auth_successes"), 1u);
}

TEST(PolicyFaults, EveryTransactionStep) {
  world w(profile_kind::microsoft);
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  w.faults.replace(*parse_fault_plan(boost::json::parse(R"({"smtp": [
      {"step": "mail", "reply": "421 4.3.2 Service not available", "times": 1},
      {"step": "rcpt", "action": "drop", "times": 1},
      {"step": "data", "reply": "451 4.3.0 Try later", "times": 1},
      {"step": "data_end", "reply": "451 4.7.500 Server busy. Please try again later.", "times": 1}]})")));
  const auto m = c.mail(w.at("sender"));
  EXPECT_FALSE(m.decision.accept);
  EXPECT_TRUE(m.decision.close_after);  // 421
  EXPECT_EQ(text_of(m), "421 4.3.2 Service not available");
  EXPECT_TRUE(c.mail(w.at("sender")).decision.accept);
  EXPECT_TRUE(c.rcpt("a@example.net").drop);
  EXPECT_TRUE(c.rcpt("a@example.net").decision.accept);
  const auto d = c.data();
  EXPECT_FALSE(d.decision.accept);
  EXPECT_FALSE(d.decision.close_after);
  EXPECT_EQ(text_of(d), "451 4.3.0 Try later");
  const auto end = c.message("<sender@contoso.test>", w.at("sender"), {"a@example.net"});
  EXPECT_FALSE(end.decision.accept);
  EXPECT_EQ(text_of(end), "451 4.7.500 Server busy. Please try again later.");
  EXPECT_TRUE(w.captures.empty());  // a refused message is not captured
  EXPECT_TRUE(c.message("<sender@contoso.test>", w.at("sender"), {"a@example.net"}).decision.accept);
  EXPECT_EQ(w.captures.size(), 1u);
  EXPECT_EQ(w.policy.counters().at("faults_fired"), 4u);
}

TEST(PolicyFaults, StepsOutsideRequests) {
  world w(profile_kind::microsoft);
  w.faults.replace(*parse_fault_plan(boost::json::parse(R"({"smtp": [
      {"step": "starttls", "reply": "454 4.7.0 TLS not available due to temporary reason"},
      {"step": "quit", "action": "drop", "times": 1},
      {"step": "rset", "action": "delay", "delay_ms": 5}]})")));
  conn c(w);
  auto s = c.c->fault_at(smtp_step::starttls);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->reply->code, 454);
  auto q = c.c->fault_at(smtp_step::quit);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->what, smtp_fault::action::drop);
  EXPECT_FALSE(c.c->fault_at(smtp_step::quit).has_value());
  auto r = c.c->fault_at(smtp_step::rset);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->delay, 5ms);
  EXPECT_FALSE(c.c->fault_at(smtp_step::mail).has_value());
  EXPECT_EQ(w.policy.counters().at("faults_fired"), 3u);
}

TEST(PolicyFaults, RateIsDrawnPerOccasion) {
  world w(profile_kind::microsoft);
  w.faults.replace(*parse_fault_plan(
      boost::json::parse(R"({"smtp": [{"step": "ehlo", "reply": "421 4.3.2 Service not available", "rate": 0.5}]})")));
  conn c(w);
  int refused = 0;
  for (int i = 0; i < 400; ++i) refused += c.ehlo().decision.accept ? 0 : 1;
  EXPECT_GT(refused, 140);
  EXPECT_LT(refused, 260);
}

// ------------------------------------------------------------------------------------------------
// Google

TEST(PolicyGoogle, ProfileAndSessionOptions) {
  world w(profile_kind::google);
  const auto& p = w.policy.profile();
  EXPECT_EQ(p.recipients_per_message, 100u);
  EXPECT_TRUE(p.oauth_error_challenge);
  EXPECT_FALSE(p.accept_passwords);
  const auto o = w.policy.session_options(true, true, "127.0.0.1");
  EXPECT_EQ(o.hostname, "smtp.gmail.com");
  EXPECT_TRUE(o.implicit_tls);
  EXPECT_EQ(o.texts.ehlo_greeting, "at your service,");  // "250-smtp.gmail.com at your service, [addr]"
  EXPECT_EQ(o.auth_mechanisms, (std::vector<sasl::mechanism>{sasl::mechanism::login, sasl::mechanism::plain,
                                                             sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer}));
  EXPECT_FALSE(o.pipelining);
  EXPECT_EQ(o.max_message_octets, 35882577u);
  EXPECT_EQ(o.max_recipients, 100u);
  EXPECT_EQ(o.texts.auth_ok.lines.at(0), "Accepted");
  EXPECT_EQ(o.texts.auth_needs_tls.code, 530);
  EXPECT_EQ(o.texts.auth_needs_tls.enhanced, "5.7.0");
  EXPECT_THAT(o.texts.auth_needs_tls.lines.at(0), MatchesRegex("Must issue a STARTTLS command first\\. [^ ]+ - gsmtp"));
  EXPECT_THAT(o.texts.too_many_recipients.lines.at(0),
              MatchesRegex("Your message has too many recipients\\. [^ ]+ - gsmtp"));
  EXPECT_THAT(o.texts.closing.lines.back(), ::testing::EndsWith(" - gsmtp"));
  EXPECT_THAT(o.texts.not_authenticated.lines.back(), ::testing::EndsWith(" - gsmtp"));
}

TEST(PolicyGoogle, Greeting) {
  world w(profile_kind::google);
  conn c(w);
  const auto a = c.connect();
  EXPECT_TRUE(a.decision.accept);
  EXPECT_THAT(text_of(a), MatchesRegex("220 smtp\\.gmail\\.com ESMTP [0-9a-z.-]+ - gsmtp"));
}

TEST(PolicyGoogle, GoodTokensForXoauth2AndOauthbearer) {
  world w(profile_kind::google);
  conn x(w);
  EXPECT_TRUE(x.login(w.at("sender")).decision.accept);
  conn o(w);
  // OAUTHBEARER may leave the authzid out: the token says who.
  EXPECT_TRUE(o.auth("", w.delegated(w.at("sender")), sasl::mechanism::oauthbearer).decision.accept);
  ASSERT_TRUE(o.send(w.at("sender")).decision.accept);
  EXPECT_EQ(w.captures.at(0).envelope.mechanism, "OAUTHBEARER");
  EXPECT_EQ(w.captures.at(0).envelope.mailbox, "sender@example.test");
}

// A refused token: the base64 JSON error challenge first, then 535-5.7.8 (providers.md §2.2).
TEST(PolicyGoogle, BadTokenGetsTheJsonChallengeThen535_5_7_8) {
  world w(profile_kind::google);
  token_grant other_aud;
  other_aud.client_id = w.app("public").client_id;
  other_aud.user = w.at("sender");
  other_aud.audiences = {"https://outlook.office.com"};
  other_aud.scopes = {"https://mail.google.com/"};
  token_grant gmail_send = other_aud;
  gmail_send.audiences = {other_aud.client_id};
  gmail_send.scopes = {"https://www.googleapis.com/auth/gmail.send"};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {w.at("sender"), "ya29.not-a-jwt"},
      {w.at("sender"), w.delegated(w.at("sender"), 10s, t0 - 20s)},
      {w.at("sender"), w.custom(other_aud)},
      {w.at("sender"), w.custom(gmail_send)},  // the Gmail API scope is not enough for SMTP (§2.3)
      {w.at("other"), w.delegated(w.at("sender"))},
      {w.at("disabled"), w.delegated(w.at("disabled"))},
  };
  for (const auto& [user, token] : cases) {
    for (auto m : {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer}) {
      conn c(w);
      const auto a = c.auth(user, token, m);
      EXPECT_FALSE(a.decision.accept);
      ASSERT_TRUE(a.decision.error_challenge_json.has_value());
      EXPECT_EQ(*a.decision.error_challenge_json,
                R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})");
      const auto& r = *a.decision.reply;
      EXPECT_EQ(r.code, 535);
      EXPECT_EQ(r.enhanced, "5.7.8");
      ASSERT_EQ(r.lines.size(), 2u);
      EXPECT_EQ(r.lines[0], "Username and Password not accepted. For more information, go to");
      // Encoded as "535 5.7.8  https://..." (two spaces: the line starts with one).
      EXPECT_THAT(r.lines[1], MatchesRegex(" https://support\\.google\\.com/mail/\\?p=BadCredentials [^ ]+ - gsmtp"));
    }
  }
}

TEST(PolicyGoogle, PasswordsNeedAnAppPassword) {
  world w(profile_kind::google);
  conn c(w);
  const auto a = c.auth(w.at("sender"), "hunter2", sasl::mechanism::plain);
  EXPECT_FALSE(a.decision.accept);
  EXPECT_FALSE(a.decision.error_challenge_json.has_value());
  const auto& r = *a.decision.reply;
  EXPECT_EQ(r.code, 534);
  EXPECT_EQ(r.enhanced, "5.7.9");
  EXPECT_THAT(r.lines.at(0), StartsWith("Application-specific password required."));
  EXPECT_THAT(r.lines.back(), ::testing::EndsWith(" - gsmtp"));
}

TEST(PolicyGoogle, TransactionReplies) {
  world w(profile_kind::google);
  conn c(w);
  const auto greeting = text_of(c.connect());
  const std::string id = greeting.substr(
      std::string("220 smtp.gmail.com ESMTP ").size(),
      greeting.size() - std::string("220 smtp.gmail.com ESMTP ").size() - std::string(" - gsmtp").size());
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  EXPECT_EQ(text_of(c.mail(w.at("sender"))), "250 2.1.0 OK " + id + " - gsmtp");
  EXPECT_EQ(text_of(c.rcpt("a@example.net")), "250 2.1.5 OK " + id + " - gsmtp");
  EXPECT_EQ(text_of(c.data()), "354 Go ahead " + id + " - gsmtp");
  // Gmail does not refuse a foreign From (it rewrites it).
  const auto m = c.message("<other@example.test>", w.at("sender"), {"a@example.net"}, t0);
  EXPECT_TRUE(m.decision.accept);
  EXPECT_EQ(text_of(m), "250 2.0.0 OK  1679941073 " + id + " - gsmtp");
  EXPECT_EQ(w.captures.at(0).envelope.profile, "google");
}

TEST(PolicyGoogle, OneHundredRecipientsPerMessage) {
  world w(profile_kind::google);
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  ASSERT_TRUE(c.mail(w.at("sender")).decision.accept);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.rcpt("r" + std::to_string(i) + "@example.net").decision.accept);
  const auto a = c.rcpt("r100@example.net");
  EXPECT_FALSE(a.decision.accept);
  EXPECT_THAT(text_of(a), MatchesRegex("452 4\\.5\\.3 Your message has too many recipients\\. [^ ]+ - gsmtp"));
}

TEST(PolicyGoogle, DailyLimit) {
  world w(profile_kind::google, [](smtp_profile& p) { p.recipients_per_day = 3; });
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  ASSERT_TRUE(c.send(w.at("sender"), 2).decision.accept);
  const auto over = c.send(w.at("sender"), 2, t0 + 1s);  // would exceed: refused after the dot
  EXPECT_FALSE(over.decision.accept);
  EXPECT_THAT(text_of(over), StartsWith("550 5.4.5 Daily user sending limit exceeded."));
  EXPECT_THAT(text_of(over), ::testing::EndsWith(" - gsmtp"));
  ASSERT_TRUE(c.send(w.at("sender"), 1, t0 + 2s).decision.accept);
  const auto used_up = c.mail(w.at("sender"), t0 + 3s);  // used up: refused at MAIL
  EXPECT_FALSE(used_up.decision.accept);
  EXPECT_THAT(text_of(used_up), StartsWith("550 5.4.5 Daily user sending limit exceeded."));
}

TEST(PolicyGoogle, RateLimitClosesTheConnection) {
  world w(profile_kind::google, [](smtp_profile& p) { p.messages_per_minute = 2; });
  conn c(w);
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  ASSERT_TRUE(c.send(w.at("sender")).decision.accept);
  ASSERT_TRUE(c.send(w.at("sender")).decision.accept);
  const auto a = c.mail(w.at("sender"));
  EXPECT_FALSE(a.decision.accept);
  EXPECT_TRUE(a.decision.close_after);
  EXPECT_THAT(text_of(a), MatchesRegex("421 4\\.7\\.0 Try again later, closing connection\\. [^ ]+ - gsmtp"));
}

// ------------------------------------------------------------------------------------------------
// Generic

TEST(PolicyGeneric, PlainRfcTexts) {
  world w(profile_kind::generic);
  conn c(w);
  EXPECT_EQ(text_of(c.connect()), "220 localhost ESMTP ready");
  const auto bad = c.auth(w.at("sender"), "garbage");
  EXPECT_EQ(text_of(bad), "535 5.7.8 Authentication credentials invalid");
  EXPECT_FALSE(bad.decision.error_challenge_json.has_value());
  EXPECT_THAT(text_of(c.auth(w.at("sender"), "pw", sasl::mechanism::plain)), StartsWith("535 5.7.8 "));
  ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
  // The session's own positive replies.
  EXPECT_FALSE(c.mail(w.at("sender")).decision.reply.has_value());
  EXPECT_FALSE(c.rcpt("a@example.net").decision.reply.has_value());
  EXPECT_FALSE(c.data().decision.reply.has_value());
  const auto m = c.message("<sender@contoso.test>", w.at("sender"), {"a@example.net"});
  EXPECT_EQ(text_of(m), "250 2.0.0 Ok: queued as 1");
  const auto denied = c.message("<other@contoso.test>", w.at("sender"), {"a@example.net"});
  EXPECT_EQ(text_of(denied),
            "550 5.7.1 Sender address other@contoso.test is not owned by the authenticated user sender@contoso.test");
}

TEST(PolicyGeneric, EveryBehaviourIsASetting) {
  world w(profile_kind::generic, [](smtp_profile& p) {
    p.oauth_error_challenge = true;
    p.concurrent_connections_per_mailbox = 1;
    p.messages_per_minute = 1;
    p.enforce_send_as = false;
    p.accepted_audiences = {"https://smtp.sandbox.test"};
  });
  conn c(w);
  // aud = the client id is no longer enough once audiences are configured.
  const auto a = c.login(w.at("sender"));
  EXPECT_FALSE(a.decision.accept);
  EXPECT_TRUE(a.decision.error_challenge_json.has_value());
  token_grant g;
  g.client_id = w.app("public").client_id;
  g.user = w.at("sender");
  g.audiences = {"https://smtp.sandbox.test"};
  g.scopes = {"smtp"};
  ASSERT_TRUE(c.auth(w.at("sender"), w.custom(g)).decision.accept);
  conn second(w);
  EXPECT_THAT(text_of(second.auth(w.at("sender"), w.custom(g))), StartsWith("454 4.7.0 "));
  EXPECT_TRUE(c.send(w.at("other")).decision.accept);  // Send As off
  EXPECT_THAT(text_of(c.mail(w.at("sender"))), StartsWith("451 4.7.0 "));
}

// A standards-only provider issues client-credentials tokens for the issuer, with the permission
// in `scope` (RFC 9068 without a resource indicator): the generic profile takes them.
TEST(PolicyGeneric, ClientCredentialsTokensForTheIssuer) {
  world w(profile_kind::generic);
  token_grant g;
  g.client_id = w.app("app-secret").client_id;
  g.audiences = {w.tokens.issuer()};
  g.scopes = {"smtp"};
  conn c(w);
  EXPECT_TRUE(c.auth(w.at("sender"), w.custom(g)).decision.accept);
  conn no_permission(w);
  EXPECT_FALSE(no_permission.auth(w.at("other"), w.custom(g)).decision.accept);
  g.scopes = {"openid"};
  conn no_scope(w);
  EXPECT_FALSE(no_scope.auth(w.at("sender"), w.custom(g)).decision.accept);
  // Exchange does not: its tokens are for outlook.office365.com.
  world ms(profile_kind::microsoft);
  token_grant m;
  m.client_id = ms.app("app-secret").client_id;
  m.audiences = {ms.tokens.issuer()};
  m.roles = {"SMTP.SendAsApp"};
  conn mc(ms);
  EXPECT_FALSE(mc.auth(ms.at("sender"), ms.custom(m)).decision.accept);
}

TEST(PolicyCounters, Shape) {
  world w(profile_kind::microsoft);
  {
    conn c(w);
    ASSERT_TRUE(c.login(w.at("sender")).decision.accept);
    ASSERT_TRUE(c.send(w.at("sender"), 2).decision.accept);
    EXPECT_FALSE(c.send(w.at("other")).decision.accept);
    EXPECT_FALSE(c.auth(w.at("sender"), "x").decision.accept);
  }
  const auto j = w.policy.counters();
  EXPECT_EQ(j.at("profile"), "microsoft");
  EXPECT_EQ(j.at("connections_open"), 0u);
  EXPECT_EQ(j.at("auth_successes"), 1u);
  EXPECT_EQ(j.at("auth_failures").at("malformed_token"), 1u);
  EXPECT_EQ(j.at("refusals").at("send_as"), 1u);
  const auto& m = j.at("mailboxes").at("sender@contoso.test");
  EXPECT_EQ(m.at("accepted"), 1u);
  EXPECT_EQ(m.at("refused"), 1u);
  EXPECT_EQ(m.at("connections"), 0u);  // released when the connection ended
  EXPECT_EQ(m.at("recipients_last_24h"), 2u);
  w.policy.reset_quotas();
  EXPECT_EQ(w.policy.counters().at("mailboxes").at("sender@contoso.test").at("recipients_last_24h"), 0u);
  EXPECT_EQ(w.policy.counters().at("mailboxes").at("sender@contoso.test").at("accepted"), 1u);
  // No token ever appears in the counters.
  EXPECT_EQ(boost::json::serialize(j).find("eyJ"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::sandbox
