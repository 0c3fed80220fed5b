// `oauthmail sendmail` (and the binary invoked as "sendmail"), end to end through the sandbox
// (`oauthmail sandbox`, the Microsoft 365 stand-in: it checks the token, and refuses a From or an
// envelope sender the mailbox may not send as) with the configuration it writes: recipients as
// arguments and with -t (Bcc removed, Resent- headers), -i/-oi and the "." line, -f/-r, -F,
// From/Date/Message-ID added, a sender the account may not use replaced, -N/-R/-V (DSN), -v, -bm,
// -C, --, the historic options callers pass (accepted and ignored), sysexits codes (67, 75, 64,
// 65, 0 for -bp), the real callers Debian has (mail from mailutils, git send-email, PHP's mail())
// configured to use it, and a 50 MB message streamed with a peak RSS far below its size. Every
// captured message (GET /api/messages?raw=1) is read back with Python's email package.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"
#include "integration/support/message_check.hpp"
#include "integration/support/sandbox.hpp"

namespace oauthmail::testing {
namespace {

using address_list = std::vector<std::pair<std::string, std::string>>;

class SendmailTest : public ::testing::Test {
 protected:
  // The Microsoft sandbox; its account "sandbox" (the default account: app-only, mailbox sender@)
  // may also send as shared@, on which sender@ has Send As.
  void SetUp() override {
    sb_.emplace(dir_);
    config_ = sb_->config_with(dir_ / "oauthmail.toml", {{"sandbox", "allowed_senders = [\"" + shared() + "\"]\n"}});
    // A directory with the binary under the name callers use.
    fs::create_directories(dir_ / "bin");
    fs::create_symlink(OAUTHMAIL_BINARY, dir_ / "bin" / "sendmail");
  }

  std::string domain() const { return sb_->domain(); }
  std::string sender() const { return "sender@" + domain(); }
  std::string shared() const { return "shared@" + domain(); }

  std::vector<std::string> env() const {
    return {"OAUTHMAIL_CONFIG=" + config_.string(), "HOME=" + dir_.path().string(), "TMPDIR=" + dir_.path().string()};
  }

  run_result sendmail(std::vector<std::string> args, const std::string& message) {
    write_file(dir_ / "in.eml", message);
    args.insert(args.begin(), (dir_ / "bin" / "sendmail").string());
    return run_program(std::move(args), dir_.path(), dir_ / "in.eml", 60s, env());
  }

  // The sandbox's captured messages, oldest first, with their raw text.
  boost::json::array captured() const { return sb_->captured(true); }
  boost::json::object parse(const boost::json::value& message) {
    const fs::path eml = dir_ / ("captured-" + std::to_string(++parsed_) + ".eml");
    write_file(eml, captured_raw(message));
    return parse_with_python(eml, dir_.path());
  }

  static std::string show(const run_result& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out + "\n--- stderr ---\n" + r.err;
  }
  std::string sandbox_log() const { return "\n--- sandbox ---\n" + sb_->log(); }

  test_deadline deadline_{std::chrono::seconds(240), "SendmailTest"};
  temp_dir dir_;
  std::optional<sandbox_process> sb_;
  fs::path config_;
  int parsed_ = 0;
};

TEST_F(SendmailTest, RecipientsAsArgumentsAndHeadersAdded) {
  auto r = sendmail({"-oi", "-f", shared(), "--", "bob@example.net", "carol@example.org"},
                    "Subject: nightly\nTo: bob@example.net\n\nAll good.\n.\nStill the body.\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  EXPECT_TRUE(r.out.empty() && r.err.empty()) << "sendmail must be silent on success\n" << show(r);
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_mail_from(list[0]), shared());
  EXPECT_EQ(captured_rcpt_to(list[0]), (std::vector<std::string>{"bob@example.net", "carol@example.org"}));
  EXPECT_EQ(list[0].at("envelope").at("mailbox").as_string(), sender());
  const auto p = parse(list[0]);
  EXPECT_TRUE(p.at("defects").as_array().empty()) << boost::json::serialize(p.at("defects"));
  EXPECT_EQ(addresses(p, "From"), (address_list{{"", shared()}}));
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"nightly"});
  EXPECT_EQ(header_values(p, "Date").size(), 1u);
  ASSERT_EQ(header_values(p, "Message-ID").size(), 1u);
  EXPECT_NE(header_values(p, "Message-ID")[0].find("@" + domain() + ">"), std::string::npos);
  EXPECT_NE(captured_raw(list[0]).find("All good.\r\n.\r\nStill the body.\r\n"), std::string::npos)
      << captured_raw(list[0]);
}

