// Plain HTTP request/response values for the sandbox's HTTP side (identity provider, control API,
// pages). The Beast server in src/net converts to and from these, so that everything under
// src/sandbox stays sans-I/O and testable without sockets.
// Must not: touch sockets; log bodies (token requests carry secrets).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oauthmail::sandbox {

struct http_request {
  std::string method;                                       // "GET", "POST", ...
  std::string target;                                       // path and query, as received: "/token?x=1"
  std::map<std::string, std::string, std::less<>> headers;  // names lower-case
  std::string body;
  std::string peer_address;  // "127.0.0.1"

  std::string_view path() const;                                            // target without the query
  std::optional<std::string> query_parameter(std::string_view name) const;  // percent-decoded
  std::optional<std::string> header(std::string_view lower_case_name) const;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Retry-After, Location, Cache-Control)
  std::string body;
  // Fault injection: the server waits this long before answering (a slow token endpoint).
  std::chrono::milliseconds delay{0};

  static http_response json(int status, std::string body);
  static http_response html(int status, std::string body);
  static http_response redirect(std::string location);  // 302
  static http_response not_found();
};

// application/x-www-form-urlencoded body or query → name/value pairs (last one wins; names that
// appear twice are reported by the caller as invalid_request where RFC 6749 §3.1 forbids it).
// Percent escapes and '+' (space) are decoded with Boost.URL; a pair with an invalid escape is left out.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body);
// The same, strict: nullopt when an escape is invalid or a name or value holds a NUL octet (the
// token endpoint answers invalid_request then).
std::optional<std::vector<std::pair<std::string, std::string>>> parse_form_strict(std::string_view body);

}  // namespace oauthmail::sandbox
