// `oauthmail send` composing a message (--subject, --text, --html, --attach, --inline, --header,
// --cc, --bcc, --reply-to) against the aiosmtpd peer; every delivered message is read back by
// Python's email package (default policy), a parser nobody here wrote: headers decoded equal what
// was asked, the parts are the expected tree, attachment bytes are identical (a binary file, a
// text file with a 5000-octet line), no line exceeds 998 octets, no parser defects, no Bcc.
// Also: what is refused before connecting (exit codes 64, 65, 66 and the message naming the
// culprit), SIZE, RFC 6532 with and without SMTPUTF8, --dry-run and --json.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"
#include "integration/support/message_check.hpp"
#include "integration/support/peers.hpp"

namespace oauthmail::testing {
namespace {

constexpr const char* token = "ya29.compose-test-token-5b1e";
constexpr const char* user = "joerg@example.de";

class CliComposeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_ / "token", std::string(token) + "\n");
    fs::permissions(dir_ / "token", fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    // Binary: every octet value, then a pseudo-random tail (no line structure at all).
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
    std::uint32_t x = 12345;
    for (int i = 0; i < 200000; ++i) {
      x = x * 1103515245u + 12345u;
      binary += static_cast<char>(x >> 24);
    }
    write_file(dir_ / "data.bin", binary);
    // Text with CR LF and LF lines, one of 5000 octets, no final line end.
    write_file(dir_ / "long-lines.txt", "first line\r\nsecond line\n" + std::string(5000, 'L') + "\nGrüße at the end");
    // A PNG signature and IHDR chunk: enough for the type guess.
    write_file(dir_ / "logo.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0", 33));
  }

  oauth_smtp_server start_server(oauth_smtp_server::options o = {}) {
    o.tls = "starttls";
    o.cert = pki().server_cert;
    o.key = pki().server_key;
    o.user = user;
    o.token = token;
    return oauth_smtp_server(dir_, o);
  }

  std::vector<std::string> args(std::uint16_t port, std::vector<std::string> more) const {
    std::vector<std::string> a = {
        OAUTHMAIL_BINARY, "send", "--server", "127.0.0.1:" + std::to_string(port), "--ca-file", pki().ca_cert.string(),
        "--user",         user,   "--bearer", "file:" + (dir_ / "token").string()};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }

  run_result run(std::vector<std::string> argv, std::optional<fs::path> stdin_path = std::nullopt) {
    if (!stdin_path) {
      write_file(dir_ / "empty-stdin", "");
      stdin_path = dir_ / "empty-stdin";
    }
    return run_program(std::move(argv), dir_.path(), stdin_path, 60s,
                       {"HOME=" + dir_.path().string(), "XDG_CONFIG_HOME=" + (dir_ / "config").string(),
                        "XDG_STATE_HOME=" + (dir_ / "state").string(), "TMPDIR=" + dir_.path().string()});
  }

  boost::json::object parse_stored(const oauth_smtp_server& server, std::size_t index = 0) {
    const auto stored = server.stored();
    if (stored.size() <= index) throw std::runtime_error("no stored message");
    const fs::path eml = dir_ / ("stored-" + std::to_string(index) + ".eml");
    write_file(eml, stored[index].eml);
    return parse_with_python(eml, dir_.path());
  }

  static std::string show(const run_result& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out + "\n--- stderr ---\n" + r.err;
  }

  // Nothing of ours may be left in $TMPDIR (the spool file is unlinked at once).
  void TearDown() override {
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      EXPECT_EQ(e.path().filename().string().find("oauthmail-spool"), std::string::npos) << e.path();
    }
  }

  test_deadline deadline_{std::chrono::seconds(180), "CliComposeTest"};
  temp_dir dir_;
};

const boost::json::object& child(const boost::json::object& part, std::size_t i) {
  return part.at("parts").as_array().at(i).as_object();
}
std::string str(const boost::json::object& o, const char* key) {
  const auto& v = o.at(key);
  return v.is_string() ? std::string(v.as_string()) : std::string();
}
// Text parts travel in canonical form (CR LF line ends, RFC 2046 §4.1.1): compared with LF.
std::string text_of(const boost::json::object& o) {
  std::string t = str(o, "text");
  for (auto pos = t.find("\r\n"); pos != std::string::npos; pos = t.find("\r\n", pos)) t.erase(pos, 1);
  return t;
}

