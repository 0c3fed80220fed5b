// Fuzz target: smtp::reply_parser. Input layout: byte 0 selects the limits (bit 0: small limits)
// and the split point; the rest is the server's byte stream.
// Invariants: fed whole, in two parts (at the halfway point and at a chosen point) and byte by
// byte, the parser yields identical replies, reply ends and errors; every reply is well formed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "smtp/reply.hpp"

namespace {

using oauthmail::smtp::reply;
using oauthmail::smtp::reply_parser;
using oauthmail::smtp::reply_parser_limits;

struct outcome {
  std::vector<reply> replies;
  std::vector<std::size_t> ends;
  std::optional<std::error_code> error;
  bool mid_reply = false;
  friend bool operator==(const outcome&, const outcome&) = default;
};

void check(bool ok) {
  if (!ok) std::abort();
}

outcome run(std::string_view input, const std::vector<std::size_t>& cuts, reply_parser_limits limits) {
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
        check(r.error().classification() == oauthmail::core::failure_class::protocol);
        check(!r.error().message().empty());
        out.error = r.error().code();
        // The failure is sticky until reset().
        auto again = parser.feed("250 ok\r\n");
        check(!again && again.error().code() == r.error().code());
        return out;
      }
      check(r->consumed <= chunk.size());
      if (r->parsed) {
        out.replies.push_back(*r->parsed);
        out.ends.push_back(offset + r->consumed);
      } else {
        check(r->consumed == chunk.size());
      }
      offset += r->consumed;
      chunk.remove_prefix(r->consumed);
    } while (!chunk.empty());
  }
  out.mid_reply = parser.mid_reply();
  return out;
}

void check_replies(const outcome& o, std::string_view input, reply_parser_limits limits) {
  std::size_t prev = 0;
  for (std::size_t i = 0; i < o.replies.size(); ++i) {
    const reply& r = o.replies[i];
    check(r.code >= 200 && r.code <= 599);
    check(!r.lines.empty() && r.lines.size() <= limits.max_lines);
    for (const auto& line : r.lines) {
      check(line.size() + 4 < limits.max_line_octets);
      check(line.find('\n') == std::string::npos);
      check(std::memchr(line.data(), '\0', line.size()) == nullptr);
    }
    if (r.enhanced) {
      check(r.enhanced->klass == r.code / 100);
      check(r.enhanced->subject >= 0 && r.enhanced->subject <= 999);
      check(r.enhanced->detail >= 0 && r.enhanced->detail <= 999);
    }
    check(o.ends[i] > prev && o.ends[i] <= input.size());
    check(input[o.ends[i] - 1] == '\n');
    prev = o.ends[i];
    (void)r.to_string();
  }
  if (!o.error && !o.mid_reply) check(prev == input.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  reply_parser_limits limits;
  if (control & 1) limits = reply_parser_limits{.max_line_octets = 24, .max_lines = 3};

  const outcome whole = run(input, {}, limits);
  check_replies(whole, input, limits);
  check(run(input, {input.size() / 2}, limits) == whole);
  const std::size_t cut = input.empty() ? 0 : (static_cast<std::size_t>(control >> 1) * 7919) % (input.size() + 1);
  check(run(input, {cut}, limits) == whole);
  if (input.size() <= 4096) {
    std::vector<std::size_t> bytewise;
    for (std::size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
    check(run(input, bytewise, limits) == whole);
  }
  return 0;
}