TEST_F(SendmailTest, DotLineEndsTheMessageWithoutDashI) {
  auto r = sendmail({"bob@example.net"}, "From: " + sender() + "\nSubject: dot\n\nbefore\n.\nafter\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_NE(captured_raw(list[0]).find("before\r\n"), std::string::npos);
  EXPECT_EQ(captured_raw(list[0]).find("after"), std::string::npos) << captured_raw(list[0]);
  // -O IgnoreDots=true is -i too.
  auto o =
      sendmail({"-OIgnoreDots=true", "bob@example.net"}, "From: " + sender() + "\nSubject: dot\n\nbefore\n.\nafter\n");
  ASSERT_EQ(o.exit_code, 0) << show(o);
  ASSERT_EQ(captured().size(), 2u);
  EXPECT_NE(captured_raw(captured()[1]).find("before\r\n.\r\nafter\r\n"), std::string::npos);
}

TEST_F(SendmailTest, DashTTakesToCcBccAndRemovesBcc) {
  auto r = sendmail({"-t", "-i"}, "From: Alerts <" + sender() +
                                      ">\nTo: Bob <bob@example.net>\nCc: carol@example.org,\n"
                                      " dave@example.org\nBcc: Secret <sam@example.org>\nSubject: -t\n\nbody\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_rcpt_to(list[0]),
            (std::vector<std::string>{"bob@example.net", "carol@example.org", "dave@example.org", "sam@example.org"}));
  EXPECT_EQ(captured_mail_from(list[0]), sender());
  const std::string raw = captured_raw(list[0]);
  EXPECT_EQ(raw.find("sam@example.org"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("Bcc"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Cc: carol@example.org,\r\n dave@example.org\r\n"), std::string::npos)
      << "headers are kept byte for byte\n"
      << raw;
  const auto p = parse(list[0]);
  EXPECT_EQ(addresses(p, "From"), (address_list{{"Alerts", sender()}}));
  EXPECT_TRUE(addresses(p, "Bcc").empty());
  // -t with recipients as arguments as well: both (as Postfix and Exim do).
  auto both = sendmail({"-t", "-i", "extra@example.org"}, "To: bob@example.net\nSubject: both\n\nbody\n");
  ASSERT_EQ(both.exit_code, 0) << show(both);
  ASSERT_EQ(captured().size(), 2u);
  const auto rcpts = captured_rcpt_to(captured()[1]);
  EXPECT_NE(std::find(rcpts.begin(), rcpts.end(), "bob@example.net"), rcpts.end()) << rcpts.size();
  EXPECT_NE(std::find(rcpts.begin(), rcpts.end(), "extra@example.org"), rcpts.end()) << rcpts.size();
}

TEST_F(SendmailTest, ResentHeadersChooseTheRecipients) {
  auto r = sendmail({"-t", "-i"}, "From: " + sender() +
                                      "\nTo: old@example.net\nResent-To: new@example.net\n"
                                      "Resent-Bcc: hidden@example.net\nSubject: fwd\n\nbody\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_rcpt_to(list[0]), (std::vector<std::string>{"new@example.net", "hidden@example.net"}));
  EXPECT_EQ(captured_raw(list[0]).find("hidden@"), std::string::npos);
}

// The sandbox refuses (SendAsDenied) a From or envelope sender the mailbox may not send as: that
// these arrive proves the replacement.
TEST_F(SendmailTest, FullNameAndSenderNotAllowedAreHandledLikeCron) {
  // As cron writes it: From is "root" without a domain. The account may not send as it: From and the
  // envelope sender become the account's user, the name is kept.
  auto r = sendmail({"-FCronDaemon", "-i", "ops@example.net"},
                    "From: root (Cron Daemon)\nTo: ops@example.net\nSubject: Cron <root@host> backup\n\nok\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  // Without a From header, -F names the added one; -r is -f.
  auto r2 = sendmail({"-F", "Nightly Job", "-r", shared(), "ops@example.net"}, "Subject: x\n\nbody\n");
  ASSERT_EQ(r2.exit_code, 0) << show(r2) << sandbox_log();
  // An address of the tenant the mailbox has no Send As on, in From and -f (www-data's PHP, a
  // misconfigured job): replaced too, instead of a SendAsDenied after the data.
  auto r3 = sendmail({"-f", "other@" + domain(), "ops@example.net"},
                     "From: Web Shop <other@" + domain() + ">\nSubject: order\n\nbody\n");
  ASSERT_EQ(r3.exit_code, 0) << show(r3) << sandbox_log();
  // -f that is not a complete address (as PHP's -f www-data): the account's user.
  auto r4 = sendmail({"-f", "www-data", "ops@example.net"}, "Subject: y\n\nbody\n");
  ASSERT_EQ(r4.exit_code, 0) << show(r4) << sandbox_log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(captured_mail_from(list[0]), sender());
  EXPECT_EQ(addresses(parse(list[0]), "From"), (address_list{{"CronDaemon", sender()}}));
  EXPECT_EQ(captured_mail_from(list[1]), shared());
  EXPECT_EQ(addresses(parse(list[1]), "From"), (address_list{{"Nightly Job", shared()}}));
  EXPECT_EQ(captured_mail_from(list[2]), sender());
  EXPECT_EQ(addresses(parse(list[2]), "From"), (address_list{{"Web Shop", sender()}}));
  EXPECT_EQ(captured_mail_from(list[3]), sender());
  EXPECT_EQ(addresses(parse(list[3]), "From"), (address_list{{"", sender()}}));
}

// -N, -R and -V go out as RCPT NOTIFY= and MAIL RET=/ENVID= (RFC 3461; the sandbox, like
// Exchange, offers DSN and checks their syntax). The sandbox's capture does not keep SMTP
// parameters: the -v transcript shows what was sent, the capture that it was accepted.
TEST_F(SendmailTest, DsnOptionsArePassedOn) {
  auto r = sendmail({"-v", "-N", "success,failure", "-R", "hdrs", "-V", "job-42", "-i", "bob@example.net"},
                    "From: " + sender() + "\nSubject: dsn\n\nx\n");
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  EXPECT_NE(r.err.find("smtp C: RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE"), std::string::npos) << r.err;
  const auto mail = r.err.find("smtp C: MAIL FROM:<" + sender() + ">");
  ASSERT_NE(mail, std::string::npos) << r.err;
  const std::string mail_line = r.err.substr(mail, r.err.find('\n', mail) - mail);
  EXPECT_NE(mail_line.find(" RET=HDRS"), std::string::npos) << mail_line;
  EXPECT_NE(mail_line.find(" ENVID=job-42"), std::string::npos) << mail_line;
  auto never = sendmail({"-v", "-N", "never", "-i", "carol@example.net"}, "From: " + sender() + "\nSubject: n\n\nx\n");
  ASSERT_EQ(never.exit_code, 0) << show(never);
  EXPECT_NE(never.err.find("smtp C: RCPT TO:<carol@example.net> NOTIFY=NEVER"), std::string::npos) << never.err;
  const auto list = captured();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(captured_rcpt_to(list[0]), std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(captured_rcpt_to(list[1]), std::vector<std::string>{"carol@example.net"});
}

// What cron, logwatch, mailx and friends pass: -bm (deliver, the default mode) and options of
// sendmail's that mean nothing here, each accepted and ignored; -C names the configuration.
TEST_F(SendmailTest, DeliverModeAndHistoricOptionsAreAcceptedAndIgnored) {
  const std::vector<std::string> historic = {"-bm",
                                             "-oem",
                                             "-oee",
                                             "-odb",
                                             "-odi",
                                             "-om",
                                             "-oQ/var/spool/mqueue",
                                             "-B8BITMIME",
                                             "-BSMTPUTF8",
                                             "-L",
                                             "cron",
                                             "-h",
                                             "17",
                                             "-ODeliveryMode=b",
                                             "-U",
                                             "-m",
                                             "-n",
                                             "-G",
                                             "-c",
                                             "-s",
                                             "-X",
                                             (dir_ / "sendmail-x.log").string(),
                                             "-Ac",
                                             "-dANSI",
                                             "-ep"};
  std::vector<std::string> args = historic;
  args.insert(args.end(), {"-i", "-C", config_.string(), "bob@example.net"});
  // No OAUTHMAIL_CONFIG: the configuration comes from -C.
  write_file(dir_ / "in.eml", "From: " + sender() + "\nSubject: historic\n\nbody\n");
  args.insert(args.begin(), (dir_ / "bin" / "sendmail").string());
  auto r = run_program(args, dir_.path(), dir_ / "in.eml", 60s,
                       {"HOME=" + dir_.path().string(), "TMPDIR=" + dir_.path().string()});
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  EXPECT_TRUE(r.out.empty() && r.err.empty()) << show(r);
  EXPECT_FALSE(fs::exists(dir_ / "sendmail-x.log")) << "-X is ignored, not a log file";
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_rcpt_to(list[0]), std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(header_values(parse(list[0]), "Subject"), std::vector<std::string>{"historic"});
  // Modes that deliver nothing: -bi/-I (newaliases), -q (run the queue): exit 0, nothing sent.
  for (const auto& mode : std::vector<std::vector<std::string>>{{"-bi"}, {"-I"}, {"-q"}, {"-q30m"}}) {
    auto m = sendmail(mode, "");
    EXPECT_EQ(m.exit_code, 0) << mode[0] << "\n" << show(m);
  }
  EXPECT_EQ(sb_->messages().size(), 1u);
}

TEST_F(SendmailTest, ExitCodesFollowSysexits) {
  // A recipient the server refuses for good: 67 (EX_NOUSER), naming it.
  sb_->set_faults(
      R"({"smtp":[{"step":"rcpt","action":"reply","times":1,)"
      R"("reply":"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}]})");
  auto gone = sendmail({"-i", "gone@example.net"}, "Subject: x\n\nbody\n");
  EXPECT_EQ(gone.exit_code, 67) << show(gone);
  EXPECT_NE(gone.err.find("gone@example.net"), std::string::npos) << show(gone);
  EXPECT_NE(gone.err.find("5.1.10"), std::string::npos) << show(gone);
  // Exchange throttling (451 4.7.500 Server busy): try again later, 75 (EX_TEMPFAIL).
  sb_->clear_faults();
  sb_->settings(R"({"messages_per_minute": 1})");
  auto first = sendmail({"-i", "bob@example.net"}, "Subject: 1\n\nbody\n");
  EXPECT_EQ(first.exit_code, 0) << show(first);
  auto busy = sendmail({"-i", "bob@example.net"}, "Subject: 2\n\nbody\n");
  EXPECT_EQ(busy.exit_code, 75) << show(busy);
  EXPECT_NE(busy.err.find("4.7.500"), std::string::npos) << show(busy);
  EXPECT_EQ(sb_->messages().size(), 1u);
  // Nothing listens: 75.
  {
    std::string text = read_file(config_);
    const std::string port = "port = " + std::to_string(sb_->smtp_port()) + "\n";
    for (auto at = text.find(port); at != std::string::npos; at = text.find(port, at)) {
      text.replace(at, port.size(), "port = " + std::to_string(free_port()) + "\n");
    }
    write_file(config_, text);
    auto r = sendmail({"-i", "bob@example.net"}, "Subject: x\n\nbody\n");
    EXPECT_EQ(r.exit_code, 75) << show(r);
  }
  // Refused before anything is read or sent.
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
  EXPECT_EQ(sb_->messages().size(), 1u);
}

TEST_F(SendmailTest, SubcommandAndVerboseTranscript) {
  write_file(dir_ / "in.eml", "From: " + sender() + "\nSubject: v\n\nbody\n");
  auto r = run_program({OAUTHMAIL_BINARY, "sendmail", "-v", "-i", "bob@example.net"}, dir_.path(), dir_ / "in.eml", 60s,
                       env());
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  EXPECT_NE(r.err.find("smtp C: MAIL FROM:<" + sender() + ">"), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("smtp C: AUTH XOAUTH2 <redacted>"), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("smtp S: 235 2.7.0 Authentication successful"), std::string::npos) << show(r);
  EXPECT_NE(r.out.find("bob@example.net: delivered"), std::string::npos) << show(r);
  // The token oauthmail used (cached now) is nowhere in the transcript.
  auto shown =
      run_program({OAUTHMAIL_BINARY, "token", "show", "sandbox", "--config", config_.string(), "--json", "--reveal"},
                  dir_.path(), std::nullopt, 60s, env());
  ASSERT_EQ(shown.exit_code, 0) << show(shown);
  const std::string token(boost::json::parse(shown.out).at("access_token").as_string());
  ASSERT_GT(token.size(), 20u);
  EXPECT_EQ(r.err.find(token), std::string::npos) << "the token is in the transcript";
  EXPECT_EQ(r.out.find(token), std::string::npos) << "the token is in the output";
  EXPECT_EQ(sb_->messages().size(), 1u);
}

// ---- real callers ---------------------------------------------------------------------------------

// mailutils' mail calls "sendmail -oi -f ADDR -t" and writes no From header: oauthmail adds it.
TEST_F(SendmailTest, MailFromMailutils) {
  write_file(dir_ / "body.txt", "Disk usage is fine.\n");
  auto r = run_program({"mail", "-E", "set sendmail=sendmail://" + (dir_ / "bin" / "sendmail").string(), "-s",
                        "mailutils test", "-r", shared(), "-a", "Cc: carol@example.org", "bob@example.net"},
                       dir_.path(), dir_ / "body.txt", 60s, env());
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u) << sandbox_log();
  const auto rcpts = captured_rcpt_to(list[0]);
  EXPECT_EQ(std::set<std::string>(rcpts.begin(), rcpts.end()),
            (std::set<std::string>{"bob@example.net", "carol@example.org"}));
  EXPECT_EQ(captured_mail_from(list[0]), shared());
  const auto p = parse(list[0]);
  EXPECT_TRUE(p.at("defects").as_array().empty()) << boost::json::serialize(p.at("defects"));
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"mailutils test"});
  EXPECT_EQ(addresses(p, "From"), (address_list{{"", shared()}}));
  EXPECT_EQ(addresses(p, "Cc"), (address_list{{"", "carol@example.org"}}));
  EXPECT_EQ(header_values(p, "Date").size(), 1u);
  EXPECT_EQ(header_values(p, "Message-ID").size(), 1u);
  EXPECT_NE(captured_raw(list[0]).find("Disk usage is fine."), std::string::npos);
}

TEST_F(SendmailTest, GitSendEmail) {
  const fs::path repo = dir_ / "repo";
  fs::create_directories(repo);
  const std::vector<std::string> git_env = {"GIT_AUTHOR_NAME=Alice Dev",    "GIT_AUTHOR_EMAIL=" + sender(),
                                            "GIT_COMMITTER_NAME=Alice Dev", "GIT_COMMITTER_EMAIL=" + sender(),
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
                        "--smtp-server=" + (dir_ / "bin" / "sendmail").string(), "--from=Alice Dev <" + sender() + ">",
                        "--to=maintainer@example.net", "--cc=list@example.org", patch},
                       dir_.path(), std::nullopt, 60s, e);
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_mail_from(list[0]), sender());
  const auto rcpts = captured_rcpt_to(list[0]);
  EXPECT_NE(std::find(rcpts.begin(), rcpts.end(), "maintainer@example.net"), rcpts.end());
  EXPECT_NE(std::find(rcpts.begin(), rcpts.end(), "list@example.org"), rcpts.end());
  const auto p = parse(list[0]);
  EXPECT_TRUE(p.at("defects").as_array().empty()) << boost::json::serialize(p.at("defects"));
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"[PATCH] Add a README"});
  EXPECT_EQ(addresses(p, "From"), (address_list{{"Alice Dev", sender()}}));
  EXPECT_EQ(addresses(p, "To"), (address_list{{"", "maintainer@example.net"}}));
  EXPECT_NE(captured_raw(list[0]).find("+hello"), std::string::npos) << "the patch is in the body";
}

