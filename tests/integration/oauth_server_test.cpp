// Submission with OAuth2 against a real aiosmtpd server (peers/oauth_smtp_server.py) on loopback,
// with a test PKI made per run: STARTTLS + XOAUTH2, implicit TLS + OAUTHBEARER, refused tokens in
// Gmail's and Exchange Online's styles (and the dummy response each protocol needs), certificate
// and host-name checks, no credentials without TLS, no silent downgrade, refused recipients, and
// the stored message equal to what was sent.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/support/client.hpp"
#include "integration/support/harness.hpp"
#include "integration/support/peers.hpp"

namespace oauthmail::testing {
namespace {

constexpr const char* sender = "alice@example.com";

class OAuthServerTest : public ::testing::Test {
 protected:
  static oauth_smtp_server::options server_options(const std::string& tls) {
    oauth_smtp_server::options o;
    o.tls = tls;
    if (tls != "none") {
      o.cert = pki().server_cert;
      o.key = pki().server_key;
    }
    return o;
  }

  // Client options for `server`: its user and `token` (the server's own token unless given).
  static net::connection_options client_options(const oauth_smtp_server& server, smtp::tls_mode mode,
                                                std::optional<sasl::mechanism> mechanism,
                                                std::optional<std::string> token = std::nullopt) {
    auto o = loopback_options(server.port(), mode);
    o.tls.ca_file = pki().ca_cert.string();
    o.session.credentials = make_credentials(server.config().user, token.value_or(server.config().token));
    o.session.credential_kind = sasl::credential_kind::bearer_token;
    o.session.mechanism = mechanism;
    return o;
  }

  static std::vector<smtp::outgoing_message> one_message(const std::string& to = "bob@example.net") {
    std::vector<smtp::outgoing_message> v;
    v.push_back(make_message(sender, {to}, sample_message(sender, {to}, 1)));
    return v;
  }

  static void expect_no_violation(const oauth_smtp_server& server) {
    EXPECT_FALSE(server.log_has("PROTOCOL VIOLATION")) << server.log();
  }

  test_deadline deadline_{std::chrono::seconds(120), "OAuthServerTest"};
  temp_dir dir_;
};

// ---- accepted tokens ---------------------------------------------------------------------------

TEST_F(OAuthServerTest, StartTlsWithXoauth2IsAccepted) {
  oauth_smtp_server server(dir_, server_options("starttls"));
  auto run = run_connection(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2), one_message());
  ASSERT_FALSE(run.open_error) << describe(*run.open_error) << "\n" << server.log();
  EXPECT_TRUE(run.tls_active);
  EXPECT_TRUE(run.authenticated);
  EXPECT_EQ(run.mechanism, sasl::mechanism::xoauth2);
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_TRUE(run.results[0].delivered()) << describe(run.results[0]);

  EXPECT_TRUE(server.log_has("EVENT starttls"));
  EXPECT_TRUE(server.log_has("EVENT auth-command mechanism=XOAUTH2 initial_response=yes tls=yes")) << server.log();
  EXPECT_TRUE(server.log_has("EVENT auth-ok mechanism=XOAUTH2 user=alice@example.com tls=yes")) << server.log();
  expect_no_violation(server);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].mail_from, sender);
  EXPECT_EQ(stored[0].rcpt_tos, std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(stored[0].auth_user, "alice@example.com");
  EXPECT_TRUE(stored[0].tls);
}

TEST_F(OAuthServerTest, ImplicitTlsWithOauthbearerIsAccepted) {
  oauth_smtp_server server(dir_, server_options("implicit"));
  auto options = client_options(server, smtp::tls_mode::implicit, sasl::mechanism::oauthbearer);
  options.session.credentials->host = "127.0.0.1";
  options.session.credentials->port = server.port();
  auto results = net::send_messages(std::move(options), one_message());
  ASSERT_TRUE(results.has_value()) << describe(results.error()) << "\n" << server.log();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_TRUE(results->front().delivered()) << describe(results->front());

  EXPECT_FALSE(server.log_has("EVENT starttls"));
  EXPECT_TRUE(server.log_has("EVENT auth-ok mechanism=OAUTHBEARER user=alice@example.com tls=yes")) << server.log();
  EXPECT_TRUE(server.log_has("EVENT oauthbearer-fields host=127.0.0.1 port=" + std::to_string(server.port())))
      << server.log();
  expect_no_violation(server);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].auth_user, "alice@example.com");
  EXPECT_TRUE(stored[0].tls);
}

