// The token engine against a real OpenID provider (npm oidc-provider, tests/integration/peers/
// oidc_provider.mjs) on loopback: tokens cached and shared (100 threads, 10 processes, one token
// request counted at the provider), renewal ahead of expiry, the device flow approved headlessly by
// the peer's test user (with curl, a client nobody here wrote), refresh with rotation, a refused
// token renewed once and retried once (never a loop), and an account that needs attention.
// Also: keep-alive of idle refresh tokens (an old one refreshed, a fresh one left alone, a revoked
// one recorded), private_key_jwt with a certificate made by the openssl command, sign-out that
// revokes the refresh token (RFC 7009) — or deletes locally when the provider is down — and
// discovery that is retried while the provider is away, but not when its document is missing.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <csignal>
#include <future>
#include <regex>
#include <thread>

#include "config/config.hpp"
#include "core/base64.hpp"
#include "integration/support/harness.hpp"
#include "integration/support/oidc_provider.hpp"
#include "integration/support/peers.hpp"
#include "net/token_service.hpp"
#include "oauth/token_codec.hpp"
#include "secrets/encrypted_store.hpp"

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

  // The token cache as oauthmail wrote it (key file next to it, as without token_cache.key).
  secrets::encrypted_store cache() const {
    auto key = secrets::load_or_create_key_file((dir_ / "tokens.key").string());
    if (!key) throw std::runtime_error(key.error().message());
    return secrets::encrypted_store((dir_ / "tokens").string(), std::move(*key));
  }
  // The stored token set of an account (the one entry "token:NAME:...").
  std::optional<oauth::token_set> stored_tokens(const std::string& name) const {
    auto entries = cache().load();
    if (!entries) throw std::runtime_error(entries.error().message());
    for (const auto& [k, v] : *entries) {
      if (k.rfind("token:" + name + ":", 0) == 0) {
        if (auto t = oauth::decode_token_set(v)) return *t;
      }
    }
    return std::nullopt;
  }
  // Rewrites an account's entry (under the cache lock, as oauthmail does) with `edit` applied;
  // `as` stores it under another account's name too.
  void edit_tokens(const std::string& name, const std::function<void(oauth::token_set&)>& edit,
                   const std::string& as = "") {
    auto store = cache();
    auto lock = store.lock_exclusive(10s);
    ASSERT_TRUE(lock);
    auto entries = store.load();
    ASSERT_TRUE(entries);
    std::optional<std::pair<std::string, core::secret<std::string>>> copy;
    for (auto& [k, v] : *entries) {
      if (k.rfind("token:" + name + ":", 0) != 0) continue;
      auto t = oauth::decode_token_set(v);
      ASSERT_TRUE(t);
      edit(*t);
      v = oauth::encode_token_set(*t);
      if (!as.empty()) copy.emplace("token:" + as + k.substr(6 + name.size()), v);
    }
    if (copy) entries->insert_or_assign(copy->first, copy->second);
    ASSERT_TRUE(store.save(*entries));
  }

  // A refresh grant sent straight to the provider with curl: the HTTP status and the body.
  std::pair<int, std::string> refresh_at_provider(const oidc_provider& op, const std::string& refresh_token) {
    auto r = run_program({"curl", "-s", "--max-time", "10", "-w", "\n%{http_code}", "--data-urlencode",
                          "grant_type=refresh_token", "--data-urlencode", "client_id=oauthmail-public",
                          "--data-urlencode", "refresh_token=" + refresh_token, op.issuer() + "/token"},
                         dir_.path());
    const auto nl = r.out.rfind('\n');
    if (nl == std::string::npos) return {0, r.out};
    return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
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

// ---- token_cache.key as a passphrase ----------------------------------------------------------

TEST_F(TokenEngineTest, PassphraseKeyedCacheRefusesAWrongPassphraseAndKeepsTheFile) {
  oidc_provider op(dir_, 300);
  auto cfg = write_config(op, kAppAccount);
  std::string text = read_file(cfg);
  text.replace(text.find("[token_cache]\n"), 14, "[token_cache]\nkey = \"env:OAUTHMAIL_TEST_CACHE_KEY\"\n");
  write_file(cfg, text);
  auto with_key = [&](const std::string& passphrase, std::vector<std::string> args) {
    args.insert(args.begin(), OAUTHMAIL_BINARY);
    args.push_back("--config");
    args.push_back(cfg.string());
    return run_program(std::move(args), dir_.path(), std::nullopt, 60s, {"OAUTHMAIL_TEST_CACHE_KEY=" + passphrase});
  };
  auto first = with_key("a passphrase, not a key", {"token", "show", "app", "--json", "--reveal"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string cache = read_file(dir_ / "tokens");
  ASSERT_GT(cache.size(), 9u);
  EXPECT_EQ(cache[8], 2) << "a passphrase writes the Argon2id format";
  EXPECT_FALSE(fs::exists(dir_ / "tokens.key")) << "no key file with token_cache.key";

  auto wrong = with_key("another passphrase", {"token", "show", "app"});
  EXPECT_EQ(wrong.exit_code, 78) << wrong.err;
  EXPECT_NE(wrong.err.find("the passphrase in token_cache.key is not the one it was written with"), std::string::npos)
      << wrong.err;
  EXPECT_EQ(wrong.err.find("another passphrase"), std::string::npos);
  EXPECT_EQ(read_file(dir_ / "tokens"), cache) << "nothing overwritten";
  EXPECT_EQ(op.token_requests(), 1);

  auto again = with_key("a passphrase, not a key", {"token", "show", "app", "--json", "--reveal"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(boost::json::parse(again.out).as_object().at("access_token"),
            boost::json::parse(first.out).as_object().at("access_token"));
  EXPECT_EQ(op.token_requests(), 1);
}

// ---- default_account ----------------------------------------------------------------------------

// Two app-only accounts of the same client; `robot` comes first in the file, `app` is the default.
std::string two_app_accounts(bool with_default) {
  std::string robot = kAppAccount;
  robot.replace(robot.find("name = \"app\""), 12, "name = \"robot\"");
  robot.replace(robot.find("alerts@example.com"), 18, "robot@example.com");
  return std::string(with_default ? "default_account = \"app\"\n" : "") + robot + kAppAccount;
}

// Without --account (and without --server): the account that may send as --from; else the default
// account (default_account, or without --from the first account) — whose allowed senders still
// apply. Without --from, the chosen account's user is the sender.
TEST_F(TokenEngineTest, DefaultAccountIsUsedWhenNeitherAccountNorFromChooseOne) {
  oidc_provider op(dir_, 300);
  const test_pki& certs = pki();
  // The app account's token first (cached), so that the server can accept exactly that one.
  auto cfg = write_config(op, two_app_accounts(false));
  auto shown = oauthmail({"token", "show", "app", "--config", cfg.string(), "--json", "--reveal"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  oauth_smtp_server::options so;
  so.tls = "starttls";
  so.cert = certs.server_cert;
  so.key = certs.server_key;
  so.mechanisms = "XOAUTH2";
  so.user = "alerts@example.com";
  so.token = std::string(boost::json::parse(shown.out).as_object().at("access_token").as_string());
  so.error_style = "microsoft";
  oauth_smtp_server server(dir_, so);
  // Both accounts send to this server by their own settings (no --server on the command line).
  auto accounts = two_app_accounts(false);
  for (std::size_t pos = 0; (pos = accounts.find("port = 587", pos)) != std::string::npos;) {
    accounts.replace(pos, 10,
                     "port = " + std::to_string(server.port()) + "\nca_file = \"" + certs.ca_cert.string() + "\"");
  }
  cfg = write_config(op, accounts);
  const std::string file = read_file(cfg);
  write_file(dir_ / "msg.eml", "Subject: t\r\n\r\nhello\r\n");
  auto send = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"send", "--config", cfg.string(), "--to", "b@example.net"});
    return oauthmail(std::move(args), dir_ / "msg.eml");
  };
  auto has_token = [&](const std::string& name) {
    auto st = oauthmail({"account", "status", name, "--config", cfg.string(), "--json"});
    return boost::json::parse(st.out).as_array().at(0).as_object().at("has_access_token").as_bool();
  };

  // No default_account, no --from: the first account (robot), as robot@example.com; this server
  // lets only alerts@example.com in.
  auto first = send({});
  EXPECT_NE(first.exit_code, 0);
  EXPECT_TRUE(has_token("robot"));
  EXPECT_TRUE(server.stored().empty());

  // default_account = "app": app, as alerts@example.com, with the cached token.
  write_file(cfg, "default_account = \"app\"\n" + file);
  const auto requests = op.token_requests();
  auto sent = send({});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_EQ(server.stored()[0].mail_from, "alerts@example.com");
  EXPECT_EQ(server.stored()[0].auth_user.value_or(""), "alerts@example.com");
  EXPECT_EQ(op.token_requests(), requests);

  // A From that an account may send as picks that account, even when another is the default.
  auto by_from = send({"--from", "robot@example.com"});
  EXPECT_NE(by_from.exit_code, 0);
  EXPECT_EQ(server.stored().size(), 1u);

  // A From no account may send as: the default account is chosen, and refuses it before any token
  // request or connection.
  const auto before = op.token_requests();
  auto refused = send({"--from", "someone@else.example"});
  EXPECT_EQ(refused.exit_code, 78) << refused.err;
  EXPECT_NE(refused.err.find("Account app (the default account) may not send as someone@else.example"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(op.token_requests(), before);
  EXPECT_EQ(server.stored().size(), 1u);

  // --from that the default account may send as, without --account: sent.
  auto explicit_from = send({"--from", "alerts@example.com"});
  EXPECT_EQ(explicit_from.exit_code, 0) << explicit_from.err;
  EXPECT_EQ(server.stored().size(), 2u);

  // Without an account (--server), --from is still required.
  auto no_from = send({"--server", "127.0.0.1:" + std::to_string(server.port())});
  EXPECT_EQ(no_from.exit_code, 64) << no_from.err;
  EXPECT_NE(no_from.err.find("--from is required"), std::string::npos) << no_from.err;
}

// ---- keep-alive of idle refresh tokens ----------------------------------------------------------

// The accounts of the keep-alive tests: two with keep_alive = true, one without, one app-only.
std::string keep_alive_config() {
  std::string text;
  for (const auto& [name, on] : {std::pair<std::string, bool>{"idle", true}, {"busy", true}, {"off", false}}) {
    text += "[[account]]\nname = \"" + name +
            "\"\nprovider = \"generic\"\nflow = \"device_code\"\nissuer = \"ISSUER\"\n"
            "client_id = \"oauthmail-public\"\nuser = \"alice@example.com\"\n"
            "scopes = [\"SMTP.Send\", \"offline_access\"]\nkeep_alive = " +
            (on ? "true" : "false") + "\n\n[account.smtp]\nhost = \"127.0.0.1\"\n\n";
  }
  return text + kAppAccount;
}

boost::json::object by_account(const std::string& json, const std::string& name) {
  const boost::json::value doc = boost::json::parse(json);
  for (const auto& v : doc.as_array()) {
    if (v.as_object().at("account").as_string() == name) return v.as_object();
  }
  ADD_FAILURE() << "no report for " << name << " in " << json;
  return {};
}

TEST_F(TokenEngineTest, KeepAliveRefreshesAnIdleRefreshTokenAndLeavesAFreshOneAlone) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, keep_alive_config());
  device_login(op, cfg, "idle");
  if (HasFatalFailure()) return;
  device_login(op, cfg, "busy");
  if (HasFatalFailure()) return;
  // "idle" last used its refresh token 8 days ago; "off" (keep_alive = false) holds the same,
  // equally old tokens.
  const auto eight_days = std::chrono::hours(8 * 24);
  edit_tokens(
      "idle",
      [&](oauth::token_set& t) {
        t.obtained_at -= eight_days;
        t.expires_at -= eight_days;
      },
      "off");
  if (HasFatalFailure()) return;
  const auto before = stored_tokens("idle");
  ASSERT_TRUE(before && before->refresh_token);
  ASSERT_EQ(op.issued("refresh_token"), 0);

  auto run = oauthmail({"token", "keep-alive", "--config", cfg.string(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto idle = by_account(run.out, "idle");
  EXPECT_EQ(idle.at("result").as_string(), "refreshed") << run.out;
  EXPECT_EQ(by_account(run.out, "busy").at("result").as_string(), "fresh") << run.out;
  EXPECT_EQ(by_account(run.out, "off").at("result").as_string(), "disabled") << run.out;
  EXPECT_EQ(by_account(run.out, "app").at("result").as_string(), "not_applicable") << run.out;
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(oauth::wall_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(idle.at("last_used").as_int64()), static_cast<double>(now - 8 * 24 * 3600), 120.0);
  EXPECT_NEAR(static_cast<double>(idle.at("next_due").as_int64()), static_cast<double>(now + 7 * 24 * 3600), 120.0);
  // Exactly one refresh reached the provider: the idle account's.
  EXPECT_EQ(op.issued("refresh_token"), 1);
  EXPECT_EQ(op.issued("client_credentials"), 0);
  const auto after = stored_tokens("idle");
  ASSERT_TRUE(after && after->refresh_token);
  EXPECT_NE(after->refresh_token->expose(), before->refresh_token->expose());  // rotated and stored
  EXPECT_GT(after->obtained_at, before->obtained_at + std::chrono::hours(24));
  // Run again (as a daily timer would): nothing is due now.
  auto again = oauthmail({"token", "keep-alive", "--config", cfg.string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("idle"), std::string::npos);
  EXPECT_TRUE(std::regex_search(again.out, std::regex("idle +fresh"))) << again.out;
  EXPECT_TRUE(std::regex_search(again.out, std::regex("off +disabled +keep_alive is off"))) << again.out;
  EXPECT_EQ(op.issued("refresh_token"), 1);  // no other refresh
  // The provider refuses the replaced refresh token (rotation): only the stored one keeps the
  // account alive. (Replaying it makes oidc-provider revoke the whole grant, so this comes last.)
  EXPECT_EQ(refresh_at_provider(op, before->refresh_token->expose()).first, 400);
}

TEST_F(TokenEngineTest, KeepAliveOfARevokedRefreshTokenNeedsAttention) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, keep_alive_config());
  device_login(op, cfg, "idle");
  if (HasFatalFailure()) return;
  edit_tokens("idle", [](oauth::token_set& t) { t.obtained_at -= std::chrono::hours(10 * 24); });
  if (HasFatalFailure()) return;
  // Revoked at the provider (as after a password reset).
  const auto stored = stored_tokens("idle");
  ASSERT_TRUE(stored && stored->refresh_token);
  auto revoke =
      run_program({"curl", "-s", "--max-time", "10", "--data-urlencode", "client_id=oauthmail-public",
                   "--data-urlencode", "token=" + stored->refresh_token->expose(), op.issuer() + "/token/revocation"},
                  dir_.path());
  ASSERT_EQ(revoke.exit_code, 0);

  auto run = oauthmail({"token", "keep-alive", "--config", cfg.string(), "--json"});
  EXPECT_EQ(run.exit_code, 78) << run.err;
  const auto idle = by_account(run.out, "idle");
  EXPECT_EQ(idle.at("result").as_string(), "failed") << run.out;
  EXPECT_EQ(idle.at("failure_class").as_string(), "needs-human") << run.out;
  EXPECT_NE(std::string(idle.at("error").as_string()).find("invalid_grant"), std::string::npos) << run.out;
  EXPECT_EQ(by_account(run.out, "busy").at("result").as_string(), "not_signed_in") << run.out;
  EXPECT_EQ(run.out.find(stored->refresh_token->expose()), std::string::npos);
  EXPECT_EQ(run.err.find(stored->refresh_token->expose()), std::string::npos);
  auto status = oauthmail({"account", "status", "idle", "--config", cfg.string(), "--json"});
  const auto st = boost::json::parse(status.out).as_array().at(0).as_object();
  EXPECT_TRUE(st.at("needs_attention").as_bool()) << status.out;
  EXPECT_TRUE(st.at("has_refresh_token").as_bool()) << "a refused refresh token is kept, never thrown away";
}

// ---- private_key_jwt (RFC 7523 client assertion) with a certificate ---------------------------

// {"keys":[{RSA public key of `key_pem`}]}, from the PEM file (OpenSSL 3).
std::string public_jwks_of(const fs::path& key_pem) {
  const std::string pem = read_file(key_pem);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                          &EVP_PKEY_free);
  if (!key) throw std::runtime_error("cannot read " + key_pem.string());
  auto component = [&](const char* name) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key.get(), name, &bn) != 1) throw std::runtime_error("RSA parameter");
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return core::base64url_encode(bytes);
  };
  boost::json::object jwk{{"kty", "RSA"},
                          {"use", "sig"},
                          {"alg", "RS256"},
                          {"n", component(OSSL_PKEY_PARAM_RSA_N)},
                          {"e", component(OSSL_PKEY_PARAM_RSA_E)}};
  return boost::json::serialize(boost::json::object{{"keys", boost::json::array{jwk}}});
}

// A key and a self-signed certificate made by the openssl command, both mode 0600.
void make_client_certificate(const temp_dir& dir, const std::string& name) {
  auto r = run_program(
      {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", (dir / (name + ".key")).string(), "-out",
       (dir / (name + ".crt")).string(), "-days", "2", "-subj", "/CN=oauthmail-test-" + name},
      dir.path(), std::nullopt, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto* ext : {".key", ".crt"}) {
    fs::permissions(dir / (name + ext), fs::perms::owner_read | fs::perms::owner_write);
  }
}

const std::string kJwtAccount = R"(
[[account]]
name = "app-cert"
provider = "generic"
flow = "client_credentials"
issuer = "ISSUER"
client_id = "oauthmail-cc-jwt"
client_certificate = "file:DIR/client.crt"
client_private_key = "file:DIR/client.key"
user = "alerts@example.com"
scopes = ["SMTP.SendAsApp"]

[account.smtp]
host = "127.0.0.1"
)";

TEST_F(TokenEngineTest, PrivateKeyJwtWithACertificateThroughTheTokenService) {
  make_client_certificate(dir_, "client");
  if (HasFatalFailure()) return;
  write_file(dir_ / "client-jwks.json", public_jwks_of(dir_ / "client.key"));
  oidc_provider op(dir_, 300, dir_ / "client-jwks.json");
  std::string accounts = kJwtAccount;
  for (std::size_t pos; (pos = accounts.find("DIR")) != std::string::npos;) accounts.replace(pos, 3, dir_.path());
  const auto cfg = write_config(op, accounts);

  auto check = oauthmail({"config", "check", "--config", cfg.string()});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  auto shown = oauthmail({"token", "show", "app-cert", "--config", cfg.string(), "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const auto j = boost::json::parse(shown.out).as_object();
  EXPECT_EQ(j.at("audiences").as_array().at(0).as_string(), "urn:oauthmail:smtp");
  EXPECT_EQ(op.issued("client_credentials"), 1);
  // Each renewal signs a new assertion (a new jti; the provider refuses a replayed one).
  for (int i = 0; i < 2; ++i) {
    auto r = oauthmail({"token", "refresh", "app-cert", "--config", cfg.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(op.issued("client_credentials"), 3);
  const std::string key_pem = read_file(dir_ / "client.key");
  const std::string key_body = key_pem.substr(key_pem.find('\n') + 1, 64);
  for (const auto& text : {shown.out, shown.err, op.log()}) {
    EXPECT_EQ(text.find(key_body), std::string::npos) << "the private key leaked";
  }

  // A key (and certificate) the provider does not know: invalid_client, needs attention.
  make_client_certificate(dir_, "client");  // replaces both files
  if (HasFatalFailure()) return;
  auto refused = oauthmail({"token", "refresh", "app-cert", "--config", cfg.string()});
  EXPECT_EQ(refused.exit_code, 78) << refused.err;
  EXPECT_NE(refused.err.find("invalid_client"), std::string::npos) << refused.err;
  auto status = oauthmail({"account", "status", "app-cert", "--config", cfg.string(), "--json"});
  EXPECT_TRUE(boost::json::parse(status.out).as_array().at(0).as_object().at("needs_attention").as_bool());
}

// ---- sign-out and revocation (RFC 7009) -------------------------------------------------------

TEST_F(TokenEngineTest, LogoutRevokesTheRefreshTokenAtTheProviderAndDeletesLocally) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, delegated_account("dev", "device_code"));
  device_login(op, cfg, "dev");
  if (HasFatalFailure()) return;
  const auto stored = stored_tokens("dev");
  ASSERT_TRUE(stored && stored->refresh_token);

  auto out = oauthmail({"account", "logout", "dev", "--config", cfg.string()});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("the provider revoked its refresh token"), std::string::npos) << out.out;
  EXPECT_EQ(op.counters().at("revocations").to_number<std::int64_t>(), 1);
  // The provider refuses the revoked refresh token (asked directly, with curl).
  const auto [status_code, body] = refresh_at_provider(op, stored->refresh_token->expose());
  EXPECT_EQ(status_code, 400) << body;
  EXPECT_NE(body.find("invalid_grant"), std::string::npos) << body;
  // Nothing is left here.
  EXPECT_FALSE(stored_tokens("dev"));
  auto status = oauthmail({"account", "status", "dev", "--config", cfg.string(), "--json"});
  const auto st = boost::json::parse(status.out).as_array().at(0).as_object();
  EXPECT_FALSE(st.at("has_refresh_token").as_bool());
  EXPECT_FALSE(st.at("has_access_token").as_bool());
  for (const auto& text : {out.out, out.err, status.out}) {
    EXPECT_EQ(text.find(stored->refresh_token->expose()), std::string::npos);
  }
  // Logging out again: nothing to revoke.
  auto again = oauthmail({"account", "logout", "dev", "--config", cfg.string(), "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const auto j = boost::json::parse(again.out).as_object();
  EXPECT_FALSE(j.at("had_refresh_token").as_bool());
  EXPECT_EQ(j.at("revocation").as_string(), "not_needed");
}

TEST_F(TokenEngineTest, LogoutWithTheProviderDownDeletesLocallyAndSaysRevocationFailed) {
  oidc_provider op(dir_, 300);
  const auto cfg = write_config(op, delegated_account("dev", "device_code"));
  device_login(op, cfg, "dev");
  if (HasFatalFailure()) return;
  const auto stored = stored_tokens("dev");
  ASSERT_TRUE(stored && stored->refresh_token);
  op.stop();

  const auto started = std::chrono::steady_clock::now();
  auto out = oauthmail({"account", "logout", "dev", "--config", cfg.string(), "--json"});
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s) << "one attempt, no retries";
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const auto j = boost::json::parse(out.out).as_object();
  EXPECT_TRUE(j.at("had_refresh_token").as_bool());
  EXPECT_EQ(j.at("revocation").as_string(), "failed");
  EXPECT_NE(std::string(j.at("revocation_error").as_string()).find("127.0.0.1"), std::string::npos) << out.out;
  EXPECT_FALSE(stored_tokens("dev"));

  // The same in words, for a person.
  op.restart();
  device_login(op, cfg, "dev");
  if (HasFatalFailure()) return;
  op.stop();
  auto text = oauthmail({"account", "logout", "dev", "--config", cfg.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.err.find("revoking the refresh token of account dev at the provider failed"), std::string::npos)
      << text.err;
  EXPECT_NE(text.out.find("Signed out: the local tokens of account dev are deleted."), std::string::npos);
  EXPECT_FALSE(stored_tokens("dev"));
}

// ---- discovery failures ------------------------------------------------------------------------

TEST_F(TokenEngineTest, DiscoveryIsRetriedWhileTheProviderIsAway) {
  oidc_provider op(dir_, 300);
  const auto cfg_path = write_config(op, kAppAccount);
  auto loaded = config::load_file(cfg_path.string());
  ASSERT_TRUE(loaded.config);
  const config::account& account = loaded.config->accounts.at(0);
  op.stop();
  net::token_service_options o;
  o.cache_path = (dir_ / "tokens").string();
  o.retry_budget = std::chrono::seconds(30);
  net::token_service service(std::move(o));
  const auto started = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] { return service.access_token(account); });
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(pending.wait_for(0s), std::future_status::timeout) << "discovery gave up at once";
  op.restart();
  auto token = pending.get();
  ASSERT_TRUE(token) << token.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - started, 2500ms);
  EXPECT_EQ(op.token_requests(), 1);

  // Another process (a new service: nothing discovered yet) uses the cached token while the
  // provider is away: discovery is needed only for a token request.
  op.stop();
  net::token_service_options again;
  again.cache_path = (dir_ / "tokens").string();
  again.retry_budget = std::chrono::seconds(30);
  net::token_service cached(std::move(again));
  const auto before = std::chrono::steady_clock::now();
  auto reused = cached.access_token(account);
  ASSERT_TRUE(reused) << reused.error().message();
  EXPECT_EQ(reused->access_token.expose(), token->access_token.expose());
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);

  // Within a small budget, a provider that stays away is a temporary failure, not "needs attention".
  net::token_service_options quick;
  quick.cache_path = (dir_ / "tokens2").string();
  quick.retry_budget = std::chrono::milliseconds(1500);
  net::token_service other(std::move(quick));
  auto down = other.access_token(account);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().classification(), core::failure_class::transient) << down.error().message();
  EXPECT_NE(down.error().message().find("discovery"), std::string::npos) << down.error().message();
  auto st = other.status(account);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->attention_cause);
}

