// Errors of message composition and header handling (src/mime): one enum and category. Each error
// carries a sentence that names the offending option, header or file and quotes the offending
// text (never a secret: nothing here handles one).
// Must not: print anything.
#pragma once

#include <string>
#include <system_error>

#include "core/error.hpp"

namespace oauthmail::mime {

enum class errc {
  bad_address = 1,   // an address (list) that does not parse, or an address without a domain
  header_injection,  // CR, LF or another control character in a subject, name, address or header
  bad_header,        // a --header that is not "Name: value", or names a header set another way
  unreadable_file,   // an attachment, inline image or text file that cannot be opened or read
  not_utf8,          // text that is not valid UTF-8
  bad_composition,   // options that do not fit together (e.g. --inline without HTML)
  too_large,         // a header block or message over its bound
  io_failure,        // the spool file cannot be created, written or read
  no_recipients,     // nothing to send to
};

const std::error_category& mime_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), mime_category()}; }

// A composition error (always permanent: the same input fails the same way), io_failure transient.
core::error mime_error(errc code, std::string message);

// `text` in double quotes for an error message, cut after 200 octets.
std::string quote_text(std::string_view text);

}  // namespace oauthmail::mime

template <>
struct std::is_error_code_enum<oauthmail::mime::errc> : std::true_type {};
