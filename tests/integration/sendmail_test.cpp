// `oauthmail sendmail` (and the binary invoked as "sendmail") with a configured account whose
// token comes from the test OpenID provider, delivering into the aiosmtpd peer: recipients from
// arguments and with -t (Bcc removed), -i and the "." line, -f/-F, From/Date/Message-ID added,
// a sender the account may not use replaced, -N (DSN NOTIFY), sysexits codes (67, 75, 64, 0 for
// -bp), the real callers Debian has (mail from mailutils, git send-email, PHP's mail()) configured
// to use it, and a 50 MB message streamed with a peak RSS far below its size.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"
#include "integration/support/message_check.hpp"
#include "integration/support/oidc_provider.hpp"
#include "integration/support/peers.hpp"

namespace oauthmail::testing {
namespace {

class SendmailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    op_.emplace(dir_, 600);
    test_account::options o;
    o.allowed_senders = {"*@example.com"};
    account_.emplace(dir_, *op_, o);
    // A directory with the binary under the names callers use.
    fs::create_directories(dir_ / "bin");
    fs::create_symlink(OAUTHMAIL_BINARY, dir_ / "bin" / "sendmail");
  }

  oauth_smtp_server start_server(oauth_smtp_server::options o = {}) {
    o.tls = "starttls";
    o.cert = pki().server_cert;
    o.key = pki().server_key;
    o.mechanisms = "XOAUTH2";
    o.user = account_->user();
    o.token = account_->token();
    o.error_style = "microsoft";
    oauth_smtp_server server(dir_, o);
    account_->point_at(server.port());
    return server;
  }

  std::vector<std::string> env() const {
    return {"OAUTHMAIL_CONFIG=" + account_->config().string(), "HOME=" + dir_.path().string(),
            "TMPDIR=" + dir_.path().string()};
  }

  run_result sendmail(std::vector<std::string> args, const std::string& message) {
    write_file(dir_ / "in.eml", message);
    args.insert(args.begin(), (dir_ / "bin" / "sendmail").string());
    return run_program(std::move(args), dir_.path(), dir_ / "in.eml", 60s, env());
  }

  boost::json::object parse(const oauth_smtp_server::stored_message& m) {
    write_file(dir_ / "stored.eml", m.eml);
    return parse_with_python(dir_ / "stored.eml", dir_.path());
  }

  static std::string show(const run_result& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out + "\n--- stderr ---\n" + r.err;
  }

  test_deadline deadline_{std::chrono::seconds(240), "SendmailTest"};
  temp_dir dir_;
  std::optional<oidc_provider> op_;
  std::optional<test_account> account_;
};

