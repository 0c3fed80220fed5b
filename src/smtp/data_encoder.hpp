// DATA content encoding (RFC 5321 §4.5.2 transparency, §2.3.8 line ends, §4.5.3.1.6 line length).
// Incremental: feed the message in chunks of any size and split, get the same wire bytes.
//  - every line end becomes CR LF: a bare LF and a bare CR each become CR LF (SMTP smuggling
//    defence, providers.md §4.14; also avoids Exchange's 550 5.6.11 bare-linefeed NDRs);
//  - a line starting with "." gets one more ".";
//  - finish() ends the last line with CR LF if needed and appends ".\r\n", so the wire always ends
//    in CR LF . CR LF and no other end-of-data sequence can appear before it;
//  - a line over max_line_octets (998 by default, not counting CR LF or the stuffed dot) is an
//    error the caller sees, never silently cut; after it finish() appends nothing.
// Each chunk is scanned with memchr and copied in runs; time is linear in the input.
// Must not: buffer the whole message (memory stays O(chunk)); touch sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace oauthmail::smtp {

enum class data_errc {
  line_too_long = 1,
};
const std::error_category& data_category() noexcept;
std::error_code make_error_code(data_errc e) noexcept;

class data_encoder {
 public:
  explicit data_encoder(std::size_t max_line_octets = 998) : max_line_(max_line_octets) {}

  // Appends the wire form of `chunk` to `out`. On error nothing more may be encoded; `out` may
  // hold a partial line, and the caller must abandon the transaction (never send the terminator).
  core::result<void> encode(std::string_view chunk, std::string& out);
  // Completes the last line and appends the terminator. Call once, after the last encode().
  void finish(std::string& out);

  std::uint64_t octets_in() const noexcept { return octets_in_; }  // message bytes consumed
  std::uint64_t line_count() const noexcept { return lines_; }     // lines completed so far

 private:
  std::size_t max_line_;
  std::size_t line_len_ = 0;  // octets of the current line so far
  bool pending_cr_ = false;   // the previous chunk ended in CR (maybe half of CR LF)
  bool failed_ = false;
  std::uint64_t octets_in_ = 0;
  std::uint64_t lines_ = 0;
};

// Convenience for whole messages: the complete wire form including the terminator.
core::result<std::string> encode_data(std::string_view message, std::size_t max_line_octets = 998);

}  // namespace oauthmail::smtp

template <>
struct std::is_error_code_enum<oauthmail::smtp::data_errc> : std::true_type {};