TEST_F(CliComposeTest, EverythingAtOnceParsesBackAsAsked) {
  auto server = start_server();
  const std::string subject = "Grüße aus Köln — ✓ a subject long enough to be folded across more than one line";
  auto r = run(args(server.port(), {"--from",     "Jörg Müller <joerg@example.de>",
                                    "--to",       "Bob <bob@example.net>",
                                    "--to",       "\"Doe, Jane\" <jane@example.org>",
                                    "--cc",       "Zoë <zoe@example.org>",
                                    "--bcc",      "Secret Sam <sam@example.org>",
                                    "--reply-to", "Replies <replies@example.de>",
                                    "--subject",  subject,
                                    "--text",     "Hallo Bob,\nsee the attachments.\n",
                                    "--html",     "<p>Hallo <b>Bob</b> <img src=\"cid:logo.png\"></p>",
                                    "--inline",   (dir_ / "logo.png").string(),
                                    "--attach",   (dir_ / "data.bin").string(),
                                    "--attach",   (dir_ / "long-lines.txt").string(),
                                    "--header",   "X-Report-Id: 42",
                                    "--header",   "X-Note: für dich"}));
  ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].mail_from, "joerg@example.de");
  EXPECT_EQ(stored[0].rcpt_tos,
            (std::vector<std::string>{"bob@example.net", "jane@example.org", "zoe@example.org", "sam@example.org"}));
  EXPECT_EQ(stored[0].eml.find("sam@example.org"), std::string::npos) << "a Bcc address is in the content";
  EXPECT_EQ(stored[0].eml.find("Bcc"), std::string::npos);

  const auto p = parse_stored(server);
  EXPECT_TRUE(p.at("defects").as_array().empty()) << boost::json::serialize(p.at("defects"));
  EXPECT_LE(p.at("longest_line").to_number<int>(), 998);
  EXPECT_FALSE(p.at("header_non_ascii").as_bool()) << "RFC 2047 expected: no address needs UTF-8";
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{subject});
  EXPECT_EQ(addresses(p, "From"),
            (std::vector<std::pair<std::string, std::string>>{{"Jörg Müller", "joerg@example.de"}}));
  EXPECT_EQ(addresses(p, "To"), (std::vector<std::pair<std::string, std::string>>{{"Bob", "bob@example.net"},
                                                                                  {"Doe, Jane", "jane@example.org"}}));
  EXPECT_EQ(addresses(p, "Cc"), (std::vector<std::pair<std::string, std::string>>{{"Zoë", "zoe@example.org"}}));
  EXPECT_EQ(addresses(p, "Reply-To"),
            (std::vector<std::pair<std::string, std::string>>{{"Replies", "replies@example.de"}}));
  EXPECT_TRUE(addresses(p, "Bcc").empty());
  EXPECT_EQ(header_values(p, "X-Report-Id"), std::vector<std::string>{"42"});
  EXPECT_EQ(header_values(p, "X-Note"), std::vector<std::string>{"für dich"});
  ASSERT_EQ(header_values(p, "Date").size(), 1u);
  ASSERT_EQ(header_values(p, "Message-ID").size(), 1u);
  EXPECT_NE(header_values(p, "Message-ID")[0].find("@example.de>"), std::string::npos);
  EXPECT_EQ(header_values(p, "MIME-Version"), std::vector<std::string>{"1.0"});

  // multipart/mixed [ multipart/alternative [ text/plain, multipart/related [ text/html, image/png ] ],
  //                   data.bin, long-lines.txt ]
  const auto& top = p.at("structure").as_object();
  ASSERT_EQ(str(top, "content_type"), "multipart/mixed");
  ASSERT_EQ(top.at("parts").as_array().size(), 3u);
  const auto& alt = child(top, 0);
  ASSERT_EQ(str(alt, "content_type"), "multipart/alternative");
  EXPECT_EQ(str(child(alt, 0), "content_type"), "text/plain");
  EXPECT_EQ(text_of(child(alt, 0)), "Hallo Bob,\nsee the attachments.\n");
  const auto& related = child(alt, 1);
  ASSERT_EQ(str(related, "content_type"), "multipart/related");
  EXPECT_EQ(str(child(related, 0), "content_type"), "text/html");
  EXPECT_EQ(text_of(child(related, 0)), "<p>Hallo <b>Bob</b> <img src=\"cid:logo.png\"></p>");
  const auto& logo = child(related, 1);
  EXPECT_EQ(str(logo, "content_type"), "image/png");
  EXPECT_EQ(str(logo, "content_id"), "<logo.png>");
  EXPECT_EQ(str(logo, "disposition"), "inline");
  EXPECT_EQ(str(logo, "sha256"), sha256_hex_of_file(dir_ / "logo.png", dir_.path()));
  const auto& bin = child(top, 1);
  EXPECT_EQ(str(bin, "filename"), "data.bin");
  EXPECT_EQ(str(bin, "disposition"), "attachment");
  EXPECT_EQ(str(bin, "content_type"), "application/octet-stream");
  EXPECT_EQ(str(bin, "sha256"), sha256_hex_of_file(dir_ / "data.bin", dir_.path()));
  const auto& txt = child(top, 2);
  EXPECT_EQ(str(txt, "filename"), "long-lines.txt");
  EXPECT_EQ(str(txt, "content_type"), "text/plain");
  EXPECT_EQ(str(txt, "sha256"), sha256_hex_of_file(dir_ / "long-lines.txt", dir_.path()));
}

