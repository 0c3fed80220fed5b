// SMTP command encoding (RFC 5321 §4.1, RFC 4954 AUTH, RFC 1870 SIZE, RFC 6152 BODY, RFC 6531
// SMTPUTF8, RFC 3461 DSN). Every function returns the complete command line with CR LF.
// Security: CR, LF, NUL and other control octets (0x00-0x1F, 0x7F) are refused in every address,
// parameter and argument, so no address or name can inject a command. Angle brackets, unbalanced
// quotes and spaces outside a quoted local part are refused in paths; octets >= 0x80 pass
// (SMTPUTF8 is the caller's decision, see needs_smtputf8). ENVID (<= 100 octets) and ORCPT are
// xtext-encoded (RFC 3461 §4); NOTIFY is validated and sent upper-case; the SASL mechanism name
// must be an RFC 4422 name and is sent upper-case; SASL responses must be base64 text.
// Error messages name the argument and the octet, never the value (it may be a credential).
// Must not: touch sockets; accept an argument it cannot encode safely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace oauthmail::smtp {

enum class command_errc {
  forbidden_octet = 1,  // CR, LF, NUL or another control octet in an argument
  bad_address,          // empty forward path, angle brackets, a space outside quotes
  bad_argument,         // e.g. an empty EHLO domain or SASL mechanism name
};
const std::error_category& command_category() noexcept;
std::error_code make_error_code(command_errc e) noexcept;

enum class body_type { seven_bit, eight_bit_mime, binary_mime };
enum class dsn_return { full, headers };

struct mail_parameters {
  std::optional<std::uint64_t> size;      // SIZE=n (only when the server offers SIZE)
  body_type body = body_type::seven_bit;  // BODY=8BITMIME / BINARYMIME when not 7bit
  bool smtputf8 = false;                  // SMTPUTF8
  std::optional<dsn_return> ret;          // RET=FULL|HDRS
  std::optional<std::string> envid;       // ENVID=xtext (encoded by the encoder)
};

struct rcpt_parameters {
  // NOTIFY=NEVER or a comma list of SUCCESS,FAILURE,DELAY (RFC 3461 §4.1); empty = none.
  std::optional<std::string> notify;
  std::optional<std::string> orcpt;  // original recipient address, encoded as rfc822;xtext
};

namespace command {
core::result<std::string> ehlo(std::string_view domain);
core::result<std::string> helo(std::string_view domain);
// reverse_path may be empty (null sender "<>").
core::result<std::string> mail_from(std::string_view reverse_path, const mail_parameters& params = {});
core::result<std::string> rcpt_to(std::string_view forward_path, const rcpt_parameters& params = {});
// "AUTH MECH\r\n", or "AUTH MECH <initial>\r\n"; an empty initial response is sent as "=".
core::result<std::string> auth(std::string_view mechanism, std::optional<std::string_view> initial_response_base64);
// A SASL continuation line: the base64 text (possibly empty) then CR LF, or "*" to abort.
core::result<std::string> sasl_response(std::string_view base64_text);
std::string data();
std::string rset();
std::string noop();
std::string quit();
std::string starttls();
}  // namespace command

// True when the address contains octets above 0x7F (needs SMTPUTF8, RFC 6531).
bool needs_smtputf8(std::string_view address) noexcept;

}  // namespace oauthmail::smtp

template <>
struct std::is_error_code_enum<oauthmail::smtp::command_errc> : std::true_type {};