// No mechanism configured, a bearer token: XOAUTH2 is chosen from the server's list.
TEST_F(OAuthServerTest, BearerTokenChoosesXoauth2WhenNotConfigured) {
  oauth_smtp_server server(dir_, server_options("starttls"));
  auto run = run_connection(client_options(server, smtp::tls_mode::starttls, std::nullopt), one_message());
  ASSERT_FALSE(run.open_error) << describe(*run.open_error) << "\n" << server.log();
  EXPECT_EQ(run.mechanism, sasl::mechanism::xoauth2);
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_TRUE(run.results[0].delivered()) << describe(run.results[0]);
  EXPECT_TRUE(server.log_has("EVENT auth-ok mechanism=XOAUTH2")) << server.log();
}

// Only OAUTHBEARER offered, no mechanism configured: OAUTHBEARER is the bearer token's second choice.
TEST_F(OAuthServerTest, BearerTokenFallsBackToOauthbearer) {
  auto o = server_options("starttls");
  o.mechanisms = "OAUTHBEARER,PLAIN";
  oauth_smtp_server server(dir_, o);
  auto run = run_connection(client_options(server, smtp::tls_mode::starttls, std::nullopt), one_message());
  ASSERT_FALSE(run.open_error) << describe(*run.open_error) << "\n" << server.log();
  EXPECT_EQ(run.mechanism, sasl::mechanism::oauthbearer);
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_TRUE(run.results[0].delivered()) << describe(run.results[0]);
  expect_no_violation(server);
}

TEST_F(OAuthServerTest, PasswordWithPlainAndLogin) {
  auto o = server_options("starttls");
  o.mechanisms = "PLAIN,LOGIN";
  o.token = "correct horse battery staple";
  oauth_smtp_server server(dir_, o);
  for (auto mech : {std::optional<sasl::mechanism>{}, std::optional{sasl::mechanism::login}}) {
    auto options = client_options(server, smtp::tls_mode::starttls, mech);
    options.session.credential_kind = sasl::credential_kind::password;
    auto run = run_connection(std::move(options), one_message());
    ASSERT_FALSE(run.open_error) << describe(*run.open_error) << "\n" << server.log();
    EXPECT_EQ(run.mechanism, mech.value_or(sasl::mechanism::plain));
    ASSERT_EQ(run.results.size(), 1u);
    EXPECT_TRUE(run.results[0].delivered()) << describe(run.results[0]);
  }
  EXPECT_TRUE(server.log_has("EVENT auth-ok mechanism=PLAIN")) << server.log();
  EXPECT_TRUE(server.log_has("EVENT auth-ok mechanism=LOGIN")) << server.log();
}

// ---- refused tokens ----------------------------------------------------------------------------

struct bad_token_case {
  const char* name;
  const char* error_style;
  sasl::mechanism mechanism;
  const char* tls;
  friend void PrintTo(const bad_token_case& c, std::ostream* os) { *os << c.name; }
};

class OAuthServerBadTokenTest : public OAuthServerTest, public ::testing::WithParamInterface<bad_token_case> {};