TEST_F(TokenEngineTest, MissingOrWrongDiscoveryDocumentIsNotRetriedAndNeedsAttention) {
  oidc_provider op(dir_, 300);
  std::string accounts = kAppAccount;
  accounts.replace(accounts.find("issuer = \"ISSUER\""), 17, "issuer = \"ISSUER/nowhere\"");
  const auto cfg = write_config(op, accounts);
  const auto started = std::chrono::steady_clock::now();
  auto r = oauthmail({"token", "show", "app", "--config", cfg.string()});
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s) << "not retried";
  EXPECT_EQ(r.exit_code, 78) << r.err;
  EXPECT_NE(r.err.find("HTTP 404, 404"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("check `issuer`"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Retrying"), std::string::npos) << r.err;
  auto status = oauthmail({"account", "status", "app", "--config", cfg.string(), "--json"});
  const auto st = boost::json::parse(status.out).as_array().at(0).as_object();
  EXPECT_TRUE(st.at("needs_attention").as_bool()) << status.out;
  EXPECT_NE(std::string(st.at("attention").as_string()).find("discovery"), std::string::npos) << status.out;

  // A document for another issuer (the provider calls itself 127.0.0.1, not localhost).
  std::string other = kAppAccount;
  other.replace(other.find("issuer = \"ISSUER\""), 17,
                "issuer = \"http://localhost:" + std::to_string(op.port()) + "\"");
  const auto cfg2 = write_config(op, other);
  auto wrong = oauthmail({"token", "show", "app", "--config", cfg2.string()});
  EXPECT_EQ(wrong.exit_code, 78) << wrong.err;
  EXPECT_NE(wrong.err.find("correct `issuer`"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("Retrying"), std::string::npos) << wrong.err;
  EXPECT_EQ(op.token_requests(), 0);
}

}  // namespace
}  // namespace oauthmail::testing
