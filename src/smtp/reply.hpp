// SMTP replies (RFC 5321 §4.2) as typed values, and an incremental reply parser.
// The parser is sans-I/O: it takes bytes in any split (one at a time, or many replies at once)
// and returns the same replies. It accepts Microsoft's bare "334" (no space, no text), LF-only
// line ends, and enhanced status codes (RFC 2034, RFC 3463/5248) on 2xx/4xx/5xx replies.
// An enhanced code is recognised only when its class equals the reply code's first digit
// (RFC 3463 §2) and it is followed by a space or the line end; otherwise it stays in the text.
// Limits are explicit: a line longer than max_line_octets or a reply of more than max_lines lines
// is a protocol error, never a silent cut (a line without LF is refused as soon as it cannot fit,
// so memory stays bounded). Error messages quote at most 16 escaped octets of the peer's line.
// Must not: touch sockets or clocks; accept a multi-line reply whose lines disagree on the code.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace oauthmail::smtp {

// RFC 3463 class.subject.detail, e.g. 5.7.139 (Microsoft uses details beyond the registry).
struct enhanced_status {
  int klass = 0;  // 2, 4 or 5
  int subject = 0;
  int detail = 0;
  std::string to_string() const;  // "5.7.139"
  friend bool operator==(const enhanced_status&, const enhanced_status&) = default;
};

struct reply {
  int code = 0;                             // 200..599 (three digits)
  std::optional<enhanced_status> enhanced;  // from the first line, when present
  // Text of each line: after "NNN-"/"NNN ", with the enhanced status code (and the space after
  // it) removed where present, without CR LF. A bare "334" has one empty line.
  std::vector<std::string> lines;

  bool positive_completion() const noexcept { return code / 100 == 2; }
  bool positive_intermediate() const noexcept { return code / 100 == 3; }
  bool transient_negative() const noexcept { return code / 100 == 4; }
  bool permanent_negative() const noexcept { return code / 100 == 5; }

  // All lines joined with a single space: "Authentication unsuccessful [host]".
  std::string text() const;
  // One line for people and logs: "535 5.7.3 Authentication unsuccessful [host]".
  std::string to_string() const;

  friend bool operator==(const reply&, const reply&) = default;
};

struct reply_parser_limits {
  std::size_t max_line_octets = 8192;  // per line, CR LF included (servers exceed RFC 5321's 512)
  std::size_t max_lines = 256;         // per reply
};

enum class reply_errc {
  line_too_long = 1,
  too_many_lines,
  malformed_code,     // not three digits 2-5/0-5/0-9
  bad_separator,      // the fourth octet is neither ' ', '-' nor end of line
  inconsistent_code,  // lines of one reply with different codes
  invalid_octet,      // NUL in a reply line
};
const std::error_category& reply_category() noexcept;
std::error_code make_error_code(reply_errc e) noexcept;

class reply_parser {
 public:
  explicit reply_parser(reply_parser_limits limits = {}) : limits_(limits) {}

  struct step {
    std::size_t consumed = 0;     // bytes of the input taken by the parser
    std::optional<reply> parsed;  // a complete reply, when one ended within `consumed`
  };

  // Feeds bytes. Consumes input up to the end of the first reply that completes (then stops, so
  // the caller sees where the reply ended, e.g. before a TLS handshake), or all of it.
  // After an error the parser stays failed (every feed() returns the same error) until reset();
  // errors are class `protocol`.
  core::result<step> feed(std::string_view bytes);

  // Forgets all buffered state, e.g. after STARTTLS (RFC 3207 §4.2: discard pre-TLS input).
  void reset();

  // True when part of a reply has been received but not yet completed.
  bool mid_reply() const noexcept { return !partial_line_.empty() || !current_.lines.empty(); }

 private:
  core::result<std::optional<reply>> take_line(std::string_view line);
  core::error line_too_long_error() const;
  core::error fail(core::error e);  // enters the failed state; feed() then repeats `e`

  reply_parser_limits limits_;
  std::string partial_line_;  // bytes of the current line received so far
  reply current_;             // lines of the current multi-line reply so far
  bool failed_ = false;
  core::error failure_;  // the error that failed the parser, repeated until reset()
};

}  // namespace oauthmail::smtp

template <>
struct std::is_error_code_enum<oauthmail::smtp::reply_errc> : std::true_type {};
