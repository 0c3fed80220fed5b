// `oauthmail send` through the sandbox, one real process per send, with the configuration the
// sandbox writes (DIR/oauthmail.toml): success for each profile and flow, a token that expires in
// the middle of a run (renewed, nothing lost), and each refusal users meet at Microsoft — 5.7.3,
// 5.7.139, SendAsDenied, throttling — with the exit code and the explanation oauthmail prints.
#include <gtest/gtest.h>
#include <sysexits.h>

#include <boost/json.hpp>
#include <thread>

#include "integration/support/harness.hpp"
#include "integration/support/sandbox.hpp"

namespace oauthmail::testing {
namespace {

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string::npos; }

class SandboxSend : public ::testing::Test {
 protected:
  run_result send(const sandbox_process& /*sb*/, const std::string& config, const std::string& account,
                  const std::string& from, const std::string& to, const std::string& subject) {
    const auto message = dir_ / ("message-" + std::to_string(++n_) + ".eml");
    write_file(message, "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\nMessage-ID: <" +
                            std::to_string(n_) + "@oauthmail.test>\r\n\r\nHello.\r\n");
    return run_program({OAUTHMAIL_BINARY, "send", "--config", config, "--account", account, "--from", from, "--to", to},
                       dir_.path(), message, 60s);
  }
  run_result send(const sandbox_process& sb, const std::string& from, const std::string& subject,
                  const std::string& account = "sandbox") {
    return send(sb, sb.config_file(), account, from, "someone@example.test", subject);
  }
  // The sandbox's configuration with extra lines appended to the first [[account]] table
  // (before its [account.smtp]) — e.g. a different user.
  std::string config_with(const sandbox_process& sb, const std::string& account_name, const std::string& key_lines) {
    std::string text = read_file(sb.config_file());
    const auto at = text.find("name = \"" + account_name + "\"");
    EXPECT_NE(at, std::string::npos) << text;
    const auto line_end = text.find('\n', at);
    text.insert(line_end + 1, key_lines);
    const auto path = dir_ / ("config-" + std::to_string(++n_) + ".toml");
    write_file(path, text);
    ::chmod(path.c_str(), 0600);
    return path.string();
  }

  temp_dir dir_{"oauthmail-sandbox-send"};
  int n_ = 0;
  test_deadline deadline_{std::chrono::seconds(150)};
};

TEST_F(SandboxSend, ConfigWrittenBySandboxIsValid) {
  for (const char* profile : {"microsoft", "google", "generic"}) {
    sandbox_process sb(dir_, sandbox_profile(profile));
    auto check = run_program({OAUTHMAIL_BINARY, "config", "check", "--config", sb.config_file()}, dir_.path());
    EXPECT_EQ(check.exit_code, 0) << profile << "\n" << check.out << check.err;
    // Nothing secret in it: secrets are file references.
    const std::string text = read_file(sb.config_file());
    for (const auto& c : sb.description().at("clients").as_array()) {
      if (c.as_object().contains("client_secret")) {
        EXPECT_FALSE(contains(text, sb.client_secret(std::string(c.at("name").as_string())))) << profile;
      }
    }
  }
}

TEST_F(SandboxSend, MicrosoftAppOnlySecretAndCertificateDeliver) {
  sandbox_process sb(dir_);
  const std::string sender = "sender@" + sb.domain();
  auto r = send(sb, sender, "with a client secret");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto c = send(sb, sender, "with a certificate", "sandbox-cert");
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  auto messages = sb.messages();
  ASSERT_EQ(messages.size(), 2u);
  // The token was cached: a second send with the same account asks the provider for nothing.
  const auto before = sb.token_requests();
  EXPECT_EQ(send(sb, sender, "cached token").exit_code, 0);
  EXPECT_EQ(sb.token_requests(), before);
}

TEST_F(SandboxSend, GoogleServiceAccountDelivers) {
  sandbox_process sb(dir_, sandbox_profile("google"));
  auto r = send(sb, "sender@" + sb.domain(), "service account");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(sb.messages().size(), 1u);
}

TEST_F(SandboxSend, GenericProviderByDiscoveryDelivers) {
  sandbox_process sb(dir_, sandbox_profile("generic"));
  auto r = send(sb, "sender@" + sb.domain(), "generic");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(sb.messages().size(), 1u);
}

TEST_F(SandboxSend, TokenExpiringMidRunIsRenewedAndNothingIsLost) {
  // 4-second tokens: oauthmail renews ahead of expiry (at most half the lifetime before it).
  sandbox_process sb(dir_, sandbox_token_lifetime(4));
  const std::string sender = "sender@" + sb.domain();
  for (int i = 0; i < 6; ++i) {
    auto r = send(sb, sender, "run " + std::to_string(i));
    EXPECT_EQ(r.exit_code, 0) << i << ": " << r.out << r.err;
    std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(sb.messages().size(), 6u);
  EXPECT_GE(sb.token_requests(), 2) << "the token must have been renewed";
}

TEST_F(SandboxSend, RefusedTokenIsExplained_5_7_3) {
  sandbox_process sb(dir_);
  // The app without mailbox permission: the token is fine, Exchange still answers 5.7.3.
  std::string text = read_file(sb.config_file());
  const std::string good_id = sb.client_id("app-secret");
  const auto secret_ref = std::string(sb.client("app-noperm").at("client_secret").as_string());
  std::string cfg = text;
  cfg.replace(cfg.find(good_id), good_id.size(), sb.client_id("app-noperm"));
  const auto old_ref = std::string(sb.client("app-secret").at("client_secret").as_string());
  cfg.replace(cfg.find(old_ref), old_ref.size(), secret_ref);
  const auto path = dir_ / "noperm.toml";
  write_file(path, cfg);
  ::chmod(path.c_str(), 0600);
  auto r = send(sb, path.string(), "sandbox", "sender@" + sb.domain(), "x@example.test", "no permission");
  EXPECT_EQ(r.exit_code, EX_NOPERM) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "5.7.3")) << r.out << r.err;
  EXPECT_TRUE(sb.messages().empty());
}