TEST_F(SendmailTest, PhpMail) {
  auto r = run_program({"php", "-n", "-d", "sendmail_path=" + (dir_ / "bin" / "sendmail").string() + " -t -i", "-r",
                        "exit(mail('bob@example.net', 'PHP says hi', \"Line one\\nLine two\", "
                        "'From: Shop <" +
                            shared() + ">') ? 0 : 3);"},
                       dir_.path(), std::nullopt, 60s, env());
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_rcpt_to(list[0]), std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(captured_mail_from(list[0]), shared());
  const auto p = parse(list[0]);
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"PHP says hi"});
  EXPECT_EQ(addresses(p, "From"), (address_list{{"Shop", shared()}}));
  EXPECT_EQ(header_values(p, "Date").size(), 1u);
  EXPECT_EQ(header_values(p, "Message-ID").size(), 1u);
  EXPECT_NE(captured_raw(list[0]).find("Line one\r\nLine two"), std::string::npos);
}

// ---- a large message is streamed ------------------------------------------------------------------

// Through the sandbox: its Microsoft profile announces SIZE 157286400 (150 MiB), as Exchange Online.
TEST_F(SendmailTest, FiftyMegabytesWithLowPeakMemory) {
  // 50 MB of base64-like lines, as an attachment would be.
  const std::size_t target = std::size_t{50} * 1000 * 1000;
  std::string line(76, 'A');
  std::string message = "From: " + sender() + "\nTo: bob@example.net\nSubject: big\n\n";
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
  const std::size_t lines = count_occurrences(message, "\n");
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
  ASSERT_EQ(r.exit_code, 0) << show(r) << sandbox_log();
  const long peak_kib = std::stol(r.out);
  const auto list = sb_->captured(false);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_rcpt_to(list[0]), std::vector<std::string>{"bob@example.net"});
  // CR LF line ends and the added headers (Date, Message-ID).
  const auto stored_size = list[0].at("size").to_number<std::uint64_t>();
  EXPECT_GT(stored_size, size + lines) << "stored " << stored_size;
  EXPECT_LT(stored_size, size + lines + 1000) << "stored " << stored_size;
  std::cout << "sendmail peak RSS for a " << size / 1000000 << " MB message: " << peak_kib / 1024 << " MiB\n";
  // Well under one copy of the message (the brief's bound is 3x).
  EXPECT_LT(static_cast<std::size_t>(peak_kib) * 1024, size / 2) << "peak RSS " << peak_kib << " KiB";
}

}  // namespace
}  // namespace oauthmail::testing
