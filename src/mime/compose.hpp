// Composing a message from parts, with GMime 3 (`oauthmail send --subject/--text/--html/--attach...`):
//  - text/plain, text/html, or both as multipart/alternative (RFC 2046 §5.1.4); inline images as
//    multipart/related around the HTML (RFC 2387; each image has a Content-ID for "cid:" URLs,
//    RFC 2392); attachments as multipart/mixed. Text is UTF-8 and goes 7bit when it can, else
//    quoted-printable; attachments always go base64, so their bytes arrive identical whatever their
//    line ends. Every line of the result is within 998 octets (RFC 5322 §2.1.1).
//  - Attachment MIME types from the content and the file name (GLib's shared-mime-info guess);
//    file names in RFC 2231 parameters.
//  - Headers: From, To, Cc, Reply-To, Subject, Date, Message-ID, MIME-Version and the caller's extra
//    headers. Bcc is never written: Bcc addresses exist only in the envelope. A CR, LF or other
//    control character in a subject, name, address or header is refused (header injection).
//  - Non-ASCII in headers: RFC 2047 encoded words (UTF-8), with domains in IDNA A-labels. The one
//    thing encoded words cannot carry is a non-ASCII local part ("jörg@example.de"): only then is
//    the message written with raw UTF-8 headers (RFC 6532) and marked `utf8_headers`, which makes
//    the SMTP session send it with SMTPUTF8 and refuse it, before MAIL FROM, when the server does
//    not offer SMTPUTF8.
//    Why not raw UTF-8 whenever the server offers SMTPUTF8: that server accepting it says nothing
//    about the next hop. A message that needs no SMTPUTF8 but was submitted with it must be
//    downgraded or bounced by the provider when a recipient's server lacks SMTPUTF8, while the
//    RFC 2047 form is delivered everywhere. So the choice depends on the message, not on the server,
//    and is made once at composition (no second rendering after EHLO is needed); --dry-run shows
//    exactly what is sent.
// The message is written once into a spool file (an attachment is streamed from its file, never
// loaded whole), which the SMTP session then streams.
// Must not: write a Bcc header, let a control character into a header, or load an attachment into
// memory. Follows: RFC 5322, RFC 2045-2047, RFC 2231, RFC 2387, RFC 2392, RFC 6532.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "mime/address.hpp"
#include "mime/spool.hpp"

namespace oauthmail::mime {

struct inline_image {
  std::string path;
  std::string content_id;  // without angle brackets; HTML refers to it as "cid:<content_id>"
};

struct message_spec {
  mailbox from;
  std::vector<mailbox> to, cc, bcc, reply_to;
  std::optional<std::string> subject;
  std::optional<std::string> text;  // UTF-8
  std::optional<std::string> html;  // UTF-8
  std::vector<std::string> attachments;
  std::vector<inline_image> inline_images;
  // Extra headers, each checked by parse_header_option(). A Date or Message-ID here replaces the
  // generated one.
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::system_clock::time_point date = std::chrono::system_clock::now();
};

struct composed_message {
  std::shared_ptr<spool> content;  // the whole message, LF line ends
  bool utf8_headers = false;       // RFC 6532 form: must go with SMTPUTF8
  std::string envelope_from;
  std::vector<std::string> envelope_to;  // To, Cc and Bcc in that order, duplicates removed
  std::string message_id;                // with angle brackets
  std::vector<std::string> warnings;     // e.g. an inline image the HTML never refers to
};

core::result<composed_message> compose(const message_spec& spec);

// A `--header "Name: value"` option: the name must be a valid field name and not one that another
// option sets (From, To, Cc, Bcc, Reply-To, Subject) or that describes the MIME structure
// (MIME-Version, Content-*); the value must be on one line. A Date must parse as an RFC 5322 date,
// a Message-ID must look like <left@right>.
core::result<std::pair<std::string, std::string>> parse_header_option(std::string_view text);

// An inline image option: "FILE" (its Content-ID is the file name) or "ID=FILE".
core::result<inline_image> parse_inline_option(std::string_view text);

// Reads a text file (UTF-8 required; `what` names the option for messages), at most `max_octets`.
core::result<std::string> read_text_file(const std::string& path, std::string_view what, std::size_t max_octets);
// Checks that text given on the command line is UTF-8.
core::result<void> check_utf8(std::string_view text, std::string_view what);

// A new Message-ID "<random@domain>" (128 random bits).
std::string generate_message_id(std::string_view domain);
// An RFC 5322 date in the local time zone ("Tue, 03 Jun 2025 10:00:00 +0200").
std::string format_date(std::chrono::system_clock::time_point t);

}  // namespace oauthmail::mime
