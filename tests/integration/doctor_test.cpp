// `oauthmail doctor` against real peers: every diagnosis produced by the sandbox (its Microsoft
// 365 and Gmail profiles, their clients and mailboxes, configurations changed the way users get
// them wrong), and where the sandbox cannot produce it by another real peer — certificates of the
// test PKI (expired, wrong host name) on the aiosmtpd server, a closed port, an unresolvable
// .invalid name. Each test checks the step that fails, its explanation and fix, the exit status,
// that the later steps were not checked, and that no secret appears in the output.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <boost/json.hpp>
#include <functional>
#include <regex>

#include "integration/support/harness.hpp"
#include "integration/support/peers.hpp"
#include "integration/support/sandbox.hpp"

namespace oauthmail::testing {
namespace {

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string::npos; }

class Doctor : public ::testing::Test {
 protected:
  run_result doctor(const std::string& config, std::vector<std::string> extra = {}, int timeout_s = 10) {
    std::vector<std::string> argv{OAUTHMAIL_BINARY, "doctor",    "--config",
                                  config,           "--timeout", std::to_string(timeout_s)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_program(argv, dir_.path(), std::nullopt, 90s);
  }

  // Runs with --json; the parsed report (the test fails on output that is not one JSON object).
  boost::json::object report(const std::string& config, std::vector<std::string> extra = {}, int timeout_s = 10) {
    extra.emplace_back("--json");
    last_ = doctor(config, std::move(extra), timeout_s);
    boost::system::error_code ec;
    auto v = boost::json::parse(last_.out, ec);
    EXPECT_FALSE(ec) << last_.out << last_.err;
    if (ec || !v.is_object()) return {};
    return v.as_object();
  }

  static const boost::json::object& step(const boost::json::object& r, std::string_view id) {
    for (const auto& s : r.at("steps").as_array()) {
      if (s.at("step").as_string() == id) return s.as_object();
    }
    throw std::runtime_error("no step " + std::string(id));
  }
  static std::string text(const boost::json::object& s, std::string_view key) {
    return std::string(s.at(key).as_string());
  }
  static std::string facts(const boost::json::object& s) {
    std::string out;
    for (const auto& f : s.at("facts").as_array()) out += std::string(f.as_string()) + "\n";
    return out;
  }
  static std::vector<std::string> statuses(const boost::json::object& r) {
    std::vector<std::string> out;
    for (const auto& s : r.at("steps").as_array()) out.emplace_back(s.at("status").as_string());
    return out;
  }
  // The step `id` failed with `code`; every step before it passed or warned; every step after it
  // was not checked.
  void expect_stopped_at(const boost::json::object& r, std::string_view id, int code) {
    EXPECT_EQ(r.at("ok"), false);
    EXPECT_EQ(r.at("exit_code"), code);
    EXPECT_EQ(last_.exit_code, code) << last_.err;
    bool after = false;
    for (const auto& sv : r.at("steps").as_array()) {
      const auto& s = sv.as_object();
      const std::string status(s.at("status").as_string());
      if (s.at("step").as_string() == id) {
        EXPECT_EQ(status, "fail") << id;
        EXPECT_EQ(s.at("exit_code"), code);
        EXPECT_FALSE(text(s, "fix").empty()) << id;
        after = true;
      } else if (after) {
        EXPECT_EQ(status, "not_checked") << s.at("step");
      } else {
        EXPECT_TRUE(status == "pass" || status == "warn") << s.at("step") << ": " << status;
      }
    }
    EXPECT_TRUE(after) << "no step " << id;
  }

  // No client secret, private key or access token in anything doctor printed.
  void expect_no_secrets(const sandbox_process& sb, const run_result& r) {
    const std::string all = r.out + r.err;
    for (const auto& c : sb.description().at("clients").as_array()) {
      if (c.as_object().contains("client_secret")) {
        const std::string secret = sb.client_secret(std::string(c.at("name").as_string()));
        EXPECT_FALSE(contains(all, secret)) << c.at("name");
      }
    }
    EXPECT_FALSE(contains(all, "PRIVATE KEY"));
    EXPECT_FALSE(contains(all, "eyJ")) << "a JWT (token or assertion) was printed";
    for (const auto& s : extra_secrets_) EXPECT_FALSE(contains(all, s)) << s;
  }

  // The sandbox's configuration with the block of `account` changed by `edit` (a 0600 copy).
  std::string edited(const sandbox_process& sb, const std::string& account,
                     const std::function<void(std::string&)>& edit) {
    std::string cfg = read_file(sb.config_file());
    const auto begin = cfg.find("name = \"" + account + "\"\n");
    EXPECT_NE(begin, std::string::npos) << cfg;
    auto end = cfg.find("[[account]]", begin);
    if (end == std::string::npos) end = cfg.size();
    std::string block = cfg.substr(begin, end - begin);
    edit(block);
    cfg.replace(begin, end - begin, block);
    const auto path = dir_ / ("config-" + std::to_string(++n_) + ".toml");
    write_file(path, cfg);
    ::chmod(path.c_str(), 0600);
    return path.string();
  }
  static void replace(std::string& block, const std::string& from, const std::string& to) {
    const auto at = block.find(from);
    ASSERT_NE(at, std::string::npos) << from << " in\n" << block;
    block.replace(at, from.size(), to);
  }
  static void insert_after(std::string& block, const std::string& line_start, const std::string& lines) {
    const auto at = block.find(line_start);
    ASSERT_NE(at, std::string::npos) << line_start << " in\n" << block;
    block.insert(block.find('\n', at) + 1, lines);
  }
  static void remove_line(std::string& block, const std::string& line_start) {
    const auto at = block.find(line_start);
    ASSERT_NE(at, std::string::npos) << line_start << " in\n" << block;
    block.erase(at, block.find('\n', at) + 1 - at);
  }

  // A configuration for a peer that is not the sandbox: generic provider, app-only, the token
  // endpoint never reached (these tests stop before the token).
  std::string peer_config(const std::string& host, std::uint16_t port, const std::optional<fs::path>& ca_file) {
    const auto secret = dir_ / "peer.secret";
    write_file(secret, "peer-client-secret-value\n");
    ::chmod(secret.c_str(), 0600);
    extra_secrets_.push_back("peer-client-secret-value");
    std::string cfg = "[token_cache]\npath = \"" + (dir_ / "peer-tokens").string() +
                      "\"\n\n[[account]]\nname = \"peer\"\nprovider = \"generic\"\nflow = \"client_credentials\"\n"
                      "client_id = \"doctor-test\"\nclient_secret = \"file:" +
                      secret.string() +
                      "\"\ntoken_endpoint = \"http://127.0.0.1:9/token\"\nscopes = [\"smtp\"]\nuser = "
                      "\"alice@example.com\"\n\n[account.smtp]\nhost = \"" +
                      host + "\"\nport = " + std::to_string(port) + "\n";
    if (ca_file) cfg += "ca_file = \"" + ca_file->string() + "\"\n";
    const auto path = dir_ / ("peer-" + std::to_string(++n_) + ".toml");
    write_file(path, cfg);
    ::chmod(path.c_str(), 0600);
    return path.string();
  }

  temp_dir dir_{"oauthmail-doctor"};
  int n_ = 0;
  run_result last_;
  std::vector<std::string> extra_secrets_;
  test_deadline deadline_{std::chrono::seconds(180)};
};

// --- everything works ---

TEST_F(Doctor, MicrosoftAppOnlyPassesEveryStepAndSendsTheTestMessage) {
  sandbox_process sb(dir_);
  const std::string to = "someone@example.test";
  auto r = report(sb.config_file(), {"--send-test", to});
  EXPECT_EQ(last_.exit_code, 0) << last_.out << last_.err;
  EXPECT_EQ(r.at("ok"), true);
  EXPECT_EQ(r.at("account"), "sandbox");
  for (const auto& s : statuses(r)) EXPECT_EQ(s, "pass") << last_.out;
  EXPECT_EQ(r.at("steps").as_array().size(), 11u);
  EXPECT_TRUE(contains(text(step(r, "tls"), "detail"), "certificate verified")) << last_.out;
  EXPECT_TRUE(contains(facts(step(r, "tls")), "trusted through: smtp.ca_file")) << last_.out;
  EXPECT_EQ(text(step(r, "ehlo"), "detail"), "AUTH LOGIN XOAUTH2 over TLS; XOAUTH2 will be used.");
  EXPECT_TRUE(contains(facts(step(r, "ehlo")), "before TLS: no AUTH, STARTTLS")) << facts(step(r, "ehlo"));
  EXPECT_TRUE(contains(facts(step(r, "token_contents")), "roles: SMTP.SendAsApp")) << last_.out;
  EXPECT_TRUE(contains(text(step(r, "auth"), "detail"), "235 2.7.0")) << last_.out;
  EXPECT_TRUE(contains(text(step(r, "send_test"), "detail"), "250")) << last_.out;
  expect_no_secrets(sb, last_);
  // The message arrived, from the account's mailbox.
  auto messages = sb.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(contains(boost::json::serialize(messages[0]), "oauthmail doctor test message"))
      << boost::json::serialize(messages[0]);
  EXPECT_TRUE(contains(boost::json::serialize(messages[0]), "sender@" + sb.domain()));

  // For people: one line per step, ASCII symbols (stdout is not a terminal), the summary.
  auto t = doctor(sb.config_file());
  EXPECT_EQ(t.exit_code, 0) << t.out << t.err;
  for (const char* line : {"[ OK ] Configuration", "[ OK ] Secret references", "[ OK ] DNS", "[ OK ] TCP connection",
                           "[ OK ] SMTP greeting", "[ OK ] TLS", "[ OK ] EHLO", "[ OK ] Token ",
                           "[ OK ] Token contents", "[ OK ] SMTP AUTH", "All checks passed."}) {
    EXPECT_TRUE(contains(t.out, line)) << line << "\n" << t.out;
  }
  EXPECT_LT(t.out.find("SMTP greeting"), t.out.find("[ OK ] TLS")) << "STARTTLS: the greeting comes first";
  for (const char ch : t.out) ASSERT_LT(static_cast<unsigned char>(ch), 0x80) << t.out;
  expect_no_secrets(sb, t);

  // With the transcript (-v): the AUTH payload is redacted, nothing secret anywhere.
  auto v =
      run_program({OAUTHMAIL_BINARY, "-v", "doctor", "--config", sb.config_file(), "--send-test", "x@example.test"},
                  dir_.path(), std::nullopt, 90s);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_TRUE(contains(v.err, "smtp C: AUTH XOAUTH2 <redacted>")) << v.err;
  EXPECT_TRUE(contains(v.err, "smtp S: 235")) << v.err;
  expect_no_secrets(sb, v);
}

TEST_F(Doctor, GoogleServiceAccountPassesOnBothPorts) {
  sandbox_process sb(dir_, sandbox_profile("google"));
  auto r = report(sb.config_file(), {"--send-test", "someone@example.test"});
  EXPECT_EQ(last_.exit_code, 0) << last_.out << last_.err;
  EXPECT_TRUE(contains(text(step(r, "ehlo"), "detail"), "XOAUTH2 will be used")) << last_.out;
  EXPECT_TRUE(contains(facts(step(r, "token_contents")), "https://mail.google.com/")) << last_.out;
  EXPECT_TRUE(contains(text(step(r, "auth"), "detail"), "Signed in as sender@example.test")) << last_.out;
  expect_no_secrets(sb, last_);
  EXPECT_EQ(sb.messages().size(), 1u);

  // Implicit TLS (the 465-style port): the handshake comes before the greeting.
  ASSERT_NE(sb.smtps_port(), 0);
  const auto implicit = edited(sb, "sandbox", [&](std::string& b) {
    replace(b, "port = " + std::to_string(sb.smtp_port()),
            "port = " + std::to_string(sb.smtps_port()) + "\ntls = \"implicit\"");
  });
  auto i = report(implicit);
  EXPECT_EQ(last_.exit_code, 0) << last_.out << last_.err;
  std::vector<std::string> order;
  for (const auto& s : i.at("steps").as_array()) order.emplace_back(s.at("step").as_string());
  EXPECT_LT(std::find(order.begin(), order.end(), "tls"), std::find(order.begin(), order.end(), "greeting"));
  EXPECT_TRUE(facts(step(i, "ehlo")).find("before TLS") == std::string::npos) << facts(step(i, "ehlo"));
}

// --- the token endpoint ---

TEST_F(Doctor, WrongClientSecretIsAADSTS7000215) {
  sandbox_process sb(dir_);
  const auto wrong = dir_ / "wrong.secret";
  write_file(wrong, "the-secret-id-not-the-value\n");
  ::chmod(wrong.c_str(), 0600);
  extra_secrets_.push_back("the-secret-id-not-the-value");
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) {
    remove_line(b, "client_secret = ");
    insert_after(b, "user = ", "client_secret = \"file:" + wrong.string() + "\"\n");
  });
  auto r = report(cfg);
  expect_stopped_at(r, "token", EX_NOPERM);
  const auto& t = step(r, "token");
  EXPECT_TRUE(contains(text(t, "detail"),
                       "the client secret is wrong: commonly the secret ID was used instead of its "
                       "value"))
      << last_.out;
  EXPECT_TRUE(contains(facts(t), "AADSTS7000215")) << last_.out;
  EXPECT_TRUE(contains(text(t, "fix"), "Value (not the Secret ID)")) << last_.out;
  expect_no_secrets(sb, last_);
}

