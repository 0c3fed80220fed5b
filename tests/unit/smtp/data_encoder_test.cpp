// DATA encoding: providers.md §4.14 dot-stuffing and SMTP-smuggling vectors, line ends, the
// 998-octet limit, and chunked encoding in every split equal to whole-message encoding (checked
// against a byte-at-a-time reference model).
#include "smtp/data_encoder.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace oauthmail::smtp {
namespace {

using namespace std::string_literals;

// The obvious byte-at-a-time encoder, as the specification to compare against.
std::optional<std::string> reference_encode(std::string_view in, std::size_t max_line = 998) {
  std::string out;
  std::size_t len = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '\r' || c == '\n') {
      out += "\r\n";
      len = 0;
      if (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
      continue;
    }
    if (len == 0 && c == '.') out += '.';
    out += c;
    if (++len > max_line) return std::nullopt;
  }
  if (len != 0) out += "\r\n";
  out += ".\r\n";
  return out;
}

struct encoded {
  std::optional<std::string> wire;  // nullopt: refused
  std::uint64_t lines = 0;
  std::uint64_t octets = 0;
};

encoded encode_with_cuts(std::string_view in, const std::vector<std::size_t>& cuts, std::size_t max_line = 998) {
  data_encoder enc(max_line);
  std::string out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t stop = i < cuts.size() ? cuts[i] : in.size();
    auto r = enc.encode(in.substr(start, stop - start), out);
    start = stop;
    if (!r) {
      EXPECT_EQ(r.error().code(), make_error_code(data_errc::line_too_long));
      EXPECT_EQ(r.error().classification(), core::failure_class::permanent);
      const std::size_t before = out.size();
      enc.finish(out);
      EXPECT_EQ(out.size(), before) << "finish() after an error must not terminate the message";
      EXPECT_FALSE(enc.encode("more", out));
      return {};
    }
  }
  enc.finish(out);
  return {out, enc.line_count(), enc.octets_in()};
}

// Whole, every 2-way split, byte by byte and (for short inputs) every 3-way split: all equal to
// the reference. Returns the wire form (or nullopt when refused).
std::optional<std::string> encode_every_split(std::string_view in, std::size_t max_line = 998) {
  const std::optional<std::string> expected = reference_encode(in, max_line);
  const encoded whole = encode_with_cuts(in, {}, max_line);
  EXPECT_EQ(whole.wire, expected) << "whole";
  if (expected) {
    EXPECT_EQ(whole.octets, in.size());
  }
  const auto convenience = encode_data(in, max_line);
  EXPECT_EQ(convenience.has_value(), expected.has_value());
  if (convenience && expected) {
    EXPECT_EQ(*convenience, *expected);
  }
  for (std::size_t i = 0; i <= in.size(); ++i) {
    const encoded e = encode_with_cuts(in, {i}, max_line);
    EXPECT_EQ(e.wire, expected) << "split at " << i;
    EXPECT_EQ(e.lines, whole.lines) << "split at " << i;
  }
  std::vector<std::size_t> bytewise;
  for (std::size_t i = 1; i < in.size(); ++i) bytewise.push_back(i);
  const encoded b = encode_with_cuts(in, bytewise, max_line);
  EXPECT_EQ(b.wire, expected) << "byte by byte";
  EXPECT_EQ(b.lines, whole.lines) << "byte by byte";
  if (in.size() <= 120) {
    for (std::size_t i = 0; i <= in.size(); ++i) {
      for (std::size_t j = i; j <= in.size(); ++j) {
        EXPECT_EQ(encode_with_cuts(in, {i, j}, max_line).wire, expected) << "split at " << i << "," << j;
      }
    }
  }
  return whole.wire;
}

// What a strict RFC 5321 receiver sees: lines split on CR LF only, data ends at the first line
// that is exactly ".". Returns the number of end-of-data markers and checks the wire is canonical.
struct receiver_view {
  int terminators = 0;
  bool ends_after_terminator = false;
  bool canonical = true;  // every CR is followed by LF and every LF preceded by CR
  std::string unstuffed;  // content as the receiver stores it (lines joined with CR LF)
};

