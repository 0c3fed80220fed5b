// Secret references: parsing (env:, file:, refusals that never echo the text) and resolution
// against real environment variables and real temporary files.
#include "secrets/reference.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace oauthmail::secrets {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed at the end of the test.
class SecretFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "oauthmail-secrets-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path write(const std::string& name, std::string_view content,
                 fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
    const fs::path p = dir_ / name;
    {
      std::ofstream out(p, std::ios::binary);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    fs::permissions(p, mode, fs::perm_options::replace);
    return p;
  }
  fs::path dir_;
};

// Sets an environment variable for the duration of a test.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// ---- parse ---------------------------------------------------------------------------------------

TEST(ReferenceParse, Env) {
  auto r = reference::parse("env:SMTP_TOKEN");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind(), scheme::env);
  EXPECT_EQ(r->target(), "SMTP_TOKEN");
  EXPECT_EQ(r->to_string(), "env:SMTP_TOKEN");
  EXPECT_EQ(fmt::format("{}", *r), "env:SMTP_TOKEN");
  std::ostringstream os;
  os << *r;
  EXPECT_EQ(os.str(), "env:SMTP_TOKEN");
  EXPECT_TRUE(reference::parse("env:_x1"));
  EXPECT_TRUE(reference::parse("ENV:A"));  // scheme is case-insensitive
  EXPECT_EQ(reference::parse("ENV:A")->to_string(), "env:A");
}

TEST(ReferenceParse, File) {
  auto r = reference::parse("file:/etc/oauthmail/token");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind(), scheme::file);
  EXPECT_EQ(r->target(), "/etc/oauthmail/token");
  EXPECT_EQ(r->to_string(), "file:/etc/oauthmail/token");
  EXPECT_EQ(reference::parse("file:relative/path:with:colons")->target(), "relative/path:with:colons");
  EXPECT_EQ(*reference::parse("file:/a"), *reference::parse("File:/a"));
  EXPECT_EQ(to_string(scheme::env), "env");
  EXPECT_EQ(to_string(scheme::file), "file");
  EXPECT_EQ(to_string(scheme::cmd), "cmd");
  EXPECT_EQ(to_string(scheme::credential), "credential");
}

TEST(ReferenceParse, Cmd) {
  auto r = reference::parse("cmd:pass show smtp/work");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind(), scheme::cmd);
  EXPECT_EQ(r->target(), "pass show smtp/work");
  EXPECT_EQ(r->to_string(), "cmd:pass show smtp/work");
  EXPECT_EQ(reference::parse("CMD:printf '%s' a:b")->target(), "printf '%s' a:b");
}

TEST(ReferenceParse, Credential) {
  auto r = reference::parse("credential:smtp-secret.work");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind(), scheme::credential);
  EXPECT_EQ(r->target(), "smtp-secret.work");
  EXPECT_EQ(r->to_string(), "credential:smtp-secret.work");
  EXPECT_TRUE(reference::parse("Credential:x"));
}

void expect_refused_without_echo(std::string_view text, std::string_view must_not_appear) {
  auto r = reference::parse(text);
  ASSERT_FALSE(r) << text;
  EXPECT_EQ(r.error().code(), secrets_errc::malformed_reference);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  EXPECT_EQ(r.error().message().find(must_not_appear), std::string::npos) << r.error().message();
  auto resolved = resolve(text);
  ASSERT_FALSE(resolved);
  EXPECT_EQ(resolved.error().code(), secrets_errc::malformed_reference);
}

TEST(ReferenceParse, BareLiteralIsRefusedAndNotEchoed) {
  expect_refused_without_echo("ya29.a0AfH6SMBx-literal-token", "a0AfH6SMBx");
  expect_refused_without_echo("hunter2", "hunter2");
  expect_refused_without_echo("", "\x01");
  auto r = reference::parse("correct horse battery staple");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("env:NAME"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("file:PATH"), std::string::npos);
}

TEST(ReferenceParse, UnknownSchemeIsRefusedAndNotEchoed) {
  // A password with a colon in it looks like "scheme:rest".
  expect_refused_without_echo("p4ss:w0rd-secret", "p4ss");
  expect_refused_without_echo("p4ss:w0rd-secret", "w0rd");
  expect_refused_without_echo("https://example.com/secret", "example.com");
  auto planned = reference::parse("vault:secret/data/smtp#token");
  ASSERT_FALSE(planned);
  EXPECT_NE(planned.error().message().find("not supported yet"), std::string::npos);
  EXPECT_EQ(planned.error().message().find("secret/data"), std::string::npos);
}