TEST_F(Doctor, UnknownClientIsAADSTS700016) {
  sandbox_process sb(dir_);
  const std::string id = sb.client_id("app-secret");
  const auto cfg =
      edited(sb, "sandbox", [&](std::string& b) { replace(b, id, "11111111-2222-4333-8444-555555555555"); });
  auto r = report(cfg);
  expect_stopped_at(r, "token", EX_NOPERM);
  const auto& t = step(r, "token");
  EXPECT_TRUE(contains(text(t, "detail"), "the application (client_id) was not found in this tenant")) << last_.out;
  EXPECT_TRUE(contains(facts(t), "AADSTS700016")) << last_.out;
  EXPECT_TRUE(contains(text(t, "fix"), "Application (client) ID")) << last_.out;
  expect_no_secrets(sb, last_);
}

TEST_F(Doctor, ScopeErrorsAreCaughtEarlyOrExplained) {
  sandbox_process sb(dir_);
  // A Graph scope: the configuration step already knows that SMTP would refuse the token.
  const auto graph = edited(sb, "sandbox", [&](std::string& b) {
    insert_after(b, "user = ", "scopes = [\"https://graph.microsoft.com/.default\"]\n");
  });
  auto g = report(graph);
  expect_stopped_at(g, "configuration", EX_CONFIG);
  EXPECT_TRUE(contains(text(step(g, "configuration"), "detail"), "Microsoft Graph scope")) << last_.out;
  EXPECT_TRUE(contains(text(step(g, "configuration"), "fix"), "https://outlook.office365.com/.default"));

  // A resource that does not exist: the token endpoint refuses the scope.
  const auto typo = edited(sb, "sandbox", [&](std::string& b) {
    insert_after(b, "user = ", "scopes = [\"https://outlook.office365.con/.default\"]\n");
  });
  auto t = report(typo);
  expect_stopped_at(t, "token", EX_NOPERM);
  EXPECT_TRUE(contains(text(step(t, "token"), "detail"), "the resource in the scope")) << last_.out;
  EXPECT_TRUE(contains(facts(step(t, "token")), "AADSTS500011")) << last_.out;
  EXPECT_TRUE(contains(text(step(t, "token"), "fix"), "https://outlook.office365.com/.default")) << last_.out;
  expect_no_secrets(sb, last_);
}

