// The loopback redirect receiver of the authorization code flow for native apps (RFC 8252 §7.3):
// listens on 127.0.0.1 on a port the system picks, waits for the browser's one GET with ?code= or
// ?error=, answers with a short page that says to return to the terminal, and hands the full
// redirected URL to the caller (oauth::parse_redirect checks state and extracts the code).
// HTTP parsing with Boost.Beast; bounded (8 KiB request, a time limit).
// Must not: listen on anything but loopback; log the URL (it carries the authorization code).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.hpp"

namespace oauthmail::net {

class loopback_redirect_listener {
 public:
  static core::result<loopback_redirect_listener> open();
  loopback_redirect_listener(loopback_redirect_listener&&) noexcept;
  loopback_redirect_listener& operator=(loopback_redirect_listener&&) noexcept;
  ~loopback_redirect_listener();

  std::uint16_t port() const noexcept;
  // Waits for the redirect; returns "http://HOST:PORT/path?query" as the browser asked for it.
  // `host` is the name the redirect URI used (127.0.0.1 or localhost).
  core::result<std::string> wait(const std::string& host, std::chrono::milliseconds timeout);

 private:
  struct impl;
  explicit loopback_redirect_listener(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace oauthmail::net
