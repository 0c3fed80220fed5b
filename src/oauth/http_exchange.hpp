// An HTTP request and response as plain values: what the sans-I/O OAuth code builds and parses,
// and what the one HTTP client in src/net (libcurl) performs. The request body usually carries a
// secret (client secret, refresh token, assertion, authorization code), so it is a secret<>.
// Must not: do I/O; print a body.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/secret.hpp"

namespace oauthmail::oauth {

struct http_request {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Content-Type, Accept, Authorization
  core::secret<std::string> body;                            // form-encoded (RFC 6749 §4.1.3 etc.) or empty
  // Headers whose value is secret (e.g. "Authorization: Basic ..."): never logged.
  bool headers_secret = false;
};

struct http_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;  // token responses hold secrets: callers parse it at once and drop it
  const std::string* header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers) {
      if (k == lower_name) return &v;
    }
    return nullptr;
  }
};

}  // namespace oauthmail::oauth