TEST_F(CliComposeTest, LongLinesAndNonAsciiTextAreQuotedPrintableAndExact) {
  auto server = start_server();
  const std::string text = "Zeile eins: Grüße\n" + std::string(3000, 'x') + "\n. a line with a dot\nend\n";
  write_file(dir_ / "body.txt", text);
  auto r = run(args(server.port(), {"--from", "joerg@example.de", "--to", "bob@example.net", "--subject", "qp",
                                    "--text-file", (dir_ / "body.txt").string()}));
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto p = parse_stored(server);
  EXPECT_TRUE(p.at("defects").as_array().empty());
  EXPECT_LE(p.at("longest_line").to_number<int>(), 78);
  const auto& top = p.at("structure").as_object();
  EXPECT_EQ(str(top, "content_type"), "text/plain");
  EXPECT_EQ(str(top, "cte"), "quoted-printable");
  EXPECT_EQ(text_of(top), text);
}

TEST_F(CliComposeTest, HtmlOnlyAndBodyFromStdin) {
  auto server = start_server();
  write_file(dir_ / "page.html", "<h1>Bericht</h1>\n<p>Alles grün.</p>\n");
  auto r = run(args(server.port(),
                    {"--from", "joerg@example.de", "--to", "bob@example.net", "--subject", "html", "--html-file", "-"}),
               dir_ / "page.html");
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto p = parse_stored(server);
  EXPECT_EQ(str(p.at("structure").as_object(), "content_type"), "text/html");
  EXPECT_EQ(text_of(p.at("structure").as_object()), "<h1>Bericht</h1>\n<p>Alles grün.</p>\n");
}

