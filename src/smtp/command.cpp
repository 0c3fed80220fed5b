#include "smtp/command.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <string>
#include <system_error>

#include "core/error.hpp"

namespace oauthmail::smtp {

namespace {

class command_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.smtp.command"; }
  std::string message(int ev) const override {
    switch (static_cast<command_errc>(ev)) {
      case command_errc::forbidden_octet:
        return "control octet (CR, LF, NUL or other) in an SMTP command argument";
      case command_errc::bad_address:
        return "malformed SMTP address";
      case command_errc::bad_argument:
        return "malformed SMTP command argument";
    }
    return "unknown SMTP command error";
  }
};

core::error refuse(command_errc e, std::string message) {
  return core::error(make_error_code(e), std::move(message), core::failure_class::permanent);
}

constexpr bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7F; }

// Where the first control octet is, or npos. Names the octet, never the (possibly private) value.
std::size_t find_control(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_control(static_cast<unsigned char>(s[i]))) return i;
  }
  return std::string_view::npos;
}

std::string octet_name(char c) {
  switch (c) {
    case '\r':
      return "CR";
    case '\n':
      return "LF";
    case '\0':
      return "NUL";
    case '\t':
      return "TAB";
    default:
      break;
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  const auto u = static_cast<unsigned char>(c);
  return std::string("0x") + hex[u >> 4] + hex[u & 0xF];
}

// Refuses any control octet in `value`; `what` names the argument ("recipient address").
core::result<void> check_controls(std::string_view value, std::string_view what) {
  if (const std::size_t at = find_control(value); at != std::string_view::npos) {
    return refuse(command_errc::forbidden_octet, "the " + std::string(what) + " contains a control octet (" +
                                                     octet_name(value[at]) + " at offset " + std::to_string(at) +
                                                     "); refusing to build an SMTP command from it");
  }
  return {};
}

// A domain or address literal for EHLO/HELO (RFC 5321 §4.1.1.1).
core::result<void> check_domain(std::string_view domain) {
  if (auto ok = check_controls(domain, "EHLO/HELO domain"); !ok) return ok;
  if (domain.empty()) return refuse(command_errc::bad_argument, "the EHLO/HELO domain is empty");
  if (domain.size() > 255) {
    return refuse(command_errc::bad_argument, "the EHLO/HELO domain is longer than 255 octets");
  }
  if (domain.find(' ') != std::string_view::npos) {
    return refuse(command_errc::bad_argument, "the EHLO/HELO domain contains a space");
  }
  return {};
}

// A path's content between "<" and ">" (RFC 5321 §4.1.2): no control octets, no angle brackets,
// no space outside a quoted local part, quotes balanced.
core::result<void> check_path(std::string_view path, std::string_view what) {
  if (auto ok = check_controls(path, what); !ok) return ok;
  bool quoted = false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '<' || c == '>') {
      return refuse(command_errc::bad_address, "the " + std::string(what) + " contains an angle bracket");
    }
    if (quoted) {
      if (c == '\\') {
        if (i + 1 == path.size()) break;  // reported as an unterminated quote below
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ' ') {
      return refuse(command_errc::bad_address,
                    "the " + std::string(what) + " contains a space outside a quoted local part");
    }
  }
  if (quoted) return refuse(command_errc::bad_address, "the " + std::string(what) + " has an unterminated quote");
  return {};
}

// RFC 3461 §4: xtext = *( xchar / hexchar ); xchar is "!" to "~" except "+" and "="; anything
// else is "+" and two upper-case hex digits.
std::string xtext(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out += ch;
    } else {
      out += '+';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

core::result<void> check_base64(std::string_view text, std::string_view what) {
  if (auto ok = check_controls(text, what); !ok) return ok;
  if (!std::all_of(text.begin(), text.end(), is_base64_char)) {
    return refuse(command_errc::bad_argument, "the " + std::string(what) + " is not base64 text");
  }
  return {};
}

char upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1); emitted upper-case.
core::result<std::string> notify_value(std::string_view notify) {
  if (auto ok = check_controls(notify, "DSN NOTIFY value"); !ok) return core::unexpected(ok.error());
  std::string value(notify);
  std::transform(value.begin(), value.end(), value.begin(), upper);
  if (value == "NEVER") return value;
  static constexpr std::array<std::string_view, 3> allowed = {"SUCCESS", "FAILURE", "DELAY"};
  std::array<bool, 3> seen{};
  std::string_view rest = value;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const auto it = std::find(allowed.begin(), allowed.end(), item);
    if (it == allowed.end()) {
      return refuse(command_errc::bad_argument,
                    "the DSN NOTIFY value must be NEVER or a comma list of SUCCESS, FAILURE and DELAY");
    }
    const auto index = static_cast<std::size_t>(it - allowed.begin());
    if (seen[index]) return refuse(command_errc::bad_argument, "the DSN NOTIFY value repeats " + std::string(item));
    seen[index] = true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return value;
}

}  // namespace

const std::error_category& command_category() noexcept {
  static const command_category_impl instance;
  return instance;
}

std::error_code make_error_code(command_errc e) noexcept { return {static_cast<int>(e), command_category()}; }