TEST_F(Doctor, ServiceAccountWithoutDomainWideDelegationIsUnauthorizedClient) {
  sandbox_process sb(dir_, sandbox_profile("google"));
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) {
    replace(b, "clients/service-account.json", "clients/service-account-nodwd.json");
  });
  auto r = report(cfg);
  expect_stopped_at(r, "token", EX_NOPERM);
  const auto& t = step(r, "token");
  EXPECT_TRUE(contains(text(t, "detail"), "Domain-wide delegation is not set up for this service account"))
      << last_.out;
  EXPECT_TRUE(contains(facts(t), "unauthorized_client")) << last_.out;
  EXPECT_TRUE(contains(text(t, "fix"), "Domain-wide delegation, add the service account's client ID")) << last_.out;
  EXPECT_TRUE(contains(facts(step(r, "secrets")), "sandbox-nodwd@")) << last_.out;
  expect_no_secrets(sb, last_);
}

TEST_F(Doctor, DelegatedAccountWithoutSignInSaysLogin) {
  sandbox_process sb(dir_);
  auto r = report(sb.config_file(), {"sandbox-device"});
  expect_stopped_at(r, "token", EX_NOPERM);
  EXPECT_TRUE(contains(text(step(r, "token"), "detail"), "no sign-in yet")) << last_.out;
  EXPECT_TRUE(contains(text(step(r, "token"), "fix") + text(step(r, "token"), "detail"),
                       "oauthmail account login sandbox-device"))
      << last_.out;
  EXPECT_TRUE(contains(text(step(r, "secrets"), "detail"), "No secret is configured")) << last_.out;
}

