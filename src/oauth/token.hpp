// OAuth2 tokens and token-endpoint errors as values (RFC 6749 §5.1, §5.2; Microsoft's AADSTS
// error bodies, providers.md §1.7/§1.8; Google's, §2.5).
// Must not: print a token (secret<> formats as ***).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secret.hpp"

namespace oauthmail::oauth {

using wall_clock = std::chrono::system_clock;  // token expiry is wall-clock time (it is persisted)

struct token_set {
  core::secret<std::string> access_token;
  std::optional<core::secret<std::string>> refresh_token;  // absent for client credentials / JWT bearer
  std::string token_type = "Bearer";
  wall_clock::time_point obtained_at{};
  wall_clock::time_point expires_at{};  // obtained_at + expires_in
  std::vector<std::string> scopes;      // granted ("scope" in the response), else the requested ones
};

// A token endpoint's error, parsed (RFC 6749 §5.2 plus Microsoft's extra fields).
struct oauth_error {
  int http_status = 0;
  std::string error;              // "invalid_grant", "invalid_client", ...
  std::string description;        // error_description, as sent (may be long; never holds our secrets)
  std::vector<long> error_codes;  // Microsoft: AADSTS numbers
  std::string correlation_id;     // Microsoft: for support
  std::string trace_id;
  std::optional<std::chrono::seconds> retry_after;  // 429 / 503 Retry-After
};

// What a person must know about a failure: cause and fix in plain words (like smtp::diagnosis).
struct oauth_diagnosis {
  core::failure_class klass = core::failure_class::none;  // transient or needs_human (or protocol)
  std::string cause;
  std::string fix;
};

}  // namespace oauthmail::oauth
