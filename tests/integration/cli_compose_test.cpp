// `oauthmail send` composing a message, end to end through the sandbox (`oauthmail sandbox`, the
// Microsoft 365 stand-in; the Gmail one for RFC 6532 over implicit TLS) with the account of the
// configuration it writes: --from (and the account chosen by it), --to, --cc, --bcc, --reply-to,
// --subject, --text/--text-file, --html/--html-file (also from stdin), --attach, --inline,
// --header, --account, --dry-run, --json and the raw message on stdin. Every captured message
// (GET /api/messages?raw=1) is read back by Python's email package (default policy), a parser
// nobody here wrote: headers decoded equal what was asked, the parts are the expected tree,
// attachment bytes are identical (a binary file, a text file with a 5000-octet line), no line
// exceeds 998 octets, no parser defects, no Bcc; the envelope is what was asked.
// Also: what is refused before anything is sent (exit codes 64, 65, 66, 78 and the message naming
// the culprit; the sandbox sees no token request).
// Two tests stay on the aiosmtpd peer, for what the sandbox cannot be made to do: a small SIZE
// (the sandbox announces its provider's, 150 MiB or 35 MB, and has no setting for it) and a
// server without SMTPUTF8 (both sandbox profiles offer it, as Exchange Online and Gmail do).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"
#include "integration/support/message_check.hpp"
#include "integration/support/peers.hpp"
#include "integration/support/sandbox.hpp"

namespace oauthmail::testing {
namespace {

// The aiosmtpd peer's accepted token and user (the tests that stay on it).
constexpr const char* peer_token = "ya29.compose-test-token-5b1e";
constexpr const char* peer_user = "joerg@example.de";

using address_list = std::vector<std::pair<std::string, std::string>>;

class CliComposeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_ / "token", std::string(peer_token) + "\n");
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

  // The Microsoft sandbox and a configuration for it: its accounts as written, with "sandbox-cert"
  // (the same mailbox, sender@, with a certificate instead of a secret) also allowed to send as
  // shared@, on which sender@ has Send As. default_account is "sandbox".
  sandbox_process& start_sandbox() {
    sb_.emplace(dir_);
    config_ =
        sb_->config_with(dir_ / "oauthmail.toml", {{"sandbox-cert", "allowed_senders = [\"" + shared() + "\"]\n"}});
    return *sb_;
  }
  std::string sender() const { return "sender@" + sb_->domain(); }
  std::string shared() const { return "shared@" + sb_->domain(); }

  // `oauthmail [-v] send --config <the sandbox's configuration> ...`
  std::vector<std::string> send_args(std::vector<std::string> more, bool verbose = false) const {
    std::vector<std::string> a = {OAUTHMAIL_BINARY};
    if (verbose) a.emplace_back("-v");
    a.insert(a.end(), {"send", "--config", config_.string()});
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }

  // Without an account, against the aiosmtpd peer on `port`.
  std::vector<std::string> peer_args(std::uint16_t port, std::vector<std::string> more) const {
    std::vector<std::string> a = {OAUTHMAIL_BINARY, "send",
                                  "--server",       "127.0.0.1:" + std::to_string(port),
                                  "--ca-file",      pki().ca_cert.string(),
                                  "--user",         peer_user,
                                  "--bearer",       "file:" + (dir_ / "token").string()};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  oauth_smtp_server start_peer(oauth_smtp_server::options o = {}) {
    o.tls = "starttls";
    o.cert = pki().server_cert;
    o.key = pki().server_key;
    o.user = peer_user;
    o.token = peer_token;
    return oauth_smtp_server(dir_, o);
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

  // The sandbox's captured messages, oldest first, each with its raw text.
  boost::json::array captured() const { return sb_->captured(true); }
  // One captured message read back by Python's email package.
  boost::json::object parse(const boost::json::value& message) {
    const fs::path eml = dir_ / ("captured-" + std::to_string(++parsed_) + ".eml");
    write_file(eml, captured_raw(message));
    return parse_with_python(eml, dir_.path());
  }
  // The only captured message, read back.
  boost::json::object parse_only() {
    const auto list = captured();
    if (list.size() != 1) throw std::runtime_error(std::to_string(list.size()) + " captured messages, expected 1");
    return parse(list[0]);
  }
  // The access token oauthmail has cached for the account (to make sure it is printed nowhere).
  std::string cached_token(const std::string& account) {
    auto r = run({OAUTHMAIL_BINARY, "token", "show", account, "--config", config_.string(), "--json", "--reveal"});
    if (r.exit_code != 0) throw std::runtime_error("oauthmail token show failed: " + r.err);
    return std::string(boost::json::parse(r.out).at("access_token").as_string());
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
  std::optional<sandbox_process> sb_;
  fs::path config_;
  int parsed_ = 0;
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
  auto& sb = start_sandbox();
  const std::string subject = "Grüße aus Köln — ✓ a subject long enough to be folded across more than one line";
  auto r = run(send_args({"--from",     "Jörg Müller <" + sender() + ">",
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
  ASSERT_EQ(r.exit_code, 0) << show(r) << sb.log();
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_mail_from(list[0]), sender());
  EXPECT_EQ(captured_rcpt_to(list[0]),
            (std::vector<std::string>{"bob@example.net", "jane@example.org", "zoe@example.org", "sam@example.org"}));
  EXPECT_EQ(list[0].at("envelope").at("mailbox").as_string(), sender());
  EXPECT_TRUE(list[0].at("envelope").at("tls").as_bool());
  const std::string raw = captured_raw(list[0]);
  EXPECT_EQ(raw.find("sam@example.org"), std::string::npos) << "a Bcc address is in the content";
  EXPECT_EQ(raw.find("Bcc"), std::string::npos);

  const auto p = parse(list[0]);
  EXPECT_TRUE(p.at("defects").as_array().empty()) << boost::json::serialize(p.at("defects"));
  EXPECT_LE(p.at("longest_line").to_number<int>(), 998);
  EXPECT_FALSE(p.at("header_non_ascii").as_bool()) << "RFC 2047 expected: no address needs UTF-8";
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{subject});
  EXPECT_EQ(addresses(p, "From"), (address_list{{"Jörg Müller", sender()}}));
  EXPECT_EQ(addresses(p, "To"), (address_list{{"Bob", "bob@example.net"}, {"Doe, Jane", "jane@example.org"}}));
  EXPECT_EQ(addresses(p, "Cc"), (address_list{{"Zoë", "zoe@example.org"}}));
  EXPECT_EQ(addresses(p, "Reply-To"), (address_list{{"Replies", "replies@example.de"}}));
  EXPECT_TRUE(addresses(p, "Bcc").empty());
  EXPECT_EQ(header_values(p, "X-Report-Id"), std::vector<std::string>{"42"});
  EXPECT_EQ(header_values(p, "X-Note"), std::vector<std::string>{"für dich"});
  ASSERT_EQ(header_values(p, "Date").size(), 1u);
  ASSERT_EQ(header_values(p, "Message-ID").size(), 1u);
  EXPECT_NE(header_values(p, "Message-ID")[0].find("@" + sb.domain() + ">"), std::string::npos);
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
  start_sandbox();
  const std::string text = "Zeile eins: Grüße\n" + std::string(3000, 'x') + "\n. a line with a dot\nend\n";
  write_file(dir_ / "body.txt", text);
  auto r = run(send_args(
      {"--from", sender(), "--to", "bob@example.net", "--subject", "qp", "--text-file", (dir_ / "body.txt").string()}));
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto p = parse_only();
  EXPECT_TRUE(p.at("defects").as_array().empty());
  EXPECT_LE(p.at("longest_line").to_number<int>(), 78);
  const auto& top = p.at("structure").as_object();
  EXPECT_EQ(str(top, "content_type"), "text/plain");
  EXPECT_EQ(str(top, "cte"), "quoted-printable");
  EXPECT_EQ(text_of(top), text);
}

TEST_F(CliComposeTest, HtmlFromStdinAndBothBodiesFromFiles) {
  start_sandbox();
  const std::string html = "<h1>Bericht</h1>\n<p>Alles grün.</p>\n";
  const std::string text = "Bericht\n\nAlles grün.\n";
  write_file(dir_ / "page.html", html);
  write_file(dir_ / "page.txt", text);
  auto r = run(send_args({"--from", sender(), "--to", "bob@example.net", "--subject", "html", "--html-file", "-"}),
               dir_ / "page.html");
  ASSERT_EQ(r.exit_code, 0) << show(r);
  auto both = run(send_args({"--from", sender(), "--to", "bob@example.net", "--subject", "both", "--text-file",
                             (dir_ / "page.txt").string(), "--html-file", (dir_ / "page.html").string()}));
  ASSERT_EQ(both.exit_code, 0) << show(both);
  const auto list = captured();
  ASSERT_EQ(list.size(), 2u);

  const auto p = parse(list[0]);
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"html"});
  EXPECT_EQ(str(p.at("structure").as_object(), "content_type"), "text/html");
  EXPECT_EQ(text_of(p.at("structure").as_object()), html);

  const auto q = parse(list[1]);
  EXPECT_TRUE(q.at("defects").as_array().empty()) << boost::json::serialize(q.at("defects"));
  const auto& alt = q.at("structure").as_object();
  ASSERT_EQ(str(alt, "content_type"), "multipart/alternative");
  ASSERT_EQ(alt.at("parts").as_array().size(), 2u);
  EXPECT_EQ(str(child(alt, 0), "content_type"), "text/plain");
  EXPECT_EQ(text_of(child(alt, 0)), text);
  EXPECT_EQ(str(child(alt, 1), "content_type"), "text/html");
  EXPECT_EQ(text_of(child(alt, 1)), html);
}

// The account: --account, else the first that may send as --from, else the default account. The
// sandbox tells them apart by the client whose token authenticated (both use the mailbox sender@).
TEST_F(CliComposeTest, AccountChosenByAccountOptionOrByFrom) {
  auto& sb = start_sandbox();
  const std::string secret_client = sb.client_id("app-secret");  // account "sandbox"
  const std::string cert_client = sb.client_id("app-cert");      // account "sandbox-cert"
  auto by_from = run(send_args(
      {"--from", "Shared <" + shared() + ">", "--to", "bob@example.net", "--subject", "by From", "--text", "1"}));
  ASSERT_EQ(by_from.exit_code, 0) << show(by_from);
  auto by_option = run(send_args({"--account", "sandbox-cert", "--from", sender(), "--to", "bob@example.net",
                                  "--subject", "by --account", "--text", "2"}));
  ASSERT_EQ(by_option.exit_code, 0) << show(by_option);
  auto user_from = run(send_args({"--from", sender(), "--to", "bob@example.net", "--subject", "user", "--text", "3"}));
  ASSERT_EQ(user_from.exit_code, 0) << show(user_from);
  // Neither: the default account, sending as its user.
  auto neither = run(send_args({"--to", "bob@example.net", "--subject", "default", "--text", "4"}));
  ASSERT_EQ(neither.exit_code, 0) << show(neither);

  const auto list = captured();
  ASSERT_EQ(list.size(), 4u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {shared(), cert_client}, {sender(), cert_client}, {sender(), secret_client}, {sender(), secret_client}};
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(captured_mail_from(list[i]), expected[i].first) << i;
    EXPECT_EQ(list[i].at("envelope").at("client_id").as_string(), expected[i].second) << i;
    EXPECT_EQ(list[i].at("envelope").at("mailbox").as_string(), sender()) << i;
    const auto from = addresses(parse(list[i]), "From");
    ASSERT_EQ(from.size(), 1u) << i;
    EXPECT_EQ(from[0].second, expected[i].first) << i;
  }

  // An address no account may send as, and an account that does not exist: refused before
  // anything is sent (no token asked for, nothing captured).
  const auto tokens_before = sb.token_requests();
  auto other = run(send_args({"--from", "other@" + sb.domain(), "--to", "bob@example.net", "--text", "x"}));
  EXPECT_EQ(other.exit_code, 78) << show(other);
  EXPECT_NE(other.err.find("may not send as other@" + sb.domain()), std::string::npos) << show(other);
  auto other_account =
      run(send_args({"--account", "sandbox", "--from", shared(), "--to", "bob@example.net", "--text", "x"}));
  EXPECT_EQ(other_account.exit_code, 78) << show(other_account);
  EXPECT_NE(other_account.err.find("may not send as " + shared()), std::string::npos) << show(other_account);
  auto no_such = run(send_args({"--account", "nosuch", "--to", "bob@example.net", "--text", "x"}));
  EXPECT_EQ(no_such.exit_code, 64) << show(no_such);
  EXPECT_NE(no_such.err.find("no account \"nosuch\""), std::string::npos) << show(no_such);
  EXPECT_EQ(sb.token_requests(), tokens_before);
  EXPECT_EQ(sb.messages().size(), 4u);
}

// Everything here is refused before anything is sent: the sandbox is asked for no token and
// captures nothing, and no exit code is 75 (which a connection attempt that failed would give).
TEST_F(CliComposeTest, RefusedBeforeSendingWithTheRightCodeAndMessage) {
  auto& sb = start_sandbox();
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
      {"html file missing", {"--html-file", "/nonexistent/page.html"}, 66, "/nonexistent/page.html"},
      {"inline image without HTML", {"--text", "t", "--inline", "/nonexistent/logo.png"}, 64, "--html"},
      {"bad Date header", {"--subject", "s", "--header", "Date: yesterday-ish"}, 64, "RFC 5322 date"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> a = {"--from", sender(), "--to", "bob@example.net"};
    a.insert(a.end(), c.extra.begin(), c.extra.end());
    auto r = run(send_args(a));
    EXPECT_EQ(r.exit_code, c.exit_code) << c.what << "\n" << show(r);
    EXPECT_NE(r.err.find(c.message_part), std::string::npos) << c.what << "\n" << show(r);
    EXPECT_TRUE(r.out.empty()) << c.what;
  }
  // Not UTF-8: a text file in Latin-1.
  write_file(dir_ / "latin1.txt",
             "Gr\xfc\xdf"
             "e\n");
  auto r =
      run(send_args({"--from", sender(), "--to", "bob@example.net", "--text-file", (dir_ / "latin1.txt").string()}));
  EXPECT_EQ(r.exit_code, 65) << show(r);
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << show(r);
  EXPECT_EQ(sb.token_requests(), 0);
  EXPECT_EQ(sb.counters().at("smtp").at("auth_successes").to_number<int>(), 0);
  EXPECT_TRUE(sb.messages().empty());
}

// The sandbox announces its provider's SIZE (150 MiB, Gmail's 35 MB) and has no setting for a
// smaller one: this stays on the aiosmtpd peer.
TEST_F(CliComposeTest, MessageOverTheServersSizeIsRefusedBeforeMail) {
  oauth_smtp_server::options o;
  o.size_limit = 20000;
  auto server = start_peer(o);
  auto r = run(peer_args(server.port(), {"--from", peer_user, "--to", "bob@example.net", "--subject", "big", "--attach",
                                         (dir_ / "data.bin").string()}));
  EXPECT_EQ(r.exit_code, 65) << show(r);
  EXPECT_NE(r.err.find("SIZE"), std::string::npos) << show(r);
  EXPECT_NE(r.err.find("20000"), std::string::npos) << show(r);
  EXPECT_TRUE(server.stored().empty());
  EXPECT_FALSE(server.log_has("EVENT mail-command")) << server.log();
}

// RFC 6532 through the Gmail sandbox, with the account set to its implicit-TLS port (465 style).
TEST_F(CliComposeTest, NonAsciiLocalPartThroughGmailWithSmtputf8OverImplicitTls) {
  sb_.emplace(dir_, sandbox_profile("google"));
  auto& sb = *sb_;
  ASSERT_NE(sb.smtps_port(), 0);
  std::string text = read_file(sb.config_file());
  const std::string starttls_port = "port = " + std::to_string(sb.smtp_port()) + "\n";
  const std::string implicit = "port = " + std::to_string(sb.smtps_port()) + "\ntls = \"implicit\"\n";
  for (auto at = text.find(starttls_port); at != std::string::npos; at = text.find(starttls_port, at)) {
    text.replace(at, starttls_port.size(), implicit);
  }
  config_ = dir_ / "gmail-implicit.toml";
  write_file(config_, text);
  fs::permissions(config_, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);

  auto r = run(send_args({"--account", "sandbox", "--from", "Jörg <" + sender() + ">", "--to", "Zoë <zoë@example.org>",
                          "--subject", "Grüße", "--text", "hi"},
                         /*verbose=*/true));
  ASSERT_EQ(r.exit_code, 0) << show(r) << sb.log();
  // Implicit TLS: no STARTTLS; the transaction asked for SMTPUTF8.
  EXPECT_EQ(r.err.find("smtp C: STARTTLS"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("smtp C: MAIL FROM:<" + sender() + ">"), std::string::npos) << r.err;
  const auto mail_line = r.err.substr(r.err.find("smtp C: MAIL FROM:"));
  EXPECT_NE(mail_line.substr(0, mail_line.find('\n')).find(" SMTPUTF8"), std::string::npos) << mail_line;
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].at("envelope").at("tls").as_bool());
  EXPECT_EQ(list[0].at("envelope").at("profile").as_string(), "google");
  // The sandbox accepts a UTF-8 address only in an SMTPUTF8 transaction.
  EXPECT_EQ(captured_rcpt_to(list[0]), std::vector<std::string>{"zoë@example.org"});
  const auto p = parse(list[0]);
  EXPECT_TRUE(p.at("header_non_ascii").as_bool()) << "RFC 6532: UTF-8 in the headers";
  // Python's email package notes a non-ASCII local part as a defect against RFC 5322; RFC 6532
  // allows it, and it is the only note.
  for (const auto& d : p.at("defects").as_array()) EXPECT_EQ(d.as_string(), "To:NonASCIILocalPartDefect");
  EXPECT_EQ(addresses(p, "To"), (address_list{{"Zoë", "zoë@example.org"}}));
  EXPECT_EQ(addresses(p, "From"), (address_list{{"Jörg", sender()}}));
  EXPECT_EQ(header_values(p, "Subject"), std::vector<std::string>{"Grüße"});
}