receiver_view receive(std::string_view wire) {
  receiver_view v;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\r' && (i + 1 >= wire.size() || wire[i + 1] != '\n')) v.canonical = false;
    if (wire[i] == '\n' && (i == 0 || wire[i - 1] != '\r')) v.canonical = false;
  }
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const std::size_t eol = wire.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    std::string_view line = wire.substr(pos, eol - pos);
    pos = eol + 2;
    if (line == ".") {
      ++v.terminators;
      v.ends_after_terminator = pos == wire.size();
      if (!v.ends_after_terminator) {
        v.unstuffed += "<SMUGGLED>";  // anything after would be read as commands
      }
      continue;
    }
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);
    v.unstuffed.append(line).append("\r\n");
  }
  return v;
}

void expect_single_message(const std::string& wire) {
  const receiver_view v = receive(wire);
  EXPECT_TRUE(v.canonical) << wire;
  EXPECT_EQ(v.terminators, 1) << wire;
  EXPECT_TRUE(v.ends_after_terminator) << wire;
  EXPECT_EQ(wire.find("\r\n.\r\n"), wire.size() >= 5 ? wire.size() - 5 : std::string::npos) << wire;
}

// --- providers.md §4.14 dot-stuffing vectors ------------------------------------------------

TEST(DataEncoder, DotStuffingVectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {".\r\n", "..\r\n.\r\n"},
      {".hidden\r\n", "..hidden\r\n.\r\n"},
      {"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
      {"no final crlf", "no final crlf\r\n.\r\n"},
      {"x\r\n", "x\r\n.\r\n"},
      {"", ".\r\n"},
      {"..\r\n", "...\r\n.\r\n"},
      {".", "..\r\n.\r\n"},
      {"a.b\r\n .x\r\n", "a.b\r\n .x\r\n.\r\n"},  // only a dot at the start of a line is stuffed
      {"\r\n", "\r\n.\r\n"},
      {"\r\n\r\n.", "\r\n\r\n..\r\n.\r\n"},
  };
  for (const auto& [in, out] : vectors) {
    EXPECT_EQ(encode_every_split(in), out) << in;
    expect_single_message(out);
  }
}

// --- providers.md §4.14 smuggling primitives -------------------------------------------------

TEST(DataEncoder, SmugglingVectorsBecomeOneCanonicalMessage) {
  const std::string tail = "MAIL FROM:<x@evil>\r\nRCPT TO:<y@victim>\r\nDATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n";
  const std::string wire_tail =
      "MAIL FROM:<x@evil>\r\nRCPT TO:<y@victim>\r\nDATA\r\nSubject: smuggled\r\n\r\nhi\r\n..\r\n.\r\n";
  const std::string head = "Subject: t\r\n\r\n";
  const std::pair<std::string, std::string> vectors[] = {
      {"body\n.\r\n", "body\r\n..\r\n"},                // A: <LF>.<CR><LF>
      {"body\n.\n", "body\r\n..\r\n"},                  // B: <LF>.<LF>
      {"body\r.\r", "body\r\n..\r\n"},                  // C: <CR>.<CR>
      {"body\r\n.\r", "body\r\n..\r\n"},                // D: <CR><LF>.<CR>
      {"body\r\r\n.\r\r\n", "body\r\n\r\n..\r\n\r\n"},  // E: <CR><CR><LF>.<CR><CR><LF>
      {"body\n.\r", "body\r\n..\r\n"},                  // <LF>.<CR>
      {"body\r.\n", "body\r\n..\r\n"},                  // <CR>.<LF>
      {"body\r\n.\n", "body\r\n..\r\n"},                // <CR><LF>.<LF>
      {"body\n\r.\r\n", "body\r\n\r\n..\r\n"},          // <LF><CR>.<CR><LF>: LF then bare CR = two line ends
  };
  for (const auto& [primitive, encoded_primitive] : vectors) {
    const std::string in = head + primitive + tail;
    const std::optional<std::string> wire = encode_every_split(in);
    ASSERT_TRUE(wire) << in;
    EXPECT_EQ(*wire, head + encoded_primitive + wire_tail) << in;
    expect_single_message(*wire);
    const receiver_view v = receive(*wire);
    EXPECT_EQ(v.unstuffed.find("<SMUGGLED>"), std::string::npos);
  }
}

