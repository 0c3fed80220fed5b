// The sandbox checked with clients nobody here wrote: Python's smtplib with a hand-built XOAUTH2 /
// OAUTHBEARER string, curl's SMTP client with --oauth2-bearer (token fetched with curl), and
// Authlib as a generic OAuth2 client (client credentials, device flow, refresh). Each profile's
// replies are asserted against the strings of ../shared/reference/providers.md, and each fault
// kind is asserted. `oauthmail send` against the sandbox is in sandbox_send_test.cpp.
#include "integration/support/sandbox.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {
namespace {

const std::string app_scope = "https://outlook.office365.com/.default";
const std::string graph_scope = "https://graph.microsoft.com/.default";
const std::string google_scope = "https://mail.google.com/";

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string::npos; }

std::string peer(std::string_view name) { return std::string(OAUTHMAIL_PEERS_DIR) + "/" + std::string(name); }

class SandboxClients : public ::testing::Test {
 protected:
  // smtplib against the sandbox's STARTTLS (or implicit TLS) port. Returns the script's JSON.
  boost::json::object smtplib(const sandbox_process& sb, const std::string& user, const std::string& token,
                              const std::string& from, std::vector<std::string> to,
                              const std::string& mechanism = "XOAUTH2", bool implicit = false) {
    const auto token_file = dir_ / ("token-" + std::to_string(++n_));
    write_file(token_file, token);
    std::vector<std::string> argv = {system_python,  peer("smtplib_client.py"),
                                     "--port",       std::to_string(implicit ? sb.smtps_port() : sb.smtp_port()),
                                     "--ca",         sb.ca_file(),
                                     "--user",       user,
                                     "--token-file", token_file.string(),
                                     "--from",       from,
                                     "--mechanism",  mechanism};
    for (const auto& t : to) argv.insert(argv.end(), {"--to", t});
    if (implicit) argv.emplace_back("--implicit-tls");
    auto r = run_program(argv, dir_.path(), std::nullopt, 60s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.out, ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "smtplib_client printed no JSON: " << r.out << r.err;
      return {};
    }
    return v.as_object();
  }

  static std::string text_of(const boost::json::object& o) {
    const auto* t = o.if_contains("text");
    return t && t->is_string() ? std::string(t->as_string()) : std::string();
  }

  temp_dir dir_{"oauthmail-sandbox"};
  int n_ = 0;
  test_deadline deadline_{std::chrono::seconds(120)};
};

// ---- Microsoft profile ---------------------------------------------------------------------------

TEST_F(SandboxClients, MicrosoftAppOnlyTokenSendsThroughSmtplibAndIsCaptured) {
  sandbox_process sb(dir_);
  const std::string sender = "sender@" + sb.domain();
  auto out = smtplib(sb, sender, sb.app_token(app_scope), sender, {"someone@example.test"});
  ASSERT_TRUE(out.at("ok").as_bool()) << boost::json::serialize(out);
  // EHLO after STARTTLS as Exchange answers it: AUTH LOGIN XOAUTH2, no STARTTLS, no OAUTHBEARER.
  std::string ehlo;
  for (const auto& l : out.at("ehlo").as_array()) ehlo += std::string(l.as_string()) + "\n";
  EXPECT_TRUE(contains(ehlo, "AUTH LOGIN XOAUTH2")) << ehlo;
  EXPECT_TRUE(contains(ehlo, "SIZE 157286400")) << ehlo;
  EXPECT_FALSE(contains(ehlo, "STARTTLS")) << ehlo;
  EXPECT_FALSE(contains(ehlo, "OAUTHBEARER")) << ehlo;
  EXPECT_EQ(out.at("auth").as_array().at(0).to_number<int>(), 235);
  EXPECT_TRUE(contains(out.at("auth").as_array().at(1).as_string(), "2.7.0 Authentication successful"));

  auto messages = sb.messages(true);
  ASSERT_EQ(messages.size(), 1u);
  const auto& m = messages.at(0).as_object();
  EXPECT_EQ(m.at("envelope").at("mail_from").as_string(), sender) << boost::json::serialize(m);
  EXPECT_TRUE(contains(boost::json::serialize(m), "smtplib test"));
  EXPECT_TRUE(contains(boost::json::serialize(m), "Hello from smtplib."));

  // The same, listed by the CLI from the SQLite file.
  auto list = run_program({OAUTHMAIL_BINARY, "sandbox", "messages", "--state", sb.state_dir().string()}, dir_.path());
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(contains(list.out, "smtplib test")) << list.out;
  EXPECT_TRUE(contains(list.out, sender)) << list.out;
}

