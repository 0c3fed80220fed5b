// What sendmail(8) does to a message besides sending it, as Postfix's and Sendmail's drop-ins do:
//  - Recipients: the command-line arguments (each may be a comma-separated list), plus with -t the
//    addresses of To, Cc and Bcc, or of Resent-To, Resent-Cc and Resent-Bcc when the message has
//    any of those (a resent message goes to its new recipients only). Postfix's rule, not
//    Sendmail's: with -t, arguments are added, not removed. Duplicates are sent once.
//  - Bcc and Resent-Bcc headers are removed, always (with or without -t).
//  - Date, Message-ID and From are added when missing (From: "-F name" <sender>).
// Must not: touch I/O; keep a Bcc header; accept a recipient that does not parse (the error quotes it).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "mime/address.hpp"
#include "mime/header_block.hpp"

namespace oauthmail::mime {

// The envelope recipients (envelope forms, see mailbox::envelope()), in order, without duplicates.
// Removes Bcc and Resent-Bcc from `headers`.
core::result<std::vector<mailbox>> sendmail_recipients(header_block& headers, const std::vector<std::string>& arguments,
                                                       bool extract_from_headers);

// The author the header names: From's mailbox, or Sender's when From lists several. nullopt when
// there is none or it does not parse as a complete address (e.g. cron's "root").
std::optional<mailbox> header_sender(const header_block& headers);

// Adds From (when missing: `from`, with its name RFC 2047-encoded if needed), Date and Message-ID
// (a new "<random@domain of from>").
void add_missing_headers(header_block& headers, const mailbox& from, std::chrono::system_clock::time_point now);

}  // namespace oauthmail::mime