bool needs_smtputf8(std::string_view address) noexcept {
  return std::any_of(address.begin(), address.end(), [](char c) { return static_cast<unsigned char>(c) > 0x7F; });
}

namespace command {

core::result<std::string> ehlo(std::string_view domain) {
  if (auto ok = check_domain(domain); !ok) return core::unexpected(ok.error());
  std::string line;
  line.reserve(7 + domain.size());
  line.append("EHLO ").append(domain).append("\r\n");
  return line;
}

core::result<std::string> helo(std::string_view domain) {
  if (auto ok = check_domain(domain); !ok) return core::unexpected(ok.error());
  std::string line;
  line.reserve(7 + domain.size());
  line.append("HELO ").append(domain).append("\r\n");
  return line;
}

core::result<std::string> mail_from(std::string_view reverse_path, const mail_parameters& params) {
  if (auto ok = check_path(reverse_path, "sender address"); !ok) return core::unexpected(ok.error());
  std::string line;
  line.reserve(16 + reverse_path.size());
  line.append("MAIL FROM:<").append(reverse_path).append(">");
  if (params.size) line.append(" SIZE=").append(std::to_string(*params.size));
  switch (params.body) {
    case body_type::seven_bit:
      break;
    case body_type::eight_bit_mime:
      line.append(" BODY=8BITMIME");
      break;
    case body_type::binary_mime:
      line.append(" BODY=BINARYMIME");
      break;
  }
  if (params.smtputf8) line.append(" SMTPUTF8");
  if (params.ret) line.append(*params.ret == dsn_return::full ? " RET=FULL" : " RET=HDRS");
  if (params.envid) {
    const std::string& envid = *params.envid;
    if (auto ok = check_controls(envid, "DSN envelope id (ENVID)"); !ok) return core::unexpected(ok.error());
    if (envid.empty()) return refuse(command_errc::bad_argument, "the DSN envelope id (ENVID) is empty");
    if (envid.size() > 100) {
      return refuse(command_errc::bad_argument, "the DSN envelope id (ENVID) is longer than 100 octets (RFC 3461)");
    }
    line.append(" ENVID=").append(xtext(envid));
  }
  line.append("\r\n");
  return line;
}

core::result<std::string> rcpt_to(std::string_view forward_path, const rcpt_parameters& params) {
  if (auto ok = check_path(forward_path, "recipient address"); !ok) return core::unexpected(ok.error());
  if (forward_path.empty()) return refuse(command_errc::bad_address, "the recipient address is empty");
  std::string line;
  line.reserve(12 + forward_path.size());
  line.append("RCPT TO:<").append(forward_path).append(">");
  if (params.notify && !params.notify->empty()) {
    auto value = notify_value(*params.notify);
    if (!value) return core::unexpected(std::move(value).error());
    line.append(" NOTIFY=").append(*value);
  }
  if (params.orcpt) {
    const std::string& orcpt = *params.orcpt;
    if (auto ok = check_controls(orcpt, "DSN original recipient (ORCPT)"); !ok) return core::unexpected(ok.error());
    if (orcpt.empty()) return refuse(command_errc::bad_argument, "the DSN original recipient (ORCPT) is empty");
    line.append(" ORCPT=rfc822;").append(xtext(orcpt));
  }
  line.append("\r\n");
  return line;
}

core::result<std::string> auth(std::string_view mechanism, std::optional<std::string_view> initial_response_base64) {
  if (auto ok = check_controls(mechanism, "SASL mechanism name"); !ok) return core::unexpected(ok.error());
  if (mechanism.empty()) return refuse(command_errc::bad_argument, "the SASL mechanism name is empty");
  const bool valid =
      mechanism.size() <= 20 && std::all_of(mechanism.begin(), mechanism.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      });
  if (!valid) {
    return refuse(command_errc::bad_argument,
                  "the SASL mechanism name must be 1-20 letters, digits, '-' or '_' (RFC 4422)");
  }
  std::string line = "AUTH ";
  std::transform(mechanism.begin(), mechanism.end(), std::back_inserter(line), upper);
  if (initial_response_base64) {
    // The initial response is a credential: errors name the problem, never the value.
    if (auto ok = check_base64(*initial_response_base64, "SASL initial response"); !ok) {
      return core::unexpected(ok.error());
    }
    line += ' ';
    if (initial_response_base64->empty()) {
      line += '=';  // RFC 4954 §4: a zero-length initial response is sent as "="
    } else {
      line.append(*initial_response_base64);
    }
  }
  line.append("\r\n");
  return line;
}

core::result<std::string> sasl_response(std::string_view base64_text) {
  if (base64_text == "*") return std::string("*\r\n");
  if (auto ok = check_base64(base64_text, "SASL response"); !ok) return core::unexpected(ok.error());
  std::string line;
  line.reserve(base64_text.size() + 2);
  line.append(base64_text).append("\r\n");
  return line;
}

std::string data() { return "DATA\r\n"; }
std::string rset() { return "RSET\r\n"; }
std::string noop() { return "NOOP\r\n"; }
std::string quit() { return "QUIT\r\n"; }
std::string starttls() { return "STARTTLS\r\n"; }

}  // namespace command

}  // namespace oauthmail::smtp