// --- AUTH ---

TEST_F(Doctor, AppOnlyWithoutMailboxPermissionIs_5_7_3_WithTheExchangeSetup) {
  sandbox_process sb(dir_);
  const std::string noperm = sb.client_id("app-noperm");
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) {
    replace(b, sb.client_id("app-secret"), noperm);
    replace(b, "clients/app-secret.secret", "clients/app-noperm.secret");
  });
  auto r = report(cfg);
  expect_stopped_at(r, "auth", EX_NOPERM);
  EXPECT_EQ(text(step(r, "token_contents"), "status"), "pass") << last_.out;  // the token is fine
  const auto& a = step(r, "auth");
  EXPECT_TRUE(contains(text(a, "detail"), "535 5.7.3 Authentication unsuccessful")) << last_.out;
  const std::string f = facts(a);
  EXPECT_TRUE(contains(f, "app-only")) << f;
  EXPECT_TRUE(contains(f, "SMTP.SendAsApp permission with admin consent")) << f;
  EXPECT_TRUE(contains(f, "New-ServicePrincipal -AppId " + noperm)) << f;
  EXPECT_TRUE(contains(f, "Enterprise application")) << f;
  EXPECT_TRUE(contains(f, "Add-MailboxPermission -Identity sender@" + sb.domain())) << f;
  EXPECT_TRUE(contains(f, "Set-CASMailbox -Identity sender@" + sb.domain())) << f;
  expect_no_secrets(sb, last_);
  EXPECT_TRUE(sb.messages().empty());
}