TEST(DataEncoder, BareLineEndsBecomeCrLf) {
  EXPECT_EQ(encode_every_split("a\nb\rc\r\nd"), "a\r\nb\r\nc\r\nd\r\n.\r\n");
  EXPECT_EQ(encode_every_split("\n\n\n"), "\r\n\r\n\r\n.\r\n");
  EXPECT_EQ(encode_every_split("\r\r\r"), "\r\n\r\n\r\n.\r\n");
  EXPECT_EQ(encode_every_split("\n\r"), "\r\n\r\n.\r\n");  // LF CR is two line ends
  EXPECT_EQ(encode_every_split("\r\n\r\n"), "\r\n\r\n.\r\n");
  EXPECT_EQ(encode_every_split("x\r"), "x\r\n.\r\n");  // CR at the very end: one line end
  EXPECT_EQ(encode_every_split("Subject: a\nX-Injected: b\r\n"), "Subject: a\r\nX-Injected: b\r\n.\r\n");
}

TEST(DataEncoder, CrAtChunkEndFollowedByLfInTheNextChunk) {
  data_encoder enc;
  std::string out;
  ASSERT_TRUE(enc.encode("line one\r", out));
  EXPECT_EQ(out, "line one\r\n");    // written at once; the LF that follows is swallowed
  ASSERT_TRUE(enc.encode("", out));  // an empty chunk keeps the pending CR
  ASSERT_TRUE(enc.encode("\n.dot\r", out));
  ASSERT_TRUE(enc.encode("\r", out));  // the previous CR was bare: this is a second line end
  ASSERT_TRUE(enc.encode(".", out));
  enc.finish(out);
  EXPECT_EQ(out, "line one\r\n..dot\r\n\r\n..\r\n.\r\n");
  EXPECT_EQ(enc.line_count(), 4u);
  EXPECT_EQ(enc.octets_in(), 17u);
}

TEST(DataEncoder, CountsLinesAndOctets) {
  data_encoder enc;
  std::string out;
  ASSERT_TRUE(enc.encode("a\r\nb\nc", out));
  EXPECT_EQ(enc.line_count(), 2u);
  EXPECT_EQ(enc.octets_in(), 6u);
  enc.finish(out);
  EXPECT_EQ(enc.line_count(), 3u);
}

TEST(DataEncoder, AppendsToExistingOutput) {
  data_encoder enc;
  std::string out = "prefix|";
  ASSERT_TRUE(enc.encode(".x", out));
  enc.finish(out);
  EXPECT_EQ(out, "prefix|..x\r\n.\r\n");
}

// --- line length ---------------------------------------------------------------------------

TEST(DataEncoder, LineOf998OctetsIsAcceptedAnd999Refused) {
  const std::string l998(998, 'a');
  const std::string l999(999, 'a');
  for (const std::string& eol : {"\r\n"s, "\n"s, "\r"s}) {
    auto ok = encode_data("x\r\n" + l998 + eol + "y");
    ASSERT_TRUE(ok) << eol.size();
    EXPECT_EQ(*ok, "x\r\n" + l998 + "\r\ny\r\n.\r\n");
    auto bad = encode_data("x\r\n" + l999 + eol + "y");
    ASSERT_FALSE(bad) << eol.size();
    EXPECT_EQ(bad.error().code(), make_error_code(data_errc::line_too_long));
    EXPECT_EQ(bad.error().classification(), core::failure_class::permanent);
    EXPECT_NE(bad.error().message().find("998"), std::string::npos);
    EXPECT_NE(bad.error().message().find("line 2"), std::string::npos) << bad.error().message();
  }
  // The last line, without a line end.
  EXPECT_EQ(encode_data("x\r\n" + l998).value_or(""), "x\r\n" + l998 + "\r\n.\r\n");
  EXPECT_FALSE(encode_data("x\r\n" + l999));
}

TEST(DataEncoder, StuffedDotDoesNotCountTowardsTheLimit) {
  const std::string dotted = "." + std::string(997, 'a');  // 998 octets in the message
  auto ok = encode_data(dotted);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), 999u + 2 + 3);
  EXPECT_FALSE(encode_data(dotted + "a"));
}

TEST(DataEncoder, LineLimitInEverySplit) {
  EXPECT_TRUE(encode_every_split("ab\r\n12345678\r\n.1234567\ncd", 8));
  EXPECT_FALSE(encode_every_split("ab\r\n123456789\r\ncd", 8));
  EXPECT_FALSE(encode_every_split("ab\r\n123456789", 8));
  EXPECT_FALSE(encode_every_split(".12345678\r\n", 8));
  EXPECT_TRUE(encode_every_split("12345678\r12345678\n12345678", 8));
}

