// `oauthmail config check` as a user runs it: exit 0 with one line per account for a valid file,
// 78 (EX_CONFIG) with every problem listed for an invalid one, --json for programs, the search
// order ($OAUTHMAIL_CONFIG, $XDG_CONFIG_HOME), and neither a secret in the output nor a secret
// reference resolved (a cmd: reference that would leave a marker file is never run).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {
namespace {

constexpr int ex_ok = 0;
constexpr int ex_usage = 64;
constexpr int ex_config = 78;

constexpr const char* valid_config = R"(default_account = "alice"

[[account]]
name = "app"
provider = "microsoft"
flow = "client_credentials"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_certificate = "file:/etc/oauthmail/app.crt"
client_private_key = "file:/etc/oauthmail/app.key"
user = "noreply@contoso.com"

[[account]]
name = "alice"
provider = "microsoft"
flow = "device_code"
tenant = "organizations"
client_id = "11111111-2222-3333-4444-555555555555"
user = "alice@contoso.com"

[[account]]
name = "robot"
provider = "google"
flow = "service_account"
client_id = "109876543210987654321"
service_account_key = "credential:google-sa"
user = "robot@example.com"
)";

// Five mistakes on known lines.
constexpr const char* invalid_config = R"(default_account = "nobody"

[[account]]
name = "work"
provider = "microsft"
flow = "device_code"
tenant = "organizations"
client_id = "11111111-2222-3333-4444-555555555555"
usr = "alice@contoso.com"
renew_margin = 0

[account.smtp]
port = 70000

[[account]]
name = "gmail"
provider = "google"
flow = "authorization_code"
client_id = "1-x.apps.googleusercontent.com"
)";

class ConfigCheckTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, std::string_view content,
                 fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
    const fs::path p = dir_ / name;
    write_file(p, content);
    fs::permissions(p, mode, fs::perm_options::replace);
    return p;
  }

  run_result run(std::vector<std::string> args, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {OAUTHMAIL_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    // A private HOME and config dir: the CLI must not pick up a user's configuration.
    // Entries in `env` replace these defaults.
    std::vector<std::string> full_env = std::move(env);
    for (std::string entry : {"HOME=" + dir_.path().string(), "XDG_CONFIG_HOME=" + (dir_ / "xdg").string(),
                              std::string("OAUTHMAIL_CONFIG=")}) {
      const std::string name = entry.substr(0, entry.find('=') + 1);
      const bool given =
          std::any_of(full_env.begin(), full_env.end(), [&](const std::string& e) { return e.rfind(name, 0) == 0; });
      if (!given) full_env.push_back(std::move(entry));
    }
    return run_program(std::move(argv), dir_.path(), std::nullopt, std::chrono::seconds(30), std::move(full_env));
  }

  static std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  static std::string show(const run_result& r) {
    return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") + "\n--- stdout ---\n" + r.out +
           "\n--- stderr ---\n" + r.err;
  }

  test_deadline deadline_{std::chrono::seconds(60), "ConfigCheckTest"};
  temp_dir dir_{"oauthmail-config-check"};
};

TEST_F(ConfigCheckTest, ValidFileListsItsAccounts) {
  const auto path = write("config.toml", valid_config);
  const auto r = run({"config", "check", "--config", path.string()});
  ASSERT_EQ(r.exit_code, ex_ok) << show(r);
  EXPECT_EQ(r.err, "") << show(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4U) << show(r);
  EXPECT_EQ(lines[0], path.string() + ": 3 accounts OK");
  const std::vector<std::vector<std::string>> expected = {
      {"app", "microsoft", "client_credentials", "noreply@contoso.com"},
      {"alice", "microsoft", "device_code", "alice@contoso.com", "(default)"},
      {"robot", "google", "service_account", "robot@example.com"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    std::istringstream words(lines[i + 1]);
    std::vector<std::string> got;
    for (std::string w; words >> w;) got.push_back(w);
    EXPECT_EQ(got, expected[i]) << lines[i + 1];
  }
}

TEST_F(ConfigCheckTest, InvalidFileListsEveryProblem) {
  const auto path = write("config.toml", invalid_config);
  const auto r = run({"config", "check", "--config", path.string()});
  ASSERT_EQ(r.exit_code, ex_config) << show(r);
  EXPECT_EQ(r.out, "") << show(r);
  const auto lines = lines_of(r.err);
  const std::string p = path.string();
  const std::vector<std::string> starts = {
      p + ":1:19: default_account: no account is named \"nobody\"",
      p + ":5:12: account[0].provider: \"microsft\" is not a provider; did you mean \"microsoft\"?",
      p + ":9:1: account[0].usr: unknown key \"usr\"; did you mean \"user\"?",
      p + ":10:16: account[0].renew_margin: 0 seconds is out of range",
      p + ":13:8: account[0].smtp.port: 70000 is not a port",
      p + ":15:1: account[1].client_secret: missing client_secret",
  };
  ASSERT_EQ(lines.size(), starts.size() + 1) << show(r);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    EXPECT_EQ(lines[i].rfind(starts[i], 0), 0U) << "line " << i << ": " << lines[i];
    EXPECT_NE(lines[i].find("(example: "), std::string::npos) << lines[i];
  }
  EXPECT_EQ(lines.back(), p + ": 6 problems; the file is not valid (nothing was contacted, no secret was read)");
}

