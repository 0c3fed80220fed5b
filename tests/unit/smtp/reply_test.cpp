// Reply parser: providers.md §5 fixtures, limits, malformed input, and the sans-I/O property that
// every split of the input (all 2-way and 3-way splits, byte by byte) yields the same replies.
#include "smtp/reply.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace oauthmail::smtp {
namespace {

using namespace std::string_literals;

struct outcome {
  std::vector<reply> replies;
  std::vector<std::size_t> ends;  // offset in the whole input where each reply ended
  std::optional<std::error_code> error;
  bool mid_reply = false;
};

// Feeds `input` cut at `cuts` (ascending offsets), looping on each chunk until it is consumed.
outcome parse_with_cuts(std::string_view input, const std::vector<std::size_t>& cuts, reply_parser_limits limits = {}) {
  outcome out;
  reply_parser parser(limits);
  std::size_t start = 0;
  std::size_t offset = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t stop = i < cuts.size() ? cuts[i] : input.size();
    std::string_view chunk = input.substr(start, stop - start);
    start = stop;
    do {
      auto r = parser.feed(chunk);
      if (!r) {
        out.error = r.error().code();
        EXPECT_EQ(r.error().classification(), core::failure_class::protocol);
        EXPECT_FALSE(r.error().message().empty());
        return out;
      }
      EXPECT_LE(r->consumed, chunk.size());
      if (r->parsed) {
        out.replies.push_back(*r->parsed);
        out.ends.push_back(offset + r->consumed);
      } else {
        EXPECT_EQ(r->consumed, chunk.size()) << "stopped without a reply";
      }
      offset += r->consumed;
      chunk.remove_prefix(r->consumed);
    } while (!chunk.empty());
  }
  out.mid_reply = parser.mid_reply();
  return out;
}

void expect_same(const outcome& a, const outcome& b, const std::string& how) {
  EXPECT_EQ(a.replies, b.replies) << how;
  EXPECT_EQ(a.ends, b.ends) << how;
  EXPECT_EQ(a.error, b.error) << how;
  if (!a.error) {
    EXPECT_EQ(a.mid_reply, b.mid_reply) << how;
  }
}

// The whole input at once, then every 2-way split, byte by byte, and (for short inputs) every
// 3-way split must all agree.
outcome parse_every_split(std::string_view input, reply_parser_limits limits = {}) {
  outcome whole = parse_with_cuts(input, {}, limits);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    expect_same(whole, parse_with_cuts(input, {i}, limits), "split at " + std::to_string(i));
  }
  std::vector<std::size_t> bytewise;
  for (std::size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
  expect_same(whole, parse_with_cuts(input, bytewise, limits), "byte by byte");
  if (input.size() <= 160) {
    for (std::size_t i = 0; i <= input.size(); ++i) {
      for (std::size_t j = i; j <= input.size(); ++j) {
        expect_same(whole, parse_with_cuts(input, {i, j}, limits),
                    "split at " + std::to_string(i) + "," + std::to_string(j));
      }
    }
  }
  return whole;
}

reply parse_one(std::string_view input) {
  const outcome o = parse_every_split(input);
  EXPECT_FALSE(o.error) << (o.error ? o.error->message() : "");
  EXPECT_EQ(o.replies.size(), 1u);
  EXPECT_FALSE(o.mid_reply);
  return o.replies.empty() ? reply{} : o.replies.front();
}

std::error_code parse_error(std::string_view input, reply_parser_limits limits = {}) {
  const outcome o = parse_every_split(input, limits);
  EXPECT_TRUE(o.error.has_value()) << "no error for: " << input;
  return o.error.value_or(std::error_code{});
}

// --- providers.md §5 fixtures -------------------------------------------------------------

TEST(ReplyParser, BareMicrosoft334HasOneEmptyLine) {
  const reply r = parse_one("334\r\n");
  EXPECT_EQ(r.code, 334);
  EXPECT_FALSE(r.enhanced);
  EXPECT_EQ(r.lines, std::vector<std::string>{""});
  EXPECT_TRUE(r.positive_intermediate());
  EXPECT_EQ(r.text(), "");
  EXPECT_EQ(r.to_string(), "334");
}

