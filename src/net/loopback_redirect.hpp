// The loopback redirect receiver of the authorization code flow for native apps (RFC 8252 §7.3):
// listens on 127.0.0.1 on a port the system picks, waits for the browser's one GET with ?code= or
// ?error=, answers with a short page that says to return to the terminal, and hands the full
// redirected URL to the caller (oauth::parse_redirect checks state and extracts the code).
// When the redirect URI names "localhost" (Microsoft's presets), a browser may resolve it to ::1
// first: the listener then takes the same port on 127.0.0.1 and on ::1 (another port when that one
// is taken on ::1); without IPv6 it listens on 127.0.0.1 alone (a debug line says so).
// Connections are served asynchronously, each bounded (8 KiB request, 10 s), so a connection that
// says nothing (a browser's speculative one) holds nothing up. HTTP parsing with Boost.Beast.
// Must not: listen on anything but loopback; log the URL (it carries the authorization code).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace oauthmail::net {

class loopback_redirect_listener {
 public:
  // Listens on 127.0.0.1.
  static core::result<loopback_redirect_listener> open();
  // For a redirect URI with this host: "localhost" → 127.0.0.1 and ::1 (same port), "::1" or
  // "[::1]" → ::1, anything else → 127.0.0.1.
  static core::result<loopback_redirect_listener> open(std::string_view host);
  loopback_redirect_listener(loopback_redirect_listener&&) noexcept;
  loopback_redirect_listener& operator=(loopback_redirect_listener&&) noexcept;
  ~loopback_redirect_listener();

  std::uint16_t port() const noexcept;
  bool listens_on_ipv6() const noexcept;
  // Waits for the redirect; returns "http://HOST:PORT/path?query" as the browser asked for it.
  // `host` is the name the redirect URI used (127.0.0.1 or localhost). Once per listener: it stops
  // listening when it returns.
  core::result<std::string> wait(const std::string& host, std::chrono::milliseconds timeout);

 private:
  struct impl;
  explicit loopback_redirect_listener(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace oauthmail::net