// A refused token is classified token_rejected (renew once, retry once). In Gmail's style the
// server first sends a JSON error challenge; the client must answer it with the dummy response of
// its mechanism (XOAUTH2: an empty line; OAUTHBEARER: "AQ=="), which the server checks.
TEST_P(OAuthServerBadTokenTest, RefusedTokenIsTokenRejected) {
  const auto& param = GetParam();
  auto o = server_options(param.tls);
  o.error_style = param.error_style;
  oauth_smtp_server server(dir_, o);
  const auto mode = std::string(param.tls) == "implicit" ? smtp::tls_mode::implicit : smtp::tls_mode::starttls;
  auto options = client_options(server, mode, param.mechanism, "ya29.expired-or-revoked-token");
  auto results = net::send_messages(std::move(options), one_message());
  ASSERT_FALSE(results.has_value()) << "delivered with a bad token?\n" << server.log();
  EXPECT_EQ(results.error().classification(), core::failure_class::token_rejected) << describe(results.error());
  EXPECT_EQ(results.error().code(), smtp::session_errc::auth_failed) << describe(results.error());
  EXPECT_EQ(results.error().message().find("ya29.expired-or-revoked-token"), std::string::npos)
      << "the token leaked into the error message";

  const std::string mech(sasl::to_string(param.mechanism));
  EXPECT_TRUE(server.log_has("EVENT auth-bad-token mechanism=" + mech)) << server.log();
  if (std::string(param.error_style) == "google") {
    EXPECT_TRUE(server.log_has("EVENT dummy-response-ok mechanism=" + mech)) << server.log();
  }
  expect_no_violation(server);
  EXPECT_FALSE(server.log_has("EVENT mail-command")) << "MAIL after a refused AUTH\n" << server.log();
  EXPECT_TRUE(server.stored().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Providers, OAuthServerBadTokenTest,
    ::testing::Values(bad_token_case{"GoogleXoauth2", "google", sasl::mechanism::xoauth2, "starttls"},
                      bad_token_case{"GoogleOauthbearer", "google", sasl::mechanism::oauthbearer, "starttls"},
                      bad_token_case{"GoogleXoauth2Implicit", "google", sasl::mechanism::xoauth2, "implicit"},
                      bad_token_case{"MicrosoftXoauth2", "microsoft", sasl::mechanism::xoauth2, "starttls"},
                      bad_token_case{"MicrosoftOauthbearer", "microsoft", sasl::mechanism::oauthbearer, "starttls"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- TLS checks --------------------------------------------------------------------------------

TEST_F(OAuthServerTest, UnknownCaFailsBeforeAuth) {
  auto o = server_options("starttls");
  o.cert = pki().unknown_ca_cert;
  o.key = pki().unknown_ca_key;
  oauth_smtp_server server(dir_, o);
  auto results =
      net::send_messages(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2), one_message());
  ASSERT_FALSE(results.has_value()) << "a certificate from an unknown CA was accepted";
  EXPECT_EQ(results.error().code(), smtp::session_errc::tls_failed) << describe(results.error());
  EXPECT_FALSE(server.log_has("EVENT auth-command")) << server.log();
  EXPECT_TRUE(server.stored().empty());
}

TEST_F(OAuthServerTest, UnknownCaFailsWithImplicitTls) {
  auto o = server_options("implicit");
  o.cert = pki().unknown_ca_cert;
  o.key = pki().unknown_ca_key;
  oauth_smtp_server server(dir_, o);
  auto results =
      net::send_messages(client_options(server, smtp::tls_mode::implicit, sasl::mechanism::xoauth2), one_message());
  ASSERT_FALSE(results.has_value()) << "a certificate from an unknown CA was accepted";
  EXPECT_EQ(results.error().code(), smtp::session_errc::tls_failed) << describe(results.error());
  EXPECT_FALSE(server.log_has("EVENT auth-command")) << server.log();
}

TEST_F(OAuthServerTest, WrongHostNameFails) {
  auto o = server_options("starttls");
  o.cert = pki().wrong_name_cert;
  o.key = pki().wrong_name_key;
  oauth_smtp_server server(dir_, o);
  auto results =
      net::send_messages(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2), one_message());
  ASSERT_FALSE(results.has_value()) << "a certificate for wrong.example was accepted for 127.0.0.1";
  EXPECT_EQ(results.error().code(), smtp::session_errc::tls_failed) << describe(results.error());
  EXPECT_FALSE(server.log_has("EVENT auth-command")) << server.log();
  EXPECT_TRUE(server.stored().empty());
}

// Control for the test above: the same certificate passes when the expected name is wrong.example,
// so the failure there is the host-name check, not the chain.
TEST_F(OAuthServerTest, ConfiguredServerNameIsVerified) {
  auto o = server_options("starttls");
  o.cert = pki().wrong_name_cert;
  o.key = pki().wrong_name_key;
  oauth_smtp_server server(dir_, o);
  auto options = client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2);
  options.tls.server_name = "wrong.example";
  auto results = net::send_messages(std::move(options), one_message());
  ASSERT_TRUE(results.has_value()) << describe(results.error()) << "\n" << server.log();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_TRUE(results->front().delivered()) << describe(results->front());
}

// ---- no credentials in the clear, no downgrade --------------------------------------------------

// The server offers AUTH over plain TCP; the client must refuse before sending credentials.
TEST_F(OAuthServerTest, PlaintextAuthIsRefusedByDefault) {
  oauth_smtp_server server(dir_, server_options("none"));
  auto options = client_options(server, smtp::tls_mode::none, sasl::mechanism::xoauth2);
  ASSERT_FALSE(options.session.allow_plaintext_auth);
  auto results = net::send_messages(std::move(options), one_message());
  ASSERT_FALSE(results.has_value()) << "credentials were used without TLS";
  EXPECT_EQ(results.error().code(), smtp::session_errc::tls_required) << describe(results.error());
  EXPECT_FALSE(server.log_has("EVENT auth-command")) << "AUTH sent in the clear\n" << server.log();
  EXPECT_FALSE(server.log_has("EVENT mail-command")) << server.log();
  EXPECT_TRUE(server.stored().empty());
}

// Control for the test above: the server does accept AUTH in the clear when the client allows it.
TEST_F(OAuthServerTest, PlaintextAuthWhenExplicitlyAllowed) {
  oauth_smtp_server server(dir_, server_options("none"));
  auto options = client_options(server, smtp::tls_mode::none, sasl::mechanism::xoauth2);
  options.session.allow_plaintext_auth = true;
  auto results = net::send_messages(std::move(options), one_message());
  ASSERT_TRUE(results.has_value()) << describe(results.error()) << "\n" << server.log();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_TRUE(results->front().delivered()) << describe(results->front());
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_FALSE(stored[0].tls);
  EXPECT_EQ(stored[0].auth_user, "alice@example.com");
}

// STARTTLS required but not offered: an error, never a silent downgrade (with or without
// credentials).
TEST_F(OAuthServerTest, MissingStartTlsIsAnErrorNotADowngrade) {
  oauth_smtp_server server(dir_, server_options("none"));
  {
    auto results =
        net::send_messages(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2), one_message());
    ASSERT_FALSE(results.has_value()) << "sent without TLS although STARTTLS was required";
    EXPECT_EQ(results.error().code(), smtp::session_errc::tls_required) << describe(results.error());
  }
  {
    auto options = client_options(server, smtp::tls_mode::starttls, std::nullopt);
    options.session.credentials.reset();
    auto results = net::send_messages(std::move(options), one_message());
    ASSERT_FALSE(results.has_value()) << "sent without TLS although STARTTLS was required";
    EXPECT_EQ(results.error().code(), smtp::session_errc::tls_required) << describe(results.error());
  }
  EXPECT_FALSE(server.log_has("EVENT auth-command")) << server.log();
  EXPECT_FALSE(server.log_has("EVENT mail-command")) << server.log();
  EXPECT_TRUE(server.stored().empty());
}

