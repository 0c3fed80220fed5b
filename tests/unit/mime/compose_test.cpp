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