TEST(ReplyParser, Bare334WithTrailingSpace) {
  const reply r = parse_one("334 \r\n");
  EXPECT_EQ(r.code, 334);
  EXPECT_EQ(r.lines, std::vector<std::string>{""});
  EXPECT_EQ(r.to_string(), "334");
}

TEST(ReplyParser, Gmail334ChallengeKeepsBase64Text) {
  const std::string b64 =
      "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==";
  const reply r = parse_one("334 " + b64 + "\r\n");
  EXPECT_EQ(r.code, 334);
  EXPECT_FALSE(r.enhanced);  // 3xx replies carry no enhanced code
  EXPECT_EQ(r.lines, std::vector<std::string>{b64});
}

TEST(ReplyParser, GmailMultiline535With578) {
  const reply r = parse_one(
      "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
      "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a05600c000000b00000000000sm0 - gsmtp\r\n");
  EXPECT_EQ(r.code, 535);
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (enhanced_status{5, 7, 8}));
  EXPECT_EQ(r.enhanced->to_string(), "5.7.8");
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0], "Username and Password not accepted. For more information, go to");
  // Only the code and one space are removed: Gmail's second space stays (faithful text).
  EXPECT_EQ(r.lines[1],
            " https://support.google.com/mail/?p=BadCredentials a1-20020a05600c000000b00000000000sm0 - gsmtp");
  EXPECT_TRUE(r.permanent_negative());
}

TEST(ReplyParser, GoogleDocMultiline535With571) {
  const reply r = parse_one(
      "535-5.7.1 Username and Password not accepted. Learn more at\r\n"
      "535 5.7.1 https://support.google.com/mail/?p=BadCredentials hx9sm5317360pbc.68\r\n");
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (enhanced_status{5, 7, 1}));
  EXPECT_EQ(r.text(),
            "Username and Password not accepted. Learn more at "
            "https://support.google.com/mail/?p=BadCredentials hx9sm5317360pbc.68");
  EXPECT_EQ(r.to_string(),
            "535 5.7.1 Username and Password not accepted. Learn more at "
            "https://support.google.com/mail/?p=BadCredentials hx9sm5317360pbc.68");
}

TEST(ReplyParser, Exchange535WithHostTimestampAndId) {
  const std::string line =
      "535 5.7.3 Authentication unsuccessful [VI1PR0902CA0036.eurprd09.prod.outlook.com "
      "2024-03-20T10:27:56.998Z 08DC48BEE95C08E5]";
  const reply r = parse_one(line + "\r\n");
  EXPECT_EQ(r.code, 535);
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (enhanced_status{5, 7, 3}));
  EXPECT_EQ(r.text(),
            "Authentication unsuccessful [VI1PR0902CA0036.eurprd09.prod.outlook.com 2024-03-20T10:27:56.998Z "
            "08DC48BEE95C08E5]");
  EXPECT_EQ(r.to_string(), line);
}

TEST(ReplyParser, Exchange535With57139VendorDetail) {
  const reply r = parse_one(
      "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
      "https://aka.ms/smtp_auth_disabled for more information. [SN4PR0501CA0054.namprd05.prod.outlook.com]\r\n");
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(*r.enhanced, (enhanced_status{5, 7, 139}));
  EXPECT_EQ(r.enhanced->to_string(), "5.7.139");
}

TEST(ReplyParser, Reply421InTheMiddleOfAPipelinedGroup) {
  // MAIL, RCPT, RCPT, DATA pipelined; the server gives up after the first RCPT.
  const std::string l1 = "250 2.1.0 Sender OK\r\n";
  const std::string l2 = "250 2.1.5 Recipient OK\r\n";
  const std::string l3 = "421 4.3.2 Service not available, closing transmission channel\r\n";
  const std::string input = l1 + l2 + l3;
  const outcome o = parse_every_split(input);
  ASSERT_FALSE(o.error);
  ASSERT_EQ(o.replies.size(), 3u);
  EXPECT_EQ(o.ends, (std::vector<std::size_t>{l1.size(), l1.size() + l2.size(), input.size()}));
  EXPECT_EQ(o.replies[0].code, 250);
  EXPECT_EQ(o.replies[0].enhanced, (enhanced_status{2, 1, 0}));
  EXPECT_EQ(o.replies[1].lines, std::vector<std::string>{"Recipient OK"});
  EXPECT_EQ(o.replies[2].code, 421);
  EXPECT_TRUE(o.replies[2].transient_negative());
  EXPECT_EQ(o.replies[2].enhanced, (enhanced_status{4, 3, 2}));
  EXPECT_FALSE(o.mid_reply);
}