TEST_F(SandboxClients, MicrosoftRefusesWrongTokensWithAStraight535_5_7_3) {
  sandbox_process sb(dir_, sandbox_token_lifetime(2));
  const std::string sender = "sender@" + sb.domain();
  // A Graph token (audience graph.microsoft.com): the most common mistake (providers.md §6.1).
  auto graph = smtplib(sb, sender, sb.app_token(graph_scope), sender, {"x@example.test"});
  EXPECT_FALSE(graph.at("ok").as_bool());
  EXPECT_EQ(graph.at("stage").as_string(), "auth");
  EXPECT_EQ(graph.at("code").to_number<int>(), 535);
  EXPECT_TRUE(contains(text_of(graph), "5.7.3 Authentication unsuccessful [")) << text_of(graph);
  EXPECT_FALSE(graph.contains("challenge")) << "Microsoft sends no JSON challenge";

  // A token that is not the sandbox's.
  auto forged = smtplib(sb, sender, "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.", sender, {"x@example.test"});
  EXPECT_EQ(forged.at("code").to_number<int>(), 535);
  EXPECT_TRUE(contains(text_of(forged), "5.7.3")) << text_of(forged);

  // An app without permission on the mailbox.
  auto noperm = smtplib(sb, sender, sb.app_token(app_scope, "app-noperm"), sender, {"x@example.test"});
  EXPECT_EQ(noperm.at("code").to_number<int>(), 535);
  EXPECT_TRUE(contains(text_of(noperm), "5.7.3")) << text_of(noperm);

  // An expired token (lifetime 2 s).
  const std::string token = sb.app_token(app_scope);
  std::this_thread::sleep_for(3s);
  auto expired = smtplib(sb, sender, token, sender, {"x@example.test"});
  EXPECT_EQ(expired.at("code").to_number<int>(), 535);
  EXPECT_TRUE(contains(text_of(expired), "5.7.3")) << text_of(expired);
  EXPECT_TRUE(sb.messages().empty());
}

TEST_F(SandboxClients, MicrosoftMailboxWithSmtpAuthDisabledGets5_7_139) {
  sandbox_process sb(dir_);
  const std::string mailbox = "disabled@" + sb.domain();
  auto out = smtplib(sb, mailbox, sb.app_token(app_scope), mailbox, {"x@example.test"});
  EXPECT_EQ(out.at("code").to_number<int>(), 535);
  EXPECT_TRUE(contains(text_of(out),
                       "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox"))
      << text_of(out);
}

TEST_F(SandboxClients, MicrosoftSendAsDeniedComesAfterTheFinalDot) {
  sandbox_process sb(dir_);
  const std::string sender = "sender@" + sb.domain();
  const std::string other = "other@" + sb.domain();
  auto out = smtplib(sb, sender, sb.app_token(app_scope), other, {"x@example.test"});
  EXPECT_FALSE(out.at("ok").as_bool());
  EXPECT_EQ(out.at("stage").as_string(), "data") << boost::json::serialize(out);  // MAIL and RCPT got 250
  EXPECT_EQ(out.at("code").to_number<int>(), 554);
  EXPECT_TRUE(contains(text_of(out), "5.2.252 SendAsDenied; " + sender + " not allowed to send as " + other))
      << text_of(out);
  EXPECT_TRUE(sb.messages().empty());

  // A Send As address of the mailbox is fine.
  auto shared = smtplib(sb, sender, sb.app_token(app_scope), "shared@" + sb.domain(), {"x@example.test"});
  EXPECT_TRUE(shared.at("ok").as_bool()) << boost::json::serialize(shared);
}

TEST_F(SandboxClients, MicrosoftThrottlesBeyondTheMessageRate) {
  sandbox_process sb(dir_);
  sb.settings(R"({"messages_per_minute": 2})");
  const std::string sender = "sender@" + sb.domain();
  const std::string token = sb.app_token(app_scope);
  EXPECT_TRUE(smtplib(sb, sender, token, sender, {"a@example.test"}).at("ok").as_bool());
  EXPECT_TRUE(smtplib(sb, sender, token, sender, {"b@example.test"}).at("ok").as_bool());
  auto third = smtplib(sb, sender, token, sender, {"c@example.test"});
  EXPECT_FALSE(third.at("ok").as_bool());
  EXPECT_EQ(third.at("code").to_number<int>() / 100, 4) << boost::json::serialize(third);
  EXPECT_TRUE(contains(text_of(third), "4.7.500 Server busy")) << text_of(third);
  EXPECT_EQ(sb.messages().size(), 2u);
}