TEST(DataEncoder, LongLineSplitAcrossManyChunks) {
  data_encoder enc;
  std::string out;
  for (int i = 0; i < 99; ++i) ASSERT_TRUE(enc.encode("0123456789", out));
  ASSERT_TRUE(enc.encode("01234567", out));  // 998
  auto r = enc.encode("8", out);             // 999
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), make_error_code(data_errc::line_too_long));
  const std::size_t size = out.size();
  enc.finish(out);
  EXPECT_EQ(out.size(), size);
  EXPECT_EQ(out.find(".\r\n"), std::string::npos);
}

TEST(DataEncoder, CustomLimit) {
  EXPECT_TRUE(encode_data(std::string(5000, 'x'), 5000));
  EXPECT_FALSE(encode_data(std::string(5001, 'x'), 5000));
}

TEST(DataEncoder, ErrorCategory) {
  EXPECT_STREQ(data_category().name(), "oauthmail.smtp.data");
  const std::error_code ec = data_errc::line_too_long;
  EXPECT_EQ(ec.category(), data_category());
  EXPECT_FALSE(data_category().message(1).empty());
}

// --- realistic message and random messages -------------------------------------------------

TEST(DataEncoder, RealisticMessageInEverySplit) {
  const std::string msg =
      "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: Report\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
      "Hello Bob,\n\n.hidden line\n...\nThe numbers:\r\n. 1\r\n.. 2\r\n\r\n.\r\n-- \nAlice\n";
  const auto wire = encode_every_split(msg);
  ASSERT_TRUE(wire);
  expect_single_message(*wire);
  const receiver_view v = receive(*wire);
  EXPECT_EQ(v.unstuffed,
            "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: Report\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hello Bob,\r\n\r\n.hidden line\r\n...\r\nThe numbers:\r\n. 1\r\n.. 2\r\n\r\n.\r\n-- \r\nAlice\r\n");
}

TEST(DataEncoder, RandomMessagesMatchTheReferenceInRandomChunks) {
  std::mt19937 rng(4142);
  const std::string alphabet = "..\r\n\r\nab ";
  for (int round = 0; round < 2000; ++round) {
    std::string msg;
    const std::size_t len = rng() % 48;
    for (std::size_t i = 0; i < len; ++i) msg += alphabet[rng() % alphabet.size()];
    const std::size_t limit = 1 + rng() % 6;
    const auto expected = reference_encode(msg, limit);
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    while (true) {
      at += rng() % 5;
      if (at >= msg.size()) break;
      cuts.push_back(at);
    }
    EXPECT_EQ(encode_with_cuts(msg, cuts, limit).wire, expected) << round;
    EXPECT_EQ(encode_with_cuts(msg, {}, limit).wire, expected) << round;
    if (expected) expect_single_message(*expected);
  }
}

TEST(DataEncoder, EveryShortMessageOverASmallAlphabet) {
  // All 6^6 messages of length 6 over {'.', CR, LF, 'a', ' ', 'b'}, whole and in every 2-way split.
  const char alphabet[] = {'.', '\r', '\n', 'a', ' ', 'b'};
  std::string msg(6, ' ');
  for (int n = 0; n < 6 * 6 * 6 * 6 * 6 * 6; ++n) {
    int x = n;
    for (char& c : msg) {
      c = alphabet[x % 6];
      x /= 6;
    }
    const auto expected = reference_encode(msg);
    ASSERT_TRUE(expected);
    for (std::size_t cut = 0; cut <= msg.size(); ++cut) {
      ASSERT_EQ(encode_with_cuts(msg, {cut}).wire, expected) << n << " at " << cut;
    }
    const receiver_view v = receive(*expected);
    ASSERT_TRUE(v.canonical);
    ASSERT_EQ(v.terminators, 1);
    ASSERT_TRUE(v.ends_after_terminator);
  }
}

}  // namespace
}  // namespace oauthmail::smtp

namespace oauthmail::smtp {
namespace {

// Regression guard: many bare CRs and no LF once made every line rescan the rest of the chunk for
// an LF (quadratic: 1 MiB took seconds). 4 MiB must encode in linear time.
TEST(DataEncoder, BareCrFloodIsLinear) {
  const std::string msg(std::size_t{4} * 1024 * 1024, '\r');
  const auto start = std::chrono::steady_clock::now();
  auto wire = encode_data(msg);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->size(), 2 * msg.size() + 3);
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

}  // namespace
}  // namespace oauthmail::smtp