// Everything here is refused before connecting: nothing listens on the port, so an attempt to
// connect would end in 75, not in the code asked for.
TEST_F(CliComposeTest, RefusedBeforeConnectingWithTheRightCodeAndMessage) {
  const std::uint16_t nothing = free_port();
  struct refusal {
    std::string what;
    std::vector<std::string> extra;
    int exit_code;
    std::string message_part;
  };
  const std::vector<refusal> cases = {
      {"line break in the subject", {"--subject", "hi\r\nBcc: evil@example.com"}, 64, "--subject"},
      {"line break in a name", {"--subject", "s", "--cc", "Eve\nBcc: x@example.com <eve@example.com>"}, 64, "--cc"},
      {"line break in --header", {"--subject", "s", "--header", "X-A: b\r\nBcc: evil@example.com"}, 64, "--header"},
      {"--header for a header with its own option", {"--header", "Subject: sneaky"}, 64, "--subject"},
      {"--header without a colon", {"--header", "NoColonHere"}, 64, "Name: value"},
      {"--header Content-Type", {"--header", "Content-Type: text/evil"}, 64, "MIME structure"},
      {"address that does not parse", {"--subject", "s", "--cc", "bob@@example.com"}, 64, "\"bob@@example.com\""},
      {"address without a domain", {"--subject", "s", "--cc", "root"}, 64, "\"root\""},
      {"attachment missing", {"--subject", "s", "--attach", "/nonexistent/report.pdf"}, 66, "/nonexistent/report.pdf"},
      {"attachment is a directory", {"--subject", "s", "--attach", "/tmp"}, 66, "not a regular file"},
      {"text file missing", {"--text-file", "/nonexistent/body.txt"}, 66, "/nonexistent/body.txt"},
      {"inline image without HTML", {"--text", "t", "--inline", "/nonexistent/logo.png"}, 64, "--html"},
      {"bad Date header", {"--subject", "s", "--header", "Date: yesterday-ish"}, 64, "RFC 5322 date"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> a = {"--from", "joerg@example.de", "--to", "bob@example.net"};
    a.insert(a.end(), c.extra.begin(), c.extra.end());
    auto r = run(args(nothing, a));
    EXPECT_EQ(r.exit_code, c.exit_code) << c.what << "\n" << show(r);
    EXPECT_NE(r.err.find(c.message_part), std::string::npos) << c.what << "\n" << show(r);
    EXPECT_TRUE(r.out.empty()) << c.what;
  }
  // Not UTF-8: a text file in Latin-1.
  write_file(dir_ / "latin1.txt",
             "Gr\xfc\xdf"
             "e\n");
  auto r = run(args(nothing, {"--from", "joerg@example.de", "--to", "bob@example.net", "--text-file",
                              (dir_ / "latin1.txt").string()}));
  EXPECT_EQ(r.exit_code, 65) << show(r);
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << show(r);
}

TEST_F(CliComposeTest, MessageOverTheServersSizeIsRefusedBeforeMail) {
  oauth_smtp_server::options o;
  o.size_limit = 20000;
  auto server = start_server(o);
  auto r = run(args(server.port(), {"--from", "joerg@example.de", "--to", "bob@example.net", "--subject", "big",
                                    "--attach", (dir_ / "data.bin").string()}));
  EXPECT_EQ(r.exit_code, 65) << show(r);
  EXPECT_NE(r.err.find("SIZE"), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("20000"), std::string::npos) << show(r);
  EXPECT_TRUE(server.stored().empty());
  EXPECT_FALSE(server.log_has("EVENT mail-command")) << server.log();
}

TEST_F(CliComposeTest, NonAsciiLocalPartNeedsSmtputf8) {
  {
    oauth_smtp_server::options o;
    o.smtputf8 = true;
    auto server = start_server(o);
    auto r = run(args(server.port(), {"--from", "Jörg <joerg@example.de>", "--to", "Zoë <zoë@example.org>", "--subject",
                                      "Grüße", "--text", "hi"}));
    ASSERT_EQ(r.exit_code, 0) << show(r) << server.log();
    const auto stored = server.stored();
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_NE(std::find(stored[0].mail_options.begin(), stored[0].mail_options.end(), "SMTPUTF8"),
              stored[0].mail_options.end());
    const auto p = parse_stored(server);
    EXPECT_TRUE(p.at("header_non_ascii").as_bool()) << "RFC 6532: UTF-8 in the headers";
    // Python's email package notes a non-ASCII local part as a defect against RFC 5322; RFC 6532
    // allows it, and it is the only note.
    for (const auto& d : p.at("defects").as_array()) EXPECT_EQ(d.as_string(), "To:NonASCIILocalPartDefect");
    EXPECT_EQ(addresses(p, "To"), (std::vector<std::pair<std::string, std::string>>{{"Zoë", "zoë@example.org"}}));
    EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"Grüße"});
  }
  {
    auto server = start_server();  // no SMTPUTF8
    auto r = run(args(server.port(), {"--from", "joerg@example.de", "--to", "bob@example.net", "--reply-to",
                                      "zoë@example.org", "--subject", "s", "--text", "hi"}));
    EXPECT_EQ(r.exit_code, 69) << show(r);
    EXPECT_NE(r.err.find("SMTPUTF8"), std::string::npos) << show(r);
    EXPECT_TRUE(server.stored().empty());
  }
}