TEST(ReplyParser, FeedStopsAtTheEndOfTheFirstReply) {
  reply_parser p;
  const std::string input = "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input";
  auto r = p.feed(input);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->consumed, 21u);
  ASSERT_TRUE(r->parsed);
  EXPECT_FALSE(p.mid_reply());
  r = p.feed(std::string_view(input).substr(21));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->consumed, 24u);
  ASSERT_TRUE(r->parsed);
  r = p.feed(std::string_view(input).substr(45));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->consumed, input.size() - 45);
  EXPECT_FALSE(r->parsed);
  EXPECT_TRUE(p.mid_reply());
}

TEST(ReplyParser, StartTlsReplyLeavesFollowingBytesUnconsumed) {
  // RFC 3207 §4.2 / providers.md §4.2: bytes after the 220 must be discarded, not parsed.
  reply_parser p;
  const std::string input = "220 2.0.0 SMTP server ready\r\n250 injected\r\n";
  auto r = p.feed(input);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->parsed);
  EXPECT_EQ(r->consumed, 29u);
  EXPECT_EQ(r->parsed->to_string(), "220 2.0.0 SMTP server ready");
  p.reset();
  EXPECT_FALSE(p.mid_reply());
}

TEST(ReplyParser, EhloReplyFromOffice365) {
  const reply r = parse_one(
      "250-SC1PR80CA0174.outlook.office365.com Hello [203.0.113.9]\r\n"
      "250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n"
      "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n");
  EXPECT_EQ(r.code, 250);
  EXPECT_FALSE(r.enhanced);
  ASSERT_EQ(r.lines.size(), 10u);
  EXPECT_EQ(r.lines[0], "SC1PR80CA0174.outlook.office365.com Hello [203.0.113.9]");
  EXPECT_EQ(r.lines[9], "SMTPUTF8");
}

TEST(ReplyParser, Greeting220WithTimestamp) {
  const reply r = parse_one(
      "220 SC1PR80CA0174.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 27 Mar 2023 "
      "18:17:53 +0000\r\n");
  EXPECT_EQ(r.code, 220);
  EXPECT_FALSE(r.enhanced);
}

// --- line ends, enhanced codes ------------------------------------------------------------

TEST(ReplyParser, AcceptsLfOnlyLineEnds) {
  const reply r = parse_one("250-first\n250 2.0.0 second\n");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"first", "second"}));
  EXPECT_FALSE(r.enhanced);  // taken from the first line only
}

TEST(ReplyParser, OnlyTheLastCrBeforeLfIsRemoved) {
  const reply r = parse_one("250 a\rb\r\r\n");
  EXPECT_EQ(r.lines, std::vector<std::string>{"a\rb\r"});
}

