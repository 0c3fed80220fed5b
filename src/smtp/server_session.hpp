// The SMTP server session as a sans-I/O state machine (RFC 5321, RFC 3207 STARTTLS, RFC 4954
// AUTH, RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 2034 ENHANCEDSTATUSCODES,
// RFC 6531 SMTPUTF8, RFC 6409 submission). Bytes and a clock go in; actions come out: write these
// bytes, read within this time, start TLS, close, or decide (a question for the owner: may this
// client authenticate, may this sender/recipient/message pass?). The sandbox and, later, the relay
// own a session per connection and answer its questions; one driver in src/net runs it.
//
// Flow: greeting → EHLO/HELO → [STARTTLS → EHLO again] → AUTH → MAIL → RCPT… → DATA → content →
// final reply → (next transaction | RSET | NOOP | QUIT). Pipelined commands are processed in order
// and their replies written in one batch once no complete command is left in the input, or before
// a command that needs a synchronisation point (DATA's 354, AUTH challenges, STARTTLS).
//
// Safety rules it enforces itself (no owner needed):
//  - STARTTLS: input that arrived after the STARTTLS line and before the handshake is discarded
//    (RFC 3207 §4.2, CVE-2011-0411 "STARTTLS command injection"); after TLS every state (EHLO,
//    AUTH) is reset and EHLO must be sent again (else "503 5.5.1 EHLO/HELO first").
//  - AUTH is neither offered nor accepted before TLS when require_tls_for_auth (530 5.7.0 Must
//    issue a STARTTLS command first); MAIL before AUTH is refused when require_auth.
//  - DATA ends only at <CR><LF>.<CR><LF> (the CRLF before the dot belongs to the last line). A
//    bare CR or LF anywhere in the content is refused by default: the transaction is answered with
//    replies.bare_line_end after the real end of data, so SMTP-smuggling payloads (providers.md
//    §4.14 A–E) give exactly one rejection, never a second message. Dot-stuffing is undone.
//  - Limits: command lines (max_command_octets, 500 5.5.6 when longer; the line is skipped to its
//    end without buffering it), AUTH response lines up to max_auth_line_octets (RFC 4954: 12288),
//    recipients per message (452 4.5.3), message size (552 5.3.4, counted while reading, the
//    excess never buffered), errors per session (421 after max_errors), idle and per-command
//    timeouts (421 4.4.2).
//  - Command lines must end in CRLF; a bare LF or a NUL in a command is a 500 5.5.2 syntax error.
// Must not: touch sockets, files, threads or the wall clock; log credentials (the transcript of
// AUTH lines reads "AUTH XOAUTH2 ***"); decide policy (authentication, relaying, quotas are the
// owner's answers to decide actions).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/server.hpp"
#include "smtp/reply.hpp"

