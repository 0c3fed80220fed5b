// Using a loaded configuration: who may send as which address, finding accounts by name and by
// sender, where the file is looked for, and reading a real file (its mode decides about inline
// secrets).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "unit/config/helpers.hpp"

namespace oauthmail::config::test {
namespace {

namespace fs = std::filesystem;

account make_account(std::string user, std::vector<std::string> allowed) {
  account a;
  a.name = "a";
  a.user = std::move(user);
  a.allowed_senders = std::move(allowed);
  return a;
}

TEST(MaySendAs, TheUser) {
  const account a = make_account("alice@contoso.com", {});
  EXPECT_TRUE(a.may_send_as("alice@contoso.com"));
  EXPECT_TRUE(a.may_send_as("alice@CONTOSO.com"));   // the domain is case-insensitive
  EXPECT_FALSE(a.may_send_as("Alice@contoso.com"));  // the local part is not (RFC 5321 §2.4)
  EXPECT_FALSE(a.may_send_as("bob@contoso.com"));
  EXPECT_FALSE(a.may_send_as("alice@contoso.com.evil.example"));
  EXPECT_FALSE(a.may_send_as("alice"));
  EXPECT_FALSE(a.may_send_as(""));
}

TEST(MaySendAs, AllowedSenders) {
  const account a = make_account("app@contoso.com", {"alerts@contoso.com", "*@Reports.Contoso.com"});
  EXPECT_TRUE(a.may_send_as("app@contoso.com"));  // the user always
  EXPECT_TRUE(a.may_send_as("alerts@contoso.com"));
  EXPECT_TRUE(a.may_send_as("anyone@reports.contoso.com"));
  EXPECT_TRUE(a.may_send_as("x@REPORTS.CONTOSO.COM"));
  EXPECT_FALSE(a.may_send_as("anyone@contoso.com"));
  EXPECT_FALSE(a.may_send_as("anyone@sub.reports.contoso.com"));  // *@domain is that domain only
  EXPECT_FALSE(a.may_send_as("anyone@evilreports.contoso.com"));
  EXPECT_FALSE(a.may_send_as("@reports.contoso.com"));

  const account no_user = make_account("", {"*@example.org"});
  EXPECT_TRUE(no_user.may_send_as("x@example.org"));
  EXPECT_FALSE(no_user.may_send_as("x@example.com"));
  const account nobody = make_account("", {});
  EXPECT_FALSE(nobody.may_send_as("x@example.org"));
}

TEST(Configuration, FindAndForSender) {
  const auto r = check(R"(
[[account]]
name = "app"
provider = "microsoft"
flow = "client_credentials"
tenant = "contoso.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "env:S"
allowed_senders = ["*@contoso.com"]

[[account]]
name = "alice"
provider = "microsoft"
flow = "device_code"
tenant = "contoso.com"
client_id = "11111111-2222-3333-4444-555555555555"
user = "alice@contoso.com"

[[account]]
name = "gmail"
provider = "google"
flow = "authorization_code"
client_id = "1-x.apps.googleusercontent.com"
client_secret = "env:G"
user = "someone@gmail.com"
)");
  ASSERT_TRUE(r.config) << all_problems(r);
  const configuration& c = *r.config;
  ASSERT_NE(c.find("alice"), nullptr);
  EXPECT_EQ(c.find("alice")->user, "alice@contoso.com");
  EXPECT_EQ(c.find("Alice"), nullptr);
  EXPECT_EQ(c.find("nobody"), nullptr);
  // First match in file order.
  ASSERT_NE(c.for_sender("alice@contoso.com"), nullptr);
  EXPECT_EQ(c.for_sender("alice@contoso.com")->name, "app");
  EXPECT_EQ(c.for_sender("someone@GMAIL.com")->name, "gmail");
  EXPECT_EQ(c.for_sender("someone@example.com"), nullptr);
}

// ---- the search order ----------------------------------------------------------------------------

class SearchOrder : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "oauthmail-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (const char* name : {"OAUTHMAIL_CONFIG", "XDG_CONFIG_HOME", "HOME"}) {
      const char* v = std::getenv(name);
      saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_F(SearchOrder, CommandLineFirst) {
  ::setenv("OAUTHMAIL_CONFIG", "/from/env.toml", 1);
  EXPECT_EQ(resolve_path(std::string("/from/cli.toml")), "/from/cli.toml");
  EXPECT_EQ(search_paths(std::string("/from/cli.toml")), std::vector<std::string>{"/from/cli.toml"});
}

TEST_F(SearchOrder, ThenTheEnvironment) {
  ::setenv("OAUTHMAIL_CONFIG", "/from/env.toml", 1);
  ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
  EXPECT_EQ(resolve_path(std::nullopt), "/from/env.toml");
  ::setenv("OAUTHMAIL_CONFIG", "", 1);  // empty counts as unset
  EXPECT_EQ(resolve_path(std::nullopt), (dir_ / "oauthmail/config.toml").string());
}

TEST_F(SearchOrder, XdgThenHomeThenEtc) {
  ::setenv("HOME", "/home/alice", 1);
  EXPECT_EQ(search_paths(std::nullopt),
            (std::vector<std::string>{"/home/alice/.config/oauthmail/config.toml", "/etc/oauthmail/config.toml"}));
  ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
  EXPECT_EQ(search_paths(std::nullopt),
            (std::vector<std::string>{(dir_ / "oauthmail/config.toml").string(), "/etc/oauthmail/config.toml"}));
  ::setenv("XDG_CONFIG_HOME", "relative/dir", 1);  // invalid by the XDG spec: ignored
  EXPECT_EQ(search_paths(std::nullopt).front(), "/home/alice/.config/oauthmail/config.toml");
  ::unsetenv("XDG_CONFIG_HOME");
  ::unsetenv("HOME");
  EXPECT_EQ(search_paths(std::nullopt), std::vector<std::string>{"/etc/oauthmail/config.toml"});
  EXPECT_EQ(resolve_path(std::nullopt), "/etc/oauthmail/config.toml");
}

TEST_F(SearchOrder, TheUserFileWhenItExists) {
  ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
  const fs::path user_file = dir_ / "oauthmail/config.toml";
  // Missing everywhere (assuming no /etc/oauthmail in the test machine): the user's file is named.
  if (!fs::exists("/etc/oauthmail/config.toml")) {
    EXPECT_EQ(resolve_path(std::nullopt), user_file.string());
  }
  fs::create_directories(user_file.parent_path());
  std::ofstream(user_file) << "\n";
  EXPECT_EQ(resolve_path(std::nullopt), user_file.string());
}

// ---- reading a real file -------------------------------------------------------------------------

class ConfigFile : public SearchOrder {
 protected:
  fs::path write(const std::string& content, fs::perms mode) {
    const fs::path p = dir_ / "config.toml";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    fs::permissions(p, mode, fs::perm_options::replace);
    return p;
  }
};

constexpr const char* inline_secret_file = R"([[account]]
name = "personal"
provider = "outlook"
flow = "authorization_code"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "inline-Very.Secret~value"
)";

TEST_F(ConfigFile, ModeOfTheFileDecidesAboutInlineSecrets) {
  const auto owner = fs::perms::owner_read | fs::perms::owner_write;
  const auto ok = load_file(write(inline_secret_file, owner).string());
  ASSERT_TRUE(ok.config) << all_problems(ok);
  EXPECT_EQ(ok.config->accounts[0].client_secret.inline_value->expose(), "inline-Very.Secret~value");
  EXPECT_EQ(ok.config->path, (dir_ / "config.toml").string());

  const auto path = write(inline_secret_file, owner | fs::perms::group_read | fs::perms::others_read).string();
  const auto open = load_file(path);
  ASSERT_FALSE(open.config);
  ASSERT_EQ(open.problems.size(), 1U) << all_problems(open);
  EXPECT_EQ(open.problems[0].where.file, path);
  EXPECT_EQ(open.problems[0].where.line, 6);
  EXPECT_NE(open.problems[0].message.find("0644"), std::string::npos) << open.problems[0].message;
  EXPECT_NE(open.problems[0].message.find("chmod 600 " + path), std::string::npos) << open.problems[0].message;
  EXPECT_EQ(all_problems(open).find("Very.Secret"), std::string::npos);
}

TEST_F(ConfigFile, MissingFile) {
  const std::string path = (dir_ / "absent.toml").string();
  const auto r = load_file(path);
  ASSERT_EQ(r.problems.size(), 1U);
  EXPECT_EQ(r.problems[0].where.file, path);
  EXPECT_EQ(r.problems[0].where.line, 0);
  EXPECT_NE(r.problems[0].message.find("does not exist"), std::string::npos);
  EXPECT_NE(r.problems[0].message.find("--config"), std::string::npos);
  EXPECT_EQ(r.problems[0].to_string().rfind(path + ": the configuration file does not exist", 0), 0U)
      << r.problems[0].to_string();
}

TEST_F(ConfigFile, DirectoryAndHugeFile) {
  const auto d = load_file(dir_.string());
  ASSERT_EQ(d.problems.size(), 1U);
  EXPECT_NE(d.problems[0].message.find("not a regular file"), std::string::npos);
  const auto big = write(std::string(max_file_size + 1, '#'), fs::perms::owner_read | fs::perms::owner_write);
  const auto b = load_file(big.string());
  ASSERT_EQ(b.problems.size(), 1U);
  EXPECT_NE(b.problems[0].message.find("at most"), std::string::npos);
}

TEST_F(ConfigFile, Unreadable) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const auto p = write(inline_secret_file, fs::perms::none);
  const auto r = load_file(p.string());
  ASSERT_EQ(r.problems.size(), 1U);
  EXPECT_NE(r.problems[0].message.find("permission denied"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::config::test
