// mime::compose: structure, headers, encodings, Bcc, injection, RFC 6532 form. The parse-back by
// Python's email package (a parser nobody here wrote) is in tests/integration/compose_test.cpp;
// here GMime's own parser reads the result back.
#include "mime/compose.hpp"

#include <gmime/gmime.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mime/errors.hpp"

namespace oauthmail::mime {
namespace {

namespace fs = std::filesystem;

mailbox mb(const std::string& text) {
  auto m = parse_mailbox(text, "test");
  if (!m) throw std::runtime_error(m.error().message());
  return *m;
}

std::string render(const composed_message& c) {
  auto s = c.content->read_all();
  if (!s) throw std::runtime_error(s.error().message());
  return *s;
}

class ComposeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oauthmail-compose-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  message_spec basic() {
    message_spec s;
    s.from = mb("Alice <alice@example.com>");
    s.to = {mb("Bob <bob@example.net>")};
    s.subject = "Hello";
    s.text = "Hi Bob.\n";
    return s;
  }
  fs::path dir_;
};

TEST_F(ComposeTest, PlainTextMessageHasTheHeadersAndNoBcc) {
  auto spec = basic();
  spec.cc = {mb("carol@example.org")};
  spec.bcc = {mb("Secret Sam <sam@example.org>")};
  spec.reply_to = {mb("replies@example.com")};
  auto c = compose(spec);
  ASSERT_TRUE(c) << c.error().message();
  const std::string text = render(*c);
  EXPECT_NE(text.find("From: Alice <alice@example.com>\n"), std::string::npos) << text;
  EXPECT_NE(text.find("To: Bob <bob@example.net>\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Cc: carol@example.org\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Reply-To: replies@example.com\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Subject: Hello\n"), std::string::npos) << text;
  EXPECT_EQ(text.rfind("Date: ", 0), 0u) << text;
  EXPECT_NE(text.find("Message-Id: <"), std::string::npos) << text;
  EXPECT_NE(text.find("@example.com>\n"), std::string::npos) << text;
  EXPECT_NE(text.find("MIME-Version: 1.0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Content-Type: text/plain; charset=utf-8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n\nHi Bob.\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("Bcc"), std::string::npos) << text;
  EXPECT_EQ(text.find("sam@example.org"), std::string::npos) << text;
  EXPECT_EQ(c->envelope_from, "alice@example.com");
  EXPECT_EQ(c->envelope_to, (std::vector<std::string>{"bob@example.net", "carol@example.org", "sam@example.org"}));
  EXPECT_FALSE(c->utf8_headers);
  EXPECT_EQ(c->message_id.front(), '<');
  EXPECT_NE(text.find(c->message_id), std::string::npos);
}

}  // namespace
}  // namespace oauthmail::mime

namespace oauthmail::mime {
namespace {

TEST_F(ComposeTest, StructureForEachCombination) {
  auto only_html = basic();
  only_html.text.reset();
  only_html.html = "<p>x</p>";
  auto h = compose(only_html);
  ASSERT_TRUE(h);
  EXPECT_NE(render(*h).find("Content-Type: text/html; charset=utf-8"), std::string::npos);

  auto both = basic();
  both.html = "<p>x <img src=\"cid:logo\"></p>";
  both.inline_images = {{write("logo.png", "\x89PNG\r\n\x1a\n").string(), "logo"}};
  both.attachments = {write("a.bin", std::string("\0\1\2", 3)).string()};
  auto c = compose(both);
  ASSERT_TRUE(c) << c.error().message();
  const std::string t = render(*c);
  const auto mixed = t.find("multipart/mixed");
  const auto alt = t.find("multipart/alternative");
  const auto related = t.find("multipart/related");
  ASSERT_NE(mixed, std::string::npos);
  EXPECT_LT(mixed, alt);
  EXPECT_LT(alt, related);
  EXPECT_NE(t.find("Content-Id: <logo>"), std::string::npos) << t;
  EXPECT_NE(t.find("Content-Disposition: attachment; filename=a.bin"), std::string::npos) << t;
  EXPECT_NE(t.find("AAEC"), std::string::npos) << "base64 of 00 01 02";
  EXPECT_TRUE(c->warnings.empty());

  auto nothing = basic();
  nothing.text.reset();
  auto e = compose(nothing);
  ASSERT_TRUE(e);
  EXPECT_NE(render(*e).find("text/plain"), std::string::npos);
}

TEST_F(ComposeTest, LongLinesAreEncodedAndNoLineExceeds998) {
  auto spec = basic();
  spec.text = std::string(5000, 'a') + "\n";
  spec.subject = std::string(40, 'w') + " " + std::string(40, 'v') + " Grüße " + std::string(60, 'z');
  auto c = compose(spec);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_LE(c->content->stats().longest_line(), 78u);
  EXPECT_NE(render(*c).find("Content-Transfer-Encoding: quoted-printable"), std::string::npos);
  // A 1200-octet word in a header: GMime splits it into encoded words; no line is over 998.
  auto unfoldable = basic();
  unfoldable.headers = {{"X-Long", std::string(1200, 'q')}};
  auto u = compose(unfoldable);
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_LE(u->content->stats().longest_line(), 998u);
}

TEST_F(ComposeTest, RefusesInjectionAndBadCombinations) {
  auto s = basic();
  s.subject = "hi\r\nBcc: evil@example.com";
  auto r = compose(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::header_injection);
  auto inl = basic();
  inl.inline_images = {{"/nonexistent.png", "x"}};
  EXPECT_EQ(compose(inl).error().code(), errc::bad_composition);
  auto missing = basic();
  missing.attachments = {(dir_ / "missing.pdf").string()};
  auto m = compose(missing);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), errc::unreadable_file);
  EXPECT_NE(m.error().message().find("missing.pdf"), std::string::npos);
  auto twice = basic();
  twice.html = "<img src=\"cid:a\">";
  const auto img = write("a.png", "x").string();
  twice.inline_images = {{img, "a"}, {img, "a"}};
  EXPECT_EQ(compose(twice).error().code(), errc::bad_composition);
}

TEST_F(ComposeTest, HeaderAndInlineOptions) {
  auto ok = parse_header_option("X-Report:   daily run ");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, "X-Report");
  EXPECT_EQ(ok->second, "daily run ");
  for (const char* bad :
       {"NoColon", ": no name", "Bad Name: x", "To: x@example.com", "bcc: x@example.com", "Content-Type: text/html",
        "MIME-Version: 2.0", "X-A: b\r\nBcc: c", "Date: soon", "Message-ID: not-an-id"}) {
    EXPECT_FALSE(parse_header_option(bad)) << bad;
  }
  EXPECT_TRUE(parse_header_option("Date: Tue, 03 Jun 2025 10:00:00 +0200"));
  EXPECT_TRUE(parse_header_option("Message-ID: <abc.123@example.com>"));

