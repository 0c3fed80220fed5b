#include "smtp/reply.hpp"

#include <cstring>
#include <string>
#include <system_error>

#include "core/error.hpp"

namespace oauthmail::smtp {

namespace {

class reply_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.smtp.reply"; }
  std::string message(int ev) const override {
    switch (static_cast<reply_errc>(ev)) {
      case reply_errc::line_too_long:
        return "SMTP reply line too long";
      case reply_errc::too_many_lines:
        return "SMTP reply has too many lines";
      case reply_errc::malformed_code:
        return "SMTP reply does not start with a valid three-digit code";
      case reply_errc::bad_separator:
        return "SMTP reply code is not followed by a space, a hyphen or the line end";
      case reply_errc::inconsistent_code:
        return "lines of one multi-line SMTP reply carry different codes";
      case reply_errc::invalid_octet:
        return "SMTP reply line contains a NUL octet";
    }
    return "unknown SMTP reply error";
  }
};

// Printable excerpt of peer bytes for an error message: at most 16 octets, control and 8-bit
// octets as \xHH. Peer replies are not secrets, but keep messages short and log-safe.
std::string excerpt(std::string_view bytes) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  const std::size_t n = bytes.size() < 16 ? bytes.size() : 16;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  if (bytes.size() > n) out += "...";
  return out;
}

core::error protocol_error(reply_errc e, std::string message) {
  return core::error(make_error_code(e), std::move(message), core::failure_class::protocol);
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Parses "C.SSS.DDD" (RFC 3463: class 2/4/5, subject and detail of 1-3 digits) at the start of
// `text`, followed by a space or the end. Returns the octets taken (code plus one space) or 0.
std::size_t parse_enhanced(std::string_view text, int reply_class, enhanced_status& out) noexcept {
  if (text.size() < 5) return 0;
  const char k = text[0];
  if (k != '2' && k != '4' && k != '5') return 0;
  if (k - '0' != reply_class) return 0;  // RFC 3463 §2: the class must match the reply code
  if (text[1] != '.') return 0;
  std::size_t pos = 2;
  int parts[2] = {0, 0};
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    int value = 0;
    while (pos < text.size() && is_digit(text[pos]) && digits < 4) {
      value = value * 10 + (text[pos] - '0');
      ++pos;
      ++digits;
    }
    if (digits == 0 || digits > 3) return 0;
    parts[part] = value;
    if (part == 0) {
      if (pos >= text.size() || text[pos] != '.') return 0;
      ++pos;
    }
  }
  if (pos < text.size()) {
    if (text[pos] != ' ') return 0;
    ++pos;
  }
  out.klass = k - '0';
  out.subject = parts[0];
  out.detail = parts[1];
  return pos;
}

}  // namespace

const std::error_category& reply_category() noexcept {
  static const reply_category_impl instance;
  return instance;
}

std::error_code make_error_code(reply_errc e) noexcept { return {static_cast<int>(e), reply_category()}; }

std::string enhanced_status::to_string() const {
  return std::to_string(klass) + '.' + std::to_string(subject) + '.' + std::to_string(detail);
}

std::string reply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i != 0) out += ' ';
    out += lines[i];
  }
  return out;
}

std::string reply::to_string() const {
  std::string out = std::to_string(code);
  if (enhanced) {
    out += ' ';
    out += enhanced->to_string();
  }
  std::string t = text();
  if (!t.empty()) {
    out += ' ';
    out += t;
  }
  return out;
}

core::result<reply_parser::step> reply_parser::feed(std::string_view bytes) {
  if (failed_) return failure_;
  step result;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const char* begin = bytes.data() + pos;
    const std::size_t avail = bytes.size() - pos;
    const void* lf = std::memchr(begin, '\n', avail);
    if (lf == nullptr) {
      // No line end yet: keep the bytes, but never more than a line may hold. A line of
      // max_line_octets octets without its LF can only end too long.
      if (partial_line_.size() + avail >= limits_.max_line_octets) return fail(line_too_long_error());
      partial_line_.append(begin, avail);
      result.consumed = bytes.size();
      return result;
    }
    const std::size_t len = static_cast<std::size_t>(static_cast<const char*>(lf) - begin) + 1;  // with LF
    pos += len;
    core::result<std::optional<reply>> taken = [&] {
      if (partial_line_.empty()) return take_line(std::string_view(begin, len));
      if (partial_line_.size() + len > limits_.max_line_octets) {
        return core::result<std::optional<reply>>(line_too_long_error());
      }
      partial_line_.append(begin, len);
      auto r = take_line(partial_line_);
      partial_line_.clear();
      return r;
    }();
    if (!taken) return fail(std::move(taken).error());
    if (taken->has_value()) {
      result.consumed = pos;
      result.parsed = std::move(**taken);
      return result;
    }
  }
  result.consumed = bytes.size();
  return result;
}

// `line` is one complete line including its LF (and the CR before it, if any).
core::result<std::optional<reply>> reply_parser::take_line(std::string_view line) {
  if (line.size() > limits_.max_line_octets) return line_too_long_error();
  line.remove_suffix(1);  // LF
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (std::memchr(line.data(), '\0', line.size()) != nullptr) {
    return protocol_error(reply_errc::invalid_octet, "SMTP reply line contains a NUL octet");
  }
  if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || !is_digit(line[2])) {
    return protocol_error(reply_errc::malformed_code,
                          "SMTP reply line does not start with a three-digit code: \"" + excerpt(line) + '"');
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  bool last = true;
  std::string_view text;
  if (line.size() > 3) {
    if (line[3] == '-') {
      last = false;
    } else if (line[3] != ' ') {
      return protocol_error(reply_errc::bad_separator, "SMTP reply code " + std::to_string(code) +
                                                           " is followed by neither a space nor a hyphen: \"" +
                                                           excerpt(line) + '"');
    }
    text = line.substr(4);
  }
  if (!current_.lines.empty() && current_.code != code) {
    return protocol_error(
        reply_errc::inconsistent_code,
        "multi-line SMTP reply changes its code from " + std::to_string(current_.code) + " to " + std::to_string(code));
  }
  if (current_.lines.size() >= limits_.max_lines) {
    return protocol_error(reply_errc::too_many_lines,
                          "SMTP reply has more than " + std::to_string(limits_.max_lines) + " lines");
  }
  const int klass = code / 100;
  if (klass == 2 || klass == 4 || klass == 5) {
    enhanced_status es;
    if (const std::size_t taken = parse_enhanced(text, klass, es); taken != 0) {
      text.remove_prefix(taken);
      if (current_.lines.empty()) current_.enhanced = es;
    }
  }
  current_.code = code;
  current_.lines.emplace_back(text);
  if (!last) return std::optional<reply>{};
  std::optional<reply> done(std::move(current_));
  current_ = reply{};
  return done;
}

core::error reply_parser::line_too_long_error() const {
  return protocol_error(
      reply_errc::line_too_long,
      "SMTP reply line longer than " + std::to_string(limits_.max_line_octets) + " octets (line end included)");
}

core::error reply_parser::fail(core::error e) {
  failed_ = true;
  failure_ = e;
  partial_line_.clear();
  current_ = reply{};
  return e;
}

void reply_parser::reset() {
  partial_line_.clear();
  current_ = reply{};
  failed_ = false;
  failure_ = core::error{};
}

}  // namespace oauthmail::smtp
