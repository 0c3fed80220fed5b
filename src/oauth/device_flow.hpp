// RFC 8628 device authorization grant, sans-I/O: the device authorization response (§3.2) and the
// polling state machine (§3.4/§3.5) that the driver in src/net runs with a real clock and the tests
// run with a fake one.
//   parse_device_authorization(): device_code, user_code, verification_uri (Google says
//   verification_url), verification_uri_complete (not from Microsoft), expires_in (default 900 s),
//   interval (default 5 s), message (Microsoft's ready-made instruction).
//   device_poller: next(now) says what to do: wait_until{t} | poll | done{tokens} | failed{...}.
//   The first poll comes one interval after the start; on_poll_response() handles the answer:
//     authorization_pending          wait one interval
//     slow_down                      interval += 5 s, for this and every later poll (cumulative)
//     HTTP 5xx / 429 / temporarily_unavailable: wait max(interval, Retry-After), keep polling
//     expired_token, expiry by the clock (expires_in), access_denied, authorization_declined
//     (Microsoft), bad_verification_code, any other error: failed (needs_human, cause + fix)
//     success                        done
//   on_transport_failure(now): a network failure while polling waits one interval and goes on.
// Must not: poll faster than the interval; poll after the code expired; print the device code.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "core/secret.hpp"
#include "oauth/http_exchange.hpp"
#include "oauth/responses.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth {

struct device_authorization {
  core::secret<std::string> device_code;
  std::string user_code;
  std::string verification_uri;
  std::optional<std::string> verification_uri_complete;
  std::chrono::seconds expires_in{900};
  std::chrono::seconds interval{5};
  std::string message;  // the provider's instruction, when it sends one

  // What to show the user: the provider's message, or "To sign in, open URI and enter the code CODE."
  std::string instructions() const;
};

// Errors: the provider's error (diagnosed like a token response, e.g. invalid_client,
// unauthorized_client, invalid_scope) or a malformed answer (class protocol).
core::result<device_authorization> parse_device_authorization(const http_response& response,
                                                              const diagnosis_context& context = {});

class device_poller {
 public:
  struct wait_until {
    wall_clock::time_point when;
  };
  struct poll {};
  struct done {
    token_set tokens;
  };
  struct failed {
    oauth_diagnosis diagnosis;
    std::optional<oauth_error> error;
    core::error to_error() const;
  };
  using action = std::variant<wait_until, poll, done, failed>;

  // `started` is when the device authorization response arrived.
  device_poller(device_authorization authorization, wall_clock::time_point started,
                std::vector<std::string> requested_scopes, diagnosis_context context = {});

  action next(wall_clock::time_point now);
  void on_poll_response(const http_response& response, wall_clock::time_point now);
  void on_transport_failure(wall_clock::time_point now);

  const device_authorization& authorization() const noexcept { return auth_; }
  std::chrono::seconds interval() const noexcept { return interval_; }
  wall_clock::time_point expires_at() const noexcept { return expires_at_; }
  int polls() const noexcept { return polls_; }

 private:
  void fail(oauth_diagnosis d, std::optional<oauth_error> e = std::nullopt);

  device_authorization auth_;
  std::vector<std::string> scopes_;
  diagnosis_context context_;
  std::chrono::seconds interval_;
  wall_clock::time_point expires_at_;
  wall_clock::time_point next_poll_;
  std::optional<action> final_;  // done or failed
  int polls_ = 0;
};

}  // namespace oauthmail::oauth