TEST_F(Doctor, DelegatedSignInPassesAndAnotherMailboxIs_5_7_3_AfterTheTokenWarning) {
  sandbox_process sb(dir_);
  // Sign in with the device flow as sender@, approving on the sandbox as a person would.
  spawn_options o;
  o.argv = {OAUTHMAIL_BINARY, "account", "login", "sandbox-device", "--config", sb.config_file()};
  o.stdout_path = dir_ / "login.out";
  auto login = child_process::start(std::move(o));
  login.wait_for_log_text("Waiting for the sign-in", 30s);
  std::smatch m;
  const std::string shown = login.log();
  ASSERT_TRUE(std::regex_search(shown, m, std::regex("enter the code ([A-Z0-9]+)"))) << shown;
  auto approved = sb.http("POST", "/api/device/approve",
                          boost::json::serialize(boost::json::object{
                              {"user_code", m.str(1)}, {"mailbox", "sender@" + sb.domain()}, {"approve", true}}));
  ASSERT_EQ(approved.status, 200) << approved.body;
  ASSERT_EQ(login.wait_exit(40s).value_or(-1), 0) << login.log();

  auto ok = report(sb.config_file(), {"sandbox-device"});
  EXPECT_EQ(last_.exit_code, 0) << last_.out << last_.err;
  EXPECT_TRUE(contains(facts(step(ok, "token")), "renewed with the stored refresh token")) << last_.out;
  EXPECT_TRUE(contains(facts(step(ok, "token_contents")), "scopes (scp): SMTP.Send")) << last_.out;
  EXPECT_TRUE(contains(facts(step(ok, "token_contents")), "user: sender@" + sb.domain())) << last_.out;
  expect_no_secrets(sb, last_);

  // The same sign-in used for another mailbox: the token contents warn, Exchange answers 5.7.3,
  // and the delegated causes start with the token.
  const std::string other = "other@" + sb.domain();
  const auto cfg = edited(sb, "sandbox-device", [&](std::string& b) { replace(b, "sender@" + sb.domain(), other); });
  auto r = report(cfg, {"sandbox-device"});
  expect_stopped_at(r, "auth", EX_NOPERM);
  EXPECT_EQ(text(step(r, "token_contents"), "status"), "warn");
  EXPECT_TRUE(contains(text(step(r, "token_contents"), "detail"),
                       "belongs to sender@" + sb.domain() + ", but the account sends as " + other))
      << last_.out;
  const std::string f = facts(step(r, "auth"));
  EXPECT_TRUE(contains(f, "delegated")) << f;
  EXPECT_TRUE(contains(f, "1. the token itself")) << f;
  EXPECT_TRUE(contains(f, "https://outlook.office.com/SMTP.Send")) << f;
  EXPECT_TRUE(contains(f, "consent is missing")) << f;
  EXPECT_FALSE(contains(f, "New-ServicePrincipal")) << f;
  expect_no_secrets(sb, last_);
}