TEST(ReferenceParse, MalformedTargetsAreRefusedAndNotEchoed) {
  expect_refused_without_echo("env:", "env:\"");
  expect_refused_without_echo("env:ya29.secret-token", "ya29");  // a pasted token, not a name
  expect_refused_without_echo("env:1ABC", "1ABC");
  expect_refused_without_echo("env:A B", "A B");
  expect_refused_without_echo("file:", "file:\"");
  expect_refused_without_echo(std::string_view("file:/tmp/a\0b", 13), "/tmp/a");
  expect_refused_without_echo("cmd:", "cmd:\"");
  expect_refused_without_echo("cmd: \t ", "\t");
  expect_refused_without_echo(std::string_view("cmd:echo a\0b", 13), "echo");
  expect_refused_without_echo("credential:", "credential:\"");
  expect_refused_without_echo("credential:../etc/shadow", "shadow");
  expect_refused_without_echo("credential:..", "..\"");
  expect_refused_without_echo("credential:a/b", "a/b");
  expect_refused_without_echo("credential:" + std::string(256, 'x'), "xxxx");
}

// ---- env: ----------------------------------------------------------------------------------------

TEST(ResolveEnv, ReadsTheVariable) {
  const scoped_env env("OAUTHMAIL_TEST_TOKEN", "ya29.from-env");
  auto r = resolve("env:OAUTHMAIL_TEST_TOKEN");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value.expose(), "ya29.from-env");
  EXPECT_FALSE(r->warning);
  EXPECT_EQ(fmt::format("{}", r->value), "***");
}

TEST(ResolveEnv, KeepsWhitespaceAndNewlines) {
  const scoped_env env("OAUTHMAIL_TEST_TOKEN", " a b\n");
  auto r = resolve("env:OAUTHMAIL_TEST_TOKEN");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value.expose(), " a b\n");
}

TEST(ResolveEnv, UnsetSaysWhichVariableToSet) {
  const scoped_env env("OAUTHMAIL_TEST_UNSET", nullptr);
  auto r = resolve("env:OAUTHMAIL_TEST_UNSET");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::not_found);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(r.error().message().find("OAUTHMAIL_TEST_UNSET is not set"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("env:OAUTHMAIL_TEST_UNSET"), std::string::npos);
}

TEST(ResolveEnv, EmptyIsAnError) {
  const scoped_env env("OAUTHMAIL_TEST_EMPTY", "");
  auto r = resolve("env:OAUTHMAIL_TEST_EMPTY");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::empty);
  EXPECT_NE(r.error().message().find("OAUTHMAIL_TEST_EMPTY is empty"), std::string::npos) << r.error().message();
}

// ---- file: ---------------------------------------------------------------------------------------

TEST_F(SecretFiles, ReadsAndStripsOneNewline) {
  const auto lf = write("lf", "ya29.file-token\n");
  const auto crlf = write("crlf", "ya29.file-token\r\n");
  const auto none = write("none", "ya29.file-token");
  const auto two = write("two", "pw\n\n");
  const auto cr_only = write("cr", "pw\r");
  const auto inner = write("inner", "line1\nline2\n");
  for (const auto& p : {lf, crlf, none}) {
    auto r = resolve("file:" + p.string());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->value.expose(), "ya29.file-token") << p;
    EXPECT_FALSE(r->warning) << *r->warning;
  }
  EXPECT_EQ(resolve("file:" + two.string())->value.expose(), "pw\n");  // only ONE newline
  EXPECT_EQ(resolve("file:" + cr_only.string())->value.expose(), "pw\r");
  EXPECT_EQ(resolve("file:" + inner.string())->value.expose(), "line1\nline2");
}

TEST_F(SecretFiles, KeepsBinaryContent) {
  const std::string content("a\0b\xff", 4);
  const auto p = write("bin", content);
  auto r = resolve("file:" + p.string());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value.expose(), content);
}

TEST_F(SecretFiles, GroupOrOtherAccessIsRefused) {
  const auto p = write("open", "ya29.token\n",
                       fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  auto r = resolve("file:" + p.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::insecure);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(r.error().message().find("chmod 600 " + p.string()), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("0644"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("file:" + p.string()), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("ya29.token"), std::string::npos);

  // Any access by group or others: read, write or execute.
  for (const auto mode :
       {fs::perms::owner_read | fs::perms::group_read, fs::perms::owner_read | fs::perms::others_read,
        fs::perms::owner_read | fs::perms::group_write, fs::perms::owner_read | fs::perms::others_exec}) {
    const auto g = write("group", "x", mode);
    auto rg = resolve("file:" + g.string());
    ASSERT_FALSE(rg) << static_cast<unsigned>(mode);
    EXPECT_EQ(rg.error().code(), secrets_errc::insecure);
  }

  for (const auto mode :
       {fs::perms::owner_read, fs::perms::owner_read | fs::perms::owner_write, fs::perms::owner_all}) {
    const auto owner_only = write("owner", "x", mode);
    auto ro = resolve("file:" + owner_only.string());
    ASSERT_TRUE(ro) << ro.error().message();
    EXPECT_FALSE(ro->warning);
  }
}

TEST_F(SecretFiles, OpenLargeFileIsRefusedForItsModeFirst) {
  // The mode is checked before the size (and before a byte is read).
  const auto p =
      write("big-open", std::string(max_file_size + 10, 'a'), fs::perms::owner_read | fs::perms::others_read);
  auto r = resolve("file:" + p.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::insecure);
}

TEST_F(SecretFiles, EmptyFileIsRefused) {
  for (const std::string_view content : {std::string_view(""), std::string_view("\n"), std::string_view("\r\n")}) {
    const auto p = write("empty", content);
    auto r = resolve("file:" + p.string());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), secrets_errc::empty);
    EXPECT_NE(r.error().message().find("file:" + p.string()), std::string::npos) << r.error().message();
  }
}