TEST_F(CliComposeTest, DryRunPrintsPlanAndMessageAndSendsNothing) {
  const std::uint16_t nothing = free_port();
  auto r = run(args(nothing, {"--from", "joerg@example.de", "--to", "bob@example.net", "--bcc", "sam@example.org",
                              "--subject", "dry", "--text", "body text", "--dry-run"}));
  ASSERT_EQ(r.exit_code, 0) << show(r);
  EXPECT_NE(r.out.find("Dry run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(nothing)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RCPT TO:    <sam@example.org>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Subject: dry"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("body text"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(token), std::string::npos) << "the token was read and printed";

  auto j = run(args(nothing, {"--from", "joerg@example.de", "--to", "bob@example.net", "--subject", "dry", "--text",
                              "x", "--dry-run", "--json"}));
  ASSERT_EQ(j.exit_code, 0) << show(j);
  const auto o = boost::json::parse(j.out).as_object();
  EXPECT_TRUE(o.at("dry_run").as_bool());
  EXPECT_EQ(o.at("plan").as_object().at("mail_from").as_string(), "joerg@example.de");
  EXPECT_NE(std::string(o.at("message").as_string()).find("Subject: dry"), std::string::npos);
}

TEST_F(CliComposeTest, JsonReportsEachRecipient) {
  oauth_smtp_server::options o;
  o.reject_rcpt = {"gone@example.net"};
  auto server = start_server(o);
  auto r = run(args(server.port(), {"--from", "joerg@example.de", "--to", "bob@example.net", "--to", "gone@example.net",
                                    "--subject", "json", "--text", "x", "--json"}));
  EXPECT_EQ(r.exit_code, 67) << show(r);
  const auto j = boost::json::parse(r.out).as_object();
  EXPECT_EQ(j.at("exit_code").to_number<int>(), 67);
  const auto& list = j.at("recipients").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].as_object().at("status").as_string(), "delivered");
  EXPECT_EQ(list[1].as_object().at("status").as_string(), "refused");
  EXPECT_NE(std::string(list[1].as_object().at("reply").as_string()).find("550"), std::string::npos);
  EXPECT_TRUE(j.contains("message_id"));

  // A failure before sending is still one JSON object, every recipient not_sent.
  auto bad = run(args(free_port(), {"--from", "joerg@example.de", "--to", "bob@example.net", "--subject", "json",
                                    "--attach", "/nonexistent/x", "--json"}));
  EXPECT_EQ(bad.exit_code, 66) << show(bad);
  const auto b = boost::json::parse(bad.out).as_object();
  EXPECT_EQ(b.at("exit_code").to_number<int>(), 66);
  EXPECT_EQ(b.at("recipients").as_array().at(0).as_object().at("status").as_string(), "not_sent");
  EXPECT_NE(std::string(b.at("error").as_string()).find("/nonexistent/x"), std::string::npos);
}

TEST_F(CliComposeTest, RawStdinStillWorksAndCcBccAddEnvelopeRecipients) {
  auto server = start_server();
  write_file(dir_ / "raw.eml", "From: joerg@example.de\nTo: bob@example.net\nSubject: raw\n\nraw body\n");
  auto r =
      run(args(server.port(), {"--from", "joerg@example.de", "--to", "bob@example.net", "--bcc", "sam@example.org"}),
          dir_ / "raw.eml");
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].rcpt_tos, (std::vector<std::string>{"bob@example.net", "sam@example.org"}));
  EXPECT_EQ(stored[0].eml, "From: joerg@example.de\r\nTo: bob@example.net\r\nSubject: raw\r\n\r\nraw body\r\n");
}

}  // namespace
}  // namespace oauthmail::testing
