// The one outbound HTTP client (libcurl): token endpoints, discovery, device authorization,
// revocation; later Graph and the Gmail API. TLS verified by default (system store or a CA file);
// HTTPS_PROXY / HTTPS_PROXY / NO_PROXY honoured (libcurl's environment handling). Plain http:// is
// refused except to loopback addresses (local test providers), so credentials only travel over TLS.
// Bounded: response bodies over max_response_octets are an error; every request has a time limit.
// Must not: log a request body, an Authorization header or a response body (they hold secrets).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "oauth/http_exchange.hpp"

namespace oauthmail::net {

struct http_options {
  std::optional<std::string> ca_file;  // PEM bundle; default: the system store
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::size_t max_response_octets = std::size_t{1} << 20;  // 1 MiB
};

// Performs the request. A response with any HTTP status is a value (callers classify 4xx/5xx);
// errors are only for failures to get one (DNS, connect, TLS, time-out, too large), classified
// transient or needs_human (TLS verification, bad URL), with a message that names the host.
core::result<oauth::http_response> perform(const oauth::http_request& request, const http_options& options = {});

}  // namespace oauthmail::net