TEST_F(SecretFiles, SizeLimit) {
  const auto at_limit = write("at", std::string(max_file_size, 'a'));
  auto ok = resolve("file:" + at_limit.string());
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->value.expose().size(), max_file_size);

  const auto with_newline = write("nl", std::string(max_file_size - 1, 'a') + "\n");
  EXPECT_TRUE(resolve("file:" + with_newline.string()));

  const auto over = write("over", std::string(max_file_size + 1, 'T'));
  auto r = resolve("file:" + over.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::too_large);
  EXPECT_NE(r.error().message().find("file:" + over.string()), std::string::npos);
  EXPECT_NE(r.error().message().find("65536"), std::string::npos) << r.error().message();
}

TEST_F(SecretFiles, MissingFile) {
  const std::string path = (dir_ / "missing").string();
  auto r = resolve("file:" + path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::not_found);
  EXPECT_NE(r.error().message().find("file:" + path), std::string::npos) << r.error().message();
  auto under_file = resolve("file:" + write("plain", "x").string() + "/sub");
  ASSERT_FALSE(under_file);
  EXPECT_EQ(under_file.error().code(), secrets_errc::not_found);
}

TEST_F(SecretFiles, DirectoryAndFifoAreRefused) {
  auto d = resolve("file:" + dir_.string());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), secrets_errc::unreadable);
  EXPECT_NE(d.error().message().find("not a regular file"), std::string::npos);

  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = resolve("file:" + fifo.string());  // must not block
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), secrets_errc::unreadable);
}

TEST_F(SecretFiles, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const auto p = write("noperm", "TOPSECRET", fs::perms::none);
  auto r = resolve("file:" + p.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::unreadable);
  EXPECT_NE(r.error().message().find("permission denied"), std::string::npos) << r.error().message();
}

TEST_F(SecretFiles, FollowsSymlinks) {
  const auto target = write("target", "via-link\n");
  const fs::path link = dir_ / "link";
  fs::create_symlink(target, link);
  auto r = resolve("file:" + link.string());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value.expose(), "via-link");
}

TEST_F(SecretFiles, ErrorsNeverContainTheValue) {
  const auto open_file = write("o", "TOPSECRET\n", fs::perms::all);
  const auto big = write("b", "TOPSECRET" + std::string(max_file_size, 'x'));
  const scoped_env env("OAUTHMAIL_TEST_TOKEN", "TOPSECRET");
  for (const std::string& text :
       {"file:" + open_file.string(), "file:" + big.string(), std::string("TOPSECRET"),
        std::string("env:OAUTHMAIL_TEST_TOKEN"), std::string("xyz:TOPSECRET"), std::string("env:TOP.SECRET")}) {
    auto r = resolve(text);
    if (r) {
      EXPECT_EQ(fmt::format("{}", r->value), "***");
      if (r->warning) {
        EXPECT_EQ(r->warning->find("TOPSECRET"), std::string::npos) << *r->warning;
      }
    } else {
      EXPECT_EQ(r.error().message().find("TOPSECRET"), std::string::npos) << r.error().message();
      EXPECT_EQ(r.error().message().find("SECRET"), std::string::npos) << r.error().message();
    }
  }
}

TEST(SecretsCategory, Messages) {
  const std::error_code ec = secrets_errc::not_found;
  EXPECT_STREQ(ec.category().name(), "oauthmail.secrets");
  for (const auto e :
       {secrets_errc::malformed_reference, secrets_errc::not_found, secrets_errc::empty, secrets_errc::too_large,
        secrets_errc::unreadable, secrets_errc::insecure, secrets_errc::command_failed, secrets_errc::timed_out}) {
    EXPECT_NE(make_error_code(e).message(), "unknown secrets error");
  }
  EXPECT_EQ(make_error_code(static_cast<secrets_errc>(42)).message(), "unknown secrets error");
}

}  // namespace
}  // namespace oauthmail::secrets