TEST_F(Doctor, MailboxWithSmtpAuthDisabledIs_5_7_139) {
  sandbox_process sb(dir_);
  const std::string disabled = "disabled@" + sb.domain();
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) { replace(b, "sender@" + sb.domain(), disabled); });
  auto r = report(cfg);
  expect_stopped_at(r, "auth", EX_NOPERM);
  const auto& a = step(r, "auth");
  EXPECT_TRUE(contains(text(a, "detail"), "SMTP AUTH (client submission) is disabled for this mailbox")) << last_.out;
  EXPECT_TRUE(contains(text(a, "detail"),
                       "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                       "disabled for the Mailbox"))
      << last_.out;
  EXPECT_TRUE(contains(text(a, "fix"), "Set-CASMailbox -Identity " + disabled +
                                           " -SmtpClientAuthenticationDisabled "
                                           "$false"))
      << last_.out;
  expect_no_secrets(sb, last_);
}

TEST_F(Doctor, SendTestFromAnAddressWithoutSendAsIsSendAsDenied) {
  sandbox_process sb(dir_);
  const std::string other = "other@" + sb.domain();
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) {
    insert_after(b, "user = ", "allowed_senders = [\"sender@" + sb.domain() + "\", \"" + other + "\"]\n");
  });
  auto r = report(cfg, {"--send-test", "someone@example.test", "--from", other});
  expect_stopped_at(r, "send_test", EX_NOPERM);
  EXPECT_EQ(text(step(r, "auth"), "status"), "pass");
  const auto& s = step(r, "send_test");
  EXPECT_TRUE(contains(text(s, "detail"), "after its final dot")) << last_.out;
  EXPECT_TRUE(contains(text(s, "detail"), "554 5.2.252 SendAsDenied")) << last_.out;
  EXPECT_TRUE(contains(text(s, "fix"), "Add-RecipientPermission -Identity " + other + " -Trustee sender@" +
                                           sb.domain() + " -AccessRights SendAs"))
      << last_.out;
  EXPECT_TRUE(sb.messages().empty());
  expect_no_secrets(sb, last_);

  // An address the account may not send as is refused before anything is contacted.
  auto refused = report(sb.config_file(), {"--send-test", "someone@example.test", "--from", other});
  expect_stopped_at(refused, "configuration", EX_CONFIG);
  EXPECT_TRUE(contains(text(step(refused, "configuration"), "detail"), "may not send as " + other)) << last_.out;
}