  auto by_name = parse_inline_option(write("logo.png", "x").string());
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->content_id, "logo.png");
  auto named = parse_inline_option("brand=" + (dir_ / "logo.png").string());
  ASSERT_TRUE(named);
  EXPECT_EQ(named->content_id, "brand");
  EXPECT_EQ(named->path, (dir_ / "logo.png").string());
  EXPECT_FALSE(parse_inline_option(write("my logo.png", "x").string()));

  // Date and Message-ID given as headers replace the generated ones.
  auto spec = basic();
  spec.headers = {{"Date", "Tue, 03 Jun 2025 10:00:00 +0200"}, {"Message-ID", "<fixed@example.com>"}};
  auto c = compose(spec);
  ASSERT_TRUE(c);
  const std::string t = render(*c);
  EXPECT_NE(t.find("Date: Tue, 03 Jun 2025 10:00:00 +0200\n"), std::string::npos) << t;
  EXPECT_NE(t.find("<fixed@example.com>"), std::string::npos) << t;
  EXPECT_EQ(c->message_id, "<fixed@example.com>");
  EXPECT_EQ(t.find("Date:", t.find("Date:") + 1), std::string::npos) << "two Date headers";
}

TEST_F(ComposeTest, Utf8HeadersOnlyForNonAsciiLocalParts) {
  auto ascii = basic();
  ascii.to = {mb("Zoë <zoe@bücher.de>")};
  ascii.subject = "Grüße";
  auto a = compose(ascii);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->utf8_headers);
  const std::string at = render(*a);
  EXPECT_NE(at.find("To: =?UTF-8?b?Wm/Dqw==?= <zoe@xn--bcher-kva.de>"), std::string::npos) << at;
  EXPECT_EQ(a->envelope_to, std::vector<std::string>{"zoe@xn--bcher-kva.de"});
  EXPECT_FALSE(a->content->stats().eight_bit());

  auto eai = basic();
  eai.to = {mb("Zoë <zoë@example.org>")};
  eai.subject = "Grüße";
  auto e = compose(eai);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->utf8_headers);
  const std::string et = render(*e);
  EXPECT_NE(et.find("To: Zoë <zoë@example.org>\n"), std::string::npos) << et;
  EXPECT_NE(et.find("Subject: Grüße\n"), std::string::npos) << et;
}

}  // namespace
}  // namespace oauthmail::mime