TEST_F(SandboxSend, SmtpAuthDisabledForTheMailboxIsExplained_5_7_139) {
  sandbox_process sb(dir_);
  std::string text = read_file(sb.config_file());
  const std::string sender = "sender@" + sb.domain();
  const std::string disabled = "disabled@" + sb.domain();
  // The app-only account, as the disabled mailbox.
  const auto at = text.find("user = \"" + sender + "\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("user = \"" + sender + "\"").size(), "user = \"" + disabled + "\"");
  const auto path = dir_ / "disabled.toml";
  write_file(path, text);
  ::chmod(path.c_str(), 0600);
  auto r = send(sb, path.string(), "sandbox", disabled, "x@example.test", "disabled");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out + r.err, "5.7.139")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "SmtpClientAuthentication is disabled for the Mailbox")) << r.out << r.err;
}

TEST_F(SandboxSend, SendAsDeniedIsReportedAfterTheData) {
  sandbox_process sb(dir_);
  const std::string other = "other@" + sb.domain();
  const auto cfg =
      config_with(sb, "sandbox", "allowed_senders = [\"sender@" + sb.domain() + "\", \"" + other + "\"]\n");
  auto r = send(sb, cfg, "sandbox", other, "x@example.test", "send as");
  // A permanent refusal that needs an administrator (grant Send As, or fix From): EX_CONFIG.
  EXPECT_EQ(r.exit_code, EX_CONFIG) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "5.2.252")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "Add-RecipientPermission")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "SendAsDenied")) << r.out << r.err;
  EXPECT_TRUE(sb.messages().empty());
}

TEST_F(SandboxSend, ThrottlingIsATemporaryFailure) {
  sandbox_process sb(dir_);
  sb.settings(R"({"messages_per_minute": 1})");
  const std::string sender = "sender@" + sb.domain();
  EXPECT_EQ(send(sb, sender, "first").exit_code, 0);
  auto r = send(sb, sender, "second");
  EXPECT_EQ(r.exit_code, EX_TEMPFAIL) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "4.7.500")) << r.out << r.err;
}

TEST_F(SandboxSend, TransientFaultIsReportedAsTemporaryAndTheNextRunDelivers) {
  sandbox_process sb(dir_);
  sb.set_faults(
      R"({"smtp":[{"step":"data_end","action":"reply","reply":"451 4.7.500 Server busy. Please try again later.","times":1}]})");
  const std::string sender = "sender@" + sb.domain();
  EXPECT_EQ(send(sb, sender, "try 1").exit_code, EX_TEMPFAIL);
  EXPECT_EQ(send(sb, sender, "try 2").exit_code, 0);
  EXPECT_EQ(sb.messages().size(), 1u);
}

}  // namespace
}  // namespace oauthmail::testing