TEST_F(SandboxClients, CurlSendsWithATokenFetchedByCurl) {
  sandbox_process sb(dir_);
  const std::string sender = "sender@" + sb.domain();
  // The token, fetched with curl from the token endpoint.
  auto tok = run_program(
      {"curl", "-sS", "--fail-with-body", "-d", "grant_type=client_credentials", "-d",
       "client_id=" + sb.client_id("app-secret"), "--data-urlencode", "client_secret=" + sb.client_secret("app-secret"),
       "--data-urlencode", "scope=" + app_scope, sb.token_endpoint()},
      dir_.path());
  ASSERT_EQ(tok.exit_code, 0) << tok.out << tok.err;
  const auto token = std::string(boost::json::parse(tok.out).at("access_token").as_string());
  EXPECT_EQ(boost::json::parse(tok.out).at("token_type").as_string(), "Bearer");

  const auto mail = dir_ / "curl-message.eml";
  write_file(mail, "From: <" + sender + ">\r\nTo: <r@example.test>\r\nSubject: from curl\r\n\r\nHi from curl.\r\n");
  auto sent = run_program({"curl", "-sS", "-v", "--url", "smtp://127.0.0.1:" + std::to_string(sb.smtp_port()),
                           "--ssl-reqd", "--cacert", sb.ca_file(), "--user", sender + ":", "--oauth2-bearer", token,
                           "--mail-from", sender, "--mail-rcpt", "r@example.test", "--upload-file", mail.string()},
                          dir_.path());
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_TRUE(contains(sent.err, "AUTH XOAUTH2")) << "Exchange offers only XOAUTH2 for tokens";
  auto messages = sb.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(contains(boost::json::serialize(messages.at(0)), "from curl"));
}

// ---- Google profile ------------------------------------------------------------------------------

TEST_F(SandboxClients, GoogleRefusedTokenGetsTheJsonChallengeThen535_5_7_8) {
  sandbox_process sb(dir_, sandbox_profile("google"));
  const std::string user = "sender@" + sb.domain();
  auto out = smtplib(sb, user, "ya29.not-a-sandbox-token", user, {"x@example.test"});
  EXPECT_FALSE(out.at("ok").as_bool());
  EXPECT_EQ(out.at("code").to_number<int>(), 535);
  ASSERT_TRUE(out.contains("challenge")) << boost::json::serialize(out);
  EXPECT_EQ(out.at("challenge").as_string(),
            R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})");
  EXPECT_TRUE(contains(text_of(out), "5.7.8 Username and Password not accepted")) << text_of(out);
  EXPECT_TRUE(contains(text_of(out), "https://support.google.com/mail/?p=BadCredentials")) << text_of(out);
  EXPECT_TRUE(contains(text_of(out), "- gsmtp")) << text_of(out);

  // OAUTHBEARER: the same challenge, answered with 0x01 (RFC 7628 §3.2.3).
  auto ob = smtplib(sb, user, "ya29.not-a-sandbox-token", user, {"x@example.test"}, "OAUTHBEARER");
  EXPECT_EQ(ob.at("code").to_number<int>(), 535);
  EXPECT_TRUE(ob.contains("challenge"));
}

TEST_F(SandboxClients, GoogleServiceAccountTokenOverImplicitTlsAndTheRecipientLimit) {
  sandbox_process sb(dir_, sandbox_profile("google"));
  ASSERT_NE(sb.smtps_port(), 0);
  const std::string user = "sender@" + sb.domain();
  // oauthmail gets the token with the service account's JWT bearer grant (domain-wide delegation).
  auto shown = run_program(
      {OAUTHMAIL_BINARY, "token", "show", "sandbox", "--config", sb.config_file(), "--reveal", "--json"}, dir_.path());
  ASSERT_EQ(shown.exit_code, 0) << shown.out << shown.err;
  const auto info = boost::json::parse(shown.out).as_object();
  EXPECT_EQ(info.at("user").as_string(), user);
  const std::string token(info.at("access_token").as_string());

  // Implicit TLS (465 style), OAUTHBEARER.
  auto ok = smtplib(sb, user, token, user, {"x@example.test"}, "OAUTHBEARER", /*implicit=*/true);
  EXPECT_TRUE(ok.at("ok").as_bool()) << boost::json::serialize(ok);

  // 101 recipients: Gmail's SMTP limit is 100 per message (providers.md §2.7).
  std::vector<std::string> many;
  for (int i = 0; i < 101; ++i) many.push_back("r" + std::to_string(i) + "@example.test");
  auto over = smtplib(sb, user, token, user, many, "XOAUTH2");
  ASSERT_TRUE(over.at("ok").as_bool()) << boost::json::serialize(over);  // delivered to the first 100
  const auto& refused = over.at("refused").as_object();
  ASSERT_EQ(refused.size(), 1u) << boost::json::serialize(over);
  const auto& reply = refused.at("r100@example.test").as_array();
  EXPECT_EQ(reply.at(0).to_number<int>(), 452);
  EXPECT_TRUE(contains(reply.at(1).as_string(), "4.5.3 Your message has too many recipients.")) << reply;
}