// --- EHLO ---

TEST_F(Doctor, OauthbearerAtMicrosoftIsNotOffered) {
  sandbox_process sb(dir_);
  const auto cfg =
      edited(sb, "sandbox", [&](std::string& b) { insert_after(b, "ca_file = ", "mechanism = \"oauthbearer\"\n"); });
  auto r = report(cfg);
  expect_stopped_at(r, "ehlo", EX_CONFIG);
  EXPECT_EQ(text(step(r, "configuration"), "status"), "warn");  // config check already warns
  EXPECT_EQ(text(step(r, "ehlo"), "detail"),
            "The account uses OAUTHBEARER (smtp.mechanism), but the server offers AUTH LOGIN XOAUTH2.");
  EXPECT_TRUE(contains(text(step(r, "ehlo"), "fix"), "Exchange Online supports only XOAUTH2")) << last_.out;
  EXPECT_TRUE(contains(facts(step(r, "ehlo")), "over TLS: AUTH LOGIN XOAUTH2")) << last_.out;
}

// --- TLS ---

TEST_F(Doctor, SandboxCertificateWithoutItsCaFileIsAnUnknownCa) {
  sandbox_process sb(dir_);
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) { remove_line(b, "ca_file = "); });
  auto r = report(cfg);
  expect_stopped_at(r, "tls", EX_CONFIG);
  const auto& t = step(r, "tls");
  EXPECT_EQ(text(t, "detail"),
            "The server's certificate is not signed by a certificate authority this machine trusts.");
  EXPECT_TRUE(contains(text(t, "fix"), "smtp.ca_file")) << last_.out;
  EXPECT_TRUE(contains(facts(t), "issued by: CN=oauthmail sandbox CA")) << last_.out;
  EXPECT_TRUE(contains(facts(t), "names: DNS:localhost, IP:127.0.0.1")) << last_.out;
  EXPECT_EQ(text(step(r, "greeting"), "status"), "pass");
}

TEST_F(Doctor, ExpiredServerCertificate) {
  oauth_smtp_server::options o;
  o.tls = "starttls";
  o.cert = pki().expired_cert;
  o.key = pki().expired_key;
  oauth_smtp_server server(dir_, o);
  auto r = report(peer_config("127.0.0.1", server.port(), pki().ca_cert));
  expect_stopped_at(r, "tls", EX_CONFIG);
  const auto& t = step(r, "tls");
  EXPECT_TRUE(contains(text(t, "detail"), "The server's certificate has expired (2020-01-02 00:00 UTC")) << last_.out;
  EXPECT_TRUE(contains(text(t, "fix"), "renew")) << last_.out;
  EXPECT_TRUE(contains(facts(t), "OpenSSL: certificate has expired")) << last_.out;
  EXPECT_FALSE(contains(last_.out + last_.err, "peer-client-secret-value"));
}

TEST_F(Doctor, ServerCertificateForAnotherName) {
  oauth_smtp_server::options o;
  o.tls = "starttls";
  o.cert = pki().wrong_name_cert;
  o.key = pki().wrong_name_key;
  oauth_smtp_server server(dir_, o);
  auto r = report(peer_config("127.0.0.1", server.port(), pki().ca_cert));
  expect_stopped_at(r, "tls", EX_CONFIG);
  const auto& t = step(r, "tls");
  EXPECT_EQ(text(t, "detail"), "The server's certificate is not valid for 127.0.0.1: it names DNS:wrong.example.");
  EXPECT_TRUE(contains(text(t, "fix"), "smtp.host")) << last_.out;
}

