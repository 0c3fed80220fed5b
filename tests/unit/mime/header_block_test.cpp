// mime::message_reader and mime::header_block: the header block separated from the body in every
// split of the input, the "." line with and without -i, an mbox "From " line, messages without
// headers, the 1 MiB bound, and fields kept byte for byte.
#include "mime/header_block.hpp"

#include <gtest/gtest.h>

#include "mime/errors.hpp"

namespace oauthmail::mime {
namespace {

struct read_result {
  std::string headers;
  std::string body;
  bool done = false;
  bool needs_separator = false;
};

// Feeds `input` in chunks of `chunk` octets.
read_result read_all(std::string_view input, bool dots, std::size_t chunk, std::size_t max_header = 1 << 20) {
  read_result out;
  message_reader reader(dots, max_header, [&](std::string_view b) -> core::result<void> {
    out.body.append(b);
    return {};
  });
  for (std::size_t i = 0; i < input.size() && !reader.done(); i += chunk) {
    auto r = reader.feed(input.substr(i, chunk));
    if (!r) throw std::runtime_error(r.error().message());
  }
  auto r = reader.finish();
  if (!r) throw std::runtime_error(r.error().message());
  out.headers = reader.header_text();
  out.done = reader.done();
  out.needs_separator = reader.needs_separator();
  return out;
}

TEST(MessageReader, SplitsHeadersAndBodyInEveryChunking) {
  const std::string input = "From: a@example.com\r\nSubject: hi\r\n  folded\r\n\r\nbody line\r\n.leading dot\r\nlast";
  for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
    SCOPED_TRACE(chunk);
    const auto r = read_all(input, true, chunk);
    EXPECT_EQ(r.headers, "From: a@example.com\r\nSubject: hi\r\n  folded\r\n");
    EXPECT_EQ(r.body, "body line\r\n.leading dot\r\nlast");
    EXPECT_FALSE(r.done);
    EXPECT_FALSE(r.needs_separator);
  }
}

TEST(MessageReader, DotLineEndsTheMessageUnlessIgnored) {
  const std::string input = "Subject: x\n\nbefore\n.\nafter\n";
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 100u}) {
    SCOPED_TRACE(chunk);
    const auto r = read_all(input, true, chunk);
    EXPECT_EQ(r.body, "before\n");
    EXPECT_TRUE(r.done);
    const auto i = read_all(input, false, chunk);
    EXPECT_EQ(i.body, "before\n.\nafter\n");
    EXPECT_FALSE(i.done);
  }
  // CR LF, a dot in the headers, a final "." without a line end.
  EXPECT_EQ(read_all("Subject: x\r\n\r\nb\r\n.\r\nz", true, 1).body, "b\r\n");
  EXPECT_EQ(read_all("Subject: x\n.\nTo: y\n", true, 3).headers, "Subject: x\n");
  EXPECT_EQ(read_all("Subject: x\n\nb\n.", true, 1).body, "b\n");
  // ".." and ".x" are content.
  EXPECT_EQ(read_all("S: x\n\n..\n.x\n.\r\n", true, 1).body, "..\n.x\n");
}

TEST(MessageReader, NoHeadersAndMboxFromLine) {
  const auto plain = read_all("just a body\nline two\n", true, 4);
  EXPECT_EQ(plain.headers, "");
  EXPECT_EQ(plain.body, "just a body\nline two\n");
  EXPECT_TRUE(plain.needs_separator);
  const auto mbox = read_all("From alice@example.com Mon Jun  2 10:00:00 2025\nSubject: s\n\nb\n", true, 5);
  EXPECT_EQ(mbox.headers, "Subject: s\n");
  EXPECT_EQ(mbox.body, "b\n");
  // A header block ending at a non-header line: that line starts the body.
  const auto odd = read_all("Subject: s\nthis is not a header\nmore\n", true, 3);
  EXPECT_EQ(odd.headers, "Subject: s\n");
  EXPECT_EQ(odd.body, "this is not a header\nmore\n");
  EXPECT_TRUE(odd.needs_separator);
  // Headers only, no final line end.
  const auto only = read_all("Subject: s\nTo: t@example.com", true, 2);
  EXPECT_EQ(only.headers, "Subject: s\nTo: t@example.com\n");
  EXPECT_EQ(only.body, "");
}

TEST(MessageReader, HeaderBlockIsBounded) {
  std::string big = "Subject: x\n";
  for (int i = 0; i < 100; ++i) big += "X-Filler: " + std::string(100, 'f') + "\n";
  EXPECT_THROW(read_all(big + "\nbody\n", true, 64, 4096), std::runtime_error);
  // One long header line without a line end yet.
  EXPECT_THROW(read_all("Subject: " + std::string(10000, 's'), true, 100, 4096), std::runtime_error);
  // A long first line that is no header is body, streamed.
  const auto r = read_all(std::string(10000, 'b') + "\n", true, 100, 4096);
  EXPECT_EQ(r.body.size(), 10001u);
  EXPECT_EQ(r.headers, "");
}

TEST(HeaderBlock, LooksUpRemovesReplacesAndKeepsBytes) {
  auto h = header_block::parse(
      "From: A <a@example.com>\r\nTo: b@example.net,\r\n c@example.org\r\nBCC: s@example.org\r\n"
      "Subject : spaced\r\nbcc: t@example.org\r\n");
  ASSERT_EQ(h.fields().size(), 5u);
  EXPECT_EQ(h.values("to"), std::vector<std::string>{"b@example.net, c@example.org"});
  EXPECT_EQ(h.values("Subject"), std::vector<std::string>{"spaced"});
  EXPECT_TRUE(h.has("bcc"));
  EXPECT_EQ(h.remove("Bcc"), 2u);
  EXPECT_FALSE(h.has("Bcc"));
  h.append("Date", "Mon, 02 Jun 2025 10:00:00 +0000");
  h.replace("From", "B <b@example.com>");
  EXPECT_EQ(h.to_string(),
            "From: B <b@example.com>\nTo: b@example.net,\r\n c@example.org\r\nSubject : spaced\r\n"
            "Date: Mon, 02 Jun 2025 10:00:00 +0000\n");
}

}  // namespace
}  // namespace oauthmail::mime
