// sendmail's command line (mime::parse_sendmail_command_line) as cron, PHP, git, mutt, mailx and
// logwatch write it, and the -t rules (mime::sendmail_recipients, header_sender, add_missing_headers).
#include <gtest/gtest.h>

#include "mime/errors.hpp"
#include "mime/sendmail_options.hpp"
#include "mime/sendmail_rules.hpp"

namespace oauthmail::mime {
namespace {

sendmail_command_line parse(std::vector<std::string> args) {
  auto r = parse_sendmail_command_line(args);
  if (!r) throw std::runtime_error(r.error().message());
  return *r;
}

TEST(SendmailCommandLine, WhatRealCallersPass) {
  // Debian cron: sendmail -FCronDaemon -i -B8BITMIME -oem root
  auto cron = parse({"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"});
  EXPECT_EQ(cron.full_name, "CronDaemon");
  EXPECT_TRUE(cron.ignore_dots);
  EXPECT_EQ(cron.recipients, std::vector<std::string>{"root"});
  EXPECT_EQ(cron.ignored, (std::vector<std::string>{"-B8BITMIME", "-oem"}));
  // PHP mail(): sendmail_path "sendmail -t -i", plus additional parameters such as -f.
  auto php = parse({"-t", "-i", "-fwebmaster@example.com"});
  EXPECT_TRUE(php.extract_recipients);
  EXPECT_EQ(php.sender, "webmaster@example.com");
  EXPECT_TRUE(php.recipients.empty());
  // git send-email: -i, then the recipients; with an envelope sender -f addr.
  auto git = parse({"-i", "-f", "dev@example.com", "a@example.net", "b@example.org"});
  EXPECT_EQ(git.sender, "dev@example.com");
  EXPECT_EQ(git.recipients.size(), 2u);
  // mutt: -oem -oi -- recipients; with DSN -N and -R.
  auto mutt = parse({"-oem", "-oi", "-N", "success,delay", "-R", "hdrs", "--", "-odd@example.net"});
  EXPECT_TRUE(mutt.ignore_dots);
  EXPECT_EQ(mutt.dsn_notify, "SUCCESS,DELAY");
  EXPECT_EQ(mutt.dsn_ret, "hdrs");
  EXPECT_EQ(mutt.recipients, std::vector<std::string>{"-odd@example.net"});
  // mailx / logwatch: -oi -t, bundles, -r, options after recipients.
  auto bundled = parse({"-ti", "x@example.net", "-r", "lw@example.com", "-v"});
  EXPECT_TRUE(bundled.extract_recipients && bundled.ignore_dots && bundled.verbose);
  EXPECT_EQ(bundled.sender, "lw@example.com");
  EXPECT_EQ(bundled.recipients, std::vector<std::string>{"x@example.net"});
  auto oflags = parse({"-odb", "-oQ/var/spool", "-O", "IgnoreDots=true", "-L", "tag", "-U", "-C", "/etc/om.toml"});
  EXPECT_TRUE(oflags.ignore_dots);
  EXPECT_EQ(oflags.config, "/etc/om.toml");
}

TEST(SendmailCommandLine, ModesAndRefusals) {
  EXPECT_EQ(parse({"-bm", "a@example.com"}).what, sendmail_command_line::mode::deliver);
  EXPECT_EQ(parse({"-bp"}).what, sendmail_command_line::mode::print_queue);
  EXPECT_EQ(parse({"-bi"}).what, sendmail_command_line::mode::nothing_to_do);
  EXPECT_EQ(parse({"-q"}).what, sendmail_command_line::mode::nothing_to_do);
  EXPECT_EQ(parse({"-q30m"}).what, sendmail_command_line::mode::nothing_to_do);
  EXPECT_EQ(parse({"--help"}).what, sendmail_command_line::mode::help);
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"-bs"}, {"-bd"}, {"-Z"}, {"-f"}, {"-N", "sometimes"}, {"-R", "everything"}, {"-N", "success,,delay"}}) {
    auto r = parse_sendmail_command_line(bad);
    EXPECT_FALSE(r) << bad.front();
    if (!r) {
      EXPECT_EQ(r.error().code(), errc::bad_composition);
    }
  }
  EXPECT_EQ(parse({"-N", "NEVER"}).dsn_notify, "NEVER");
}

TEST(SendmailRules, RecipientsFromArgumentsAndHeaders) {
  auto h = header_block::parse(
      "From: A <a@example.com>\nTo: Bob <bob@example.net>, carol@example.org\nCc: undisclosed:;\n"
      "Bcc: sam@example.org\nBcc:\n");
  auto r = sendmail_recipients(h, {"zed@example.com, bob@example.net"}, true);
  ASSERT_TRUE(r) << r.error().message();
  std::vector<std::string> got;
  for (const auto& m : *r) got.push_back(m.envelope());
  EXPECT_EQ(got,
            (std::vector<std::string>{"zed@example.com", "bob@example.net", "carol@example.org", "sam@example.org"}));
  EXPECT_FALSE(h.has("Bcc"));
  // Without -t the headers give no recipients, and Bcc is still removed.
  auto h2 = header_block::parse("To: x@example.net\nBcc: y@example.net\n");
  auto r2 = sendmail_recipients(h2, {"w@example.com"}, false);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->size(), 1u);
  EXPECT_FALSE(h2.has("Bcc"));
  // A header that does not parse is quoted in the error.
  auto h3 = header_block::parse("To: bob@@example.net\n");
  auto r3 = sendmail_recipients(h3, {}, true);
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message().find("\"bob@@example.net\""), std::string::npos) << r3.error().message();
  EXPECT_NE(r3.error().message().find("To header"), std::string::npos);
}

TEST(SendmailRules, SenderAndAddedHeaders) {
  auto h = header_block::parse("From: Jörg <joerg@example.de>\nSubject: s\n");
  auto s = header_sender(h);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->address, "joerg@example.de");
  EXPECT_EQ(s->name, "Jörg");
  EXPECT_FALSE(header_sender(header_block::parse("From: root (Cron Daemon)\n")));
  EXPECT_EQ(header_sender(header_block::parse("From: a@x.example, b@y.example\nSender: s@z.example\n"))->address,
            "s@z.example");

  auto none = header_block::parse("Subject: s\n");
  auto from = parse_mailbox("Zoë Example <zoe@example.org>", "test");
  ASSERT_TRUE(from);
  add_missing_headers(none, *from, std::chrono::system_clock::time_point(std::chrono::seconds(1748858400)));
  const std::string text = none.to_string();
  EXPECT_NE(text.find("From: =?UTF-8?b?Wm/Dqw==?= Example <zoe@example.org>\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Date: "), std::string::npos);
  EXPECT_NE(text.find("2025"), std::string::npos) << text;
  EXPECT_NE(text.find("Message-ID: <"), std::string::npos);
  EXPECT_NE(text.find("@example.org>\n"), std::string::npos);
  // Present headers are not touched.
  auto present = header_block::parse("From: x@example.com\nDate: Mon, 02 Jun 2025 10:00:00 +0000\nMessage-ID: <1@x>\n");
  const std::string before = present.to_string();
  add_missing_headers(present, *from, std::chrono::system_clock::now());
  EXPECT_EQ(present.to_string(), before);
}

}  // namespace
}  // namespace oauthmail::mime