TEST(ReplyParser, EnhancedCodeRecognitionRules) {
  struct vector {
    std::string input;
    std::optional<enhanced_status> enhanced;
    std::string text;
  };
  const vector vectors[] = {
      {"250 2.0.0 OK\r\n", enhanced_status{2, 0, 0}, "OK"},
      {"250 2.0.0\r\n", enhanced_status{2, 0, 0}, ""},
      {"451 4.7.500 Server busy. Please try again later.\r\n", enhanced_status{4, 7, 500},
       "Server busy. Please try again later."},
      {"550 5.1.10 RESOLVER.ADR.RecipientNotFound\r\n", enhanced_status{5, 1, 10}, "RESOLVER.ADR.RecipientNotFound"},
      {"550 2.0.0 class differs from the code\r\n", std::nullopt, "2.0.0 class differs from the code"},
      {"250 2.0.0.1 four parts\r\n", std::nullopt, "2.0.0.1 four parts"},
      {"250 2.1000.0 subject too long\r\n", std::nullopt, "2.1000.0 subject too long"},
      {"250 2.0.1000 detail too long\r\n", std::nullopt, "2.0.1000 detail too long"},
      {"250 2..0 empty subject\r\n", std::nullopt, "2..0 empty subject"},
      {"250 2.0. empty detail\r\n", std::nullopt, "2.0. empty detail"},
      {"250 2.0.0x glued\r\n", std::nullopt, "2.0.0x glued"},
      {"250 3.0.0 bad class\r\n", std::nullopt, "3.0.0 bad class"},
      {"354 5.0.0 not on 3xx\r\n", std::nullopt, "5.0.0 not on 3xx"},
      {"220 2.0.0 SMTP server ready\r\n", enhanced_status{2, 0, 0}, "SMTP server ready"},
      {"250  2.0.0 leading space\r\n", std::nullopt, " 2.0.0 leading space"},
  };
  for (const auto& v : vectors) {
    const reply r = parse_one(v.input);
    EXPECT_EQ(r.enhanced, v.enhanced) << v.input;
    EXPECT_EQ(r.text(), v.text) << v.input;
  }
}

TEST(ReplyParser, EnhancedCodeIsStrippedFromEveryLine) {
  const reply r = parse_one("550-5.7.1 first\r\n550-second without\r\n550 5.7.1 third\r\n");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"first", "second without", "third"}));
  EXPECT_EQ(r.enhanced, (enhanced_status{5, 7, 1}));
}

TEST(ReplyParser, ContinuationWithEmptyText) {
  const reply r = parse_one("250-\r\n250-x\r\n250\r\n");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"", "x", ""}));
}

// --- errors -------------------------------------------------------------------------------

TEST(ReplyParser, MalformedCodes) {
  for (const auto& input : {"\r\n"s, "\n"s, "2\r\n"s, "25\r\n"s, "abc\r\n"s, "2x0 ok\r\n"s, "199 too small\r\n"s,
                            "600 too big\r\n"s, "260 second digit\r\n"s, "099 x\r\n"s, " 250 leading space\r\n"s,
                            "HTTP/1.1 400 Bad Request\r\n"s, "\x16\x03\x01\x02\x01\n"s}) {
    EXPECT_EQ(parse_error(input), make_error_code(reply_errc::malformed_code)) << input;
  }
}

TEST(ReplyParser, BadSeparator) {
  for (const auto& input : {"250x\r\n"s, "250\tOK\r\n"s, "2500\r\n"s, "250_ok\r\n"s, "250-a\r\n250+b\r\n"s}) {
    EXPECT_EQ(parse_error(input), make_error_code(reply_errc::bad_separator)) << input;
  }
}

TEST(ReplyParser, InconsistentMultilineCode) {
  EXPECT_EQ(parse_error("250-a\r\n251 b\r\n"), make_error_code(reply_errc::inconsistent_code));
  EXPECT_EQ(parse_error("535-5.7.8 x\r\n250 2.0.0 y\r\n"), make_error_code(reply_errc::inconsistent_code));
  // A completed reply followed by another code is fine: they are two replies.
  const outcome o = parse_every_split("250 a\r\n251 b\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.replies.size(), 2u);
}

TEST(ReplyParser, NulOctetIsRefused) {
  EXPECT_EQ(parse_error("250 a\0b\r\n"s), make_error_code(reply_errc::invalid_octet));
  EXPECT_EQ(parse_error("250-a\r\n250 \0\r\n"s), make_error_code(reply_errc::invalid_octet));
  EXPECT_EQ(parse_error("\0\r\n"s), make_error_code(reply_errc::invalid_octet));
}

TEST(ReplyParser, LineLengthLimitCountsTheLineEnd) {
  const reply_parser_limits limits{};  // 8192 octets including CR LF
  const std::string fits = "250 " + std::string(8192 - 6, 'x') + "\r\n";
  ASSERT_EQ(fits.size(), 8192u);
  reply_parser p(limits);
  auto r = p.feed(fits);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->parsed);
  EXPECT_EQ(r->parsed->lines[0].size(), 8192u - 6);

  const std::string over = "250 " + std::string(8192 - 5, 'x') + "\r\n";
  reply_parser q(limits);
  auto e = q.feed(over);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), make_error_code(reply_errc::line_too_long));
  EXPECT_EQ(e.error().classification(), core::failure_class::protocol);
  EXPECT_NE(e.error().message().find("8192"), std::string::npos);

  // A line that never ends is refused as soon as it cannot fit any more, not buffered forever.
  reply_parser endless(limits);
  std::size_t fed = 0;
  core::result<reply_parser::step> last = reply_parser::step{};
  while (last && fed < 100000) {
    last = endless.feed(std::string(1000, 'y'));
    fed += 1000;
  }
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code(), make_error_code(reply_errc::line_too_long));
  EXPECT_LE(fed, 9000u);
}