TEST_F(SendmailTest, RecipientsAsArgumentsAndHeadersAdded) {
  auto server = start_server();
  auto r = sendmail({"-oi", "-f", "reports@example.com", "--", "bob@example.net", "carol@example.org"},
                    "Subject: nightly\nTo: bob@example.net\n\nAll good.\n.\nStill the body.\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  EXPECT_TRUE(r.out.empty() && r.err.empty()) << "sendmail must be silent on success\n" << show(r);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].mail_from, "reports@example.com");
  EXPECT_EQ(stored[0].rcpt_tos, (std::vector<std::string>{"bob@example.net", "carol@example.org"}));
  EXPECT_EQ(stored[0].auth_user, "alerts@example.com");
  const auto p = parse(stored[0]);
  EXPECT_TRUE(p.at("defects").as_array().empty()) << boost::json::serialize(p.at("defects"));
  EXPECT_EQ(addresses(p, "From"), (std::vector<std::pair<std::string, std::string>>{{"", "reports@example.com"}}));
  EXPECT_EQ(header_values(p, "Date").size(), 1u);
  EXPECT_EQ(header_values(p, "Message-ID").size(), 1u);
  EXPECT_NE(stored[0].eml.find("All good.\r\n.\r\nStill the body.\r\n"), std::string::npos) << stored[0].eml;
}

TEST_F(SendmailTest, DotLineEndsTheMessageWithoutDashI) {
  auto server = start_server();
  auto r = sendmail({"bob@example.net"}, "From: alerts@example.com\nSubject: dot\n\nbefore\n.\nafter\n");
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_NE(stored[0].eml.find("before\r\n"), std::string::npos);
  EXPECT_EQ(stored[0].eml.find("after"), std::string::npos) << stored[0].eml;
}

TEST_F(SendmailTest, DashTTakesToCcBccAndRemovesBcc) {
  auto server = start_server();
  auto r = sendmail({"-t", "-i"},
                    "From: Alerts <alerts@example.com>\nTo: Bob <bob@example.net>\nCc: carol@example.org,\n"
                    " dave@example.org\nBcc: Secret <sam@example.org>\nSubject: -t\n\nbody\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].rcpt_tos,
            (std::vector<std::string>{"bob@example.net", "carol@example.org", "dave@example.org", "sam@example.org"}));
  EXPECT_EQ(stored[0].eml.find("sam@example.org"), std::string::npos) << stored[0].eml;
  EXPECT_EQ(stored[0].eml.find("Bcc"), std::string::npos) << stored[0].eml;
  EXPECT_NE(stored[0].eml.find("Cc: carol@example.org,\r\n dave@example.org\r\n"), std::string::npos)
      << "headers are kept byte for byte\n"
      << stored[0].eml;
}

TEST_F(SendmailTest, ResentHeadersChooseTheRecipients) {
  auto server = start_server();
  auto r = sendmail({"-t", "-i"},
                    "From: alerts@example.com\nTo: old@example.net\nResent-To: new@example.net\n"
                    "Resent-Bcc: hidden@example.net\nSubject: fwd\n\nbody\n");
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].rcpt_tos, (std::vector<std::string>{"new@example.net", "hidden@example.net"}));
  EXPECT_EQ(stored[0].eml.find("hidden@"), std::string::npos);
}

TEST_F(SendmailTest, FullNameAndSenderNotAllowedAreHandledLikeCron) {
  auto server = start_server();
  // As cron writes it: From is "root" without a domain. The account may not send as it: From and the
  // envelope sender become the account's user, the name is kept.
  auto r = sendmail({"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "ops@example.net"},
                    "From: root (Cron Daemon)\nTo: ops@example.net\nSubject: Cron <root@host> backup\n\nok\n");
  ASSERT_EQ(r.exit_code, 0) << show(r);
  // Without a From header, -F names the added one.
  auto r2 = sendmail({"-F", "Nightly Job", "-f", "jobs@example.com", "ops@example.net"}, "Subject: x\n\nbody\n");
  ASSERT_EQ(r2.exit_code, 0) << show(r2);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].mail_from, "alerts@example.com");
  EXPECT_EQ(addresses(parse(stored[0]), "From"),
            (std::vector<std::pair<std::string, std::string>>{{"CronDaemon", "alerts@example.com"}}));
  EXPECT_EQ(stored[1].mail_from, "jobs@example.com");
  EXPECT_EQ(addresses(parse(stored[1]), "From"),
            (std::vector<std::pair<std::string, std::string>>{{"Nightly Job", "jobs@example.com"}}));
}