TEST_F(ConfigCheckTest, JsonForAValidFile) {
  const auto path = write("config.toml", valid_config);
  const auto r = run({"config", "check", "--config", path.string(), "--json"});
  ASSERT_EQ(r.exit_code, ex_ok) << show(r);
  const auto doc = boost::json::parse(r.out).as_object();
  EXPECT_EQ(doc.at("path").as_string(), path.string());
  EXPECT_TRUE(doc.at("valid").as_bool());
  EXPECT_TRUE(doc.at("problems").as_array().empty());
  EXPECT_TRUE(doc.at("warnings").as_array().empty());
  const auto& accounts = doc.at("accounts").as_array();
  ASSERT_EQ(accounts.size(), 3U);
  const auto& alice = accounts[1].as_object();
  EXPECT_EQ(alice.at("name").as_string(), "alice");
  EXPECT_EQ(alice.at("provider").as_string(), "microsoft");
  EXPECT_EQ(alice.at("flow").as_string(), "device_code");
  EXPECT_EQ(alice.at("user").as_string(), "alice@contoso.com");
  EXPECT_TRUE(alice.at("default").as_bool());
  EXPECT_FALSE(accounts[0].as_object().at("default").as_bool());
}

TEST_F(ConfigCheckTest, JsonForAnInvalidFile) {
  const auto path = write("config.toml", invalid_config);
  const auto r = run({"config", "check", "--json", "--config", path.string()});
  ASSERT_EQ(r.exit_code, ex_config) << show(r);
  EXPECT_EQ(r.err, "") << show(r);
  const auto doc = boost::json::parse(r.out).as_object();
  EXPECT_FALSE(doc.at("valid").as_bool());
  EXPECT_TRUE(doc.at("accounts").as_array().empty());
  const auto& problems = doc.at("problems").as_array();
  ASSERT_EQ(problems.size(), 6U) << r.out;
  const auto& port = problems[4].as_object();
  EXPECT_EQ(port.at("file").as_string(), path.string());
  EXPECT_EQ(port.at("line").as_int64(), 13);
  EXPECT_EQ(port.at("column").as_int64(), 8);
  EXPECT_EQ(port.at("key").as_string(), "account[0].smtp.port");
  EXPECT_NE(std::string(port.at("message").as_string()).find("from 1 to 65535"), std::string::npos);
  EXPECT_EQ(port.at("example").as_string(), "port = 587");
}

TEST_F(ConfigCheckTest, FoundThroughTheEnvironment) {
  const auto path = write("elsewhere.toml", valid_config);
  const auto by_env = run({"config", "check"}, {"OAUTHMAIL_CONFIG=" + path.string()});
  ASSERT_EQ(by_env.exit_code, ex_ok) << show(by_env);
  EXPECT_EQ(lines_of(by_env.out).front(), path.string() + ": 3 accounts OK");

  fs::create_directories(dir_ / "xdg/oauthmail");
  const auto xdg_file = write("xdg/oauthmail/config.toml", valid_config);
  const auto by_xdg = run({"config", "check"});
  ASSERT_EQ(by_xdg.exit_code, ex_ok) << show(by_xdg);
  EXPECT_EQ(lines_of(by_xdg.out).front(), xdg_file.string() + ": 3 accounts OK");

  // --config wins over both.
  const auto bad = write("bad.toml", invalid_config);
  const auto by_option = run({"config", "check", "--config", bad.string()}, {"OAUTHMAIL_CONFIG=" + path.string()});
  EXPECT_EQ(by_option.exit_code, ex_config) << show(by_option);
}

TEST_F(ConfigCheckTest, MissingFile) {
  const auto r = run({"config", "check", "--config", (dir_ / "absent.toml").string()});
  ASSERT_EQ(r.exit_code, ex_config) << show(r);
  EXPECT_NE(r.err.find((dir_ / "absent.toml").string() + ": the configuration file does not exist"), std::string::npos)
      << show(r);
}

