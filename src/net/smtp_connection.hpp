// The transport: an Asio C++20 coroutine driver that runs smtp::client_session over TCP, with
// implicit TLS (465 style) or STARTTLS (587 style). TLS 1.2 or newer; the certificate chain and the
// host name (or IP address) are verified by default against the system store or a configured CA
// file (RFC 7817 / RFC 6125). Every step has a time limit (the session's, RFC 5321 §4.5.3.2) and
// the connect step its own. Several messages go over one connection. The transcript is logged at
// debug level through spdlog's default logger (lines start with "smtp C:" / "smtp S:"); AUTH payloads are redacted,
// content is never logged. Must not: downgrade TLS silently, log a secret, or block a coroutine.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "smtp/client_session.hpp"

namespace oauthmail::net {

struct tls_options {
  std::optional<std::string> ca_file;      // PEM bundle; default: the system store
  std::optional<std::string> server_name;  // name to verify and send as SNI; default: the host
  bool skip_verify = false;                // UNSAFE: accept any certificate (tls_skip_verify)
};

struct connection_options {
  std::string host;
  std::uint16_t port = 587;
  smtp::client_options session;
  tls_options tls;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
};

class smtp_connection {
 public:
  // Connects, reads the greeting, says EHLO, does STARTTLS/TLS and AUTH. On failure the error
  // says at which step and why (classified).
  static boost::asio::awaitable<core::result<std::unique_ptr<smtp_connection>>> open(
      boost::asio::any_io_executor executor, connection_options options);

  ~smtp_connection();
  smtp_connection(const smtp_connection&) = delete;
  smtp_connection& operator=(const smtp_connection&) = delete;

  // Sends one message over the open connection. A result always comes back: per-recipient
  // replies, or `failure` when the message was not delivered. After a connection-level failure
  // (421, time-out, EOF) usable() is false.
  boost::asio::awaitable<smtp::message_result> send(smtp::outgoing_message message);
  // QUIT and close. Errors at this point are ignored (the messages are already accepted).
  boost::asio::awaitable<void> quit();

  bool usable() const noexcept;
  const smtp::client_session& session() const noexcept;

 private:
  struct impl;
  explicit smtp_connection(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;  // shared with the connection's watchdog coroutine
};

// Blocking convenience (CLI, tests): opens one connection, sends the messages in order over it,
// quits. Returns the connection error, or one result per message.
core::result<std::vector<smtp::message_result>> send_messages(connection_options options,
                                                              std::vector<smtp::outgoing_message> messages);

}  // namespace oauthmail::net