TEST(ReplyParser, LineLengthLimitInEverySplit) {
  const reply_parser_limits small{.max_line_octets = 16, .max_lines = 4};
  EXPECT_FALSE(parse_every_split("250 0123456789\r\n", small).error);  // 16 octets
  EXPECT_FALSE(parse_every_split("250 01234567890\n", small).error);   // 16, LF only
  EXPECT_TRUE(parse_every_split("250 01234567890\r\n", small).error);  // 17
  EXPECT_EQ(parse_every_split("250 0123456789012345", small).error,    // never ends
            make_error_code(reply_errc::line_too_long));
  EXPECT_EQ(parse_every_split("250-ok\r\n250 0123456789abcdef\r\n", small).error,  // second line
            make_error_code(reply_errc::line_too_long));
  const outcome partial = parse_every_split("250 01234567890", small);  // 15, may end
  EXPECT_FALSE(partial.error);
  EXPECT_TRUE(partial.mid_reply);
}

TEST(ReplyParser, TooManyLines) {
  std::string max_ok;
  for (int i = 0; i < 255; ++i) max_ok += "250-line\r\n";
  max_ok += "250 last\r\n";
  reply_parser p;
  auto r = p.feed(max_ok);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->parsed);
  EXPECT_EQ(r->parsed->lines.size(), 256u);

  std::string too_many = "250-line\r\n" + max_ok;
  reply_parser q;
  auto e = q.feed(too_many);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), make_error_code(reply_errc::too_many_lines));

  const reply_parser_limits small{.max_line_octets = 64, .max_lines = 3};
  EXPECT_FALSE(parse_every_split("250-a\r\n250-b\r\n250 c\r\n", small).error);
  EXPECT_EQ(parse_every_split("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", small).error,
            make_error_code(reply_errc::too_many_lines));
}

TEST(ReplyParser, ErrorsAreStickyUntilReset) {
  reply_parser p;
  auto e = p.feed("abc\r\n");
  ASSERT_FALSE(e);
  auto again = p.feed("250 fine\r\n");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), e.error().code());
  p.reset();
  auto ok = p.feed("250 fine\r\n");
  ASSERT_TRUE(ok);
  ASSERT_TRUE(ok->parsed);
  EXPECT_EQ(ok->parsed->code, 250);
}

TEST(ReplyParser, ResetDiscardsAPartialReply) {
  reply_parser p;
  ASSERT_TRUE(p.feed("250-STARTTLS\r\n250-PIPE"));
  EXPECT_TRUE(p.mid_reply());
  p.reset();
  EXPECT_FALSE(p.mid_reply());
  auto r = p.feed("220 ready\r\n");
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->parsed);
  EXPECT_EQ(r->parsed->lines, std::vector<std::string>{"ready"});
}

TEST(ReplyParser, MidReplyTracksPartialLinesAndContinuations) {
  reply_parser p;
  EXPECT_FALSE(p.mid_reply());
  ASSERT_TRUE(p.feed("25"));
  EXPECT_TRUE(p.mid_reply());
  ASSERT_TRUE(p.feed("0-first\r\n"));
  EXPECT_TRUE(p.mid_reply());  // a continuation line, the reply is not complete
  auto r = p.feed("250 last\r\n");
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->parsed);
  EXPECT_FALSE(p.mid_reply());
}

TEST(ReplyParser, ErrorMessagesEscapePeerBytes) {
  reply_parser p;
  auto e = p.feed("\x1b[31mX\x7f\r\n");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message().find('\x1b'), std::string::npos);
  EXPECT_NE(e.error().message().find("\\x1B"), std::string::npos);
}

