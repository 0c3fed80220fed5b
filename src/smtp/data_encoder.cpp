#include "smtp/data_encoder.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <system_error>

#include "core/error.hpp"

namespace oauthmail::smtp {

namespace {

class data_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.smtp.data"; }
  std::string message(int ev) const override {
    switch (static_cast<data_errc>(ev)) {
      case data_errc::line_too_long:
        return "message line too long for SMTP";
    }
    return "unknown SMTP data error";
  }
};

}  // namespace

const std::error_category& data_category() noexcept {
  static const data_category_impl instance;
  return instance;
}

std::error_code make_error_code(data_errc e) noexcept { return {static_cast<int>(e), data_category()}; }

core::result<void> data_encoder::encode(std::string_view chunk, std::string& out) {
  if (failed_) {
    return core::error(make_error_code(data_errc::line_too_long),
                       "the message encoder already failed on a line that is too long; abandon this message",
                       core::failure_class::permanent);
  }
  const char* p = chunk.data();
  const char* const end = p + chunk.size();
  if (p == end) return {};
  octets_in_ += chunk.size();

  // Grow geometrically with room for the usual overhead (line ends, stuffed dots); appends below
  // still grow the string if a chunk expands more (e.g. many bare LFs).
  const std::size_t want = out.size() + chunk.size() + chunk.size() / 16 + 8;
  if (want > out.capacity()) out.reserve(std::max(want, out.capacity() * 2));

  if (pending_cr_) {
    pending_cr_ = false;
    if (*p == '\n') ++p;  // second half of a CR LF split across chunks; CR LF is already written
  }
  // The next LF at or after p (`end` if none). Remembered across lines so that text with many
  // bare CRs and few LFs is still scanned once: O(chunk), never O(chunk^2).
  const char* next_lf = p;
  while (p != end) {
    if (line_len_ == 0 && *p == '.') out += '.';  // RFC 5321 §4.5.2 transparency
    // The line ends at the first CR or LF: find the LF with memchr, then any CR before it.
    if (next_lf < p || (next_lf == p && *p != '\n')) {
      const void* found = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
      next_lf = found != nullptr ? static_cast<const char*>(found) : end;
    }
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(next_lf - p)));
    const char* eol = cr != nullptr ? cr : (next_lf != end ? next_lf : nullptr);  // nullptr: line continues
    const char* run_end = eol != nullptr ? eol : end;
    const auto run = static_cast<std::size_t>(run_end - p);
    line_len_ += run;
    if (line_len_ > max_line_) {
      failed_ = true;
      return core::error(make_error_code(data_errc::line_too_long),
                         "message line " + std::to_string(lines_ + 1) + " is longer than " + std::to_string(max_line_) +
                             " octets, the SMTP limit (RFC 5321 §4.5.3.1.6); encode the body "
                             "(quoted-printable or base64) or wrap its lines",
                         core::failure_class::permanent);
    }
    out.append(p, run);
    if (eol == nullptr) return {};
    out.append("\r\n", 2);
    ++lines_;
    line_len_ = 0;
    p = eol + 1;
    if (*eol == '\r') {
      if (p == end) {
        pending_cr_ = true;  // CR LF may be split across chunks: swallow a leading LF next time
      } else if (*p == '\n') {
        ++p;
      }
      // else: a bare CR, already written as CR LF
    }
    // Runs of empty lines (the bare-LF worst case) without going through the scans.
    while (p != end && *p == '\n') {
      out.append("\r\n", 2);
      ++lines_;
      ++p;
    }
  }
  return {};
}

void data_encoder::finish(std::string& out) {
  if (failed_) return;  // never terminate a message that was not encoded completely
  if (line_len_ != 0) {
    out.append("\r\n", 2);
    ++lines_;
    line_len_ = 0;
  }
  pending_cr_ = false;
  out.append(".\r\n", 3);
}

core::result<std::string> encode_data(std::string_view message, std::size_t max_line_octets) {
  data_encoder encoder(max_line_octets);
  std::string out;
  out.reserve(message.size() + message.size() / 32 + 16);
  if (auto ok = encoder.encode(message, out); !ok) return ok.error();
  encoder.finish(out);
  return out;
}

}  // namespace oauthmail::smtp