TEST_F(SendmailTest, DsnNotifyIsPassedOn) {
  oauth_smtp_server::options o;
  o.dsn = true;
  auto server = start_server(o);
  auto r = sendmail({"-N", "success,failure", "-i", "bob@example.net"}, "From: alerts@example.com\n\nx\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].rcpt_options, std::vector<std::string>{"NOTIFY=SUCCESS,FAILURE"});
}

TEST_F(SendmailTest, ExitCodesFollowSysexits) {
  {
    oauth_smtp_server::options o;
    o.reject_rcpt = {"gone@example.net"};
    auto server = start_server(o);
    auto r = sendmail({"-i", "gone@example.net"}, "Subject: x\n\nbody\n");
    EXPECT_EQ(r.exit_code, 67) << show(r);
    EXPECT_NE(r.err.find("gone@example.net"), std::string::npos) << show(r);
  }
  {
    account_->point_at(free_port());  // nothing listens: try again later
    auto r = sendmail({"-i", "bob@example.net"}, "Subject: x\n\nbody\n");
    EXPECT_EQ(r.exit_code, 75) << show(r);
  }
  auto local = sendmail({"-i", "root"}, "Subject: x\n\nbody\n");
  EXPECT_EQ(local.exit_code, 67) << show(local);
  EXPECT_NE(local.err.find("MAILTO"), std::string::npos) << show(local);
  auto smtp_mode = sendmail({"-bs"}, "");
  EXPECT_EQ(smtp_mode.exit_code, 64) << show(smtp_mode);
  auto unknown = sendmail({"-Z", "bob@example.net"}, "");
  EXPECT_EQ(unknown.exit_code, 64) << show(unknown);
  auto no_rcpt = sendmail({"-t"}, "Subject: nobody\n\nbody\n");
  EXPECT_EQ(no_rcpt.exit_code, 64) << show(no_rcpt);
  auto queue = sendmail({"-bp"}, "");
  EXPECT_EQ(queue.exit_code, 0) << show(queue);
  EXPECT_NE(queue.out.find("queue is empty"), std::string::npos);
  auto bad_header = sendmail({"-t"}, "To: bob@@example.net\n\nbody\n");
  EXPECT_EQ(bad_header.exit_code, 65) << show(bad_header);
  EXPECT_NE(bad_header.err.find("bob@@example.net"), std::string::npos) << show(bad_header);
}

TEST_F(SendmailTest, SubcommandAndVerboseTranscript) {
  auto server = start_server();
  write_file(dir_ / "in.eml", "From: alerts@example.com\nSubject: v\n\nbody\n");
  auto r = run_program({OAUTHMAIL_BINARY, "sendmail", "-v", "-i", "bob@example.net"}, dir_.path(), dir_ / "in.eml", 60s,
                       env());
  ASSERT_EQ(r.exit_code, 0) << show(r);
  EXPECT_NE(r.err.find("smtp C: MAIL FROM:<alerts@example.com>"), std::string::npos) << show(r);
  EXPECT_NE(r.out.find("bob@example.net: delivered"), std::string::npos) << show(r);
  EXPECT_EQ(r.err.find(account_->token()), std::string::npos) << "the token is in the transcript";
  EXPECT_EQ(server.stored().size(), 1u);
}

// ---- real callers ---------------------------------------------------------------------------------

TEST_F(SendmailTest, MailFromMailutils) {
  auto server = start_server();
  write_file(dir_ / "body.txt", "Disk usage is fine.\n");
  auto r = run_program({"mail", "-E", "set sendmail=sendmail://" + (dir_ / "bin" / "sendmail").string(), "-s",
                        "mailutils test", "-a", "From: alerts@example.com", "bob@example.net"},
                       dir_.path(), dir_ / "body.txt", 60s, env());
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u) << server.log();
  EXPECT_EQ(stored[0].rcpt_tos, std::vector<std::string>{"bob@example.net"});
  const auto p = parse(stored[0]);
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"mailutils test"});
  EXPECT_NE(stored[0].eml.find("Disk usage is fine."), std::string::npos);
}

