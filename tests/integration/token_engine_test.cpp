// The token engine against a real OpenID provider (npm oidc-provider, tests/integration/peers/
// oidc_provider.mjs) on loopback: tokens cached and shared (100 threads, 10 processes, one token
// request counted at the provider), renewal ahead of expiry, the device flow approved headlessly by
// the peer's test user (with curl, a client nobody here wrote), refresh with rotation, a refused
// token renewed once and retried once (never a loop), and an account that needs attention.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <regex>
#include <thread>

#include "config/config.hpp"
#include "integration/support/harness.hpp"
#include "integration/support/oidc_provider.hpp"
#include "integration/support/peers.hpp"
#include "net/token_service.hpp"

namespace oauthmail::testing {
namespace {

constexpr const char* kSecret = test_client_secret;

class TokenEngineTest : public ::testing::Test {
 protected:
  test_deadline deadline_{std::chrono::seconds(120), "TokenEngineTest"};
  temp_dir dir_;

  fs::path write_config(const oidc_provider& op, const std::string& accounts_toml) {
    write_file(dir_ / "secret", kSecret);
    fs::permissions(dir_ / "secret", fs::perms::owner_read | fs::perms::owner_write);
    std::string text = "[token_cache]\npath = \"" + (dir_ / "tokens").string() + "\"\n\n" + accounts_toml;
    std::size_t pos;
    while ((pos = text.find("ISSUER")) != std::string::npos) text.replace(pos, 6, op.issuer());
    while ((pos = text.find("SECRETFILE")) != std::string::npos) text.replace(pos, 10, (dir_ / "secret").string());
    const fs::path p = dir_ / "config.toml";
    write_file(p, text);
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    return p;
  }

  // Every test: nothing oauthmail or the peers printed or logged (verbose) contains the client
  // secret. The secret file, the configuration and the encrypted cache are the only places for it.
  void TearDown() override {
    for (const auto& entry : fs::recursive_directory_iterator(dir_.path())) {
      if (!entry.is_regular_file()) continue;
      const std::string name = entry.path().filename().string();
      if (name == "secret" || name == "config.toml" || name.rfind("tokens", 0) == 0) continue;
      EXPECT_EQ(read_file(entry.path()).find(kSecret), std::string::npos) << "the client secret is in " << name;
    }
  }

  // Signs in an account with the device flow: runs `account login`, reads the code it shows, and
  // lets the provider's test user approve it with curl (a client nobody here wrote).
  void device_login(const oidc_provider& op, const fs::path& cfg, const std::string& name) {
    spawn_options o;
    o.argv = {OAUTHMAIL_BINARY, "account", "login", name, "--config", cfg.string()};
    o.stdout_path = dir_ / ("login-" + name + ".out");
    auto login = child_process::start(std::move(o));
    login.wait_for_log_text("Waiting for the sign-in", 30s);
    std::smatch m;
    const std::string shown = login.log();
    ASSERT_TRUE(std::regex_search(shown, m, std::regex("[A-Z0-9]{4}-[A-Z0-9]{4}"))) << shown;
    auto approve = run_program(
        {"curl", "-s", "--max-time", "20", "-d", "user_code=" + m.str(0), op.issuer() + "/test/device/approve"},
        dir_.path());
    ASSERT_EQ(approve.exit_code, 0) << approve.err;
    ASSERT_EQ(login.wait_exit(40s).value_or(-1), 0) << login.log();
    EXPECT_NE(login.log().find("Signed in"), std::string::npos);
  }