// ---- Authlib against the identity provider ---------------------------------------------------------

TEST_F(SandboxClients, AuthlibClientCredentialsDeviceFlowAndRotatingRefresh) {
  sandbox_process sb(dir_);
  const auto& idp = sb.description().at("identity_provider").as_object();
  const std::string token_endpoint(idp.at("token_endpoint").as_string());
  const std::string device_endpoint(idp.at("device_authorization_endpoint").as_string());
  const auto secret_file = dir_ / "app-secret";
  write_file(secret_file, sb.client_secret("app-secret"));

  auto cc = run_program(
      {system_python, peer("authlib_client.py"), "client_credentials", "--token-endpoint", token_endpoint,
       "--client-id", sb.client_id("app-secret"), "--secret-file", secret_file.string(), "--scope", app_scope},
      dir_.path());
  ASSERT_EQ(cc.exit_code, 0) << cc.err;
  auto ccj = boost::json::parse(cc.out).as_object();
  EXPECT_TRUE(ccj.at("ok").as_bool()) << cc.out;
  EXPECT_FALSE(ccj.at("has_refresh_token").as_bool()) << "client credentials never get a refresh token";

  // Device flow: Authlib polls while the test approves through the API, as a person would on the page.
  const auto token_out = dir_ / "device-token.json";
  spawn_options so;
  so.argv = {system_python,
             peer("authlib_client.py"),
             "device",
             "--device-endpoint",
             device_endpoint,
             "--token-endpoint",
             token_endpoint,
             "--client-id",
             sb.client_id("public"),
             "--scope",
             "https://outlook.office.com/SMTP.Send offline_access",
             "--out",
             token_out.string()};
  so.stdout_path = dir_ / "authlib-device.log";
  auto device = child_process::start(so);
  device.wait_for_log_text("user_code", 20s);
  const auto first_line = device.log().substr(0, device.log().find('\n'));
  const std::string user_code(boost::json::parse(first_line).at("user_code").as_string());
  auto approved = sb.http("POST", "/api/device/approve",
                          boost::json::serialize(boost::json::object{
                              {"user_code", user_code}, {"mailbox", "sender@" + sb.domain()}, {"approve", true}}));
  EXPECT_EQ(approved.status, 200) << approved.body;
  ASSERT_EQ(device.wait_exit(30s), 0) << device.log();
  const auto log = device.log();
  const auto result = boost::json::parse(log.substr(log.find('\n') + 1)).as_object();
  EXPECT_TRUE(result.at("ok").as_bool()) << log;
  EXPECT_TRUE(result.at("has_refresh_token").as_bool()) << log;

  // Refresh with rotation: the new refresh token works, the old one is dead.
  const auto tokens = boost::json::parse(read_file(token_out)).as_object();
  const std::string first_refresh(tokens.at("refresh_token").as_string());
  const auto rt_file = dir_ / "rt";
  write_file(rt_file, first_refresh);
  auto refreshed =
      run_program({system_python, peer("authlib_client.py"), "refresh", "--token-endpoint", token_endpoint,
                   "--client-id", sb.client_id("public"), "--refresh-token-file", rt_file.string(), "--scope",
                   "https://outlook.office.com/SMTP.Send offline_access", "--out", (dir_ / "rt2.json").string()},
                  dir_.path());
  EXPECT_TRUE(boost::json::parse(refreshed.out).at("ok").as_bool()) << refreshed.out;
  const std::string second_refresh(boost::json::parse(read_file(dir_ / "rt2.json")).at("refresh_token").as_string());
  EXPECT_NE(second_refresh, first_refresh);
  auto reused = run_program({system_python, peer("authlib_client.py"), "refresh", "--token-endpoint", token_endpoint,
                             "--client-id", sb.client_id("public"), "--refresh-token-file", rt_file.string(), "--scope",
                             "https://outlook.office.com/SMTP.Send offline_access"},
                            dir_.path());
  auto reusedj = boost::json::parse(reused.out).as_object();
  EXPECT_FALSE(reusedj.at("ok").as_bool()) << reused.out;
  EXPECT_EQ(reusedj.at("error").as_string(), "invalid_grant") << reused.out;
  // A delegated token from the device flow sends as its user.
  const std::string access(tokens.at("access_token").as_string());
  auto sent = smtplib(sb, "sender@" + sb.domain(), access, "sender@" + sb.domain(), {"x@example.test"});
  EXPECT_TRUE(sent.at("ok").as_bool()) << boost::json::serialize(sent);
}

