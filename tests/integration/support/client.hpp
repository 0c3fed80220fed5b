// Helpers for driving oauthmail's client API (net::send_messages, net::smtp_connection) in the
// integration tests: messages, loopback connection options with short time limits, and a bounded
// run of one connection on an io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/smtp_connection.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/capabilities.hpp"
#include "smtp/client_session.hpp"

namespace oauthmail::testing {

// A message with the given envelope and content (an in-memory body).
smtp::outgoing_message make_message(std::string from, std::vector<std::string> to, std::string content);

// A realistic RFC 5322 text message (CR LF line ends) of about `body_octets` body octets, with a
// unique Message-ID and subject built from `index`.
std::string sample_message(const std::string& from, const std::vector<std::string>& to, std::size_t index,
                           std::size_t body_octets = 600);

// Options for 127.0.0.1:port in the given TLS mode, with every time limit at `limit` so a broken
// peer fails a test quickly instead of after RFC 5321's minutes.
net::connection_options loopback_options(std::uint16_t port, smtp::tls_mode mode,
                                         std::chrono::milliseconds limit = std::chrono::seconds(15));

// Bearer-token (or password) credentials.
sasl::credentials make_credentials(std::string user, std::string secret);

// One connection opened with smtp_connection::open, the messages sent in order, then quit().
struct connection_run {
  std::optional<core::error> open_error;  // open() failed
  std::vector<smtp::message_result> results;
  smtp::capabilities capabilities;  // after open (post-TLS EHLO)
  bool tls_active = false;
  bool authenticated = false;
  std::optional<sasl::mechanism> mechanism;
  bool usable_at_end = false;  // usable() after the last send, before quit()
};
// Runs it on an io_context; throws std::runtime_error if it takes longer than `limit`.
connection_run run_connection(net::connection_options options, std::vector<smtp::outgoing_message> messages,
                              std::chrono::seconds limit = std::chrono::seconds(60));

// The content as SMTP delivers it: every line end (CR LF, bare LF, bare CR) becomes CR LF, and a
// last line without a line end gets one.
std::string normalize_line_ends(std::string_view content);

// "code 5.7.8 text" of an error, for failure messages.
std::string describe(const core::error& e);
std::string describe(const smtp::message_result& r);

}  // namespace oauthmail::testing
