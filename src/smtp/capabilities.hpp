// EHLO capabilities (RFC 5321 §4.1.1.1) as typed values: STARTTLS (RFC 3207), AUTH (RFC 4954,
// also the old "AUTH=" form), SIZE (RFC 1870), PIPELINING (RFC 2920), 8BITMIME (RFC 6152),
// SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034), CHUNKING/BINARYMIME (RFC 3030), DSN (RFC 3461).
// Keywords are case-insensitive; mechanism names are stored upper-case in the server's order.
// Tokens after AUTH that are not RFC 4422 mechanism names (1-20 of A-Z 0-9 - _) are dropped, so
// they can never be offered back to the server. A malformed SIZE line is kept in `other` and
// leaves `size` empty. A reply that is not 2xx has no capabilities (all fields empty).
// Must not: fail on unknown keywords (they are kept in `other`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/reply.hpp"

namespace oauthmail::smtp {

struct capabilities {
  std::string server_name;  // first word of the first EHLO line
  bool starttls = false;
  bool pipelining = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool enhanced_status_codes = false;
  bool chunking = false;
  bool binarymime = false;
  bool dsn = false;
  std::optional<std::uint64_t> size;  // SIZE limit in octets; 0 means "no fixed limit"
  std::vector<std::string> auth;      // mechanisms, upper-case, server order, no duplicates
  std::vector<std::string> other;     // keyword lines not understood, as received

  bool offers_auth(std::string_view mechanism) const noexcept;  // case-insensitive

  // Parses a positive EHLO reply (lines after the first are keywords).
  static capabilities parse(const reply& ehlo_reply);
};

}  // namespace oauthmail::smtp