  run_result oauthmail(std::vector<std::string> args, std::optional<fs::path> stdin_path = std::nullopt) {
    args.insert(args.begin(), "-v");
    args.insert(args.begin(), OAUTHMAIL_BINARY);
    return run_program(std::move(args), dir_.path(), stdin_path, 60s);
  }
};

const std::string kAppAccount = R"(
[[account]]
name = "app"
provider = "generic"
flow = "client_credentials"
issuer = "ISSUER"
client_id = "oauthmail-cc-post"
client_secret = "file:SECRETFILE"
user = "alerts@example.com"
scopes = ["SMTP.SendAsApp"]
renew_margin = 2

[account.smtp]
host = "127.0.0.1"
port = 587
)";

// A delegated account of the provider's public client (device code or authorization code).
std::string delegated_account(const std::string& name, const std::string& flow) {
  return "[[account]]\nname = \"" + name + "\"\nprovider = \"generic\"\nflow = \"" + flow +
         "\"\nissuer = \"ISSUER\"\nclient_id = \"oauthmail-public\"\nuser = \"alice@example.com\"\n"
         "scopes = [\"SMTP.Send\", \"offline_access\"]\n\n[account.smtp]\nhost = \"127.0.0.1\"\n";
}

TEST_F(TokenEngineTest, ClientCredentialsTokenIsCachedAcrossInvocations) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, kAppAccount);
  auto first = oauthmail({"token", "show", "app", "--config", cfg.string(), "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto j = boost::json::parse(first.out).as_object();
  EXPECT_EQ(j.at("format").as_string(), "jwt");
  EXPECT_EQ(j.at("audiences").as_array().at(0).as_string(), "urn:oauthmail:smtp");
  EXPECT_FALSE(j.contains("access_token"));  // only with --reveal
  auto second = oauthmail({"token", "show", "app", "--config", cfg.string()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(op.token_requests(), 1);
  // The cache is encrypted: no trace of the token in the file.
  auto revealed = oauthmail({"token", "show", "app", "--config", cfg.string(), "--json", "--reveal"});
  const std::string token(boost::json::parse(revealed.out).as_object().at("access_token").as_string());
  EXPECT_GT(token.size(), 40u);
  EXPECT_EQ(read_file(dir_ / "tokens").find(token.substr(0, 40)), std::string::npos);
  EXPECT_EQ(fs::status(dir_ / "tokens").permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
}

TEST_F(TokenEngineTest, TenProcessesShareOneToken) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, kAppAccount);
  std::vector<child_process> children;
  for (int i = 0; i < 10; ++i) {
    spawn_options o;
    o.argv = {OAUTHMAIL_BINARY, "token", "show", "app", "--config", cfg.string()};
    o.stdout_path = dir_ / ("proc-" + std::to_string(i) + ".out");
    children.push_back(child_process::start(std::move(o)));
  }
  for (auto& c : children) {
    auto rc = c.wait_exit(60s);
    ASSERT_TRUE(rc.has_value());
    EXPECT_EQ(*rc, 0) << c.log();
  }
  EXPECT_EQ(op.token_requests(), 1);
}

TEST_F(TokenEngineTest, HundredThreadsInOneProcessCauseOneTokenRequest) {
  oidc_provider op(dir_, 300);
  const auto cfg_path = write_config(op, kAppAccount);
  auto loaded = config::load_file(cfg_path.string());
  ASSERT_TRUE(loaded.config) << (loaded.problems.empty() ? "" : loaded.problems[0].to_string());
  net::token_service_options o;
  o.cache_path = (dir_ / "tokens").string();
  net::token_service service(std::move(o));
  const config::account& account = loaded.config->accounts.at(0);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::mutex m;
  std::set<std::string> distinct;
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&] {
      auto t = service.access_token(account);
      if (t) {
        ++ok;
        std::lock_guard g(m);
        distinct.insert(t->access_token.expose());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(distinct.size(), 1u);
  EXPECT_EQ(service.token_requests(), 1u);
  EXPECT_EQ(op.token_requests(), 1);
}

TEST_F(TokenEngineTest, RenewsAheadOfExpiry) {
  oidc_provider op(dir_, 4);  // 4 s tokens; renew_margin 2 s
  const auto cfg = write_config(op, kAppAccount);
  auto a = oauthmail({"token", "show", "app", "--config", cfg.string(), "--json", "--reveal"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  std::this_thread::sleep_for(2500ms);
  auto b = oauthmail({"token", "show", "app", "--config", cfg.string(), "--json", "--reveal"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto ta = boost::json::parse(a.out).as_object().at("access_token").as_string();
  const auto tb = boost::json::parse(b.out).as_object().at("access_token").as_string();
  EXPECT_NE(ta, tb);
  EXPECT_EQ(op.token_requests(), 2);
}

TEST_F(TokenEngineTest, DeviceLoginThenRefreshWithRotation) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, delegated_account("dev", "device_code"));
  device_login(op, cfg, "dev");
  if (HasFatalFailure()) return;

  auto status = oauthmail({"account", "status", "dev", "--config", cfg.string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto s = boost::json::parse(status.out).as_array().at(0).as_object();
  EXPECT_TRUE(s.at("has_refresh_token").as_bool());

  // Refresh twice: rotation means each refresh uses the refresh token the previous one returned.
  for (int i = 0; i < 2; ++i) {
    auto r = oauthmail({"token", "refresh", "dev", "--config", cfg.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(op.issued("refresh_token"), 2);
  EXPECT_EQ(op.issued("urn:ietf:params:oauth:grant-type:device_code"), 1);
}

TEST_F(TokenEngineTest, AuthorizationCodeWithPkceThroughTheLoopbackListener) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, delegated_account("web", "authorization_code"));
  spawn_options o;
  o.argv = {OAUTHMAIL_BINARY, "account", "login", "web", "--config", cfg.string()};
  o.stdout_path = dir_ / "login.out";
  auto login = child_process::start(std::move(o));
  login.wait_for_log_text("Waiting for the browser", 30s);
  std::smatch m;
  const std::string shown = login.log();
  ASSERT_TRUE(std::regex_search(shown, m, std::regex("(http://127\\.0\\.0\\.1:[0-9]+/auth\\?\\S+)"))) << shown;
  const std::string url = m.str(1);
  EXPECT_NE(url.find("code_challenge_method=S256"), std::string::npos);
  // The peer's test user signs in and consents; curl then plays the browser coming back.
  auto authorize =
      run_program({"curl", "-s", "--max-time", "20", "--data-urlencode", "url=" + url, op.issuer() + "/test/authorize"},
                  dir_.path());
  ASSERT_EQ(authorize.exit_code, 0) << authorize.err;
  const std::string redirect(boost::json::parse(authorize.out).as_object().at("redirect").as_string());
  auto back = run_program({"curl", "-s", "--max-time", "20", redirect}, dir_.path());
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_NE(back.out.find("return to the terminal"), std::string::npos);
  auto rc = login.wait_exit(40s);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << login.log();
  EXPECT_EQ(op.issued("authorization_code"), 1);
  auto r = oauthmail({"token", "refresh", "web", "--config", cfg.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(op.issued("refresh_token"), 1);
}

// kill -9 at many points of a renewal (fixed delays, so the run is repeatable): the cache is
// replaced atomically, so it is always readable and always still holds a refresh token.
TEST_F(TokenEngineTest, KillDuringRenewalNeverLosesTheRefreshToken) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, delegated_account("dev", "device_code"));
  device_login(op, cfg, "dev");
  if (HasFatalFailure()) return;

  for (int delay_ms : {5, 20, 40, 60, 80, 100, 130, 160, 200, 260}) {
    spawn_options r;
    r.argv = {OAUTHMAIL_BINARY, "token", "refresh", "dev", "--config", cfg.string()};
    r.stdout_path = dir_ / ("refresh-" + std::to_string(delay_ms) + ".out");
    auto refresh = child_process::start(std::move(r));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (refresh.running()) ::kill(refresh.pid(), SIGKILL);
    (void)refresh.wait_exit(10s);
    auto status = oauthmail({"account", "status", "dev", "--config", cfg.string(), "--json"});
    ASSERT_EQ(status.exit_code, 0) << "after a kill at " << delay_ms << " ms: " << status.err;
    const auto st = boost::json::parse(status.out).as_array().at(0).as_object();
    EXPECT_TRUE(st.at("has_refresh_token").as_bool()) << "after a kill at " << delay_ms << " ms";
  }
  // A temporary file that a killed writer left is removed by the next process that takes the lock.
  (void)oauthmail({"token", "show", "dev", "--config", cfg.string()});
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find("tokens.tmp"), std::string::npos) << entry.path();
  }
}

TEST_F(TokenEngineTest, ProviderGoesAwayAndComesBack) {
  oidc_provider op(dir_, 3);  // 3 s tokens, renew_margin 2 s (capped at half: 1.5 s)
  const auto cfg_path = write_config(op, kAppAccount);
  auto loaded = config::load_file(cfg_path.string());
  ASSERT_TRUE(loaded.config);
  const config::account& account = loaded.config->accounts.at(0);
  net::token_service_options o;
  o.cache_path = (dir_ / "tokens").string();
  o.retry_budget = std::chrono::milliseconds(1500);
  net::token_service service(std::move(o));
  auto first = service.access_token(account);
  ASSERT_TRUE(first) << first.error().message();

  op.stop();
  // While the token is fresh, the provider is not needed at all.
  EXPECT_TRUE(service.access_token(account));
  std::this_thread::sleep_for(2s);
  auto down = service.access_token(account);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().classification(), core::failure_class::transient) << down.error().message();

  op.restart();
  auto back = service.access_token(account);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_NE(back->access_token.expose(), first->access_token.expose());
}

TEST_F(TokenEngineTest, WrongClientSecretNeedsAttentionAndNeverPrintsTheSecret) {
  oidc_provider op(dir_, 300);
  auto cfg = write_config(op, kAppAccount);
  write_file(dir_ / "secret", "definitely-not-the-secret-31337");
  auto r = oauthmail({"token", "show", "app", "--config", cfg.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("invalid_client"), std::string::npos) << r.err;
  auto status = oauthmail({"account", "status", "app", "--config", cfg.string(), "--json"});
  const auto s = boost::json::parse(status.out).as_array().at(0).as_object();
  EXPECT_TRUE(s.at("needs_attention").as_bool()) << status.out;
  for (const auto& text : {r.out, r.err, status.out, status.err, read_file(dir_ / "tokens")}) {
    EXPECT_EQ(text.find("definitely-not-the-secret-31337"), std::string::npos);
  }
}

TEST_F(TokenEngineTest, SendWithAccountUsesTheTokenAndRetriesOnceWhenRefused) {
  oidc_provider op(dir_, 300);
  const test_pki& certs = pki();
  const auto cfg = write_config(op, kAppAccount);
  auto shown = oauthmail({"token", "show", "app", "--config", cfg.string(), "--json", "--reveal"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const std::string token(boost::json::parse(shown.out).as_object().at("access_token").as_string());

  write_file(dir_ / "msg.eml", "From: alerts@example.com\r\nTo: b@example.net\r\nSubject: t\r\n\r\nhello\r\n");
  // An Exchange-like server (STARTTLS, XOAUTH2, straight 535) that accepts exactly `accepted`.
  auto server_accepting = [&](const std::string& accepted) {
    oauth_smtp_server::options so;
    so.tls = "starttls";
    so.cert = certs.server_cert;
    so.key = certs.server_key;
    so.mechanisms = "XOAUTH2";
    so.user = "alerts@example.com";
    so.token = accepted;
    so.error_style = "microsoft";
    return std::make_unique<oauth_smtp_server>(dir_, so);
  };
  auto send_through = [&](const oauth_smtp_server& server) {
    return oauthmail(
        {"send", "--account", "app", "--config", cfg.string(), "--server", "127.0.0.1:" + std::to_string(server.port()),
         "--ca-file", certs.ca_cert.string(), "--from", "alerts@example.com", "--to", "b@example.net"},
        dir_ / "msg.eml");
  };
  {
    auto server = server_accepting(token);
    auto sent = send_through(*server);
    EXPECT_EQ(sent.exit_code, 0) << sent.err;
    EXPECT_EQ(server->stored().size(), 1u);
    EXPECT_EQ(op.token_requests(), 1);  // the cached token was used
  }
  {
    auto server = server_accepting("a-token-the-provider-never-issued");
    auto sent = send_through(*server);
    EXPECT_EQ(sent.exit_code, 77) << sent.err;
    // One renewal and one retry, never a loop.
    EXPECT_EQ(op.token_requests(), 2);
    EXPECT_EQ(count_occurrences(server->log(), "EVENT auth-bad-token"), 2u) << server->log();
    EXPECT_EQ(sent.err.find(token), std::string::npos);
  }
}

TEST_F(TokenEngineTest, SenderOutsideTheAccountIsRefusedBeforeSending) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, kAppAccount);
  write_file(dir_ / "msg.eml", "Subject: t\r\n\r\nhello\r\n");
  auto sent = oauthmail({"send", "--config", cfg.string(), "--from", "someone@else.example", "--to", "b@example.net"},
                        dir_ / "msg.eml");
  EXPECT_EQ(sent.exit_code, 78) << sent.err;
  EXPECT_NE(sent.err.find("may send as someone@else.example"), std::string::npos) << sent.err;
  EXPECT_EQ(op.token_requests(), 0);
}

}  // namespace
}  // namespace oauthmail::testing
