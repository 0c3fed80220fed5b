// The one outbound HTTP client (libcurl, easy interface): token endpoints, discovery, device
// authorization, revocation; later Graph and the Gmail API.
//  - TLS: version 1.2 or newer; the peer's certificate chain and host name are always verified,
//    against the system store or `ca_file` (RFC 6125 / RFC 9110 §4.3.4). There is no switch to
//    turn this off.
//  - Plain http:// only to loopback hosts (127.0.0.0/8, ::1, localhost: local test providers), so
//    credentials only travel over TLS. Any other plain-http URL is refused before anything is sent
//    or looked up (needs_human, "plain http refused"). Only the http and https protocols exist for
//    it (CURLOPT_PROTOCOLS_STR); redirects are not followed (a token endpoint never redirects).
//  - Proxies: libcurl's environment handling, unchanged. For https:// URLs it reads `https_proxy`
//    (then `HTTPS_PROXY`); for http:// only the lower-case `http_proxy` (libcurl ignores
//    HTTP_PROXY, see httpoxy); `all_proxy`/`ALL_PROXY` as a fallback; `no_proxy`/`NO_PROXY` (a
//    comma-separated list of host names, domain suffixes and, since 7.86, CIDR ranges; "*" = none)
//    bypasses them. Through an https proxy the request goes in a CONNECT tunnel, end-to-end TLS.
//    The integration test proves HTTPS_PROXY and NO_PROXY with a CONNECT proxy on loopback.
//  - Bounded: every request has a total and a connect time limit; a response body over
//    max_response_octets (and headers over 64 KiB) is an error, stopped while it is received.
//  - Response header names are lower-cased; a status of any value is a response, not an error.
// Must not: log or put into an error a request body, a header value (Authorization), a URL's query
// or a response body (they hold secrets). Errors name the host (and port) only.
// RFCs: 9110 / 9112 (HTTP), 8446 / 5246 (TLS 1.3 / 1.2), 6125 (host-name checks).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "core/result.hpp"
#include "oauth/http_exchange.hpp"

namespace oauthmail::net {

struct http_options {
  std::optional<std::string> ca_file;  // PEM bundle; default: the system store
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::size_t max_response_octets = std::size_t{1} << 20;  // 1 MiB
};

// Why no response came back. Classes: see perform().
enum class http_errc {
  bad_request = 1,          // malformed URL, unsupported scheme, bad method or header (needs_human / bug)
  plain_http_refused,       // http:// to a host that is not loopback (needs_human)
  dns_failed,               // the host (or the proxy) could not be resolved (transient)
  connect_failed,           // no TCP connection (transient)
  timed_out,                // the connect or total time limit passed (transient)
  tls_failed,               // the TLS handshake failed, e.g. reset (transient)
  tls_verification_failed,  // certificate chain or host name not accepted, bad CA file (needs_human)
  response_too_large,       // body over max_response_octets, or headers over 64 KiB (needs_human)
  transfer_failed,          // sending or receiving broke off, malformed HTTP (transient)
  internal,                 // libcurl could not be set up (bug)
};
const std::error_category& http_category() noexcept;
std::error_code make_error_code(http_errc e) noexcept;

// Whether `host` (as in a URL: "127.0.0.5", "[::1]", "localhost") is a loopback host, where plain
// http is allowed. Only literal 127.0.0.0/8 and ::1 addresses and the name "localhost" are;
// nothing is resolved.
bool is_loopback_host(std::string_view host) noexcept;

// Performs the request. A response with any HTTP status is a value (callers classify 4xx/5xx);
// errors are only for failures to get one (DNS, connect, TLS, time-out, too large), classified
// transient (DNS, connect, time-outs, broken transfers, TLS handshake) or needs_human (TLS
// verification, bad URL, plain http, too large), with a message that names the host.
// Thread-safe: each call has its own handle; libcurl is initialised once.
core::result<oauth::http_response> perform(const oauth::http_request& request, const http_options& options = {});

}  // namespace oauthmail::net

template <>
struct std::is_error_code_enum<oauthmail::net::http_errc> : std::true_type {};