// A configured mechanism the server does not offer is an error, never a substitute.
TEST_F(OAuthServerTest, ConfiguredMechanismIsNeverSubstituted) {
  auto o = server_options("starttls");
  o.mechanisms = "OAUTHBEARER,PLAIN,LOGIN";
  oauth_smtp_server server(dir_, o);
  auto results =
      net::send_messages(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2), one_message());
  ASSERT_FALSE(results.has_value()) << "authenticated with a substitute for XOAUTH2";
  // sasl::choose() says mechanism_not_offered; the session may report it in its own category.
  const auto code = results.error().code();
  EXPECT_TRUE(code == sasl::sasl_errc::mechanism_not_offered || code == smtp::session_errc::auth_not_offered)
      << describe(results.error());
  EXPECT_EQ(results.error().classification(), core::failure_class::needs_human) << describe(results.error());
  EXPECT_FALSE(server.log_has("EVENT auth-command")) << server.log();
}

// ---- transactions ------------------------------------------------------------------------------

TEST_F(OAuthServerTest, OneRefusedRecipientAmongThree) {
  auto o = server_options("starttls");
  o.reject_rcpt = {"nobody@example.net"};
  oauth_smtp_server server(dir_, o);
  const std::vector<std::string> to = {"bob@example.net", "nobody@example.net", "carol@example.org"};
  std::vector<smtp::outgoing_message> messages;
  messages.push_back(make_message(sender, to, sample_message(sender, to, 7)));
  auto results = net::send_messages(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2),
                                    std::move(messages));
  ASSERT_TRUE(results.has_value()) << describe(results.error()) << "\n" << server.log();
  ASSERT_EQ(results->size(), 1u);
  const auto& r = results->front();
  EXPECT_TRUE(r.delivered()) << describe(r);
  EXPECT_EQ(r.accepted_count(), 2u) << describe(r);
  ASSERT_EQ(r.recipients.size(), 3u) << describe(r);
  EXPECT_EQ(r.recipients[0].address, "bob@example.net");
  EXPECT_TRUE(r.recipients[0].accepted);
  EXPECT_EQ(r.recipients[1].address, "nobody@example.net");
  EXPECT_FALSE(r.recipients[1].accepted);
  EXPECT_EQ(r.recipients[1].server_reply.code, 550);
  ASSERT_TRUE(r.recipients[1].server_reply.enhanced.has_value()) << r.recipients[1].server_reply.to_string();
  EXPECT_EQ(r.recipients[1].server_reply.enhanced->to_string(), "5.1.1");
  EXPECT_EQ(r.recipients[2].address, "carol@example.org");
  EXPECT_TRUE(r.recipients[2].accepted);

  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].rcpt_tos, (std::vector<std::string>{"bob@example.net", "carol@example.org"}));
}

