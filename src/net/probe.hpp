// The network probe of `oauthmail doctor`: walks the path to an SMTP submission server one link at
// a time and writes down what it found (doctor/facts.hpp), for doctor::diagnose_*() to judge:
//   DNS      the lookup (an IP address needs none), its answer and time, or the resolver's error
//   TCP      a connection attempt per address, in order, with its time and outcome (refused,
//            timed out, unreachable), until one connects
//   TLS      the handshake with the same policy as every send (net/tls_client.hpp): protocol,
//            cipher, the server's certificate (subject, issuer, names, validity) and the exact
//            verification result (expired, unknown CA, wrong host name)
//   SMTP     the real client session (smtp::client_session): greeting, EHLO before and after
//            STARTTLS, and with credentials AUTH (its final reply, Gmail's error challenge); with a
//            message also MAIL/RCPT/DATA and the reply after the final dot. Then QUIT.
// Every step has the time limit `timeout`. The transcript is logged at debug level like a send
// (AUTH payloads redacted by the session).
// Must not: send credentials anywhere the session would not (no TLS, unverified TLS unless
// skip_verify), log a secret, or stop at a failure without writing down what it saw.
// Follows: RFC 5321 (SMTP), RFC 3207 (STARTTLS, EHLO again over TLS), RFC 4954 (AUTH), RFC 8314
// (implicit TLS), RFC 6125 / RFC 7817 (certificate names).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "doctor/facts.hpp"
#include "net/smtp_connection.hpp"
#include "smtp/client_session.hpp"

namespace oauthmail::net {

struct probe_options {
  std::string host;
  std::uint16_t port = 587;
  smtp::client_options session;  // TLS mode, EHLO name, credentials (optional), mechanism, limits
  tls_options tls;
  std::chrono::milliseconds timeout{std::chrono::seconds(20)};  // DNS, each connect, handshake, each reply
  std::optional<smtp::outgoing_message> message;                // sent after AUTH when set
};

// Blocking: runs the probe on its own io_context and returns what it found.
doctor::probe_report run_probe(probe_options options);

}  // namespace oauthmail::net
