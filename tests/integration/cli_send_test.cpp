// The `oauthmail send` command line against the aiosmtpd server on loopback: delivery over
// STARTTLS + XOAUTH2 with one output line per recipient, exit 77 for a refused token, 64 for bad
// arguments, and the token never in stdout or stderr, even with -v.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "integration/support/client.hpp"
#include "integration/support/harness.hpp"
#include "integration/support/peers.hpp"

namespace oauthmail::testing {
namespace {

constexpr int ex_ok = 0;
constexpr int ex_usage = 64;   // sysexits.h EX_USAGE
constexpr int ex_noperm = 77;  // sysexits.h EX_NOPERM: the token was refused

constexpr const char* secret_token = "ya29.a0AfB_S3CRET-never-print-7f3a9c0d";
constexpr const char* user = "alice@example.com";

class CliSendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    message_file_ = dir_ / "message.eml";
    write_file(message_file_,
               "From: Alice <alice@example.com>\n"
               "To: Bob <bob@example.net>, Carol <carol@example.org>\n"
               "Subject: sent by the oauthmail CLI\n"
               "Date: Mon, 02 Jun 2025 10:00:00 +0000\n"
               "Message-ID: <cli-1@oauthmail.test>\n"
               "\n"
               "Hello from the command line.\n"
               ".a line with a leading dot\n");
    token_file_ = dir_ / "token";
    write_file(token_file_, std::string(secret_token) + "\n");
    bad_token_file_ = dir_ / "bad-token";
    write_file(bad_token_file_, "ya29.refused-by-the-server\n");
    // As a user keeps a token file: readable by its owner only (the CLI warns otherwise).
    for (const auto& f : {token_file_, bad_token_file_})
      fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  }

  oauth_smtp_server start_server(const std::string& error_style = "google") {
    oauth_smtp_server::options o;
    o.tls = "starttls";
    o.cert = pki().server_cert;
    o.key = pki().server_key;
    o.user = user;
    o.token = secret_token;
    o.error_style = error_style;
    return oauth_smtp_server(dir_, o);
  }

  std::vector<std::string> send_args(std::uint16_t port, const fs::path& token_file, const std::vector<std::string>& to,
                                     bool verbose = false) const {
    std::vector<std::string> a = {OAUTHMAIL_BINARY, "send"};
    if (verbose) a.push_back("-v");
    a.insert(a.end(), {"--server", "127.0.0.1:" + std::to_string(port), "--tls", "starttls", "--ca-file",
                       pki().ca_cert.string(), "--auth", "xoauth2", "--user", user, "--bearer",
                       "file:" + token_file.string(), "--from", "alice@example.com"});
    for (const auto& t : to) a.insert(a.end(), {"--to", t});
    return a;
  }

  run_result run(std::vector<std::string> argv) {
    // A private HOME and config dir: the CLI must not pick up a user's configuration.
    return run_program(std::move(argv), dir_.path(), message_file_, std::chrono::seconds(60),
                       {"HOME=" + dir_.path().string(), "XDG_CONFIG_HOME=" + (dir_ / "config").string(),
                        "XDG_STATE_HOME=" + (dir_ / "state").string(), "XDG_CACHE_HOME=" + (dir_ / "cache").string()});
  }

  static std::vector<std::string> non_empty_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
    return lines;
  }

  // The token, and the base64 of the XOAUTH2 initial response that carries it, in no output.
  static void expect_no_secret(const run_result& r, const char* token) {
    const std::string payload = std::string("user=") + user + "\x01" + "auth=Bearer " + token + "\x01\x01";
    const std::string b64 = core::base64_encode(payload);
    for (const auto* stream : {&r.out, &r.err}) {
      const char* name = stream == &r.out ? "stdout" : "stderr";
      EXPECT_EQ(stream->find(token), std::string::npos) << "the token appears in " << name << ":\n" << *stream;
      EXPECT_EQ(stream->find(b64), std::string::npos) << "the XOAUTH2 response appears in " << name;
      // The token's own base64, at each of the three alignments, minus the partial edge groups.
      for (std::size_t skip = 0; skip < 3; ++skip) {
        const std::string enc = core::base64_encode(std::string(token).substr(skip));
        const std::string core_part = enc.substr(4, enc.size() > 12 ? enc.size() - 12 : 0);
        if (core_part.size() >= 16) {
          EXPECT_EQ(stream->find(core_part), std::string::npos) << "base64 of the token appears in " << name;
        }
      }
    }
  }

  static std::string show(const run_result& r) {
    return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") + "\n--- stdout ---\n" + r.out +
           "\n--- stderr ---\n" + r.err;
  }

  test_deadline deadline_{std::chrono::seconds(150), "CliSendTest"};
  temp_dir dir_;
  fs::path message_file_;
  fs::path token_file_;
  fs::path bad_token_file_;
};