// The stored message equals what was sent, once line ends are normalised to CR LF: dot-stuffing is
// applied by the client and undone by the server, and nothing else changes.
TEST_F(OAuthServerTest, StoredMessageEqualsSent) {
  oauth_smtp_server server(dir_, server_options("starttls"));
  std::string content =
      "From: Alice <alice@example.com>\n"
      "To: Bob <bob@example.net>\n"
      "Subject: dots, line ends and long lines\n"
      "Message-ID: <dots-1@oauthmail.test>\n"
      "\n"
      ".a line that starts with a dot\n"
      "..two dots\n"
      ".\n"
      "the line above is a lone dot; the next one is a dot and a space\n"
      ". \n"
      "a CR LF line\r\n"
      "a bare CR line\r"
      "the text after a bare CR\n"
      "\n"
      "From the start of a line (no mbox quoting)\n";
  content += std::string(998, 'x') + "\n";
  content += "." + std::string(997, 'y') + "\n";
  content += "last line without a line end";
  std::vector<smtp::outgoing_message> messages;
  messages.push_back(make_message(sender, {"bob@example.net"}, content));
  auto results = net::send_messages(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2),
                                    std::move(messages));
  ASSERT_TRUE(results.has_value()) << describe(results.error()) << "\n" << server.log();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_TRUE(results->front().delivered()) << describe(results->front());
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].eml, normalize_line_ends(content));
}