TEST_F(ConfigCheckTest, NeverPrintsOrResolvesASecret) {
  const std::string inline_secret = "Zq8~inline.client-secret-VALUE";
  const fs::path marker = dir_ / "command-ran";
  const std::string text = std::string(R"([[account]]
name = "personal"
provider = "outlook"
flow = "authorization_code"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = ")") + inline_secret +
                           R"("

[[account]]
name = "app"
provider = "microsoft"
flow = "client_credentials"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "cmd:touch )" +
                           marker.string() + R"(; printf secret"
user = "app@contoso.com"
)";
  // Mode 0600: valid; the inline secret is accepted but never shown.
  const auto private_file = write("private.toml", text);
  for (const bool json : {false, true}) {
    std::vector<std::string> args = {"config", "check", "--config", private_file.string()};
    if (json) args.emplace_back("--json");
    const auto r = run(args);
    ASSERT_EQ(r.exit_code, ex_ok) << show(r);
    EXPECT_EQ(r.out.find(inline_secret), std::string::npos) << show(r);
    EXPECT_EQ(r.err.find(inline_secret), std::string::npos) << show(r);
  }
  // Mode 0644: refused, with the fix, and still never shown.
  const auto open_file =
      write("open.toml", text,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  for (const bool json : {false, true}) {
    std::vector<std::string> args = {"config", "check", "--config", open_file.string()};
    if (json) args.emplace_back("--json");
    const auto r = run(args);
    ASSERT_EQ(r.exit_code, ex_config) << show(r);
    const std::string& out = json ? r.out : r.err;
    EXPECT_NE(out.find("inline secret in a file readable by others"), std::string::npos) << show(r);
    EXPECT_NE(out.find("chmod 600 " + open_file.string()), std::string::npos) << show(r);
    EXPECT_EQ(r.out.find("inline.client-secret"), std::string::npos) << show(r);
    EXPECT_EQ(r.err.find("inline.client-secret"), std::string::npos) << show(r);
  }
  EXPECT_FALSE(fs::exists(marker)) << "config check ran a cmd: secret reference";
}

TEST_F(ConfigCheckTest, ProviderScopeMistakesAreProblems) {
  // A valid file as far as keys go, with a Graph-audience scope for SMTP (providers.md §6, item 1).
  const auto path = write("config.toml", R"([[account]]
name = "alice"
provider = "microsoft"
flow = "device_code"
tenant = "organizations"
client_id = "11111111-2222-3333-4444-555555555555"
user = "alice@contoso.com"
scopes = ["SMTP.Send", "offline_access"]
)");
  const auto r = run({"config", "check", "--config", path.string()});
  ASSERT_EQ(r.exit_code, ex_config) << show(r);
  EXPECT_NE(r.err.find(path.string() + ":8:11: account[0].scopes[0]: "), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("https://outlook.office.com/SMTP.Send"), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("1 problem;"), std::string::npos) << show(r);
}

TEST_F(ConfigCheckTest, WarningsKeepTheFileValid) {
  const auto path = write("config.toml", R"([[account]]
name = "alice"
provider = "microsoft"
flow = "device_code"
tenant = "organizations"
client_id = "11111111-2222-3333-4444-555555555555"
user = "alice@contoso.com"
scopes = ["https://outlook.office.com/SMTP.Send"]
)");
  const auto r = run({"config", "check", "--config", path.string()});
  ASSERT_EQ(r.exit_code, ex_ok) << show(r);
  EXPECT_EQ(lines_of(r.out).front(), path.string() + ": 1 account OK");
  EXPECT_NE(r.err.find(path.string() + ":8:10: warning: account[0].scopes: without offline_access"), std::string::npos)
      << show(r);
  const auto j = run({"config", "check", "--config", path.string(), "--json"});
  ASSERT_EQ(j.exit_code, ex_ok) << show(j);
  const auto doc = boost::json::parse(j.out).as_object();
  EXPECT_TRUE(doc.at("valid").as_bool());
  ASSERT_EQ(doc.at("warnings").as_array().size(), 1U) << j.out;
  EXPECT_EQ(doc.at("warnings").as_array()[0].as_object().at("line").as_int64(), 8);
}

TEST_F(ConfigCheckTest, UsageErrors) {
  const auto no_sub = run({"config"});
  EXPECT_EQ(no_sub.exit_code, ex_usage) << show(no_sub);
  const auto unknown = run({"config", "check", "--frobnicate"});
  EXPECT_EQ(unknown.exit_code, ex_usage) << show(unknown);
  const auto help = run({"config", "check", "--help"});
  EXPECT_EQ(help.exit_code, ex_ok) << show(help);
  EXPECT_NE(help.out.find("$OAUTHMAIL_CONFIG"), std::string::npos) << show(help);
  EXPECT_NE(help.out.find("78"), std::string::npos) << show(help);
}

}  // namespace
}  // namespace oauthmail::testing
