// One classification of any SMTP failure: transient, permanent, token rejected, needs a human, or
// protocol error; with the cause and the fix in plain words. Provider replies from Exchange Online
// (providers.md §1.9) and Gmail (§2.6) are recognised by code, enhanced code and sentence (one
// enhanced code, e.g. 5.7.139, covers several causes). RFC 5321 §4.2.1: 4yz is transient, 5yz
// permanent; RFC 3463 enhanced codes refine that.
// Must not: look at anything but the reply and the stage (no I/O, no secrets).
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "smtp/reply.hpp"

namespace oauthmail::smtp {

// Where in the session the reply came.
enum class stage { connect, greeting, ehlo, starttls, tls_handshake, auth, mail, rcpt, data, data_end, rset, quit };
std::string_view to_string(stage s) noexcept;

struct diagnosis {
  core::failure_class klass = core::failure_class::none;
  std::string cause;  // what happened, in plain words
  std::string fix;    // what to do about it; empty when nothing is to be done but wait
};

// Classifies a reply that was not the expected positive one. `oauth` tells whether the session
// authenticates with XOAUTH2/OAUTHBEARER (then 535 at AUTH means "token rejected").
diagnosis classify_reply(const reply& r, stage s, bool oauth);

enum class session_errc {
  rejected = 1,        // the server refused at some stage (see the reply)
  tls_required,        // no STARTTLS offered, or TLS mode none with credentials
  auth_not_offered,    // no AUTH offered (after TLS), or not the configured or a usable mechanism
  auth_failed,         // AUTH was refused
  server_closed,       // the server closed the connection unexpectedly
  timeout,             // no reply within the stage's time limit
  protocol_violation,  // unparsable reply, unexpected code class
  message_too_big,     // larger than the server's SIZE
  smtputf8_required,   // non-ASCII address but no SMTPUTF8
  no_recipients,       // every recipient refused, or none given
  bad_message,         // the message cannot be sent as is (e.g. a line over 998 octets)
  tls_failed,          // handshake or verification failed
  connect_failed,      // could not reach the server
};
const std::error_category& session_category() noexcept;
std::error_code make_error_code(session_errc e) noexcept;

}  // namespace oauthmail::smtp

template <>
struct std::is_error_code_enum<oauthmail::smtp::session_errc> : std::true_type {};