TEST_F(Doctor, ServerCertificateOfAnUnknownCa) {
  oauth_smtp_server::options o;
  o.tls = "starttls";
  o.cert = pki().unknown_ca_cert;
  o.key = pki().unknown_ca_key;
  oauth_smtp_server server(dir_, o);
  auto r = report(peer_config("127.0.0.1", server.port(), pki().ca_cert));
  expect_stopped_at(r, "tls", EX_CONFIG);
  EXPECT_TRUE(contains(text(step(r, "tls"), "detail"), "not signed by a CA in smtp.ca_file (" + pki().ca_cert.string()))
      << last_.out;
}

// --- TCP, DNS, greeting ---

TEST_F(Doctor, WrongPortIsRefused) {
  sandbox_process sb(dir_);
  const std::uint16_t closed = free_port();
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) {
    replace(b, "port = " + std::to_string(sb.smtp_port()), "port = " + std::to_string(closed));
  });
  auto r = report(cfg);
  expect_stopped_at(r, "tcp", EX_UNAVAILABLE);
  const auto& t = step(r, "tcp");
  EXPECT_TRUE(contains(text(t, "detail"), "refused the connection")) << last_.out;
  EXPECT_TRUE(contains(text(t, "fix"), "587 (STARTTLS) or 465 (implicit TLS)")) << last_.out;
  EXPECT_TRUE(contains(text(t, "fix"), "smtp.office365.com:587")) << last_.out;
  EXPECT_EQ(text(step(r, "dns"), "status"), "pass");
}

TEST_F(Doctor, UnresolvableHostStopsAtDns) {
  auto r = report(peer_config("smtp.doctor-test.invalid", 587, std::nullopt));
  const auto& d = step(r, "dns");
  ASSERT_EQ(text(d, "status"), "fail") << last_.out;
  // A resolver that answers says "does not exist" (68); one that cannot be reached is temporary (75).
  if (last_.exit_code == EX_NOHOST) {
    expect_stopped_at(r, "dns", EX_NOHOST);
    EXPECT_TRUE(contains(text(d, "detail"), "smtp.doctor-test.invalid does not exist in DNS")) << last_.out;
    EXPECT_TRUE(contains(text(d, "fix"), "smtp.host")) << last_.out;
  } else {
    expect_stopped_at(r, "dns", EX_TEMPFAIL);
    EXPECT_TRUE(contains(text(d, "detail"), "smtp.doctor-test.invalid")) << last_.out;
  }
}

TEST_F(Doctor, StarttlsOnTheImplicitTlsPortGetsNoGreeting) {
  sandbox_process sb(dir_, sandbox_profile("google"));
  const auto cfg = edited(sb, "sandbox", [&](std::string& b) {
    replace(b, "port = " + std::to_string(sb.smtp_port()), "port = " + std::to_string(sb.smtps_port()));
  });
  auto r = report(cfg, {}, 2);
  expect_stopped_at(r, "greeting", EX_TEMPFAIL);
  EXPECT_TRUE(contains(text(step(r, "greeting"), "detail"), "no greeting within 2 s")) << last_.out;
  EXPECT_TRUE(contains(text(step(r, "greeting"), "fix"), "smtp.tls = \"implicit\"")) << last_.out;
}

// --- the command line ---

TEST_F(Doctor, UnknownAccountAndUsageErrors) {
  sandbox_process sb(dir_);
  auto r = report(sb.config_file(), {"nosuch"});
  expect_stopped_at(r, "configuration", EX_CONFIG);
  EXPECT_TRUE(contains(facts(step(r, "configuration")), "sandbox-cert")) << last_.out;
  auto missing = report((dir_ / "no-such.toml").string());
  expect_stopped_at(missing, "configuration", EX_CONFIG);
  EXPECT_TRUE(contains(facts(step(missing, "configuration")), "no-such.toml")) << last_.out;
  EXPECT_EQ(missing.at("account"), "");
  auto u = doctor(sb.config_file(), {"--from", "sender@" + sb.domain()});
  EXPECT_EQ(u.exit_code, EX_USAGE) << u.out << u.err;
  EXPECT_TRUE(contains(u.err, "--send-test")) << u.err;
}

}  // namespace
}  // namespace oauthmail::testing