TEST_F(SendmailTest, GitSendEmail) {
  auto server = start_server();
  const fs::path repo = dir_ / "repo";
  fs::create_directories(repo);
  const std::vector<std::string> git_env = {"GIT_AUTHOR_NAME=Alice Dev",    "GIT_AUTHOR_EMAIL=alerts@example.com",
                                            "GIT_COMMITTER_NAME=Alice Dev", "GIT_COMMITTER_EMAIL=alerts@example.com",
                                            "HOME=" + dir_.path().string(), "GIT_CONFIG_NOSYSTEM=1"};
  auto git = [&](std::vector<std::string> a) {
    a.insert(a.begin(), {"git", "-C", repo.string()});
    auto r = run_program(a, dir_.path(), std::nullopt, 60s, git_env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r;
  };
  git({"init", "-q"});
  write_file(repo / "README", "hello\n");
  git({"add", "README"});
  git({"commit", "-q", "-m", "Add a README"});
  git({"format-patch", "-1", "-o", (dir_ / "patches").string()});
  std::vector<std::string> e = env();
  e.insert(e.end(), git_env.begin(), git_env.end());
  std::string patch;
  for (const auto& f : fs::directory_iterator(dir_ / "patches")) patch = f.path().string();
  auto r = run_program({"git", "-C", repo.string(), "send-email", "--confirm=never", "--no-validate",
                        "--smtp-server=" + (dir_ / "bin" / "sendmail").string(), "--from=alerts@example.com",
                        "--to=maintainer@example.net", "--cc=list@example.org", patch},
                       dir_.path(), std::nullopt, 60s, e);
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].mail_from, "alerts@example.com");
  EXPECT_NE(std::find(stored[0].rcpt_tos.begin(), stored[0].rcpt_tos.end(), "maintainer@example.net"),
            stored[0].rcpt_tos.end());
  EXPECT_NE(std::find(stored[0].rcpt_tos.begin(), stored[0].rcpt_tos.end(), "list@example.org"),
            stored[0].rcpt_tos.end());
  EXPECT_EQ(header_values(parse(stored[0]), "Subject"), std::vector<std::string>{"[PATCH] Add a README"});
}

TEST_F(SendmailTest, PhpMail) {
  auto server = start_server();
  auto r = run_program({"php", "-n", "-d", "sendmail_path=" + (dir_ / "bin" / "sendmail").string() + " -t -i", "-r",
                        "exit(mail('bob@example.net', 'PHP says hi', \"Line one\\nLine two\", "
                        "'From: alerts@example.com') ? 0 : 3);"},
                       dir_.path(), std::nullopt, 60s, env());
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].rcpt_tos, std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(stored[0].mail_from, "alerts@example.com");
  const auto p = parse(stored[0]);
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"PHP says hi"});
  EXPECT_NE(stored[0].eml.find("Line one\r\nLine two"), std::string::npos);
}

// ---- a large message is streamed ------------------------------------------------------------------

TEST_F(SendmailTest, FiftyMegabytesWithLowPeakMemory) {
  oauth_smtp_server::options o;
  o.size_limit = std::uint64_t{100} * 1024 * 1024;
  auto server = start_server(o);
  // 50 MB of base64-like lines, as an attachment would be.
  const std::size_t target = std::size_t{50} * 1000 * 1000;
  std::string line(76, 'A');
  std::string message = "From: alerts@example.com\nTo: bob@example.net\nSubject: big\n\n";
  message.reserve(target + 100);
  std::uint32_t x = 7;
  while (message.size() < target) {
    for (auto& c : line) {
      x = x * 1103515245u + 12345u;
      c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x >> 16) & 63];
    }
    message += line;
    message += '\n';
  }
  write_file(dir_ / "big.eml", message);
  const std::size_t size = message.size();
  message.clear();
  message.shrink_to_fit();
  // The child's peak RSS from getrusage, measured by a Python wrapper (its own RSS is not counted:
  // RUSAGE_CHILDREN covers the waited-for child only).
  auto r = run_program({system_python, "-c",
                        "import resource, subprocess, sys\n"
                        "rc = subprocess.run(sys.argv[1:]).returncode\n"
                        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
                        "sys.exit(rc)\n",
                        (dir_ / "bin" / "sendmail").string(), "-i", "-t"},
                       dir_.path(), dir_ / "big.eml", 180s, env());
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  const long peak_kib = std::stol(r.out);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_GT(stored[0].eml.size(), size);  // CR LF line ends and the added headers
  std::cout << "sendmail peak RSS for a " << size / 1000000 << " MB message: " << peak_kib / 1024 << " MiB\n";
  // Well under one copy of the message (the brief's bound is 3x).
  EXPECT_LT(static_cast<std::size_t>(peak_kib) * 1024, size / 2) << "peak RSS " << peak_kib << " KiB";
}

}  // namespace
}  // namespace oauthmail::testing
