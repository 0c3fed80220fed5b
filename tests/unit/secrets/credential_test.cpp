// credential: secret references (systemd LoadCredential=) against a real $CREDENTIALS_DIRECTORY.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "secrets/reference.hpp"

namespace oauthmail::secrets {
namespace {

namespace fs = std::filesystem;

class Credentials : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "oauthmail-creds-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("CREDENTIALS_DIRECTORY");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void write(const std::string& name, std::string_view content, fs::perms mode = fs::perms::owner_read) {
    const fs::path p = dir_ / name;
    {
      std::ofstream out(p, std::ios::binary);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    fs::permissions(p, mode, fs::perm_options::replace);
  }
  fs::path dir_;
};

TEST_F(Credentials, ReadsTheCredentialFile) {
  write("smtp-secret", "s3cr3t-value\n");
  auto r = resolve("credential:smtp-secret");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value.expose(), "s3cr3t-value");
  EXPECT_FALSE(r->warning);
}

TEST_F(Credentials, NoModeCheck) {
  // systemd keeps the directory private to the service; files may be 0440 for a group.
  write("grp", "value", fs::perms::owner_read | fs::perms::group_read);
  auto r = resolve("credential:grp");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value.expose(), "value");
}

TEST_F(Credentials, MissingCredentialSaysHowToPassIt) {
  auto r = resolve("credential:absent");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::not_found);
  EXPECT_NE(r.error().message().find("credential:absent"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("LoadCredential=absent:"), std::string::npos) << r.error().message();
}

TEST_F(Credentials, EmptyAndTooLarge) {
  write("empty", "\n");
  auto e = resolve("credential:empty");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), secrets_errc::empty);
  EXPECT_NE(e.error().message().find("credential:empty"), std::string::npos);
  write("big", std::string(max_file_size + 1, 'S'));
  auto b = resolve("credential:big");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), secrets_errc::too_large);
  EXPECT_EQ(b.error().message().find("SSSS"), std::string::npos);
}

TEST(CredentialsWithoutSystemd, UnsetDirectorySaysItWorksUnderSystemd) {
  ::unsetenv("CREDENTIALS_DIRECTORY");
  auto r = resolve("credential:smtp-secret");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::not_found);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("$CREDENTIALS_DIRECTORY is not set"), std::string::npos) << m;
  EXPECT_NE(m.find("systemd"), std::string::npos) << m;
  EXPECT_NE(m.find("LoadCredential=smtp-secret:"), std::string::npos) << m;

  ::setenv("CREDENTIALS_DIRECTORY", "", 1);
  auto empty = resolve("credential:smtp-secret");
  ::unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("is not set"), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::secrets