TEST_F(CliSendTest, SendsAndPrintsOneLinePerRecipient) {
  auto server = start_server();
  auto r = run(send_args(server.port(), token_file_, {"bob@example.net", "carol@example.org"}));
  ASSERT_EQ(r.exit_code, ex_ok) << show(r) << "\n--- server ---\n" << server.log();
  const auto lines = non_empty_lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << show(r);
  EXPECT_NE(lines[0].find("bob@example.net"), std::string::npos) << show(r);
  EXPECT_NE(lines[1].find("carol@example.org"), std::string::npos) << show(r);
  expect_no_secret(r, secret_token);

  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].mail_from, "alice@example.com");
  EXPECT_EQ(stored[0].rcpt_tos, (std::vector<std::string>{"bob@example.net", "carol@example.org"}));
  EXPECT_EQ(stored[0].auth_user, user);
  EXPECT_TRUE(stored[0].tls);
  EXPECT_NE(stored[0].eml.find("Subject: sent by the oauthmail CLI\r\n"), std::string::npos) << stored[0].eml;
  EXPECT_NE(stored[0].eml.find("\r\n.a line with a leading dot\r\n"), std::string::npos) << stored[0].eml;
  EXPECT_TRUE(server.log_has("EVENT auth-ok mechanism=XOAUTH2")) << server.log();
}

TEST_F(CliSendTest, OneRecipient) {
  auto server = start_server();
  auto r = run(send_args(server.port(), token_file_, {"bob@example.net"}));
  ASSERT_EQ(r.exit_code, ex_ok) << show(r) << "\n--- server ---\n" << server.log();
  const auto lines = non_empty_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << show(r);
  EXPECT_NE(lines[0].find("bob@example.net"), std::string::npos) << show(r);
  ASSERT_EQ(server.stored().size(), 1u);
}

TEST_F(CliSendTest, RefusedTokenExits77) {
  for (const char* style : {"google", "microsoft"}) {
    SCOPED_TRACE(style);
    auto server = start_server(style);
    auto r = run(send_args(server.port(), bad_token_file_, {"bob@example.net"}));
    EXPECT_EQ(r.exit_code, ex_noperm) << show(r) << "\n--- server ---\n" << server.log();
    EXPECT_FALSE(r.err.empty()) << "no explanation on stderr\n" << show(r);
    expect_no_secret(r, "ya29.refused-by-the-server");
    EXPECT_FALSE(server.log_has("PROTOCOL VIOLATION")) << server.log();
    EXPECT_TRUE(server.stored().empty());
  }
}

TEST_F(CliSendTest, BadArgumentsExit64) {
  const std::uint16_t nothing_listens = free_port();
  const auto good = send_args(nothing_listens, token_file_, {"bob@example.net"});
  auto replace = [&](std::vector<std::string> a, const std::string& option, const std::string& value) {
    for (std::size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == option) a[i + 1] = value;
    return a;
  };
  auto without = [&](std::vector<std::string> a, const std::string& option) {
    for (std::size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == option) {
        a.erase(a.begin() + static_cast<std::ptrdiff_t>(i), a.begin() + static_cast<std::ptrdiff_t>(i) + 2);
        break;
      }
    return a;
  };
  auto with_extra = [&](std::vector<std::string> a, const std::string& extra) {
    a.push_back(extra);
    return a;
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"unknown option", with_extra(good, "--no-such-option")},
      {"bad --tls", replace(good, "--tls", "sometimes")},
      {"bad --auth", replace(good, "--auth", "kerberos-please")},
      {"port not a number", replace(good, "--server", "127.0.0.1:smtp-port")},
      {"port out of range", replace(good, "--server", "127.0.0.1:70000")},
      {"no --server", without(good, "--server")},
      {"unknown subcommand", {OAUTHMAIL_BINARY, "sned"}},
  };
  for (const auto& [what, argv] : cases) {
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, ex_usage) << what << "\n" << show(r);
    EXPECT_FALSE(r.err.empty()) << what << ": no message on stderr";
    expect_no_secret(r, secret_token);
  }
}

// -v shows more (the transcript), never the token: neither on success nor on a refused token.
TEST_F(CliSendTest, TokenNeverPrintedEvenVerbose) {
  auto server = start_server();
  auto quiet = run(send_args(server.port(), token_file_, {"bob@example.net"}));
  ASSERT_EQ(quiet.exit_code, ex_ok) << show(quiet);
  auto verbose = run(send_args(server.port(), token_file_, {"bob@example.net"}, true));
  ASSERT_EQ(verbose.exit_code, ex_ok) << show(verbose);
  EXPECT_GT(verbose.out.size() + verbose.err.size(), quiet.out.size() + quiet.err.size()) << "-v printed nothing more\n"
                                                                                          << show(verbose);
  expect_no_secret(quiet, secret_token);
  expect_no_secret(verbose, secret_token);

  // A refused token, verbose: the server's error challenge is shown at most, the token never.
  auto refused = run(send_args(server.port(), bad_token_file_, {"bob@example.net"}, true));
  EXPECT_EQ(refused.exit_code, ex_noperm) << show(refused);
  expect_no_secret(refused, "ya29.refused-by-the-server");
  expect_no_secret(refused, secret_token);
}

}  // namespace
}  // namespace oauthmail::testing