namespace oauthmail::smtp {

// A reply the session writes: "code enhanced text" (multi-line when `lines` has several entries).
// `enhanced` is written only when the session offers ENHANCEDSTATUSCODES.
struct server_reply {
  int code = 250;
  std::string enhanced;            // "2.1.0"; empty = none
  std::vector<std::string> lines;  // at least one; may be empty strings ("334" alone)
  // Wire form, e.g. "535 5.7.3 Authentication unsuccessful\r\n".
  std::string encode(bool with_enhanced) const;
  static server_reply make(int code, std::string enhanced, std::string text);
};

// Texts of the replies the session composes itself. Profiles (sandbox) override them to match a
// provider byte for byte; defaults are Postfix-like and RFC-correct.
struct server_texts {
  std::string greeting = "ESMTP ready";  // "220 <hostname> <greeting>"
  std::string ehlo_greeting = "Hello";   // "250-<hostname> <ehlo_greeting> [<client address>]"
  server_reply auth_ok = server_reply::make(235, "2.7.0", "Authentication successful");
  server_reply auth_cancelled = server_reply::make(501, "5.0.0", "Authentication cancelled");
  server_reply auth_malformed = server_reply::make(501, "5.5.2", "Cannot decode AUTH response");
  server_reply auth_needs_tls = server_reply::make(530, "5.7.0", "Must issue a STARTTLS command first.");
  server_reply auth_line_too_long = server_reply::make(500, "5.5.6", "Authentication exchange line is too long");
  server_reply not_authenticated = server_reply::make(530, "5.7.57", "Client not authenticated to send mail");
  server_reply ehlo_first = server_reply::make(503, "5.5.1", "Error: send HELO/EHLO first");
  server_reply starttls_ready = server_reply::make(220, "2.0.0", "SMTP server ready");
  server_reply bare_line_end = server_reply::make(
      554, "5.6.0", "Message contains a bare CR or LF; lines must end in CRLF (RFC 5321 section 2.3.8)");
  server_reply too_many_recipients = server_reply::make(452, "4.5.3", "Too many recipients");
  server_reply message_too_big = server_reply::make(552, "5.3.4", "Message size exceeds fixed limit");
  server_reply line_too_long = server_reply::make(500, "5.5.6", "Line too long");
  server_reply syntax_error = server_reply::make(500, "5.5.2", "Error: bad syntax");
  server_reply unknown_command = server_reply::make(502, "5.5.2", "Error: command not recognized");
  server_reply bad_sequence = server_reply::make(503, "5.5.1", "Error: bad sequence of commands");
  server_reply timeout = server_reply::make(421, "4.4.2", "Error: timeout exceeded");
  server_reply too_many_errors = server_reply::make(421, "4.7.0", "Error: too many errors");
  server_reply closing = server_reply::make(221, "2.0.0", "Bye");
  // Positive replies and the remaining refusals the session composes itself.
  server_reply ok = server_reply::make(250, "2.0.0", "Ok");       // RSET, NOOP
  server_reply mail_ok = server_reply::make(250, "2.1.0", "Ok");  // MAIL accepted
  server_reply rcpt_ok = server_reply::make(250, "2.1.5", "Ok");  // RCPT accepted
  server_reply data_go_ahead = server_reply::make(354, "", "End data with <CR><LF>.<CR><LF>");
  server_reply queued = server_reply::make(250, "2.0.0", "Ok: queued");
  server_reply helo_syntax = server_reply::make(501, "5.5.4", "Syntax: EHLO/HELO hostname");
  server_reply mail_syntax = server_reply::make(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  server_reply rcpt_syntax = server_reply::make(501, "5.5.4", "Syntax: RCPT TO:<address>");
  server_reply auth_syntax = server_reply::make(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
  server_reply no_arguments = server_reply::make(501, "5.5.4", "Syntax: this command takes no arguments");
  server_reply argument_syntax = server_reply::make(501, "5.5.4", "Syntax error in parameters or arguments");
  server_reply unsupported_parameter = server_reply::make(555, "5.5.4", "Unsupported option");
  server_reply needs_smtputf8 = server_reply::make(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
  server_reply nested_mail = server_reply::make(503, "5.5.1", "Error: nested MAIL command");
  server_reply need_mail = server_reply::make(503, "5.5.1", "Error: need MAIL command");
  server_reply no_recipients = server_reply::make(554, "5.5.1", "Error: no valid recipients");
  server_reply auth_not_enabled = server_reply::make(503, "5.5.1", "Error: authentication not enabled");
  server_reply already_authenticated = server_reply::make(503, "5.5.1", "Error: already authenticated");
  server_reply auth_in_transaction = server_reply::make(503, "5.5.1", "Error: MAIL transaction in progress");
  server_reply auth_unsupported = server_reply::make(504, "5.5.4", "Unrecognized authentication type");
  server_reply auth_failed = server_reply::make(535, "5.7.8", "Authentication credentials invalid");
  server_reply tls_already_active = server_reply::make(503, "5.5.1", "Error: TLS already active");
  server_reply not_implemented = server_reply::make(502, "5.5.1", "Error: command not implemented");  // HELP, EXPN
  server_reply vrfy =
      server_reply::make(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
  server_reply refused = server_reply::make(550, "5.7.1", "Refused");  // the owner refused without a reply
  server_reply service_unavailable = server_reply::make(554, "5.3.2", "Service unavailable");  // connect refused
  server_reply message_refused = server_reply::make(554, "5.6.0", "Message refused");          // message refused
  bool bare_empty_challenge = false;  // write "334" instead of "334 " for an empty challenge (Microsoft)
};

enum class bare_line_end_policy {
  reject,     // default: refuse the message after its end of data (replies.bare_line_end)
  normalize,  // treat a bare LF as CRLF inside the content (Postfix "normalize"); end of data still only CRLF.CRLF
};

struct server_options {
  std::string hostname = "localhost";  // in the greeting and the EHLO reply
  std::string client_address;          // shown in the EHLO reply "[127.0.0.1]"
  bool starttls_available = false;     // offer STARTTLS (the driver has a TLS context)
  bool implicit_tls = false;           // the connection is already TLS (port 465)
  bool require_tls_for_auth = true;    // AUTH offered/accepted only over TLS
  bool require_auth = true;            // MAIL refused before a successful AUTH (submission)
  std::vector<sasl::mechanism> auth_mechanisms = {sasl::mechanism::xoauth2};  // in EHLO order
  bool pipelining = true;
  bool eight_bit_mime = true;
  bool smtputf8 = true;
  bool enhanced_status_codes = true;
  bool dsn = false;
  std::uint64_t max_message_octets = std::uint64_t{35} * 1024 * 1024;  // SIZE; 0 = SIZE not advertised, unlimited
  std::size_t max_command_octets = 2048;                               // RFC 5321: at least 512, CRLF included
  std::size_t max_auth_line_octets = 12288;                            // RFC 4954 §4
  std::size_t max_recipients = 100;                                    // per message
  std::size_t max_errors = 20;                                         // then 421 and close
  bare_line_end_policy bare_line_ends = bare_line_end_policy::reject;
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};  // waiting for a command
  std::chrono::milliseconds data_timeout{std::chrono::minutes(3)};  // between DATA content reads
  server_texts texts;
};

// A question for the owner. Answer with the matching decide()/authenticate_*() call before the
// next next(); until then next() keeps returning the same request.
struct server_request {
  enum class kind {
    connect,       // a new connection: accept (greeting 220) or refuse (e.g. 421/554 and close)
    helo,          // EHLO/HELO `argument` (the default answer is the session's EHLO reply)
    authenticate,  // `credentials` from a completed SASL exchange
    mail,          // MAIL FROM `address` with `parameters` (SIZE=, BODY=, SMTPUTF8, RET=, ENVID=)
    rcpt,          // RCPT TO `address` with `parameters` (NOTIFY=, ORCPT=)
    data,          // DATA: may the content be sent? (accept: 354)
    message,       // the complete content (take_message()); the answer is the final reply
  };
  kind what = kind::connect;
  std::string argument;                                 // helo: the domain
  std::string address;                                  // mail/rcpt: without the angle brackets; "" = null reverse path
  std::vector<std::string> parameters;                  // mail/rcpt: "SIZE=1234", "BODY=8BITMIME", ...
  std::optional<sasl::server_credentials> credentials;  // authenticate
};

// The owner's answer. `reply` unset = the session's default positive reply for the step
// (220 greeting, EHLO list, 250 2.1.0 Ok, 250 2.1.5 Ok, 354 End data with <CR><LF>.<CR><LF>,
// 250 2.0.0 Ok: queued). `close_after` closes the connection after writing the reply (421).
struct server_decision {
  bool accept = true;
  std::optional<server_reply> reply;  // required when !accept
  bool close_after = false;
  // authenticate, !accept, XOAUTH2/OAUTHBEARER only: send this JSON as an error challenge first
  // (Gmail style), then `reply` after the client's answer.
  std::optional<std::string> error_challenge_json;
  static server_decision ok() { return {}; }
  static server_decision refuse(server_reply r, bool close = false) {
    server_decision d;
    d.accept = false;
    d.reply = std::move(r);
    d.close_after = close;
    return d;
  }
};

struct server_action {
  enum class kind {
    write,      // write `bytes` fully, then call on_written()
    read,       // read some bytes within `timeout`; on_bytes(), on_timeout() or on_eof()
    start_tls,  // do the server side of the TLS handshake; on_tls_established() or on_tls_failed()
    decide,     // answer `request` with decide()
    close,      // terminal: close the connection
  };
  kind what = kind::close;
  std::string_view bytes;  // write: valid until the next call into the session
  std::string transcript;  // write/read: what may be logged (AUTH payloads as "***", no content)
  std::chrono::milliseconds timeout{0};
  const server_request* request = nullptr;  // decide: valid until decide()
};

// One received message, handed over at request kind `message`.
struct received_message {
  std::string mail_from;
  std::vector<std::string> mail_parameters;
  std::vector<std::string> rcpt_to;              // accepted recipients only, in order
  std::string content;                           // dot-stuffing undone, CRLF line ends, without the final ".\r\n"
  std::string helo;                              // the EHLO/HELO argument
  std::optional<sasl::server_credentials> auth;  // who authenticated (secret wiped: empty)
  bool tls = false;
};

struct server_session_stats {
  std::size_t messages_accepted = 0;
  std::size_t messages_refused = 0;
  std::size_t errors = 0;
};

class server_session {
 public:
  explicit server_session(server_options options);
  ~server_session();
  server_session(const server_session&) = delete;
  server_session& operator=(const server_session&) = delete;

  // The next action; the first is decide(connect).
  server_action next();

  void on_written();
  void on_bytes(std::string_view bytes);
  void on_timeout();
  void on_eof();
  void on_tls_established();
  void on_tls_failed();
  void decide(server_decision decision);

  // During request kind `message`: the message (moved out; call once).
  received_message take_message();

  bool tls_active() const noexcept;
  bool authenticated() const noexcept;
  // The authenticated identity (user of the accepted credentials), empty when not authenticated.
  const std::string& authenticated_user() const noexcept;
  const server_session_stats& stats() const noexcept;
  bool closed() const noexcept;
  // Octets the session holds right now (unprocessed input, unwritten output, message content):
  // for tests and fuzzing of its bounds.
  std::size_t buffered_octets() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace oauthmail::smtp