// Both sandbox profiles offer SMTPUTF8 (as Exchange Online and Gmail do): a server without it is
// the aiosmtpd peer.
TEST_F(CliComposeTest, NonAsciiAddressWithoutSmtputf8IsRefused) {
  auto server = start_peer();  // no SMTPUTF8
  auto r = run(peer_args(server.port(), {"--from", peer_user, "--to", "bob@example.net", "--reply-to",
                                         "zoë@example.org", "--subject", "s", "--text", "hi"}));
  EXPECT_EQ(r.exit_code, 69) << show(r);
  EXPECT_NE(r.err.find("SMTPUTF8"), std::string::npos) << show(r);
  EXPECT_TRUE(server.stored().empty());
}

TEST_F(CliComposeTest, DryRunPrintsPlanAndMessageAndSendsNothing) {
  auto& sb = start_sandbox();
  // A real send first, so that a token is cached (and could be printed by mistake).
  ASSERT_EQ(run(send_args({"--from", sender(), "--to", "bob@example.net", "--text", "first"})).exit_code, 0);
  const std::string token = cached_token("sandbox");
  const auto tokens_before = sb.token_requests();

  auto r = run(send_args({"--from", sender(), "--to", "bob@example.net", "--bcc", "sam@example.org", "--subject", "dry",
                          "--text", "body text", "--dry-run"}));
  ASSERT_EQ(r.exit_code, 0) << show(r);
  EXPECT_NE(r.out.find("Dry run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("account:    sandbox (microsoft, client_credentials, user " + sender() + ")"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("token:      cached, valid until"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("127.0.0.1:" + std::to_string(sb.smtp_port())), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RCPT TO:    <sam@example.org>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Subject: dry"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("body text"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(token), std::string::npos) << "the token was printed";
  EXPECT_EQ(r.err.find(token), std::string::npos) << "the token was printed";

  auto j = run(send_args(
      {"--from", shared(), "--to", "bob@example.net", "--subject", "dry", "--text", "x", "--dry-run", "--json"}));
  ASSERT_EQ(j.exit_code, 0) << show(j);
  const auto o = boost::json::parse(j.out).as_object();
  EXPECT_TRUE(o.at("dry_run").as_bool());
  EXPECT_EQ(o.at("plan").as_object().at("mail_from").as_string(), shared());
  // Chosen by --from; its token was never asked for, and the dry run does not ask either.
  EXPECT_EQ(o.at("plan").as_object().at("account").as_string(), "sandbox-cert");
  EXPECT_NE(std::string(o.at("plan").as_object().at("token").as_string()).find("no token yet"), std::string::npos)
      << j.out;
  EXPECT_NE(std::string(o.at("message").as_string()).find("Subject: dry"), std::string::npos);

  EXPECT_EQ(sb.messages().size(), 1u) << "a dry run sent something";
  EXPECT_EQ(sb.counters().at("smtp").at("auth_successes").to_number<int>(), 1);
  EXPECT_EQ(sb.token_requests(), tokens_before);
}

TEST_F(CliComposeTest, JsonReportsEachRecipient) {
  auto& sb = start_sandbox();
  // Exchange's answer for an unknown recipient, to the first RCPT only.
  sb.set_faults(
      R"({"smtp":[{"step":"rcpt","action":"reply","times":1,)"
      R"("reply":"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}]})");
  auto r = run(send_args({"--from", sender(), "--to", "gone@example.net", "--to", "bob@example.net", "--subject",
                          "json", "--text", "x", "--json"}));
  EXPECT_EQ(r.exit_code, 67) << show(r);
  const auto j = boost::json::parse(r.out).as_object();
  EXPECT_EQ(j.at("exit_code").to_number<int>(), 67);
  const auto& list = j.at("recipients").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].as_object().at("address").as_string(), "gone@example.net");
  EXPECT_EQ(list[0].as_object().at("status").as_string(), "refused");
  EXPECT_NE(std::string(list[0].as_object().at("reply").as_string()).find("550 5.1.10"), std::string::npos);
  EXPECT_EQ(list[1].as_object().at("address").as_string(), "bob@example.net");
  EXPECT_EQ(list[1].as_object().at("status").as_string(), "delivered");
  ASSERT_TRUE(j.contains("message_id"));
  const auto captured_list = captured();
  ASSERT_EQ(captured_list.size(), 1u);
  EXPECT_EQ(captured_rcpt_to(captured_list[0]), std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(header_values(parse(captured_list[0]), "Message-ID"),
            std::vector<std::string>{std::string(j.at("message_id").as_string())});

  // A failure before sending is still one JSON object, every recipient not_sent.
  auto bad = run(send_args(
      {"--from", sender(), "--to", "bob@example.net", "--subject", "json", "--attach", "/nonexistent/x", "--json"}));
  EXPECT_EQ(bad.exit_code, 66) << show(bad);
  const auto b = boost::json::parse(bad.out).as_object();
  EXPECT_EQ(b.at("exit_code").to_number<int>(), 66);
  EXPECT_EQ(b.at("recipients").as_array().at(0).as_object().at("status").as_string(), "not_sent");
  EXPECT_NE(std::string(b.at("error").as_string()).find("/nonexistent/x"), std::string::npos);
  EXPECT_EQ(sb.messages().size(), 1u);
}

TEST_F(CliComposeTest, RawStdinStillWorksAndCcBccAddEnvelopeRecipients) {
  start_sandbox();
  write_file(dir_ / "raw.eml", "From: " + sender() + "\nTo: bob@example.net\nSubject: raw\n\nraw body\n");
  auto r = run(send_args({"--from", sender(), "--to", "bob@example.net", "--cc", "carol@example.org", "--bcc",
                          "sam@example.org"}),
               dir_ / "raw.eml");
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto list = captured();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(captured_rcpt_to(list[0]),
            (std::vector<std::string>{"bob@example.net", "carol@example.org", "sam@example.org"}));
  // The message on stdin is sent as it is (line ends made CR LF), not composed.
  EXPECT_EQ(captured_raw(list[0]), "From: " + sender() + "\r\nTo: bob@example.net\r\nSubject: raw\r\n\r\nraw body\r\n");
}

}  // namespace
}  // namespace oauthmail::testing
