// Email addresses as people write them ("Jörg Müller <joerg@example.de>, ops@example.org"): parsed
// with GMime's InternetAddressList (RFC 5322 §3.4, RFC 2047 encoded names decoded, RFC 6532 UTF-8),
// then checked more strictly than GMime does: every mailbox needs a local part and a domain, and no
// control character (CR, LF, NUL...) may appear anywhere, so that nothing given on a command line
// or in a header can inject a header or an SMTP command.
// Domains are also kept in IDNA A-labels (RFC 5891, via GMime's libidn2): an address whose local
// part is ASCII then travels without SMTPUTF8 even when its domain is internationalised.
// Must not: accept an address it cannot send to (a bare "root" without a domain) or print anything.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace oauthmail::mime {

struct mailbox {
  std::string name;           // display name, UTF-8 (encoded words decoded); may be empty
  std::string address;        // addr-spec as written (UTF-8 allowed)
  std::string ascii_address;  // the same with the domain in IDNA A-labels ("jörg@xn--bcher-kva.de")

  // The local part has non-ASCII characters: only SMTPUTF8 (RFC 6531) and RFC 6532 headers carry it.
  bool needs_utf8() const noexcept;
  // For MAIL FROM / RCPT TO: ascii_address (A-label domain), or the UTF-8 form when needs_utf8().
  const std::string& envelope() const noexcept { return needs_utf8() ? address : ascii_address; }
};

// Longest address accepted (RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets).
inline constexpr std::size_t max_address_octets = 254;

// Parses an address list. `what` names where the text came from, for messages ("--to", "the To
// header"). A group ("undisclosed-recipients:;", "team: a@x, b@y;") contributes its members.
// Errors (mime::errc::bad_address, header_injection) quote the offending text.
core::result<std::vector<mailbox>> parse_address_list(std::string_view text, std::string_view what);
// Exactly one mailbox.
core::result<mailbox> parse_mailbox(std::string_view text, std::string_view what);

// "Name <address>" (or the bare address without a name). `encode`: the name as RFC 2047 encoded
// words when it is not ASCII (UTF-8 charset), and the domain in A-labels when the local part is
// ASCII; otherwise everything as UTF-8 (RFC 6532). Names are quoted as RFC 5322 requires.
std::string format_mailbox(const mailbox& m, bool encode);
std::string format_address_list(const std::vector<mailbox>& list, bool encode);

// True when `text` has an octet below 0x20 other than HTAB, or DEL.
bool has_control_character(std::string_view text) noexcept;
// True when `text` has an octet above 0x7F.
bool has_non_ascii(std::string_view text) noexcept;

}  // namespace oauthmail::mime
