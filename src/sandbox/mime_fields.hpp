// The header fields of a received message as the sandbox needs them (GMime 3): every field in
// order, unfolded and RFC 2047 decoded (for the capture store), the decoded Subject, and the
// addresses of the From field(s) (for the Send As check). Only the header section is parsed,
// so a 150 MB body costs nothing. Values are valid UTF-8 (8-bit octets GMime could not convert
// become U+FFFD).
// Must not: touch files or sockets; keep GMime objects beyond one call.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oauthmail::sandbox {

struct message_fields {
  std::vector<std::pair<std::string, std::string>> headers;  // in order, unfolded, decoded
  std::string subject;                                       // decoded; empty when absent
  bool has_from = false;                                     // a From field is present
  std::vector<std::string> from;                             // mailbox addresses of every From field (groups flattened)
};

// `content`: the message as received (CRLF line ends, dot-stuffing undone).
message_fields parse_message_fields(std::string_view content);

// Replaces octets that are not valid UTF-8 with U+FFFD.
std::string valid_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace oauthmail::sandbox