// ---- Faults --------------------------------------------------------------------------------------

TEST_F(SandboxClients, SmtpFaultsDropDelayAndReply) {
  sandbox_process sb(dir_);
  const std::string sender = "sender@" + sb.domain();
  const std::string token = sb.app_token(app_scope);

  sb.set_faults(
      R"({"smtp":[{"step":"rcpt","action":"reply","reply":"451 4.7.500 Server busy. Please try again later.","times":1}]})");
  auto busy = smtplib(sb, sender, token, sender, {"x@example.test"});
  EXPECT_EQ(busy.at("stage").as_string(), "rcpt") << boost::json::serialize(busy);
  EXPECT_EQ(busy.at("code").to_number<int>(), 451);
  EXPECT_TRUE(contains(text_of(busy), "4.7.500 Server busy"));
  EXPECT_TRUE(smtplib(sb, sender, token, sender, {"x@example.test"}).at("ok").as_bool()) << "times: 1";

  sb.set_faults(R"({"smtp":[{"step":"mail","action":"drop"}]})");
  auto dropped = smtplib(sb, sender, token, sender, {"x@example.test"});
  EXPECT_FALSE(dropped.at("ok").as_bool());
  EXPECT_EQ(dropped.at("stage").as_string(), "mail") << boost::json::serialize(dropped);

  sb.set_faults(R"({"smtp":[{"step":"data_end","action":"delay","delay_ms":1500}]})");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(smtplib(sb, sender, token, sender, {"x@example.test"}).at("ok").as_bool());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1500ms);

  sb.set_faults(R"({"smtp":[{"step":"connect","action":"reply","reply":"421 4.3.2 Service not available"}]})");
  auto refused = smtplib(sb, sender, token, sender, {"x@example.test"});
  EXPECT_EQ(refused.at("code").to_number<int>(), 421) << boost::json::serialize(refused);

  sb.clear_faults();
  EXPECT_TRUE(smtplib(sb, sender, token, sender, {"x@example.test"}).at("ok").as_bool());
  // A bad fault plan is refused with a message naming the key, and changes nothing.
  auto bad = sb.http("PUT", "/api/faults", R"({"smtp":[{"step":"nowhere","action":"drop"}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(contains(bad.body, "smtp[0]")) << bad.body;
}

TEST_F(SandboxClients, TokenEndpointFaults) {
  sandbox_process sb(dir_);
  const std::vector<std::pair<std::string, std::string>> form = {{"grant_type", "client_credentials"},
                                                                 {"client_id", sb.client_id("app-secret")},
                                                                 {"client_secret", sb.client_secret("app-secret")},
                                                                 {"scope", app_scope}};
  sb.set_faults(R"({"token":[{"kind":"server_error","times":1}]})");
  EXPECT_EQ(sb.token_request(form).status, 500);
  EXPECT_EQ(sb.token_request(form).status, 200) << "times: 1";

  sb.set_faults(R"({"token":[{"kind":"invalid_grant","times":1}]})");
  auto ig = sb.token_request(form);
  EXPECT_EQ(ig.status, 400);
  EXPECT_EQ(ig.json().at("error").as_string(), "invalid_grant");

  sb.set_faults(R"({"token":[{"kind":"slow","delay_ms":1200,"times":1}]})");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sb.token_request(form).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1200ms);

  // 429 with Retry-After: checked with curl to see the header.
  sb.set_faults(R"({"token":[{"kind":"throttled","retry_after":7,"times":1}]})");
  auto throttled = run_program({"curl", "-sS", "-i", "-d", "grant_type=client_credentials", "-d",
                                "client_id=" + sb.client_id("app-secret"), sb.token_endpoint()},
                               dir_.path());
  EXPECT_TRUE(contains(throttled.out, "HTTP/1.1 429")) << throttled.out;
  EXPECT_TRUE(contains(throttled.out, "Retry-After: 7")) << throttled.out;
}

}  // namespace
}  // namespace oauthmail::testing