// Several messages over one authenticated connection, the server storing each.
TEST_F(OAuthServerTest, SeveralMessagesOverOneAuthenticatedConnection) {
  oauth_smtp_server server(dir_, server_options("starttls"));
  std::vector<smtp::outgoing_message> messages;
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < 5; ++i) {
    sent.push_back(sample_message(sender, {"bob@example.net"}, i, 2000));
    messages.push_back(make_message(sender, {"bob@example.net"}, sent.back()));
  }
  auto run =
      run_connection(client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2), std::move(messages));
  ASSERT_FALSE(run.open_error) << describe(*run.open_error);
  ASSERT_EQ(run.results.size(), 5u);
  for (const auto& r : run.results) EXPECT_TRUE(r.delivered()) << describe(r);
  EXPECT_EQ(count_occurrences(server.log(), "EVENT auth-command"), 1u) << server.log();
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(stored[i].eml, sent[i]) << "message " << i;
}

// RFC 2920: MAIL, RCPT and DATA go as one group only when the server offers PIPELINING and the
// client has it enabled. The server sees whether RCPT was already buffered when MAIL was read.
TEST_F(OAuthServerTest, PipeliningOnlyWhenOfferedAndEnabled) {
  struct pipelining_case {
    bool offered;
    bool enabled;
    bool expect_pipelined;
  };
  for (const auto& c :
       {pipelining_case{true, true, true}, pipelining_case{true, false, false}, pipelining_case{false, true, false}}) {
    SCOPED_TRACE(std::string("offered=") + (c.offered ? "yes" : "no") + " enabled=" + (c.enabled ? "yes" : "no"));
    auto o = server_options("starttls");
    o.pipelining = c.offered;
    oauth_smtp_server server(dir_, o);
    auto options = client_options(server, smtp::tls_mode::starttls, sasl::mechanism::xoauth2);
    options.session.pipelining = c.enabled;
    const std::vector<std::string> to = {"bob@example.net", "carol@example.org"};
    std::vector<smtp::outgoing_message> messages;
    for (std::size_t i = 0; i < 2; ++i) messages.push_back(make_message(sender, to, sample_message(sender, to, i)));
    auto run = run_connection(std::move(options), std::move(messages));
    ASSERT_FALSE(run.open_error) << describe(*run.open_error);
    EXPECT_EQ(run.capabilities.pipelining, c.offered);
    ASSERT_EQ(run.results.size(), 2u);
    for (const auto& r : run.results) EXPECT_TRUE(r.delivered()) << describe(r);
    const std::string log = server.log();
    EXPECT_EQ(count_occurrences(log, "pipelined=yes"), c.expect_pipelined ? 2u : 0u) << log;
    EXPECT_EQ(count_occurrences(log, "pipelined=no"), c.expect_pipelined ? 0u : 2u) << log;
    expect_no_violation(server);
    EXPECT_EQ(server.stored().size(), 2u);
  }
}

// MAIL before AUTH on a server that requires AUTH: Exchange Online's 530 5.7.57 comes back as the
// message's failure; nothing is stored.
TEST_F(OAuthServerTest, ServerRequiringAuthRefusesAnonymousMail) {
  auto o = server_options("starttls");
  o.require_auth = true;
  oauth_smtp_server server(dir_, o);
  auto options = client_options(server, smtp::tls_mode::starttls, std::nullopt);
  options.session.credentials.reset();
  auto results = net::send_messages(std::move(options), one_message());
  if (results.has_value()) {
    ASSERT_EQ(results->size(), 1u);
    const auto& r = results->front();
    EXPECT_FALSE(r.delivered()) << describe(r);
    ASSERT_TRUE(r.failure.has_value()) << describe(r);
    ASSERT_TRUE(r.mail_reply.has_value()) << describe(r);
    EXPECT_EQ(r.mail_reply->code, 530);
    ASSERT_TRUE(r.mail_reply->enhanced.has_value());
    EXPECT_EQ(r.mail_reply->enhanced->to_string(), "5.7.57");
  } else {
    ADD_FAILURE() << "expected a per-message result with the 530 reply, got a connection error: "
                  << describe(results.error());
  }
  EXPECT_TRUE(server.log_has("EVENT refused-unauthenticated command=MAIL")) << server.log();
  EXPECT_TRUE(server.stored().empty());
}

}  // namespace
}  // namespace oauthmail::testing
