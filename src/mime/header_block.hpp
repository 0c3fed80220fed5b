// A message's header block as read from a sendmail caller, kept byte for byte: fields are split
// (RFC 5322 §2.2: a field starts with "Name:", continuation lines start with a space or tab), can be
// looked up unfolded (§2.2.3), removed (Bcc) and appended (Date, Message-ID, From), and are written
// back exactly as they came, so nothing a caller wrote is re-encoded or re-folded.
// Also the streaming reader that separates the header block from the body on stdin: the header
// block (bounded) stays in memory, the body goes straight to a sink (the spool file).
// Must not: hold the body in memory, or accept a header block over its bound.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace oauthmail::mime {

struct header_field {
  std::string name;  // as written ("Subject"), without the colon
  std::string raw;   // the whole field with its line ends, as read ("Subject: hi\n  there\r\n")
  // The value after the colon, unfolded (line ends removed), leading and trailing white space trimmed.
  std::string value() const;
};

class header_block {
 public:
  // Splits `text`, a sequence of complete header lines (as the reader collects them).
  static header_block parse(std::string_view text);

  const std::vector<header_field>& fields() const noexcept { return fields_; }
  bool has(std::string_view name) const noexcept;  // names compare case-insensitively
  std::vector<std::string> values(std::string_view name) const;
  // Removes every field of that name; returns how many there were.
  std::size_t remove(std::string_view name);
  // Appends "Name: value" (value on one line; folded by the caller if needed) with an LF line end.
  void append(std::string_view name, std::string_view value);
  // Replaces every field of that name by one "Name: value" at the first one's place (appends if none).
  void replace(std::string_view name, std::string_view value);
  std::string to_string() const;

 private:
  std::vector<header_field> fields_;
};

bool iequals(std::string_view a, std::string_view b) noexcept;

// Splits a message arriving in chunks into its header block and its body.
//  - A first line "From " (an mbox separator) is dropped, as sendmail does.
//  - The header block ends at an empty line (consumed) or at the first line that is neither a
//    field nor a continuation (that line is the first of the body, and a separator is needed).
//  - Unless `dot_ends_message` is false (sendmail -i / -oi), a line holding only "." ends the
//    message; the rest of the input is ignored.
// The header block is at most `max_header_octets`; a body line that does not look like a header
// may be longer (it goes to the sink as it arrives).
class message_reader {
 public:
  using sink = std::function<core::result<void>(std::string_view)>;
  message_reader(bool dot_ends_message, std::size_t max_header_octets, sink body);

  // Feeds the next chunk. After done() further input is ignored.
  core::result<void> feed(std::string_view chunk);
  // End of input.
  core::result<void> finish();

  bool done() const noexcept { return done_; }  // a "." line was seen
  const std::string& header_text() const noexcept { return headers_; }
  // The header block ended at a line that is not a header (no empty line): the writer must add one.
  bool needs_separator() const noexcept { return needs_separator_; }
  std::uint64_t body_octets() const noexcept { return body_octets_; }

 private:
  core::result<void> header_line(std::string_view line_with_end);
  core::result<void> body_bytes(std::string_view bytes);
  core::result<void> emit(std::string_view bytes);

  bool dots_;
  std::size_t max_header_;
  sink sink_;
  enum class state { headers, body } state_ = state::headers;
  bool done_ = false;
  bool first_line_ = true;
  bool needs_separator_ = false;
  std::string headers_;
  std::string line_;  // the current incomplete header line
  // Body: at the start of a line; pending "." or ".\r" at a line start not yet known to be a terminator.
  bool at_line_start_ = true;
  std::string pending_;
  std::string out_;  // body bytes gathered for one sink call
  std::uint64_t body_octets_ = 0;
};

}  // namespace oauthmail::mime