TEST(ReplyParser, ErrorCategoryNamesEveryCode) {
  EXPECT_STREQ(reply_category().name(), "oauthmail.smtp.reply");
  for (int i = 1; i <= 6; ++i) EXPECT_NE(reply_category().message(i).find("SMTP"), std::string::npos) << i;
  const std::error_code ec = reply_errc::too_many_lines;
  EXPECT_EQ(ec.category(), reply_category());
}

// --- all fixtures together, in every split ------------------------------------------------

TEST(ReplyParser, ConcatenatedFixturesInEverySplit) {
  const std::string input =
      "220 smtp.example.com ESMTP\r\n"
      "250-smtp.gmail.com at your service, [209.132.188.80]\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
      "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n250-ENHANCEDSTATUSCODES\r\n"
      "250-CHUNKING\r\n250 SMTPUTF8\r\n"
      "334\r\n334 \r\n334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"
      "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
      "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x - gsmtp\r\n"
      "535 5.7.3 Authentication unsuccessful [HOST 2024-03-20T10:27:56.998Z 08DC48BEE95C08E5]\n"
      "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n421 4.3.2 Service not available\r\n";
  const outcome o = parse_every_split(input);
  ASSERT_FALSE(o.error);
  ASSERT_EQ(o.replies.size(), 10u);
  EXPECT_EQ(o.ends.back(), input.size());
  const int codes[] = {220, 250, 334, 334, 334, 535, 535, 250, 250, 421};
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(o.replies[i].code, codes[i]) << i;
}

TEST(ReplyParser, ErrorAfterGoodRepliesInEverySplit) {
  const outcome o = parse_every_split("250 ok\r\n250-a\r\n251 b\r\n250 never\r\n");
  ASSERT_EQ(o.replies.size(), 1u);
  EXPECT_EQ(o.error, make_error_code(reply_errc::inconsistent_code));
}

// --- generated replies round-trip in random splits ----------------------------------------

TEST(ReplyParser, GeneratedRepliesRoundTrip) {
  std::mt19937 rng(20240320);
  const std::string alphabet = "abc XYZ.-[]:;0123456789";
  for (int round = 0; round < 300; ++round) {
    std::string wire;
    std::vector<reply> expected;
    const int replies = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < replies; ++r) {
      reply rep;
      rep.code =
          200 + static_cast<int>(rng() % 4) * 100 + static_cast<int>(rng() % 6) * 10 + static_cast<int>(rng() % 10);
      const bool with_enhanced = rep.code / 100 != 3 && rng() % 2 == 0;
      if (with_enhanced)
        rep.enhanced = enhanced_status{rep.code / 100, static_cast<int>(rng() % 8), static_cast<int>(rng() % 1000)};
      const int lines = 1 + static_cast<int>(rng() % 5);
      for (int l = 0; l < lines; ++l) {
        std::string text;
        const int len = static_cast<int>(rng() % 30);
        for (int k = 0; k < len; ++k) text += alphabet[rng() % alphabet.size()];
        if (!text.empty() && (text[0] == ' ' || (text[0] >= '2' && text[0] <= '5'))) text[0] = 'q';
        wire += std::to_string(rep.code) + (l + 1 == lines ? " " : "-");
        if (with_enhanced) wire += rep.enhanced->to_string() + ' ';
        wire += text + (rng() % 4 == 0 ? "\n" : "\r\n");
        rep.lines.push_back(text);
      }
      expected.push_back(rep);
    }
    const outcome whole = parse_with_cuts(wire, {});
    ASSERT_FALSE(whole.error) << wire;
    ASSERT_EQ(whole.replies, expected) << wire;
    for (int k = 0; k < 5; ++k) {
      std::vector<std::size_t> cuts;
      std::size_t at = 0;
      while (true) {
        at += 1 + rng() % 9;
        if (at >= wire.size()) break;
        cuts.push_back(at);
      }
      expect_same(whole, parse_with_cuts(wire, cuts), wire);
    }
  }
}

}  // namespace
}  // namespace oauthmail::smtp
